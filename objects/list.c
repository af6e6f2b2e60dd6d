// objects/list.c: growable arrays of references.
//
// Invariant: in the array `items` points to, slot[0, size) hold references
// the list owns and slot[size, capacity) are NULL; size <= capacity. Only a
// thread inside the list's critical section writes size, items or a slot,
// and each write publishes a fully built value with a release store
// (DESIGN.md §4.9, O4).
//
// How: append stores the slot, then the size; growth (to n + n/8 + 6 for a
// needed size n) fills a new array, publishes it, then retires the old one;
// pop clears the slot before shrinking the size. Writers take the section.
// With FT_OPTIMISTIC_READS, ft_list_get_ref() reads without it (§4.9): a
// stale array keeps its capacity and is never written after retirement, and
// the reader re-checks both the array pointer and the slot after its
// conditional increment, so it returns only an item that was at index i of
// the current array at that moment. Publication rule: the first operation by
// a thread that does not own the list marks every item SHARED, then sets
// CONTENTS_SHARED (one walk per list life); afterwards stored items are
// marked before their release store and retired arrays go through QSBR. An
// unshared list frees old arrays at once (only its owner reads it lock-free,
// and the owner is the writer), and so does a dying list (readers would
// hold a reference).
//
// Failure atomicity: each operation allocates before its first store, so a
// failed allocation leaves the list exactly as it was. References a
// mutation drops are released after the section ends, since a destructor may
// block (STYLE.md rule 10).
//
// Origin: CPython Objects/listobject.c (growth pattern, pop-then-shrink).
// Differences: capacity lives in the array, not the list; no in-place
// realloc (a lock-free reader may still hold the old array); the reader
// re-checks the array pointer too, which CPython's list_get_item_ref() does
// not (the race of DESIGN.md §4.9).
#include <inttypes.h>

#include "gc/gc_internal.h"
#include "objects/objects_internal.h"

// Keeps capacity * sizeof(slot) far from overflow.
#define LIST_MAX_CAPACITY (INT64_MAX / 16)

static int64_t
load_size(ft_list_object *list)
{
    // relaxed: guarded by the list's section (or the list is unreachable)
    return ft_atomic_load_relaxed_i64(&list->size);
}

static ft_list_array *
load_items(ft_list_object *list)
{
    // relaxed: guarded by the list's section (or the list is unreachable)
    return ft_atomic_load_relaxed_ptr(&list->items);
}

static ft_object *
load_slot(const ft_list_array *array, int64_t i)
{
    // relaxed: guarded by the list's section (or the list is unreachable)
    return ft_atomic_load_relaxed_ptr(&array->slot[i]);
}

static size_t
array_bytes(int64_t capacity)
{
    return sizeof(ft_list_array) + (size_t)capacity * sizeof(_Atomic(ft_object *));
}

static ft_list_array *
array_new(int64_t capacity)
{
    ft_list_array *array = ft_mem_alloc(array_bytes(capacity));
    if (array == NULL) {
        return NULL;
    }
    array->capacity = capacity;
    return array;
}

// The capacity for `needed` items: needed + needed/8 + 6, or -1 if too big.
static int64_t
grow_capacity(int64_t needed)
{
    if (needed < 0 || needed > LIST_MAX_CAPACITY - needed / 8 - 6) {
        return -1;
    }
    return needed + needed / 8 + 6;
}

// A new array of the given capacity holding slot[0, n) of `old` (which may
// be NULL when n is 0) and NULL after. The array is private until published,
// so its slots are written with relaxed stores.
static ft_list_array *
array_copy(const ft_list_array *old, int64_t n, int64_t capacity)
{
    ft_list_array *array = capacity < 0 ? NULL : array_new(capacity);
    if (array == NULL) {
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        ft_object *item = load_slot(old, i);
        // relaxed: the new array is private until publish_array()
        ft_atomic_store_relaxed_ptr(&array->slot[i], item);
    }
    for (int64_t i = n; i < capacity; i++) {
        // relaxed: private until published
        ft_atomic_store_relaxed_ptr(&array->slot[i], NULL);
    }
    return array;
}

// Publishes a filled array; the caller retires the returned old one after
// the section (retire_array()).
static ft_list_array *
publish_array(ft_list_object *list, ft_list_array *array)
{
    // relaxed: guarded by the list's section
    ft_list_array *old = ft_atomic_load_relaxed_ptr(&list->items);
    // Section readers are ordered by the lock.
    // pairs: acquire loads of items in get_optimistic()
    ft_atomic_store_release_ptr(&list->items, array);
    return old;
}

static void
store_slot(ft_list_array *array, int64_t i, ft_object *item)
{
    // Section readers are ordered by the lock.
    // pairs: acquire loads of slot[i] in get_optimistic()
    ft_atomic_store_release_ptr(&array->slot[i], item);
}

// Stores a new item (section held): marked SHARED first if the list's
// contents are shared, so a reader that loads it finds it SHARED (O2).
static void
store_item(ft_list_object *list, ft_list_array *array, int64_t i, ft_object *item)
{
    ft_container_mark_item(&list->ob_base, item);
    store_slot(array, i, item);
}

static void
store_size(ft_list_object *list, int64_t size)
{
    // Section readers are ordered by the lock.
    // pairs: acquire loads of size in get_optimistic() and ft_list_len()
    ft_atomic_store_release_i64(&list->size, size);
}

// An array the list no longer reaches; called after the section. The bit is
// only ever set, so if it is clear now it was clear during our section: no
// non-owner read the list lock-free, and we (the owner) are done with it.
static void
retire_array(ft_list_object *list, ft_list_array *array)
{
    if (array != NULL) {
        ft_container_retire(&list->ob_base, array, array_bytes(array->capacity));
    }
}

// The publication rule (§4.9), at the start of every operation under the
// list's section: a non-owner marks the items SHARED, then sets
// CONTENTS_SHARED. Nothing without FT_OPTIMISTIC_READS.
static void
share_if_foreign_lock_held(ft_list_object *list)
{
#if FT_OPTIMISTIC_READS
    if (FT_LIKELY(ft_obj_owned_by_me(&list->ob_base) ||
                  ft_container_contents_shared(&list->ob_base))) {
        return;
    }
    ft_list_array *array = load_items(list);
    int64_t n = load_size(list);
    for (int64_t i = 0; i < n; i++) {
        ft_obj_mark_shared(load_slot(array, i));
    }
    ft_container_set_contents_shared(&list->ob_base);
#else
    (void)list;
#endif
}

// ------------------------------------------------------------ type slots

static void
release_items(ft_list_array *array, int64_t n)
{
    for (int64_t i = 0; array != NULL && i < n; i++) {
        ft_xdecref(load_slot(array, i));
    }
}

// A dying list has no readers (they would hold a reference), so its array
// goes at once, shared or not.
static void
list_dealloc(ft_object *obj)
{
    ft_gc_untrack(obj);  // G3: first
    ft_list_object *list = (ft_list_object *)obj;
    ft_list_array *array = load_items(list);
    release_items(array, load_size(list));
    ft_mem_free(array);
    ft_object_free(obj);
}

// G5: world stopped; no lock, no allocation.
static int
list_traverse(ft_object *obj, ft_visit_fn visit, void *arg)
{
    ft_list_object *list = (ft_list_object *)obj;
    ft_list_array *array = load_items(list);
    int64_t n = load_size(list);
    for (int64_t i = 0; i < n; i++) {
        ft_object *item = load_slot(array, i);
        if (item != NULL) {
            int stop = visit(item, arg);
            if (stop) {
                return stop;
            }
        }
    }
    return 0;
}

// The collector calls this inside a section on the list; the list is
// emptied (published as such) before any item is released. Garbage has no
// reader, but the array is retired by the usual rule all the same.
static void
list_clear(ft_object *obj)
{
    ft_list_object *list = (ft_list_object *)obj;
    int64_t n = load_size(list);
    store_size(list, 0);
    ft_list_array *array = publish_array(list, NULL);
    release_items(array, n);
    retire_array(list, array);
}

ft_type ft_list_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "list",
    .tp_basicsize = sizeof(ft_list_object),
    .tp_flags = FT_TPFLAGS_GC,
    .tp_dealloc = list_dealloc,
    .tp_traverse = list_traverse,
    .tp_clear = list_clear,
    .tp_hash = ft_object_unhashable,
};

// ------------------------------------------------------------ operations

ft_object *
ft_list_new(void)
{
    if (!ft_objects_check_attached("ft_list_new")) {
        return NULL;
    }
    ft_list_object *list = (ft_list_object *)ft_object_alloc(&ft_list_type, 0);
    if (list == NULL) {
        return NULL;
    }
    // relaxed: private until published
    ft_atomic_store_relaxed_i64(&list->size, 0);
    // relaxed: private until published
    ft_atomic_store_relaxed_ptr(&list->items, NULL);
    ft_gc_track(&list->ob_base);
    return &list->ob_base;
}

// Appends with the section held; *retired receives an array to free after
// the section. -1 (list unchanged) when growing fails.
static int
append_lock_held(ft_list_object *list, ft_object *item, ft_list_array **retired)
{
    int64_t n = load_size(list);
    ft_list_array *array = load_items(list);
    if (array == NULL || n == array->capacity) {
        array = array_copy(array, n, grow_capacity(n + 1));
        if (array == NULL) {
            return -1;
        }
        *retired = publish_array(list, array);
    }
    FT_YIELD_POINT();
    store_item(list, array, n, ft_newref(item));
    store_size(list, n + 1);
    return 0;
}

int
ft_list_append(ft_object *list, ft_object *item)
{
    if (!ft_objects_check(list, &ft_list_type, "ft_list_append") ||
        !ft_objects_check_not_null(item, "ft_list_append", "item")) {
        return -1;
    }
    ft_list_array *retired = NULL;
    int rc;
    FT_CS_BEGIN(list);
    share_if_foreign_lock_held((ft_list_object *)list);
    rc = append_lock_held((ft_list_object *)list, item, &retired);
    FT_CS_END();
    retire_array((ft_list_object *)list, retired);
    if (rc < 0) {
        ft_err_no_memory();
    }
    return rc;
}

// One acquire load, no lock, in every build (§4.9).
int64_t
ft_list_len(ft_object *list)
{
    if (!ft_objects_check(list, &ft_list_type, "ft_list_len")) {
        return -1;
    }
    // pairs: release store in store_size()
    return ft_atomic_load_acquire_i64(&((ft_list_object *)list)->size);
}

static void
index_error(const char *function, int64_t i, int64_t n)
{
    ft_err_set(FT_ERR_INDEX, "%s: index %" PRId64 " out of range (len %" PRId64 ")", function, i,
               n);
}

// The locked read; a non-owner's first one makes the list's contents shared.
static ft_object *
get_locked(ft_list_object *list, int64_t i)
{
    ft_object *item = NULL;
    int64_t n;
    FT_CS_BEGIN(&list->ob_base);
    share_if_foreign_lock_held(list);
    n = load_size(list);
    if (i >= 0 && i < n) {
        item = ft_newref(load_slot(load_items(list), i));
    }
    FT_CS_END();
    if (item == NULL) {
        index_error("ft_list_get_ref", i, n);
    }
    return item;
}

#if FT_OPTIMISTIC_READS
enum {
    READ_LOCKED = -1,       // take the locked path
    READ_OUT_OF_RANGE = 0,  // IndexError (*size holds the length seen)
    READ_FOUND = 1,
};

// The §4.9 protocol. O5: between the first load and the re-check nothing
// blocks, reaches a safepoint or decrefs, so no quiescent point of ours
// falls inside the window and everything loaded stays allocated (O1-O3).
// The array check closes the ABA that CPython's slot-only re-check leaves.
static int
get_optimistic(ft_list_object *list, int64_t i, ft_object **out, int64_t *size)
{
    if (!ft_obj_owned_by_me(&list->ob_base) && !ft_container_contents_shared(&list->ob_base)) {
        return READ_LOCKED;  // O1
    }
    // pairs: release store in store_size()
    int64_t n = ft_atomic_load_acquire_i64(&list->size);
    if (i < 0 || i >= n) {
        *size = n;
        return READ_OUT_OF_RANGE;
    }
    // pairs: release store in publish_array()
    ft_list_array *array = ft_atomic_load_acquire_ptr(&list->items);
    if (array == NULL || i >= array->capacity) {
        return READ_LOCKED;
    }
    FT_YIELD_POINT();
    // pairs: release store in store_slot()
    ft_object *item = ft_atomic_load_acquire_ptr(&array->slot[i]);
    if (item == NULL || !ft_ref_try_incref(item)) {
        return READ_LOCKED;
    }
    FT_YIELD_POINT();
    // pairs: release store in publish_array()
    bool same_array = ft_atomic_load_acquire_ptr(&list->items) == array;
    // pairs: release store in store_slot()
    if (!same_array || ft_atomic_load_acquire_ptr(&array->slot[i]) != item) {
        ft_decref(item);  // after the last unprotected load (O5)
        return READ_LOCKED;
    }
    *out = item;
    return READ_FOUND;
}
#endif

ft_object *
ft_list_get_ref(ft_object *list, int64_t i)
{
    if (!ft_objects_check(list, &ft_list_type, "ft_list_get_ref")) {
        return NULL;
    }
#if FT_OPTIMISTIC_READS
    ft_object *item = NULL;
    int64_t n = 0;
    int rc = get_optimistic((ft_list_object *)list, i, &item, &n);
    if (FT_LIKELY(rc == READ_FOUND)) {
        FT_STAT_INC(read_optimistic);
        return item;
    }
    if (rc == READ_OUT_OF_RANGE) {
        FT_STAT_INC(read_optimistic);  // answered without the lock, too
        index_error("ft_list_get_ref", i, n);
        return NULL;
    }
    FT_STAT_INC(read_fallback);
#endif
    return get_locked((ft_list_object *)list, i);
}

int
ft_list_set(ft_object *list, int64_t i, ft_object *item)
{
    if (!ft_objects_check(list, &ft_list_type, "ft_list_set") ||
        !ft_objects_check_not_null(item, "ft_list_set", "item")) {
        return -1;
    }
    ft_list_object *l = (ft_list_object *)list;
    ft_object *old = NULL;
    int64_t n;
    FT_CS_BEGIN(list);
    share_if_foreign_lock_held(l);
    n = load_size(l);
    if (i >= 0 && i < n) {
        ft_list_array *array = load_items(l);
        old = load_slot(array, i);
        store_item(l, array, i, ft_newref(item));
    }
    FT_CS_END();
    if (old == NULL) {
        index_error("ft_list_set", i, n);
        return -1;
    }
    ft_decref(old);
    return 0;
}

// After a pop to size n: an array more than twice too big is replaced by a
// smaller one, and an empty list drops its array. Best effort: if the
// smaller array cannot be allocated the list keeps the big one.
static ft_list_array *
shrink_lock_held(ft_list_object *list, ft_list_array *array, int64_t n)
{
    if (n == 0) {
        return publish_array(list, NULL);
    }
    if (n >= array->capacity / 2) {
        return NULL;
    }
    ft_list_array *smaller = array_copy(array, n, grow_capacity(n));
    if (smaller == NULL) {
        return NULL;
    }
    return publish_array(list, smaller);
}

ft_object *
ft_list_pop(ft_object *list)
{
    if (!ft_objects_check(list, &ft_list_type, "ft_list_pop")) {
        return NULL;
    }
    ft_list_object *l = (ft_list_object *)list;
    ft_object *item = NULL;
    ft_list_array *retired = NULL;
    FT_CS_BEGIN(list);
    share_if_foreign_lock_held(l);
    int64_t n = load_size(l);
    if (n > 0) {
        ft_list_array *array = load_items(l);
        item = load_slot(array, n - 1);
        store_slot(array, n - 1, NULL);  // the slot first, then the size (§4.9)
        store_size(l, n - 1);
        retired = shrink_lock_held(l, array, n - 1);
    }
    FT_CS_END();
    retire_array(l, retired);
    if (item == NULL) {
        ft_err_set(FT_ERR_INDEX, "ft_list_pop: pop from empty list");
    }
    return item;  // the list's reference, transferred
}

// Appends m items read from a list array (section held on its list) or a
// tuple's item array. `list` may be the source list itself: the source
// slots [0, m) are read before the size changes and never overwritten.
static int
extend_lock_held(ft_list_object *list, const ft_list_array *src_array, ft_object *const *src_items,
                 int64_t m, ft_list_array **retired)
{
    int64_t n = load_size(list);
    ft_list_array *array = load_items(list);
    if (m == 0) {
        return 0;
    }
    ft_list_array *target = array;
    if (array == NULL || array->capacity - n < m) {
        int64_t capacity = m > LIST_MAX_CAPACITY - n ? -1 : grow_capacity(n + m);
        target = array_copy(array, n, capacity);
        if (target == NULL) {
            return -1;
        }
    }
    for (int64_t j = 0; j < m; j++) {
        ft_object *item = src_array != NULL ? load_slot(src_array, j) : src_items[j];
        store_item(list, target, n + j, ft_newref(item));
    }
    if (target != array) {
        *retired = publish_array(list, target);
    }
    store_size(list, n + m);
    return 0;
}

int
ft_list_extend(ft_object *list, ft_object *other)
{
    if (!ft_objects_check(list, &ft_list_type, "ft_list_extend")) {
        return -1;
    }
    if (other == NULL || (other->ob_type != &ft_list_type && other->ob_type != &ft_tuple_type)) {
        ft_objects_type_error("ft_list_extend", "list or tuple", other);
        return -1;
    }
    ft_list_object *l = (ft_list_object *)list;
    ft_list_array *retired = NULL;
    int rc;
    if (other->ob_type == &ft_tuple_type) {
        // Tuples are immutable: only the target needs its section.
        ft_tuple_object *tuple = (ft_tuple_object *)other;
        FT_CS_BEGIN(list);
        share_if_foreign_lock_held(l);
        rc = extend_lock_held(l, NULL, ft_tuple_items(tuple), tuple->size, &retired);
        FT_CS_END();
    } else {
        // One section on both (a single one when other == list).
        ft_list_object *src = (ft_list_object *)other;
        FT_CS_BEGIN2(list, other);
        share_if_foreign_lock_held(l);
        share_if_foreign_lock_held(src);
        rc = extend_lock_held(l, load_items(src), NULL, load_size(src), &retired);
        FT_CS_END();
    }
    retire_array(l, retired);
    if (rc < 0) {
        ft_err_no_memory();
    }
    return rc;
}
