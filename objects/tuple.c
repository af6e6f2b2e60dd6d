// objects/tuple.c: immutable sequences.
//
// Invariant: a tuple's size and items never change while it is reachable
// (tp_clear, run by the collector on unreachable garbage only, is the one
// writer after construction), so every read is lock-free. A tuple is tracked
// by the collector iff one of its items is of a GC type: a tuple of ints,
// floats and strings can never be part of a cycle.
#include <inttypes.h>

#include "gc/gc_internal.h"
#include "objects/objects_internal.h"

static int64_t
tuple_hash(ft_object *obj)
{
    ft_tuple_object *tuple = (ft_tuple_object *)obj;
    // relaxed: a cache of a pure function of immutable items; racing
    // writers store the same value
    int64_t cached = ft_atomic_load_relaxed_i64(&tuple->hash);
    if (cached != -1) {
        return cached;
    }
    uint64_t acc = 0x27d4eb2f165667c5ULL;
    for (int64_t i = 0; i < tuple->size; i++) {
        int64_t lane = ft_object_hash(ft_tuple_items(tuple)[i]);
        if (lane == -1) {
            return -1;  // an unhashable item: TypeError already set
        }
        acc = (acc ^ (uint64_t)lane) * 0x9fb21c651e98df25ULL;
        acc = (acc << 31) | (acc >> 33);
    }
    int64_t hash = ft_hash_mix64(acc ^ (uint64_t)tuple->size);
    // relaxed: see the load above
    ft_atomic_store_relaxed_i64(&tuple->hash, hash);
    return hash;
}

static int
tuple_eq(ft_object *a, ft_object *b)
{
    ft_tuple_object *x = (ft_tuple_object *)a;
    ft_tuple_object *y = (ft_tuple_object *)b;
    if (x->size != y->size) {
        return 0;
    }
    for (int64_t i = 0; i < x->size; i++) {
        int eq = ft_object_eq(ft_tuple_items(x)[i], ft_tuple_items(y)[i]);
        if (eq != 1) {
            return eq;
        }
    }
    return 1;
}

// G5: no lock, no allocation. Items may be NULL after tuple_clear().
static int
tuple_traverse(ft_object *obj, ft_visit_fn visit, void *arg)
{
    ft_tuple_object *tuple = (ft_tuple_object *)obj;
    for (int64_t i = 0; i < tuple->size; i++) {
        ft_object *item = ft_tuple_items(tuple)[i];
        if (item != NULL) {
            int stop = visit(item, arg);
            if (stop) {
                return stop;
            }
        }
    }
    return 0;
}

// Only on unreachable garbage (nobody else can read the tuple).
static void
tuple_clear(ft_object *obj)
{
    ft_tuple_object *tuple = (ft_tuple_object *)obj;
    for (int64_t i = 0; i < tuple->size; i++) {
        ft_object *item = ft_tuple_items(tuple)[i];
        ft_tuple_items(tuple)[i] = NULL;
        ft_xdecref(item);
    }
}

static void
tuple_dealloc(ft_object *obj)
{
    if (((ft_tuple_object *)obj)->gc_tracked) {
        ft_gc_untrack(obj);  // G3: first
    }
    ft_tuple_object *tuple = (ft_tuple_object *)obj;
    for (int64_t i = 0; i < tuple->size; i++) {
        ft_xdecref(ft_tuple_items(tuple)[i]);
    }
    ft_object_free(obj);
}

ft_type ft_tuple_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "tuple",
    .tp_basicsize = sizeof(ft_tuple_object),
    .tp_itemsize = sizeof(ft_object *),
    .tp_flags = FT_TPFLAGS_GC | FT_TPFLAGS_HAS_ITEMS,
    .tp_dealloc = tuple_dealloc,
    .tp_traverse = tuple_traverse,
    .tp_clear = tuple_clear,
    .tp_hash = tuple_hash,
    .tp_eq = tuple_eq,
};

// The immortal empty tuple, with the GC prefix every tuple carries (never
// tracked: I3). Its hash is fixed at 0.
static struct {
    ft_gc_head gc;
    ft_tuple_object tuple;
} empty_tuple = {
    .gc = {0, 0},
    .tuple = {.ob_base = FT_OBJECT_HEAD_INIT(&ft_tuple_type), .size = 0, .hash = 0},
};

ft_object *
ft_empty_tuple(void)
{
    return &empty_tuple.tuple.ob_base;
}

ft_object *
ft_tuple_new(size_t n, ft_object *const *items)
{
    if (!ft_objects_check_attached("ft_tuple_new")) {
        return NULL;
    }
    if (n == 0) {
        return ft_newref(ft_empty_tuple());
    }
    if (!ft_objects_check_not_null((ft_object *)items, "ft_tuple_new", "item array")) {
        return NULL;
    }
    bool has_gc_item = false;
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL) {
            ft_err_set(FT_ERR_TYPE, "ft_tuple_new: item %zu is NULL", i);
            return NULL;
        }
        has_gc_item |= (items[i]->ob_type->tp_flags & FT_TPFLAGS_GC) != 0;
    }
    if (n > (size_t)INT64_MAX / sizeof(ft_object *)) {
        ft_err_no_memory();
        return NULL;
    }
    ft_tuple_object *tuple = (ft_tuple_object *)ft_object_alloc(&ft_tuple_type, n);
    if (tuple == NULL) {
        return NULL;
    }
    tuple->size = (int64_t)n;
    // relaxed: private until published
    ft_atomic_store_relaxed_i64(&tuple->hash, -1);
    for (size_t i = 0; i < n; i++) {
        ft_tuple_items(tuple)[i] = ft_newref(items[i]);
    }
    tuple->gc_tracked = has_gc_item;
    if (has_gc_item) {
        ft_gc_track(&tuple->ob_base);
    }
    return &tuple->ob_base;
}

int64_t
ft_tuple_size(ft_object *tuple)
{
    if (!ft_objects_check(tuple, &ft_tuple_type, "ft_tuple_size")) {
        return -1;
    }
    return ((ft_tuple_object *)tuple)->size;
}

ft_object *
ft_tuple_get_ref(ft_object *tuple, int64_t i)
{
    if (!ft_objects_check(tuple, &ft_tuple_type, "ft_tuple_get_ref")) {
        return NULL;
    }
    ft_tuple_object *t = (ft_tuple_object *)tuple;
    if (i < 0 || i >= t->size) {
        ft_err_set(FT_ERR_INDEX,
                   "ft_tuple_get_ref: index %" PRId64 " out of range (size %" PRId64 ")", i,
                   t->size);
        return NULL;
    }
    return ft_newref(ft_tuple_items(t)[i]);
}
