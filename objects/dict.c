// objects/dict.c: insertion-ordered hash tables with open addressing.
//
// Invariant: in the current keys table, every live entry (key != NULL) is
// reachable from its hash's probe sequence through index slots that are
// not EMPTY, and no two live entries hold equal keys; `used` counts the live
// entries. Only a thread inside the dict's critical section writes `used`,
// `keys`, `version`, an index slot or an entry, and each write to an atomic
// field publishes a fully built value with a release store (DESIGN.md §4.9).
//
// How: an index of 2^k int32 slots (EMPTY, DELETED or an entry number)
// over an append-only entry array {hash, key, value} of 2/3 that size.
// Insertion appends an entry (hash, key, value first) and then publishes
// its index slot; deletion marks the slot DELETED and clears the entry.
// DELETED slots are not reused before a resize, so a probe chain never
// changes under a reader; when the entries run out, a resize copies the
// live entries in order into a fresh table, publishes it, and retires the
// old one, which is never written again. Keys are hashed before the section
// is taken (a user tp_hash may block). Equality is type-strict (1 != 1.0); a
// user tp_eq may block and so suspend the section, after which the lookup
// checks `version` and restarts if the dict changed.
//
// Lock-free reads (FT_OPTIMISTIC_READS, DESIGN.md §4.9): ft_dict_get_ref()
// probes without the section, comparing keys of FT_TPFLAGS_IMMUTABLE_EQ
// types by their inline contents (such a stored key is SHARED or pinned by
// the dict, so its memory stays readable); any other comparison, a vanished
// value or a failed re-check of the table, entry key and value after the
// conditional increment falls back to the locked lookup. A miss linearizes
// at the EMPTY index load (the table was current, or frozen at retirement).
// Publication rule: a non-owner's first operation marks every key and value
// SHARED, then sets CONTENTS_SHARED; afterwards stored keys and values are
// marked before their release stores and retired tables go through QSBR.
// Unshared and dying dicts free tables at once.
//
// Failure atomicity: allocation happens before the first store of an
// operation, so MemoryError leaves the dict as it was. References a
// mutation drops are released after the section (STYLE.md rule 10).
//
// Origin: CPython Objects/dictobject.c (compact ordered dict, perturbed
// probing, 2/3 usable). Differences: one table layout (no split tables),
// no reuse of DELETED slots between resizes, a version counter instead of
// re-checking the table and entry after a comparison; entries are never
// reused in place and retired tables are frozen, so the lock-free reader's
// re-check has no ABA through a recycled table (CPython gh-149816).
#include <inttypes.h>

#include "gc/gc_internal.h"
#include "objects/objects_internal.h"

#define PERTURB_SHIFT 5
// The index is int32: keep entry numbers well inside it.
#define DICT_LOG2_MAX 30

enum {
    LOOKUP_MISSING = -1,
    LOOKUP_ERROR = -2,
};

static inline size_t
keys_size(const ft_dict_keys *keys)
{
    return (size_t)1 << keys->log2_size;
}

static inline int64_t
usable_fraction(size_t size)
{
    return (int64_t)(size * 2 / 3);
}

static inline ft_dict_entry *
keys_entries(ft_dict_keys *keys)
{
    return (ft_dict_entry *)&keys->index[keys_size(keys)];
}

// The smallest table (at least 8 slots) with `size` slots or more; -1 when
// too big.
static int
log2_for_size(int64_t size)
{
    int log2 = FT_DICT_LOG2_MIN;
    while (((int64_t)1 << log2) < size) {
        if (++log2 > DICT_LOG2_MAX) {
            return -1;
        }
    }
    return log2;
}

static size_t
keys_bytes(size_t size)
{
    return sizeof(ft_dict_keys) + size * sizeof(_Atomic(int32_t)) +
           (size_t)usable_fraction(size) * sizeof(ft_dict_entry);
}

// A private, empty table; NULL when out of memory (no error set).
static ft_dict_keys *
keys_new(int log2)
{
    if (log2 < 0) {
        return NULL;
    }
    size_t size = (size_t)1 << log2;
    int64_t usable = usable_fraction(size);
    ft_dict_keys *keys = ft_mem_alloc(keys_bytes(size));
    if (keys == NULL) {
        return NULL;
    }
    keys->log2_size = (uint8_t)log2;
    keys->usable = usable;
    keys->nentries = 0;
    for (size_t i = 0; i < size; i++) {
        // relaxed: private until published
        ft_atomic_store_relaxed_i32(&keys->index[i], FT_DICT_EMPTY);
    }
    return keys;
}

// ------------------------------------------------------------ field access
// Every access here holds the dict's section (or the dict is unreachable:
// dealloc, traverse in a pause), so loads are relaxed; stores that publish
// are release stores for lookup_optimistic(), which uses its own acquires.

static ft_dict_keys *
load_keys(ft_dict_object *dict)
{
    // relaxed: guarded by the dict's section (or the dict is unreachable)
    return ft_atomic_load_relaxed_ptr(&dict->keys);
}

static int32_t
load_index(ft_dict_keys *keys, size_t i)
{
    // relaxed: guarded by the dict's section
    return ft_atomic_load_relaxed_i32(&keys->index[i]);
}

static ft_object *
load_key(ft_dict_entry *entry)
{
    // relaxed: guarded by the dict's section (or the dict is unreachable)
    return ft_atomic_load_relaxed_ptr(&entry->key);
}

static ft_object *
load_value(ft_dict_entry *entry)
{
    // relaxed: guarded by the dict's section (or the dict is unreachable)
    return ft_atomic_load_relaxed_ptr(&entry->value);
}

static int64_t
load_used(ft_dict_object *dict)
{
    // relaxed: guarded by the dict's section
    return ft_atomic_load_relaxed_i64(&dict->used);
}

static void
store_used(ft_dict_object *dict, int64_t used)
{
    // pairs: acquire load in ft_dict_len(); section readers are ordered by the lock
    ft_atomic_store_release_i64(&dict->used, used);
}

// Publishes a table; returns the old one for the caller to retire.
static ft_dict_keys *
publish_keys(ft_dict_object *dict, ft_dict_keys *keys)
{
    ft_dict_keys *old = load_keys(dict);
    // Section readers are ordered by the lock.
    // pairs: acquire loads of keys in lookup_optimistic()
    ft_atomic_store_release_ptr(&dict->keys, keys);
    return old;
}

// A table the dict no longer reaches (memory only: its references moved to
// the new table or were released), so no destructor runs and this is safe
// inside the section. Through QSBR once the dict's contents are shared.
static void
retire_keys(ft_dict_object *dict, ft_dict_keys *keys)
{
    if (keys != NULL) {
        ft_container_retire(&dict->ob_base, keys, keys_bytes(keys_size(keys)));
    }
}

// The publication rule (§4.9), at the start of every operation under the
// dict's section: a non-owner marks every key and value SHARED, then sets
// CONTENTS_SHARED. Nothing without FT_OPTIMISTIC_READS.
static void
share_if_foreign_lock_held(ft_dict_object *dict)
{
#if FT_OPTIMISTIC_READS
    if (FT_LIKELY(ft_obj_owned_by_me(&dict->ob_base) ||
                  ft_container_contents_shared(&dict->ob_base))) {
        return;
    }
    ft_dict_keys *keys = load_keys(dict);
    for (int64_t j = 0; keys != NULL && j < keys->nentries; j++) {
        ft_dict_entry *entry = &keys_entries(keys)[j];
        ft_object *key = load_key(entry);
        if (key != NULL) {
            ft_obj_mark_shared(key);
            ft_obj_mark_shared(load_value(entry));
        }
    }
    ft_container_set_contents_shared(&dict->ob_base);
#else
    (void)dict;
#endif
}

// ------------------------------------------------------------ dropped references
// References a section drops are released after it ends. The buffer is
// inline for single operations and sized by ft_dict_update() for merges.
typedef struct dict_drops {
    ft_object **items;
    int64_t count;
    int64_t capacity;
    ft_object *inline_items[8];
} dict_drops;

static void
drops_init(dict_drops *drops)
{
    drops->items = drops->inline_items;
    drops->count = 0;
    drops->capacity = 8;
}

static void
drops_add(dict_drops *drops, ft_object *obj)
{
    if (FT_LIKELY(drops->count < drops->capacity)) {
        drops->items[drops->count++] = obj;
        return;
    }
    // Only reachable when concurrent writers keep invalidating blocking user
    // tp_eq calls: release inside the section, which §4.5 tolerates (a
    // destructor that blocks suspends it).
    ft_decref(obj);
}

static void
drops_release(dict_drops *drops)
{
    for (int64_t i = 0; i < drops->count; i++) {
        ft_decref(drops->items[i]);
    }
    if (drops->items != drops->inline_items) {
        ft_mem_free(drops->items);
    }
    drops_init(drops);
}

// ------------------------------------------------------------ probing

static inline size_t
probe_next(size_t i, uint64_t *perturb, size_t mask)
{
    *perturb >>= PERTURB_SHIFT;
    return (i * 5 + (size_t)*perturb + 1) & mask;
}

// The first EMPTY slot of hash's probe sequence (DELETED slots are skipped,
// not reused). One exists: entries never exceed 2/3 of the slots.
static size_t
find_empty_slot(ft_dict_keys *keys, int64_t hash)
{
    size_t mask = keys_size(keys) - 1;
    uint64_t perturb = (uint64_t)hash;
    size_t i = (size_t)hash & mask;
    while (load_index(keys, i) != FT_DICT_EMPTY) {
        i = probe_next(i, &perturb, mask);
    }
    return i;
}

// Compares a stored key with the probe key of the same type and hash.
// Built-in immutable types compare inline and never block. Any other tp_eq
// may block and suspend the section: the stored key is pinned across the
// call, and *changed reports whether the dict was modified meanwhile.
static int
compare_key(ft_dict_object *dict, ft_object *stored, ft_object *key, dict_drops *drops,
            bool *changed)
{
    const ft_type *type = key->ob_type;
    *changed = false;
    if (type->tp_eq == NULL) {
        return 0;  // identity only, and identity was checked
    }
    if (type->tp_flags & FT_TPFLAGS_IMMUTABLE_EQ) {
        return type->tp_eq(stored, key);
    }
    uint64_t version = dict->version;
    ft_incref(stored);
    int eq = type->tp_eq(stored, key);
    *changed = dict->version != version;
    if (*changed) {
        drops_add(drops, stored);  // may have left the dict: release after the section
    } else {
        ft_decref(stored);  // still in the dict, which holds a reference: never the last
    }
    return eq;
}

// Finds key. Returns its entry number in the current table with *slot its
// index slot; LOOKUP_MISSING with *slot the EMPTY slot ending its probe
// sequence (undefined when the dict has no table); LOOKUP_ERROR with the
// error set when a comparison failed.
static int64_t
lookup_lock_held(ft_dict_object *dict, ft_object *key, int64_t hash, size_t *slot,
                 dict_drops *drops)
{
restart:;
    ft_dict_keys *keys = load_keys(dict);
    if (keys == NULL) {
        return LOOKUP_MISSING;
    }
    ft_dict_entry *entries = keys_entries(keys);
    size_t mask = keys_size(keys) - 1;
    uint64_t perturb = (uint64_t)hash;
    for (size_t i = (size_t)hash & mask;; i = probe_next(i, &perturb, mask)) {
        int32_t ix = load_index(keys, i);
        if (ix == FT_DICT_EMPTY) {
            *slot = i;
            return LOOKUP_MISSING;
        }
        if (ix == FT_DICT_DELETED) {
            continue;
        }
        ft_dict_entry *entry = &entries[ix];
        ft_object *stored = load_key(entry);
        if (stored == key) {
            *slot = i;
            return ix;
        }
        // relaxed: guarded by the dict's section
        if (stored == NULL || ft_atomic_load_relaxed_i64(&entry->hash) != hash ||
            stored->ob_type != key->ob_type) {
            continue;
        }
        bool changed;
        int eq = compare_key(dict, stored, key, drops, &changed);
        if (eq < 0) {
            return LOOKUP_ERROR;
        }
        if (changed) {
            goto restart;
        }
        if (eq > 0) {
            *slot = i;
            return ix;
        }
    }
}

// Replaces the table by one of 2^log2 slots holding the live entries in
// order. -1 (dict unchanged) when out of memory. The caller ensures the
// live entries fit.
static int
resize_lock_held(ft_dict_object *dict, int log2)
{
    ft_dict_keys *fresh = keys_new(log2);
    if (fresh == NULL) {
        return -1;
    }
    ft_dict_keys *old = load_keys(dict);
    ft_dict_entry *to = keys_entries(fresh);
    int64_t n = 0;
    for (int64_t j = 0; old != NULL && j < old->nentries; j++) {
        ft_dict_entry *from = &keys_entries(old)[j];
        ft_object *key = load_key(from);
        if (key == NULL) {
            continue;
        }
        // relaxed: guarded by the dict's section
        int64_t hash = ft_atomic_load_relaxed_i64(&from->hash);
        size_t slot = find_empty_slot(fresh, hash);
        // relaxed: the new table is private until publish_keys()
        ft_atomic_store_relaxed_i64(&to[n].hash, hash);
        // relaxed: private table, as above
        ft_atomic_store_relaxed_ptr(&to[n].key, key);
        // relaxed: private table, as above
        ft_atomic_store_relaxed_ptr(&to[n].value, load_value(from));
        // relaxed: private table, as above
        ft_atomic_store_relaxed_i32(&fresh->index[slot], (int32_t)n);
        n++;
    }
    FT_ASSERT(n == load_used(dict), "dict used count disagrees with its entries");
    fresh->nentries = n;
    fresh->usable -= n;
    dict->version++;
    retire_keys(dict, publish_keys(dict, fresh));
    return 0;
}

// Appends a new entry for a key known to be absent; `slot` is the EMPTY
// slot the lookup ended on in the current table (unused if it must grow).
// -1 (dict unchanged) when the table must grow and cannot.
static int
insert_new_lock_held(ft_dict_object *dict, ft_object *key, int64_t hash, ft_object *value,
                     size_t slot)
{
    ft_dict_keys *keys = load_keys(dict);
    if (keys == NULL || keys->usable == 0) {
        // Grow to at least 3x the live entries (half of which stay usable).
        if (resize_lock_held(dict, log2_for_size(load_used(dict) * 3)) < 0) {
            return -1;
        }
        keys = load_keys(dict);
        slot = find_empty_slot(keys, hash);
    }
    ft_dict_entry *entry = &keys_entries(keys)[keys->nentries];
    FT_YIELD_POINT();
    ft_container_mark_item(&dict->ob_base, key);
    ft_container_mark_item(&dict->ob_base, value);
    // relaxed: published by the release store of the index slot below
    ft_atomic_store_relaxed_i64(&entry->hash, hash);
    // pairs: acquire loads of key in lookup_optimistic()
    ft_atomic_store_release_ptr(&entry->key, ft_newref(key));
    // pairs: acquire loads of value in lookup_optimistic()
    ft_atomic_store_release_ptr(&entry->value, ft_newref(value));
    // pairs: acquire load of index[i] in lookup_optimistic()
    ft_atomic_store_release_i32(&keys->index[slot], (int32_t)keys->nentries);
    keys->nentries++;
    keys->usable--;
    store_used(dict, load_used(dict) + 1);
    dict->version++;
    return 0;
}

// Sets key -> value with the section held. 0, or -1 with the error set
// (dict unchanged).
static int
set_lock_held(ft_dict_object *dict, ft_object *key, int64_t hash, ft_object *value,
              dict_drops *drops)
{
    size_t slot;
    int64_t ix = lookup_lock_held(dict, key, hash, &slot, drops);
    if (ix == LOOKUP_ERROR) {
        return -1;
    }
    if (ix >= 0) {
        ft_dict_entry *entry = &keys_entries(load_keys(dict))[ix];
        ft_object *old = load_value(entry);
        ft_container_mark_item(&dict->ob_base, value);
        // pairs: acquire loads of value in lookup_optimistic()
        ft_atomic_store_release_ptr(&entry->value, ft_newref(value));
        dict->version++;
        drops_add(drops, old);
        return 0;
    }
    if (insert_new_lock_held(dict, key, hash, value, slot) < 0) {
        ft_err_no_memory();
        return -1;
    }
    return 0;
}

// Removes key with the section held: 1 removed (its key and value go to
// drops), 0 missing, -1 comparison error.
static int
del_lock_held(ft_dict_object *dict, ft_object *key, int64_t hash, dict_drops *drops)
{
    size_t slot;
    int64_t ix = lookup_lock_held(dict, key, hash, &slot, drops);
    if (ix < 0) {
        return ix == LOOKUP_ERROR ? -1 : 0;
    }
    ft_dict_keys *keys = load_keys(dict);
    ft_dict_entry *entry = &keys_entries(keys)[ix];
    drops_add(drops, load_key(entry));
    drops_add(drops, load_value(entry));
    // pairs: acquire load of index[i] in lookup_optimistic()
    ft_atomic_store_release_i32(&keys->index[slot], FT_DICT_DELETED);
    // pairs: acquire loads of key in lookup_optimistic()
    ft_atomic_store_release_ptr(&entry->key, NULL);
    // pairs: acquire loads of value in lookup_optimistic()
    ft_atomic_store_release_ptr(&entry->value, NULL);
    store_used(dict, load_used(dict) - 1);
    dict->version++;
    return 1;
}

// ------------------------------------------------------------ type slots

static void
release_entries(ft_dict_keys *keys)
{
    for (int64_t j = 0; keys != NULL && j < keys->nentries; j++) {
        ft_dict_entry *entry = &keys_entries(keys)[j];
        ft_xdecref(load_key(entry));
        ft_xdecref(load_value(entry));
    }
}

// A dying dict has no readers (they would hold a reference): its table goes
// at once, shared or not.
static void
dict_dealloc(ft_object *obj)
{
    ft_gc_untrack(obj);  // G3: first
    ft_dict_keys *keys = load_keys((ft_dict_object *)obj);
    release_entries(keys);
    ft_mem_free(keys);
    ft_object_free(obj);
}

// G5: world stopped; no lock, no allocation.
static int
dict_traverse(ft_object *obj, ft_visit_fn visit, void *arg)
{
    ft_dict_keys *keys = load_keys((ft_dict_object *)obj);
    for (int64_t j = 0; keys != NULL && j < keys->nentries; j++) {
        ft_dict_entry *entry = &keys_entries(keys)[j];
        ft_object *key = load_key(entry);
        if (key == NULL) {
            continue;
        }
        int stop = visit(key, arg);
        if (stop == 0) {
            stop = visit(load_value(entry), arg);
        }
        if (stop) {
            return stop;
        }
    }
    return 0;
}

// The collector calls this inside a section on the dict; the dict is
// emptied (published as such) before any reference is released.
static void
dict_clear(ft_object *obj)
{
    ft_dict_object *dict = (ft_dict_object *)obj;
    store_used(dict, 0);
    dict->version++;
    ft_dict_keys *keys = publish_keys(dict, NULL);
    release_entries(keys);
    retire_keys(dict, keys);
}

ft_type ft_dict_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "dict",
    .tp_basicsize = sizeof(ft_dict_object),
    .tp_flags = FT_TPFLAGS_GC,
    .tp_dealloc = dict_dealloc,
    .tp_traverse = dict_traverse,
    .tp_clear = dict_clear,
    .tp_hash = ft_object_unhashable,
};

// ------------------------------------------------------------ operations

ft_object *
ft_dict_new(void)
{
    if (!ft_objects_check_attached("ft_dict_new")) {
        return NULL;
    }
    ft_dict_object *dict = (ft_dict_object *)ft_object_alloc(&ft_dict_type, 0);
    if (dict == NULL) {
        return NULL;
    }
    // relaxed: private until published
    ft_atomic_store_relaxed_i64(&dict->used, 0);
    // relaxed: private until published
    ft_atomic_store_relaxed_ptr(&dict->keys, NULL);
    dict->version = 0;
    ft_gc_track(&dict->ob_base);
    return &dict->ob_base;
}

// Checks the dict and key and hashes the key, before any section.
static bool
check_dict_key(ft_object *dict, ft_object *key, const char *function, int64_t *hash)
{
    if (!ft_objects_check(dict, &ft_dict_type, function) ||
        !ft_objects_check_not_null(key, function, "key")) {
        return false;
    }
    int64_t (*tp_hash)(ft_object *) = key->ob_type->tp_hash;
    *hash = tp_hash != NULL ? tp_hash(key) : ft_object_hash(key);
    return *hash != -1;
}

int
ft_dict_set(ft_object *dict, ft_object *key, ft_object *value)
{
    int64_t hash;
    if (!check_dict_key(dict, key, "ft_dict_set", &hash) ||
        !ft_objects_check_not_null(value, "ft_dict_set", "value")) {
        return -1;
    }
    dict_drops drops;
    drops_init(&drops);
    int rc;
    FT_CS_BEGIN(dict);
    share_if_foreign_lock_held((ft_dict_object *)dict);
    rc = set_lock_held((ft_dict_object *)dict, key, hash, value, &drops);
    FT_CS_END();
    drops_release(&drops);
    return rc;
}

// The locked lookup; a non-owner's first one makes the dict's contents
// shared. 1 found (*out a new reference), 0 missing, -1 error.
static int
get_locked(ft_dict_object *dict, ft_object *key, int64_t hash, ft_object **out)
{
    dict_drops drops;
    drops_init(&drops);
    size_t slot;
    int64_t ix;
    FT_CS_BEGIN(&dict->ob_base);
    share_if_foreign_lock_held(dict);
    ix = lookup_lock_held(dict, key, hash, &slot, &drops);
    if (ix >= 0) {
        *out = ft_newref(load_value(&keys_entries(load_keys(dict))[ix]));
    }
    FT_CS_END();
    drops_release(&drops);
    return ix >= 0 ? 1 : ix == LOOKUP_MISSING ? 0 : -1;
}

#if FT_OPTIMISTIC_READS
enum {
    READ_LOCKED = -1,  // take the locked path
    READ_MISSING = 0,
    READ_FOUND = 1,
};

// Whether a stored key equals the probe key, without a reference to it and
// without blocking: 1 or 0, or READ_LOCKED for a comparison only the locked
// path may make (a user tp_eq can block or run arbitrary code). Equality is
// type-strict, so other types never match; types without tp_eq compare by
// identity, which the caller already checked.
static int
key_equal_optimistic(ft_object *stored, ft_object *key)
{
    const ft_type *type = key->ob_type;
    if (stored->ob_type != type || type->tp_eq == NULL) {
        return 0;
    }
    if (!(type->tp_flags & FT_TPFLAGS_IMMUTABLE_EQ)) {
        return READ_LOCKED;
    }
    return type->tp_eq(stored, key) > 0;
}

// Finds key's entry in a table without the section: READ_FOUND with *entry
// and the key *stored there, READ_MISSING, or READ_LOCKED. Probing stops
// after as many probes as the table has slots (defensive: every table keeps
// EMPTY slots, and the locked path has no such bound).
static int
probe_optimistic(ft_dict_keys *keys, ft_object *key, int64_t hash, ft_dict_entry **entry,
                 ft_object **stored)
{
    size_t mask = keys_size(keys) - 1;
    uint64_t perturb = (uint64_t)hash;
    size_t i = (size_t)hash & mask;
    for (size_t probes = 0; probes <= mask; probes++, i = probe_next(i, &perturb, mask)) {
        // pairs: release stores in insert_new_lock_held() / del_lock_held()
        int32_t ix = ft_atomic_load_acquire_i32(&keys->index[i]);
        if (ix == FT_DICT_EMPTY) {
            return READ_MISSING;
        }
        if (ix == FT_DICT_DELETED) {
            continue;
        }
        ft_dict_entry *candidate = &keys_entries(keys)[ix];
        FT_YIELD_POINT();
        // pairs: release stores in insert_new_lock_held() / del_lock_held()
        ft_object *k = ft_atomic_load_acquire_ptr(&candidate->key);
        int eq = k == key;
        // relaxed: written once, before the index store our acquire read
        if (!eq && k != NULL && ft_atomic_load_relaxed_i64(&candidate->hash) == hash) {
            eq = key_equal_optimistic(k, key);
        }
        if (eq == READ_LOCKED) {
            return READ_LOCKED;
        }
        if (eq) {
            *entry = candidate;
            *stored = k;
            return READ_FOUND;
        }
    }
    return READ_LOCKED;
}

// The §4.9 dict_lookup_optimistic. O5: between the first load and the
// re-check nothing blocks, reaches a safepoint or decrefs; every table,
// entry key and value loaded stays allocated meanwhile (O1-O3).
static int
lookup_optimistic(ft_dict_object *dict, ft_object *key, int64_t hash, ft_object **out)
{
    if (!ft_obj_owned_by_me(&dict->ob_base) && !ft_container_contents_shared(&dict->ob_base)) {
        return READ_LOCKED;  // O1
    }
    // pairs: release store in publish_keys()
    ft_dict_keys *keys = ft_atomic_load_acquire_ptr(&dict->keys);
    if (keys == NULL) {
        return READ_MISSING;
    }
    ft_dict_entry *entry;
    ft_object *stored;
    int rc = probe_optimistic(keys, key, hash, &entry, &stored);
    if (rc != READ_FOUND) {
        return rc;
    }
    // pairs: release stores in insert_new_lock_held() / set_lock_held() / del_lock_held()
    ft_object *value = ft_atomic_load_acquire_ptr(&entry->value);
    if (value == NULL || !ft_ref_try_incref(value)) {
        return READ_LOCKED;
    }
    FT_YIELD_POINT();
    // pairs: release store in publish_keys()
    bool same = ft_atomic_load_acquire_ptr(&dict->keys) == keys;
    // pairs: release stores in insert_new_lock_held() / del_lock_held()
    same = same && ft_atomic_load_acquire_ptr(&entry->key) == stored;
    // pairs: release stores in set_lock_held() / del_lock_held()
    if (!same || ft_atomic_load_acquire_ptr(&entry->value) != value) {
        ft_decref(value);  // after the last unprotected load (O5)
        return READ_LOCKED;
    }
    *out = value;
    return READ_FOUND;
}
#endif

int
ft_dict_get_ref(ft_object *dict, ft_object *key, ft_object **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    int64_t hash;
    if (!check_dict_key(dict, key, "ft_dict_get_ref", &hash)) {
        return -1;
    }
    if (out == NULL) {
        ft_err_set(FT_ERR_TYPE, "ft_dict_get_ref: out is NULL");
        return -1;
    }
#if FT_OPTIMISTIC_READS
    int rc = lookup_optimistic((ft_dict_object *)dict, key, hash, out);
    if (FT_LIKELY(rc != READ_LOCKED)) {
        FT_STAT_INC(read_optimistic);
        return rc;
    }
    FT_STAT_INC(read_fallback);
#endif
    return get_locked((ft_dict_object *)dict, key, hash, out);
}

int
ft_dict_del(ft_object *dict, ft_object *key)
{
    int64_t hash;
    if (!check_dict_key(dict, key, "ft_dict_del", &hash)) {
        return -1;
    }
    dict_drops drops;
    drops_init(&drops);
    int rc;
    FT_CS_BEGIN(dict);
    share_if_foreign_lock_held((ft_dict_object *)dict);
    rc = del_lock_held((ft_dict_object *)dict, key, hash, &drops);
    FT_CS_END();
    drops_release(&drops);
    if (rc == 0) {
        char what[64];
        ft_object_describe(key, what, sizeof(what));
        ft_err_set(FT_ERR_KEY, "ft_dict_del: key %s not found", what);
        return -1;
    }
    return rc < 0 ? -1 : 0;
}

// One acquire load, no lock, in every build (§4.9).
int64_t
ft_dict_len(ft_object *dict)
{
    if (!ft_objects_check(dict, &ft_dict_type, "ft_dict_len")) {
        return -1;
    }
    // pairs: release store in store_used()
    return ft_atomic_load_acquire_i64(&((ft_dict_object *)dict)->used);
}

// Before merging m entries: room for every one of them to be new (so no
// allocation happens mid-merge), and a drop buffer for every value they may
// replace. -1 (nothing changed) when out of memory.
static int
prepare_update_lock_held(ft_dict_object *dict, int64_t m, dict_drops *drops)
{
    ft_dict_keys *keys = load_keys(dict);
    if (keys == NULL || keys->usable < m) {
        int64_t needed = load_used(dict) + m;
        if (needed > INT32_MAX || resize_lock_held(dict, log2_for_size(needed * 3 / 2 + 1)) < 0) {
            return -1;
        }
    }
    int64_t capacity = m + 4;  // a few spare for pins of blocking comparisons
    if (capacity <= drops->capacity) {
        return 0;
    }
    ft_object **items = ft_mem_alloc((size_t)capacity * sizeof(ft_object *));
    if (items == NULL) {
        return -1;
    }
    drops->items = items;
    drops->capacity = capacity;
    return 0;
}

// Merges other's live entries in order, reusing their stored hashes. A key
// of a type with a user tp_eq may block in a comparison and suspend both
// sections; its key and value are pinned meanwhile, and if `other` changed
// the merge stops with RuntimeError (as Python's "dict changed size during
// iteration"), keeping what it merged so far.
static int
update_lock_held(ft_dict_object *dict, ft_dict_object *other, dict_drops *drops)
{
    ft_dict_keys *keys = load_keys(other);
    int64_t n = keys != NULL ? keys->nentries : 0;
    uint64_t version = other->version;
    for (int64_t j = 0; j < n; j++) {
        ft_dict_entry *entry = &keys_entries(keys)[j];
        ft_object *key = load_key(entry);
        if (key == NULL) {
            continue;
        }
        ft_object *value = load_value(entry);
        // relaxed: guarded by other's section
        int64_t hash = ft_atomic_load_relaxed_i64(&entry->hash);
        bool may_block =
            key->ob_type->tp_eq != NULL && !(key->ob_type->tp_flags & FT_TPFLAGS_IMMUTABLE_EQ);
        if (!may_block) {
            if (set_lock_held(dict, key, hash, value, drops) < 0) {
                return -1;
            }
            continue;
        }
        ft_incref(key);
        ft_incref(value);
        int rc = set_lock_held(dict, key, hash, value, drops);
        if (other->version == version) {
            // other still holds both, so these are never the last references
            ft_decref(key);
            ft_decref(value);
        } else {
            drops_add(drops, key);
            drops_add(drops, value);
            if (rc == 0) {
                ft_err_set(FT_ERR_RUNTIME, "ft_dict_update: dict changed during update");
                rc = -1;
            }
        }
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

int
ft_dict_update(ft_object *dict, ft_object *other)
{
    if (!ft_objects_check(dict, &ft_dict_type, "ft_dict_update") ||
        !ft_objects_check(other, &ft_dict_type, "ft_dict_update")) {
        return -1;
    }
    if (dict == other) {
        return 0;
    }
    ft_dict_object *d = (ft_dict_object *)dict;
    ft_dict_object *o = (ft_dict_object *)other;
    dict_drops drops;
    drops_init(&drops);
    int rc = 0;
    FT_CS_BEGIN2(dict, other);
    share_if_foreign_lock_held(d);
    share_if_foreign_lock_held(o);
    int64_t m = load_used(o);
    if (m > 0) {
        rc = prepare_update_lock_held(d, m, &drops);
        if (rc < 0) {
            ft_err_no_memory();
        } else {
            rc = update_lock_held(d, o, &drops);
        }
    }
    FT_CS_END();
    drops_release(&drops);
    return rc;
}
