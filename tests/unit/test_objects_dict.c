// dict objects: set/get/del/len/update, growth through many resizes with
// deletions between them, type-strict keys, user key types, unhashable
// keys, and every bad argument leaving the dict unchanged.
//
// White-box: insertion order and the append-only entry array are checked
// through objects/objects_internal.h.
#define FT_BUILD_CORE 1
#include "objects/objects_internal.h"

#include "harness.h"

static ft_object *
get(ft_object *dict, ft_object *key)
{
    ft_object *out = (ft_object *)1;
    int rc = ft_dict_get_ref(dict, key, &out);
    if (rc != 1) {
        return rc == 0 && out == NULL ? NULL : (ft_object *)2;  // 2: broken contract
    }
    return out;
}

// dict[k] for an int key k, as an int; -1 if missing.
static int64_t
get_int(ft_object *dict, int64_t k)
{
    ft_object *key = ft_int_new(k);
    ft_object *v = get(dict, key);
    ft_decref(key);
    if (v == NULL) {
        return -1;
    }
    int64_t value = ft_int_value(v);
    ft_decref(v);
    return value;
}

static int
set_int(ft_object *dict, int64_t k, int64_t v)
{
    ft_object *key = ft_int_new(k);
    ft_object *value = ft_int_new(v);
    int rc = ft_dict_set(dict, key, value);
    ft_decref(key);
    ft_decref(value);
    return rc;
}

static int
del_int(ft_object *dict, int64_t k)
{
    ft_object *key = ft_int_new(k);
    int rc = ft_dict_del(dict, key);
    ft_decref(key);
    return rc;
}

FT_TEST(dict_set_get_del)
{
    int64_t base = ft_live_objects();
    ft_object *d = ft_dict_new();
    FT_REQUIRE(d != NULL, "ft_dict_new");
    FT_EXPECT_EQ(ft_dict_len(d), 0, "empty");
    FT_EXPECT_EQ(get_int(d, 1000), -1, "missing in an empty dict");
    FT_EXPECT_EQ(set_int(d, 1000, 1), 0, "set");
    FT_EXPECT_EQ(get_int(d, 1000), 1, "get");
    FT_EXPECT_EQ(set_int(d, 1000, 2), 0, "overwrite");
    FT_EXPECT_EQ(get_int(d, 1000), 2, "overwritten");
    FT_EXPECT_EQ(ft_dict_len(d), 1, "len");
    FT_EXPECT_EQ(ft_live_objects(), base + 2, "dict + one key (value 2 is cached)");
    FT_EXPECT_EQ(del_int(d, 1000), 0, "del");
    FT_EXPECT_EQ(get_int(d, 1000), -1, "gone");
    FT_EXPECT_EQ(ft_dict_len(d), 0, "len after del");
    FT_EXPECT_EQ(del_int(d, 1000), -1, "del missing");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_KEY, "KeyError");
    FT_EXPECT(strstr(ft_err_message(), "1000") != NULL, "message names the key: %s",
              ft_err_message());
    ft_err_clear();
    FT_EXPECT_EQ(ft_live_objects(), base + 1, "key released");
    ft_decref(d);
    FT_EXPECT_EQ(ft_live_objects(), base, "dict freed");
}

FT_TEST(dict_growth_and_deletions)
{
    int64_t base = ft_live_objects();
    ft_object *d = ft_dict_new();
    const int64_t n = 20000;
    for (int64_t k = 0; k < n; k++) {
        FT_REQUIRE(set_int(d, k * 1000003, k) == 0, "set %" PRId64, k);
    }
    FT_EXPECT_EQ(ft_dict_len(d), n, "len after growth");
    int64_t wrong = 0;
    for (int64_t k = 0; k < n; k++) {
        wrong += get_int(d, k * 1000003) != k;
    }
    FT_EXPECT_EQ(wrong, 0, "lookups after growth");
    for (int64_t k = 0; k < n; k += 2) {
        FT_REQUIRE(del_int(d, k * 1000003) == 0, "del %" PRId64, k);
    }
    FT_EXPECT_EQ(ft_dict_len(d), n / 2, "len after deleting half");
    wrong = 0;
    for (int64_t k = 0; k < n; k++) {
        wrong += get_int(d, k * 1000003) != (k % 2 ? k : -1);
    }
    FT_EXPECT_EQ(wrong, 0, "lookups after deletions");
    // Churn: deleted slots are not reused, so this forces compacting resizes.
    for (int64_t round = 0; round < 5; round++) {
        for (int64_t k = 0; k < n; k += 2) {
            FT_REQUIRE(set_int(d, k * 1000003, k + round) == 0, "reinsert");
        }
        for (int64_t k = 0; k < n; k += 2) {
            FT_REQUIRE(del_int(d, k * 1000003) == 0, "redelete");
        }
    }
    wrong = 0;
    for (int64_t k = 0; k < n; k++) {
        wrong += get_int(d, k * 1000003) != (k % 2 ? k : -1);
    }
    FT_EXPECT_EQ(wrong, 0, "lookups after churn");
    FT_EXPECT_EQ(ft_dict_len(d), n / 2, "len after churn");
    ft_decref(d);
    FT_EXPECT_EQ(ft_live_objects(), base, "all freed");
}

FT_TEST(dict_keys_are_type_strict)
{
    ft_object *d = ft_dict_new();
    ft_object *i1 = ft_int_new(1);
    ft_object *f1 = ft_float_new(1.0);
    ft_object *s1 = ft_str_from_cstr("1");
    ft_object *keys[4] = {i1, f1, s1, ft_true()};
    for (int i = 0; i < 4; i++) {
        ft_object *v = ft_int_new(i);
        FT_EXPECT_EQ(ft_dict_set(d, keys[i], v), 0, "set");
        ft_decref(v);
    }
    FT_EXPECT_EQ(ft_dict_len(d), 4, "1, 1.0, '1' and True are four keys");
    for (int i = 0; i < 4; i++) {
        ft_object *v = get(d, keys[i]);
        FT_EXPECT(v != NULL && ft_int_value(v) == i, "key %d", i);
        ft_xdecref(v);
    }
    // Equal but distinct key objects find the entry; -0.0 finds 0.0.
    ft_object *f1b = ft_float_new(1.0);
    ft_object *s1b = ft_str_new("1", 1);
    ft_object *v = get(d, f1b);
    FT_EXPECT(v != NULL && ft_int_value(v) == 1, "1.0 by value");
    ft_xdecref(v);
    v = get(d, s1b);
    FT_EXPECT(v != NULL && ft_int_value(v) == 2, "'1' by value");
    ft_xdecref(v);
    ft_object *pz = ft_float_new(0.0);
    ft_object *nz = ft_float_new(-0.0);
    ft_dict_set(d, pz, ft_none());
    v = get(d, nz);
    FT_EXPECT(v == ft_none(), "-0.0 finds 0.0");
    ft_xdecref(v);
    FT_EXPECT_EQ(ft_dict_len(d), 5, "len");
    ft_decref(pz);
    ft_decref(nz);
    ft_decref(f1b);
    ft_decref(s1b);
    ft_decref(i1);
    ft_decref(f1);
    ft_decref(s1);
    ft_decref(d);
}

FT_TEST(dict_str_and_tuple_keys)
{
    int64_t base = ft_live_objects();
    ft_object *d = ft_dict_new();
    char buf[32];
    for (int i = 0; i < 500; i++) {
        snprintf(buf, sizeof(buf), "key-%d", i);
        ft_object *k = ft_str_from_cstr(buf);
        ft_object *a = ft_int_new(i);
        ft_object *b = ft_int_new(-i);
        ft_object *items[2] = {a, b};
        ft_object *tk = ft_tuple_new(2, items);
        ft_dict_set(d, k, a);
        ft_dict_set(d, tk, b);
        ft_decref(k);
        ft_decref(tk);
        ft_decref(a);
        ft_decref(b);
    }
    FT_EXPECT_EQ(ft_dict_len(d), 1000, "len");
    int wrong = 0;
    for (int i = 0; i < 500; i++) {
        snprintf(buf, sizeof(buf), "key-%d", i);
        ft_object *k = ft_str_from_cstr(buf);
        ft_object *a = ft_int_new(i);
        ft_object *b = ft_int_new(-i);
        ft_object *items[2] = {a, b};
        ft_object *tk = ft_tuple_new(2, items);
        ft_object *v1 = get(d, k);
        ft_object *v2 = get(d, tk);
        wrong += !(v1 && ft_int_value(v1) == i && v2 && ft_int_value(v2) == -i);
        ft_xdecref(v1);
        ft_xdecref(v2);
        ft_decref(k);
        ft_decref(tk);
        ft_decref(a);
        ft_decref(b);
    }
    FT_EXPECT_EQ(wrong, 0, "str and tuple keys found by value");
    ft_decref(d);
    FT_EXPECT_EQ(ft_live_objects(), base, "all freed");
}

// A user key type: equal when `id` matches; hash collides on purpose
// (id % 4) so lookups must call tp_eq.
typedef struct user_key {
    ft_object ob_base;
    int64_t id;
} user_key;
static int user_eq_calls;

static int64_t
user_hash(ft_object *obj)
{
    return ((user_key *)obj)->id % 4;
}

// When set, the next comparison mutates this dict from inside tp_eq (as a
// comparison that blocks would let another thread do): it grows the dict
// through several resizes, freeing the table the lookup was probing, and
// deletes the stored key being compared.
static ft_object *mutate_during_eq;

static int
user_eq(ft_object *a, ft_object *b)
{
    user_eq_calls++;
    if (mutate_during_eq != NULL) {
        ft_object *d = mutate_during_eq;
        mutate_during_eq = NULL;
        for (int64_t k = 0; k < 200; k++) {
            ft_object *key = ft_int_new(90000 + k);
            ft_dict_set(d, key, key);
            ft_decref(key);
        }
        ft_dict_del(d, a);  // the stored key: pinned by the lookup, so still valid
    }
    if (((user_key *)a)->id < 0 || ((user_key *)b)->id < 0) {
        ft_err_set(FT_ERR_VALUE, "negative ids do not compare");
        return -1;
    }
    return ((user_key *)a)->id == ((user_key *)b)->id;
}

static ft_type user_key_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "user_key",
    .tp_basicsize = sizeof(user_key),
    .tp_hash = user_hash,
    .tp_eq = user_eq,
};

static ft_object *
user_key_new(int64_t id)
{
    user_key *k = (user_key *)ft_object_new(&user_key_type);
    k->id = id;
    return &k->ob_base;
}

FT_TEST(dict_user_key_type)
{
    int64_t base = ft_live_objects();
    ft_object *d = ft_dict_new();
    for (int64_t id = 0; id < 40; id++) {
        ft_object *k = user_key_new(id);
        ft_object *v = ft_int_new(id * 10);
        FT_EXPECT_EQ(ft_dict_set(d, k, v), 0, "set");
        ft_decref(k);
        ft_decref(v);
    }
    user_eq_calls = 0;
    int wrong = 0;
    for (int64_t id = 0; id < 40; id++) {
        ft_object *k = user_key_new(id);
        ft_object *v = get(d, k);
        wrong += !(v && ft_int_value(v) == id * 10);
        ft_xdecref(v);
        ft_decref(k);
    }
    FT_EXPECT_EQ(wrong, 0, "found through tp_eq");
    FT_EXPECT(user_eq_calls > 40, "collisions compared with tp_eq (%d calls)", user_eq_calls);
    // A failing comparison surfaces as the error and changes nothing.
    ft_object *bad = user_key_new(-4);
    FT_EXPECT_EQ(ft_dict_set(d, bad, ft_none()), -1, "eq error on set");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_VALUE, "tp_eq's error");
    ft_err_clear();
    ft_object *out = (ft_object *)1;
    FT_EXPECT_EQ(ft_dict_get_ref(d, bad, &out), -1, "eq error on get");
    FT_EXPECT(out == NULL, "out cleared");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_del(d, bad), -1, "eq error on del");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_VALUE, "not KeyError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_len(d), 40, "unchanged");
    ft_decref(bad);
    // Keys of a type without slots hash by identity.
    static ft_type plain_type = {
        .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
        .tp_name = "plain",
        .tp_basicsize = sizeof(ft_object),
    };
    ft_object *p1 = ft_object_new(&plain_type);
    ft_object *p2 = ft_object_new(&plain_type);
    ft_dict_set(d, p1, ft_true());
    FT_EXPECT(get(d, p1) == ft_true(), "identity key found");
    FT_EXPECT(get(d, p2) == NULL, "another plain object is another key");
    ft_decref(p1);
    ft_decref(p2);
    ft_decref(d);
    FT_EXPECT_EQ(ft_live_objects(), base, "all freed");
}

FT_TEST(dict_lookup_restarts_when_tp_eq_changes_the_dict)
{
    int64_t base = ft_live_objects();
    ft_object *d = ft_dict_new();
    ft_object *stored = user_key_new(1);
    ft_dict_set(d, stored, ft_true());
    ft_decref(stored);                   // the dict holds the only reference
    ft_object *probe = user_key_new(1);  // equal, distinct object
    mutate_during_eq = d;
    ft_object *out = (ft_object *)1;
    FT_EXPECT_EQ(ft_dict_get_ref(d, probe, &out), 0, "the key was deleted during the compare");
    FT_EXPECT(out == NULL, "nothing returned");
    FT_EXPECT_EQ(ft_dict_len(d), 200, "the 200 keys inserted during the compare");
    // The same with a set: after the restart the key is inserted anew.
    stored = user_key_new(2);
    ft_dict_set(d, stored, ft_true());
    ft_decref(stored);
    ft_decref(probe);
    probe = user_key_new(2);
    mutate_during_eq = d;
    FT_EXPECT_EQ(ft_dict_set(d, probe, ft_false()), 0, "set after a restart");
    FT_EXPECT(get(d, probe) == ft_false(), "the new entry");
    FT_EXPECT_EQ(ft_dict_len(d), 201, "200 ints + the probe");
    ft_decref(probe);
    ft_decref(d);
    FT_EXPECT_EQ(ft_live_objects(), base, "all freed, pinned key included");
}

FT_TEST(dict_update)
{
    int64_t base = ft_live_objects();
    ft_object *a = ft_dict_new();
    ft_object *b = ft_dict_new();
    for (int64_t k = 0; k < 100; k++) {
        set_int(a, k + 1000, k);
        set_int(b, k + 1050, -k);  // 50 overlapping keys
    }
    FT_EXPECT_EQ(ft_dict_update(a, b), 0, "update");
    FT_EXPECT_EQ(ft_dict_len(a), 150, "union");
    FT_EXPECT_EQ(ft_dict_len(b), 100, "other unchanged");
    int wrong = 0;
    for (int64_t k = 0; k < 150; k++) {
        wrong += get_int(a, k + 1000) != (k < 50 ? k : -(k - 50));
    }
    FT_EXPECT_EQ(wrong, 0, "values after update (other wins)");
    FT_EXPECT_EQ(ft_dict_update(a, a), 0, "self update");
    FT_EXPECT_EQ(ft_dict_len(a), 150, "self update changes nothing");
    ft_object *empty = ft_dict_new();
    FT_EXPECT_EQ(ft_dict_update(a, empty), 0, "update with {}");
    FT_EXPECT_EQ(ft_dict_update(empty, a), 0, "update {} with a");
    FT_EXPECT_EQ(ft_dict_len(empty), 150, "copied");
    FT_EXPECT_EQ(get_int(empty, 1149), -99, "copied value");
    // Deleted entries of the source are skipped.
    del_int(b, 1050);
    ft_object *c = ft_dict_new();
    ft_dict_update(c, b);
    FT_EXPECT_EQ(ft_dict_len(c), 99, "deleted entry not copied");
    FT_EXPECT_EQ(get_int(c, 1050), -1, "deleted key absent");
    ft_decref(c);
    ft_decref(empty);
    ft_decref(a);
    ft_decref(b);
    FT_EXPECT_EQ(ft_live_objects(), base, "all freed");
}

FT_TEST(dict_bad_arguments_leave_it_unchanged)
{
    ft_object *d = ft_dict_new();
    set_int(d, 1000, 1);
    set_int(d, 2000, 2);
    ft_object *list = ft_list_new();
    ft_object *inner = ft_dict_new();
    ft_object *x = ft_int_new(5);
    // Unhashable keys.
    FT_EXPECT_EQ(ft_dict_set(d, list, x), -1, "list key");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    FT_EXPECT(strstr(ft_err_message(), "unhashable type: 'list'") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_set(d, inner, x), -1, "dict key");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    ft_object *out = (ft_object *)1;
    FT_EXPECT_EQ(ft_dict_get_ref(d, list, &out), -1, "get with a list key");
    FT_EXPECT(out == NULL, "out cleared on error");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_del(d, list), -1, "del with a list key");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    // NULLs.
    FT_EXPECT_EQ(ft_dict_set(d, NULL, x), -1, "NULL key");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_set(d, x, NULL), -1, "NULL value");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_get_ref(d, x, NULL), -1, "NULL out");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_get_ref(d, NULL, &out), -1, "NULL key get");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_del(d, NULL), -1, "NULL key del");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_update(d, NULL), -1, "update with NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    // Wrong types.
    FT_EXPECT_EQ(ft_dict_update(d, list), -1, "update with a list");
    FT_EXPECT(strstr(ft_err_message(), "expected dict, got list") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_set(list, x, x), -1, "set on a list");
    FT_EXPECT(strstr(ft_err_message(), "expected dict, got list") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_len(x), -1, "len of an int");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_get_ref(x, x, &out), -1, "get on an int");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_del(x, x), -1, "del on an int");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    // Missing key.
    FT_EXPECT_EQ(ft_dict_del(d, x), -1, "del missing");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_KEY, "KeyError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_dict_get_ref(d, x, &out), 0, "get missing is not an error");
    FT_EXPECT_EQ(ft_err_occurred(), 0, "no error");
    FT_EXPECT(out == NULL, "out NULL when missing");
    FT_EXPECT_EQ(ft_dict_len(d), 2, "unchanged len");
    FT_EXPECT(get_int(d, 1000) == 1 && get_int(d, 2000) == 2, "unchanged values");
    FT_EXPECT_EQ(ft_object_hash(d), -1, "dict unhashable");
    FT_EXPECT(strstr(ft_err_message(), "unhashable type: 'dict'") != NULL, "message");
    ft_err_clear();
    ft_decref(x);
    ft_decref(list);
    ft_decref(inner);
    ft_decref(d);
}

FT_TEST(dict_holds_references)
{
    ft_object *d = ft_dict_new();
    ft_object *k = ft_str_from_cstr("key");
    ft_object *v = ft_list_new();
    ft_dict_set(d, k, v);
    ft_dict_set(d, k, d);  // overwrite with the dict itself: a cycle
    ft_dict_set(d, k, v);  // and back: the cycle is gone
    ft_decref(k);
    ft_decref(v);
    ft_object *k2 = ft_str_from_cstr("key");
    ft_object *got = get(d, k2);
    FT_EXPECT(got == v, "value alive through the dict");
    ft_xdecref(got);
    ft_decref(k2);
    ft_decref(d);
}

// The live entries of the current table, in entry order, as int key values.
static int64_t
entry_keys(ft_object *dict, int64_t *out, int64_t max)
{
    ft_dict_keys *keys = ft_atomic_load_relaxed_ptr(&((ft_dict_object *)dict)->keys);
    ft_dict_entry *entries = (ft_dict_entry *)&keys->index[(size_t)1 << keys->log2_size];
    int64_t n = 0;
    for (int64_t j = 0; j < keys->nentries && n < max; j++) {
        ft_object *k = ft_atomic_load_relaxed_ptr(&entries[j].key);
        if (k != NULL) {
            out[n++] = ft_int_value(k);
        }
    }
    return n;
}

FT_TEST(dict_insertion_order_and_append_only_entries)
{
    ft_object *d = ft_dict_new();
    int64_t order[300], n = 0;
    // Keys in a scrambled order; their entries must follow insertion order.
    for (int64_t i = 0; i < 100; i++) {
        int64_t k = 1000 + (i * 37) % 100;
        set_int(d, k, i);
        order[n++] = k;
    }
    ft_dict_keys *keys = ft_atomic_load_relaxed_ptr(&((ft_dict_object *)d)->keys);
    int64_t nentries = keys->nentries;
    // Deleting leaves the entry array as it is (no slot reuse before a resize).
    del_int(d, order[10]);
    del_int(d, order[20]);
    FT_EXPECT_EQ(keys->nentries, nentries, "deletion does not shrink the entry array");
    // Overwriting keeps the key's place; re-inserting a deleted key appends.
    set_int(d, order[5], -5);
    set_int(d, order[10], -10);
    FT_EXPECT_EQ(keys->nentries, nentries + 1, "re-insertion appends");
    int64_t expect[300], m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i != 10 && i != 20) {
            expect[m++] = order[i];
        }
    }
    expect[m++] = order[10];
    int64_t got[300];
    int64_t g = entry_keys(d, got, 300);
    FT_EXPECT_EQ(g, m, "live entries");
    int64_t wrong = 0;
    for (int64_t i = 0; i < m && i < g; i++) {
        wrong += got[i] != expect[i];
    }
    FT_EXPECT_EQ(wrong, 0, "entries in insertion order before a resize");
    // Grow through several resizes: the order survives compaction.
    for (int64_t i = 0; i < 150; i++) {
        set_int(d, 5000 + i, i);
        expect[m++] = 5000 + i;
    }
    g = entry_keys(d, got, 300);
    FT_EXPECT_EQ(g, m, "live entries after resizes");
    wrong = 0;
    for (int64_t i = 0; i < m && i < g; i++) {
        wrong += got[i] != expect[i];
    }
    FT_EXPECT_EQ(wrong, 0, "entries in insertion order after resizes");
    ft_decref(d);
}
