// objects/objects_internal.h: the layouts of the built-in objects, the
// argument checks their public functions share, and the publication helpers
// of DESIGN.md §4.9. Private to the runtime.
//
// Layouts follow §4.9: every field a lock-free reader loads is _Atomic and
// written with a release store of a fully built value (O4). With
// FT_OPTIMISTIC_READS, ft_list_get_ref() and ft_dict_get_ref() read without
// the container's section (acquire loads); writers still take it.
#ifndef FT_OBJECTS_OBJECTS_INTERNAL_H
#define FT_OBJECTS_OBJECTS_INTERNAL_H

#ifndef FT_BUILD_CORE
#    error "objects_internal.h is private to the ftrt runtime"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objects/objects.h"
#include "refcount/refcount.h"
#include "runtime/atomic.h"
#include "runtime/runtime.h"
#include "runtime/runtime_internal.h"

// ------------------------------------------------------------ layouts

// int and bool (bool reuses the layout so that its hash is its value).
typedef struct ft_int_object {
    ft_object ob_base;
    int64_t value;  // immutable after construction
} ft_int_object;

typedef struct ft_float_object {
    ft_object ob_base;
    double value;  // immutable after construction
} ft_float_object;

// str: the bytes follow the struct (length + 1 of them, NUL-terminated).
typedef struct ft_str_object {
    ft_object ob_base;
    int64_t hash;    // immutable after construction (computed once, never -1)
    int64_t length;  // immutable after construction
} ft_str_object;
static_assert(sizeof(ft_str_object) % 8 == 0, "str bytes follow the struct");

// tuple: the item pointers follow the struct.
typedef struct ft_tuple_object {
    ft_object ob_base;
    int64_t size;           // immutable after construction
    _Atomic(int64_t) hash;  // atomic: any reader caches it (relaxed: the
                            // value is a pure function of immutable items);
                            // -1 until first computed
    uint8_t gc_tracked;     // immutable after construction: whether it was
                            // tracked (only tuples holding a GC item are), so
                            // that freeing an untracked tuple takes no GC-list
                            // lock (all untracked tuples name slot 0: freeing
                            // them from 2 threads contended on its lock, 44% of
                            // tuple_churn's time at 2 threads, perf)
} ft_tuple_object;
static_assert(sizeof(ft_tuple_object) % _Alignof(ft_object *) == 0,
              "tuple items follow the struct");

static inline ft_object **
ft_tuple_items(ft_tuple_object *tuple)
{
    return (ft_object **)(tuple + 1);
}

static inline char *
ft_str_bytes(ft_str_object *str)
{
    return (char *)(str + 1);
}

// list storage: capacity travels with the array, so a reader holding a stale
// array still knows its bound (§4.9).
typedef struct ft_list_array {
    int64_t capacity;             // immutable after allocation
    _Atomic(ft_object *) slot[];  // atomic: writers under the list's section
                                  // (release) / readers (acquire, or relaxed
                                  // inside the section)
} ft_list_array;

typedef struct ft_list_object {
    ft_object ob_base;
    _Atomic(int64_t) size;           // atomic: writers under the section (release) / readers
    _Atomic(ft_list_array *) items;  // atomic: writers under the section (release) / readers;
                                     // NULL until the first append
} ft_list_object;

// dict storage. The index holds entry numbers, FT_DICT_EMPTY or
// FT_DICT_DELETED; entries are append-only and follow the index.
#define FT_DICT_EMPTY ((int32_t)-1)
#define FT_DICT_DELETED ((int32_t)-2)
#define FT_DICT_LOG2_MIN 3

typedef struct ft_dict_entry {
    _Atomic(int64_t) hash;       // atomic: written once before the index is published
    _Atomic(ft_object *) key;    // atomic: section writers (release) / readers; NULL = deleted
    _Atomic(ft_object *) value;  // atomic: section writers (release) / readers
} ft_dict_entry;

typedef struct ft_dict_keys {
    uint8_t log2_size;         // immutable after allocation
    int64_t usable;            // guarded by: the dict's section (entries left to append)
    int64_t nentries;          // guarded by: the dict's section (entries appended)
    _Atomic(int32_t) index[];  // atomic: section writers (release) / readers;
                               // followed by the entry array
} ft_dict_keys;
static_assert(offsetof(ft_dict_keys, index) % 8 == 0, "index starts 8-aligned");

typedef struct ft_dict_object {
    ft_object ob_base;
    _Atomic(int64_t) used;         // atomic: section writers (release) / readers
    _Atomic(ft_dict_keys *) keys;  // atomic: section writers (release) / readers;
                                   // NULL until the first insertion
    uint64_t version;              // guarded by: the dict's section; bumped by
                                   // every mutation so a lookup that called a
                                   // blocking tp_eq can tell its table changed
} ft_dict_object;

// ------------------------------------------------------------ publication (§4.9)
// ob_gc_bits SHARED: a lock-free reader elsewhere may hold a pointer to the
// object without a reference, so its memory goes through QSBR and its owner
// must CAS to free it. CONTENTS_SHARED (containers): non-owners may read it
// lock-free; everything it references is SHARED (O2) and its retired storage
// goes through QSBR (O3). Both bits are only ever set. Without
// FT_OPTIMISTIC_READS (the GIL build has no such header bits) the helpers
// compile to nothing and every container read takes the section.
#if FT_OPTIMISTIC_READS
static inline bool
ft_obj_is_shared(ft_object *obj)
{
    // pairs: release fetch_or in ft_obj_mark_shared()
    return (ft_atomic_load_acquire_u8(&obj->ob_gc_bits) & FT_GC_BIT_SHARED) != 0;
}

// Immortals are skipped (I3). A bit already set needs no second RMW: a later
// reader of the bit is coherence-ordered after the fetch_or we observed.
static inline void
ft_obj_mark_shared(ft_object *obj)
{
    // relaxed: the immortal marker never changes for a live object (I2)
    if (ft_atomic_load_relaxed_u32(&obj->ob_ref_local) == FT_REF_LOCAL_IMMORTAL) {
        return;
    }
    // relaxed: only skips a redundant RMW; the bit is never cleared
    if (ft_atomic_load_relaxed_u8(&obj->ob_gc_bits) & FT_GC_BIT_SHARED) {
        return;
    }
    // Readers: ft_ref_merge_zero_local(), ft_is_unique(), ft_obj_is_shared().
    // pairs: acquire loads of ob_gc_bits in those readers
    ft_atomic_or_release_u8(&obj->ob_gc_bits, FT_GC_BIT_SHARED);
}

static inline bool
ft_container_contents_shared(ft_object *obj)
{
    // pairs: release fetch_or in ft_container_set_contents_shared()
    return (ft_atomic_load_acquire_u8(&obj->ob_gc_bits) & FT_GC_BIT_CONTENTS_SHARED) != 0;
}

// Under the container's section, after every item it references was marked
// SHARED: a reader that sees the bit (acquire) sees those marks.
static inline void
ft_container_set_contents_shared(ft_object *obj)
{
    // pairs: acquire load in ft_container_contents_shared()
    ft_atomic_or_release_u8(&obj->ob_gc_bits, FT_GC_BIT_CONTENTS_SHARED);
}

static inline bool
ft_obj_owned_by_me(ft_object *obj)
{
    // relaxed: equal to our id only if we own it, which nobody else changes
    // while we run (B1, B2)
    return ft_atomic_load_relaxed_uintptr(&obj->ob_tid) == ft_tls.tid;
}
#else
static inline bool
ft_obj_is_shared(ft_object *obj)
{
    (void)obj;
    return false;
}

static inline void
ft_obj_mark_shared(ft_object *obj)
{
    (void)obj;
}

static inline bool
ft_container_contents_shared(ft_object *obj)
{
    (void)obj;
    return false;
}

static inline void
ft_container_set_contents_shared(ft_object *obj)
{
    (void)obj;
}

static inline bool
ft_obj_owned_by_me(ft_object *obj)
{
    (void)obj;
    return true;
}
#endif

// Marks an item about to be stored into a container (section held) when the
// container's contents are shared, before the release store publishing it.
static inline void
ft_container_mark_item(ft_object *container, ft_object *item)
{
    if (ft_container_contents_shared(container)) {
        ft_obj_mark_shared(item);
    }
}

// Releases storage a container no longer reaches (memory only, no
// destructor). CONTENTS_SHARED: through QSBR (Q1), since a lock-free reader
// may still be inside it; otherwise at once -- no thread but the owner reads
// an unshared container lock-free, and the owner is the one retiring it.
static inline void
ft_container_retire(ft_object *container, void *storage, size_t bytes)
{
#if FT_OPTIMISTIC_READS
    if (ft_container_contents_shared(container)) {
        ft_qsbr_defer(storage, bytes, ft_mem_free);
        return;
    }
#else
    (void)container;
    (void)bytes;
#endif
    ft_mem_free(storage);
}

// ------------------------------------------------------------ statics
// The small-int cache, -5 ... 256 (immortal, static).
#define FT_SMALL_INT_MIN (-5)
#define FT_SMALL_INT_MAX 256
extern ft_int_object ft_small_ints[FT_SMALL_INT_MAX - FT_SMALL_INT_MIN + 1];
ft_object *ft_empty_tuple(void);  // immortal, no reference taken
ft_object *ft_empty_str(void);    // immortal, no reference taken

// ------------------------------------------------------------ argument checks

// Every public function starts with this. The inline part reads the TLS
// flag the attach path maintains; the call sets RuntimeError (or, if the
// flag was stale, agrees that the thread is attached).
static inline bool
ft_objects_check_attached(const char *function)
{
    if (FT_LIKELY(ft_tls.attached)) {
        return true;
    }
    return ft_thread_check_attached(function);
}

// Sets TypeError "<function>: expected <expected>, got <actual>" (actual is
// "NULL" for a NULL object).
void ft_objects_type_error(const char *function, const char *expected, ft_object *obj);

// Attached and of exactly this type (no subtyping in v1); else the error.
static inline bool
ft_objects_check(ft_object *obj, const ft_type *type, const char *function)
{
    if (FT_UNLIKELY(!ft_objects_check_attached(function))) {
        return false;
    }
    if (FT_LIKELY(obj != NULL && obj->ob_type == type)) {
        return true;
    }
    ft_objects_type_error(function, type->tp_name, obj);
    return false;
}

// Sets TypeError when obj is NULL.
static inline bool
ft_objects_check_not_null(ft_object *obj, const char *function, const char *what)
{
    if (FT_LIKELY(obj != NULL)) {
        return true;
    }
    ft_err_set(FT_ERR_TYPE, "%s: %s is NULL", function, what);
    return false;
}

// Hash helpers shared by the types. Never returns -1 (the error value).
static inline int64_t
ft_hash_mix64(uint64_t x)
{
    // splitmix64's finalizer: every input bit reaches every output bit.
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    int64_t h = (int64_t)x;
    return h == -1 ? -2 : h;
}

// Identity hash (types, None, objects of types without tp_hash and tp_eq).
int64_t ft_object_identity_hash(ft_object *obj);
// Identity equality (tp_eq of the singletons).
int ft_object_identity_eq(ft_object *a, ft_object *b);
// tp_hash of unhashable types (list, dict): TypeError.
int64_t ft_object_unhashable(ft_object *obj);
// A short description for error messages: 5, 'abc', <list object>.
void ft_object_describe(ft_object *obj, char *buf, size_t size);

#endif
