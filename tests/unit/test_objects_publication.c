// The publication rule of DESIGN.md §4.9: an owner-only list or dict never
// gets CONTENTS_SHARED and frees its storage at once; the first operation
// of another thread (a read or a write) marks everything the container
// references SHARED, then the container CONTENTS_SHARED; items stored after
// that are SHARED; retired storage and SHARED objects then go through QSBR
// (qsbr_deferred grows), and ft_gc_collect() brings ft_live_objects() back
// to its baseline. Immortals are never marked (I3). In builds without
// optimistic reads (GIL, FT_OPTIMISTIC_READS=OFF) nothing is marked and
// nothing is deferred.
#include "harness.h"

#define N 100
#define BIG 1000000  // heap ints: outside the small-int cache

// ob_gc_bits, or 0 where the header has none or marking is compiled out.
static unsigned
gc_bits(ft_object *obj)
{
#if FT_OPTIMISTIC_READS
    // pairs: release fetch_or in the runtime's marking
    return ft_atomic_load_acquire_u8(&obj->ob_gc_bits) &
           (FT_GC_BIT_SHARED | FT_GC_BIT_CONTENTS_SHARED);
#else
    (void)obj;
    return 0;
#endif
}

static unsigned
bit_shared(void)
{
#if FT_OPTIMISTIC_READS
    return FT_GC_BIT_SHARED;
#else
    return 0;
#endif
}

static unsigned
bit_contents_shared(void)
{
#if FT_OPTIMISTIC_READS
    return FT_GC_BIT_CONTENTS_SHARED;
#else
    return 0;
#endif
}

// A list of N heap ints and a dict of N heap int -> heap int, made by the
// calling thread.
static void
make_containers(ft_object **list, ft_object **dict)
{
    *list = ft_list_new();
    *dict = ft_dict_new();
    for (int64_t i = 0; i < N; i++) {
        ft_object *x = ft_int_new(BIG + i);
        ft_object *y = ft_int_new(2 * BIG + i);
        ft_list_append(*list, x);
        ft_dict_set(*dict, x, y);
        ft_decref(x);
        ft_decref(y);
    }
}

// How many list items and dict values (for the keys BIG + i) have, or lack
// (want_set false), every bit of `bits`.
static int64_t
count_items(ft_object *list, ft_object *dict, unsigned bits, bool want_set)
{
    int64_t n = 0;
    for (int64_t i = 0; i < ft_list_len(list); i++) {
        ft_object *x = ft_list_get_ref(list, i);
        n += ((gc_bits(x) & bits) == bits) == want_set;
        ft_decref(x);
    }
    for (int64_t i = 0; i < N; i++) {
        ft_object *key = ft_int_new(BIG + i);
        ft_object *value = NULL;
        if (ft_dict_get_ref(dict, key, &value) == 1) {
            n += ((gc_bits(value) & bits) == bits) == want_set;
            ft_decref(value);
        }
        ft_decref(key);
    }
    return n;
}

FT_TEST(owner_only_containers_stay_unshared)
{
    int64_t base = ft_live_objects();
    uint64_t deferred0 = ft_stats_get("qsbr_deferred");
    ft_object *list, *dict;
    make_containers(&list, &dict);
    // Reads, overwrites, pops, resizes (shrinks too) and deletions, all by
    // the owner.
    for (int round = 0; round < 3; round++) {
        for (int64_t i = 0; i < N; i++) {
            ft_object *x = ft_int_new(3 * BIG + i);
            ft_list_set(list, i, x);
            ft_dict_set(dict, x, x);
            ft_dict_del(dict, x);
            ft_decref(x);
        }
        while (ft_list_len(list) > 1) {
            ft_decref(ft_list_pop(list));
        }
        for (int64_t i = 1; i < N; i++) {
            ft_object *x = ft_int_new(4 * BIG + i);
            ft_list_append(list, x);
            ft_decref(x);
        }
    }
    FT_EXPECT_EQ(gc_bits(list), 0, "owner-only list got SHARED bits");
    FT_EXPECT_EQ(gc_bits(dict), 0, "owner-only dict got SHARED bits");
    int64_t marked = bit_shared() != 0 ? count_items(list, dict, bit_shared(), true) : 0;
    FT_EXPECT_EQ(marked, 0, "items of owner-only containers got marked");
    FT_EXPECT_EQ(ft_stats_get("qsbr_deferred") - deferred0, 0,
                 "an owner-only container deferred a free");
    ft_decref(list);
    ft_decref(dict);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "live objects back to baseline");
}

typedef struct foreign_op {
    ft_object *list;
    ft_object *dict;
    int write;  // 0: read both, 1: append / set
    int64_t got;
} foreign_op;

static void
foreign_main(void *arg)
{
    foreign_op *op = arg;
    if (op->write) {
        ft_object *x = ft_int_new(5 * BIG);
        op->got = ft_list_append(op->list, x) == 0 && ft_dict_set(op->dict, x, x) == 0;
        ft_decref(x);
        return;
    }
    ft_object *x = ft_list_get_ref(op->list, 3);
    ft_object *key = ft_int_new(BIG + 3);
    ft_object *value = NULL;
    op->got = (x != NULL ? ft_int_value(x) : -1) == BIG + 3 &&
              ft_dict_get_ref(op->dict, key, &value) == 1 && ft_int_value(value) == 2 * BIG + 3;
    ft_xdecref(value);
    ft_xdecref(key);
    ft_xdecref(x);
}

static void
run_foreign(ft_object *list, ft_object *dict, int write)
{
    foreign_op op = {.list = list, .dict = dict, .write = write};
    ft_thread *t = ft_thread_start(foreign_main, &op);
    FT_REQUIRE(t != NULL, "ft_thread_start: %s", ft_err_message());
    FT_EXPECT_EQ(ft_thread_join(t), 0, "join");
    FT_EXPECT_EQ(op.got, 1, "the foreign operation failed");
}

// After the first foreign operation: contents shared, items shared; later
// owner stores are shared; retired storage and dropped items are deferred.
static void
check_after_first_foreign(ft_object *list, ft_object *dict)
{
    FT_EXPECT_EQ(gc_bits(list) & bit_contents_shared(), bit_contents_shared(),
                 "list not CONTENTS_SHARED after a foreign operation");
    FT_EXPECT_EQ(gc_bits(dict) & bit_contents_shared(), bit_contents_shared(),
                 "dict not CONTENTS_SHARED after a foreign operation");
    FT_EXPECT_EQ(count_items(list, dict, bit_shared(), false), 0, "items not marked SHARED");
    // Stores by the owner from now on publish SHARED objects.
    ft_object *x = ft_int_new(6 * BIG);
    ft_object *small = ft_int_new(7);
    FT_EXPECT_EQ(gc_bits(x), 0, "a new object starts unshared");
    ft_list_set(list, 0, x);
    ft_list_append(list, small);
    ft_object *key = ft_int_new(6 * BIG + 1);
    ft_dict_set(dict, key, x);
    FT_EXPECT_EQ(gc_bits(x) & bit_shared(), bit_shared(), "stored item not marked SHARED");
    FT_EXPECT_EQ(gc_bits(key) & bit_shared(), bit_shared(), "stored key not marked SHARED");
    FT_EXPECT_EQ(gc_bits(small), 0, "an immortal was marked (I3)");
    ft_decref(key);
    ft_decref(small);
    ft_decref(x);
    // Shrinking and dropping items now defers: arrays, tables, SHARED ints.
    uint64_t deferred0 = ft_stats_get("qsbr_deferred");
    while (ft_list_len(list) > 0) {
        ft_decref(ft_list_pop(list));
    }
    for (int64_t i = 0; i < N; i++) {
        ft_object *k = ft_int_new(BIG + i);
        ft_dict_del(dict, k);
        ft_decref(k);
    }
    for (int64_t i = 0; i < 4 * N; i++) {  // entries run out: the table resizes
        ft_object *k = ft_int_new(8 * BIG + i);
        ft_dict_set(dict, k, k);
        ft_dict_del(dict, k);
        ft_decref(k);
    }
    uint64_t deferred = ft_stats_get("qsbr_deferred") - deferred0;
#if FT_OPTIMISTIC_READS
    FT_EXPECT(deferred > 0, "nothing was deferred after the contents became shared");
#else
    FT_EXPECT_EQ(deferred, 0, "a build without optimistic reads deferred a free");
#endif
}

static void
first_foreign(int write)
{
    int64_t base = ft_live_objects();
    ft_object *list, *dict;
    make_containers(&list, &dict);
    FT_EXPECT_EQ(gc_bits(list) | gc_bits(dict), 0, "new containers are unshared");
    run_foreign(list, dict, write);
    check_after_first_foreign(list, dict);
    ft_decref(list);
    ft_decref(dict);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "live objects back to baseline");
#if !FT_OPTIMISTIC_READS
    FT_EXPECT_EQ(ft_stats_get("qsbr_deferred"), 0, "a build without optimistic reads deferred");
#endif
}

FT_TEST(first_foreign_read_shares)
{
    first_foreign(0);
}

FT_TEST(first_foreign_write_shares)
{
    first_foreign(1);
}

// A foreign thread's reads after the first go lock-free (optimistic builds).
typedef struct reads_op {
    ft_object *list;
    ft_object *dict;
    int64_t bad;
} reads_op;

static void
foreign_reads(void *arg)
{
    reads_op *op = arg;
    for (int64_t i = 0; i < N; i++) {
        ft_object *x = ft_list_get_ref(op->list, i);
        ft_object *value = NULL;
        op->bad += x == NULL || ft_dict_get_ref(op->dict, x, &value) != 1 ||
                   ft_int_value(value) != 2 * BIG + i;
        ft_xdecref(value);
        ft_xdecref(x);
    }
}

FT_TEST(foreign_reads_go_lock_free)
{
    int64_t base = ft_live_objects();
    ft_object *list, *dict;
    make_containers(&list, &dict);
    uint64_t optimistic0 = ft_stats_get("read_optimistic");
    uint64_t fallback0 = ft_stats_get("read_fallback");
    reads_op op = {.list = list, .dict = dict};
    ft_thread *t = ft_thread_start(foreign_reads, &op);
    FT_REQUIRE(t != NULL, "ft_thread_start: %s", ft_err_message());
    FT_EXPECT_EQ(ft_thread_join(t), 0, "join");
    FT_EXPECT_EQ(op.bad, 0, "foreign reads returned wrong items");
    uint64_t optimistic = ft_stats_get("read_optimistic") - optimistic0;
    uint64_t fallback = ft_stats_get("read_fallback") - fallback0;
#if FT_OPTIMISTIC_READS
    // The first list read and the first dict read lock; the rest do not.
    FT_EXPECT_EQ(fallback, 2, "foreign reads that took the lock");
    FT_EXPECT_EQ(optimistic, 2 * N - 2, "foreign reads that went lock-free");
#else
    FT_EXPECT_EQ(optimistic + fallback, 0, "read statistics in a locked build");
#endif
    ft_decref(list);
    ft_decref(dict);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "live objects back to baseline");
}

// A SHARED object's free is deferred, but it counts as freed at once.
FT_TEST(shared_object_free_is_deferred)
{
    int64_t base = ft_live_objects();
    ft_object *list, *dict;
    make_containers(&list, &dict);
    run_foreign(list, dict, 0);
    ft_object *x = ft_list_pop(list);  // the list's reference, now ours
    FT_EXPECT_EQ(gc_bits(x) & bit_shared(), bit_shared(), "popped item is SHARED");
    FT_EXPECT_EQ(ft_dict_del(dict, x), 0, "the dict's reference to it (a key) dropped");
    uint64_t deferred0 = ft_stats_get("qsbr_deferred");
    int64_t live = ft_live_objects();
    ft_decref(x);
    FT_EXPECT_EQ(ft_live_objects(), live - 1, "a deferred object counts as freed at once");
#if FT_OPTIMISTIC_READS
    FT_EXPECT_EQ(ft_stats_get("qsbr_deferred") - deferred0, 1, "SHARED object's free not deferred");
#else
    FT_EXPECT_EQ(ft_stats_get("qsbr_deferred") - deferred0, 0, "locked build deferred a free");
#endif
    ft_decref(list);
    ft_decref(dict);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "live objects back to baseline");
}

// A user type whose equality may run arbitrary code: lock-free lookups hand
// it to the locked path; keys of built-in immutable types compare inline.
typedef struct user_key {
    ft_object ob_base;
    int64_t value;
} user_key;

static int64_t
user_key_hash(ft_object *obj)
{
    return ((user_key *)obj)->value;
}

static int
user_key_eq(ft_object *a, ft_object *b)
{
    return ((user_key *)a)->value == ((user_key *)b)->value;
}

static const ft_type user_key_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "user_key",
    .tp_basicsize = sizeof(user_key),
    .tp_hash = user_key_hash,
    .tp_eq = user_key_eq,
};

static ft_object *
user_key_new(int64_t value)
{
    ft_object *obj = ft_object_new(&user_key_type);
    if (obj != NULL) {
        ((user_key *)obj)->value = value;
    }
    return obj;
}

FT_TEST(dict_lookup_paths)
{
    int64_t base = ft_live_objects();
    ft_object *dict = ft_dict_new();
    char text[32];
    for (int64_t i = 0; i < N; i++) {
        snprintf(text, sizeof(text), "key-%" PRId64, i);
        ft_object *key = ft_str_from_cstr(text);
        ft_object *value = ft_int_new(BIG + i);
        ft_dict_set(dict, key, value);
        ft_decref(key);
        ft_decref(value);
    }
    ft_object *ukey = user_key_new(7);
    ft_dict_set(dict, ukey, ukey);
    uint64_t optimistic0 = ft_stats_get("read_optimistic");
    uint64_t fallback0 = ft_stats_get("read_fallback");
    int64_t bad = 0;
    for (int64_t i = 0; i < N; i++) {  // fresh, equal strings: compared by contents
        snprintf(text, sizeof(text), "key-%" PRId64, i);
        ft_object *key = ft_str_from_cstr(text);
        ft_object *value = NULL;
        bad += ft_dict_get_ref(dict, key, &value) != 1 || ft_int_value(value) != BIG + i;
        ft_xdecref(value);
        ft_decref(key);
    }
    ft_object *missing = ft_str_from_cstr("absent");
    ft_object *value = NULL;
    bad += ft_dict_get_ref(dict, missing, &value) != 0 || value != NULL;
    ft_decref(missing);
    FT_EXPECT_EQ(bad, 0, "string lookups");
    ft_object *probe = user_key_new(7);  // equal, not identical: needs tp_eq
    FT_EXPECT_EQ(ft_dict_get_ref(dict, probe, &value), 1, "user-type key found");
    FT_EXPECT(value == ukey, "user-type key maps to itself");
    ft_xdecref(value);
    ft_decref(probe);
    uint64_t optimistic = ft_stats_get("read_optimistic") - optimistic0;
    uint64_t fallback = ft_stats_get("read_fallback") - fallback0;
#if FT_OPTIMISTIC_READS
    FT_EXPECT_EQ(optimistic, N + 1, "lookups answered without the lock");
    FT_EXPECT_EQ(fallback, 1, "lookups that needed the lock (the user tp_eq)");
#else
    FT_EXPECT_EQ(optimistic + fallback, 0, "read statistics in a locked build");
#endif
    ft_decref(ukey);
    ft_decref(dict);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "live objects back to baseline");
}
