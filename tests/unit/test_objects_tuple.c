// tuple objects: construction, access, hashing and equality by items, the
// immortal empty tuple, collector tracking only with GC items, and errors.
//
// White-box: tracking is read through gc/gc_internal.h.
#define FT_BUILD_CORE 1
#include "gc/gc_internal.h"
#include "harness.h"

static ft_object *
make_pair(int64_t a, int64_t b)
{
    ft_object *x = ft_int_new(a);
    ft_object *y = ft_int_new(b);
    ft_object *items[2] = {x, y};
    ft_object *t = ft_tuple_new(2, items);
    ft_decref(x);
    ft_decref(y);
    return t;
}

FT_TEST(tuple_construct_and_access)
{
    int64_t base = ft_live_objects();
    ft_object *s = ft_str_from_cstr("abc");
    ft_object *i = ft_int_new(1000);
    ft_object *items[3] = {s, i, ft_none()};
    ft_object *t = ft_tuple_new(3, items);
    FT_REQUIRE(t != NULL, "ft_tuple_new");
    FT_EXPECT_EQ(ft_tuple_size(t), 3, "size");
    ft_decref(s);
    ft_decref(i);  // the tuple keeps its own references
    ft_object *got = ft_tuple_get_ref(t, 0);
    FT_EXPECT(got == s, "item 0");
    FT_EXPECT(strcmp(ft_str_data(got), "abc") == 0, "item 0 still alive");
    ft_decref(got);
    got = ft_tuple_get_ref(t, 1);
    FT_EXPECT_EQ(ft_int_value(got), 1000, "item 1");
    ft_decref(got);
    got = ft_tuple_get_ref(t, 2);
    FT_EXPECT(got == ft_none(), "item 2");
    ft_decref(got);
    FT_EXPECT_EQ(ft_live_objects(), base + 3, "tuple + str + int");
    ft_decref(t);
    FT_EXPECT_EQ(ft_live_objects(), base, "tuple freed its items");
}

FT_TEST(tuple_bad_index)
{
    ft_object *t = make_pair(1, 2);
    const int64_t bad[] = {-1, 2, 100, INT64_MIN, INT64_MAX};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        FT_EXPECT(ft_tuple_get_ref(t, bad[k]) == NULL, "index %" PRId64, bad[k]);
        FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_INDEX, "IndexError");
        ft_err_clear();
    }
    FT_EXPECT_EQ(ft_tuple_size(t), 2, "unchanged");
    ft_decref(t);
}

FT_TEST(tuple_empty_is_immortal)
{
    int64_t base = ft_live_objects();
    ft_object *a = ft_tuple_new(0, NULL);
    ft_object *items[1] = {ft_none()};
    ft_object *b = ft_tuple_new(0, items);
    FT_REQUIRE(a != NULL && a == b, "one empty tuple");
    FT_EXPECT(ft_ref_is_immortal(a), "immortal");
    FT_EXPECT_EQ(ft_tuple_size(a), 0, "size");
    FT_EXPECT(!ft_gc_is_tracked(a), "never tracked");
    FT_EXPECT(ft_tuple_get_ref(a, 0) == NULL, "no item 0");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_INDEX, "IndexError");
    ft_err_clear();
    FT_EXPECT(ft_object_hash(a) != -1, "hashable");
    FT_EXPECT_EQ(ft_live_objects(), base, "not counted");
    ft_decref(a);
    ft_decref(b);
}

FT_TEST(tuple_hash_and_equality)
{
    ft_object *a = make_pair(1000, 2000);
    ft_object *b = make_pair(1000, 2000);
    ft_object *c = make_pair(2000, 1000);
    FT_EXPECT_EQ(ft_object_eq(a, b), 1, "equal items");
    FT_EXPECT_EQ(ft_object_hash(a), ft_object_hash(b), "equal hashes");
    FT_EXPECT_EQ(ft_object_eq(a, c), 0, "order matters");
    FT_EXPECT(ft_object_hash(a) != ft_object_hash(c), "order reaches the hash");
    FT_EXPECT_EQ(ft_object_hash(a), ft_object_hash(a), "cached hash is stable");
    ft_object *one = ft_int_new(1);
    ft_object *one_f = ft_float_new(1.0);
    ft_object *t1 = ft_tuple_new(1, &one);
    ft_object *t2 = ft_tuple_new(1, &one_f);
    FT_EXPECT_EQ(ft_object_eq(t1, t2), 0, "(1,) != (1.0,): type-strict items");
    ft_object *longer_items[3] = {one, one, one};
    ft_object *t3 = ft_tuple_new(3, longer_items);
    FT_EXPECT_EQ(ft_object_eq(t1, t3), 0, "sizes differ");
    ft_object *nested_items[2] = {a, t1};
    ft_object *n1 = ft_tuple_new(2, nested_items);
    nested_items[0] = b;
    ft_object *n2 = ft_tuple_new(2, nested_items);
    FT_EXPECT_EQ(ft_object_eq(n1, n2), 1, "nested equality");
    FT_EXPECT_EQ(ft_object_hash(n1), ft_object_hash(n2), "nested hashes");
    ft_decref(n1);
    ft_decref(n2);
    ft_decref(t1);
    ft_decref(t2);
    ft_decref(t3);
    ft_decref(one);
    ft_decref(one_f);
    ft_decref(a);
    ft_decref(b);
    ft_decref(c);
}

FT_TEST(tuple_with_unhashable_item)
{
    ft_object *list = ft_list_new();
    ft_object *items[2] = {ft_none(), list};
    ft_object *t = ft_tuple_new(2, items);
    FT_EXPECT_EQ(ft_object_hash(t), -1, "unhashable item");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    FT_EXPECT(strstr(ft_err_message(), "unhashable type: 'list'") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    ft_decref(t);
    ft_decref(list);
}

FT_TEST(tuple_tracked_only_with_gc_items)
{
    ft_object *ints = make_pair(1000, 2000);
    FT_EXPECT(!ft_gc_is_tracked(ints), "tuple of ints untracked");
    ft_object *s = ft_str_from_cstr("x");
    ft_object *f = ft_float_new(1.0);
    ft_object *plain_items[4] = {s, f, ft_none(), ft_true()};
    ft_object *plain = ft_tuple_new(4, plain_items);
    FT_EXPECT(!ft_gc_is_tracked(plain), "tuple of atoms untracked");
    ft_object *list = ft_list_new();
    FT_EXPECT(ft_gc_is_tracked(list), "lists are tracked");
    ft_object *with_list_items[2] = {s, list};
    ft_object *with_list = ft_tuple_new(2, with_list_items);
    FT_EXPECT(ft_gc_is_tracked(with_list), "tuple holding a list is tracked");
    ft_decref(with_list);
    ft_decref(list);
    ft_decref(plain);
    ft_decref(s);
    ft_decref(f);
    ft_decref(ints);
}

FT_TEST(tuple_errors)
{
    FT_EXPECT(ft_tuple_new(2, NULL) == NULL, "NULL item array");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    int64_t base = ft_live_objects();
    ft_object *x = ft_int_new(1000);
    ft_object *items[3] = {x, NULL, x};
    FT_EXPECT(ft_tuple_new(3, items) == NULL, "NULL item");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    FT_EXPECT(strstr(ft_err_message(), "item 1 is NULL") != NULL, "message: %s", ft_err_message());
    ft_err_clear();
    ft_decref(x);
    FT_EXPECT_EQ(ft_live_objects(), base, "no leak from the failed tuple");
    FT_EXPECT_EQ(ft_tuple_size(NULL), -1, "size of NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT(ft_tuple_get_ref(NULL, 0) == NULL, "get of NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    ft_object *list = ft_list_new();
    FT_EXPECT_EQ(ft_tuple_size(list), -1, "size of a list");
    FT_EXPECT(strstr(ft_err_message(), "expected tuple, got list") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    FT_EXPECT(ft_tuple_get_ref(list, 0) == NULL, "get of a list");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    ft_decref(list);
}
