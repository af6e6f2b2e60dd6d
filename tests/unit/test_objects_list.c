// list objects: append/get/set/pop/len/extend, growth, unhashability, and
// every bad argument leaving the list unchanged.
#include "harness.h"

// The list holds exactly values[0, n) (as ints).
static bool
list_holds(ft_object *list, const int64_t *values, int64_t n)
{
    if (ft_list_len(list) != n) {
        return false;
    }
    for (int64_t i = 0; i < n; i++) {
        ft_object *item = ft_list_get_ref(list, i);
        bool same = item != NULL && ft_int_value(item) == values[i];
        ft_xdecref(item);
        if (!same) {
            return false;
        }
    }
    return true;
}

static void
append_int(ft_object *list, int64_t v)
{
    ft_object *x = ft_int_new(v);
    ft_list_append(list, x);
    ft_decref(x);
}

FT_TEST(list_append_get_len)
{
    int64_t base = ft_live_objects();
    ft_object *list = ft_list_new();
    FT_REQUIRE(list != NULL, "ft_list_new");
    FT_EXPECT_EQ(ft_list_len(list), 0, "empty");
    FT_EXPECT_EQ(ft_live_objects(), base + 1, "one list");
    int64_t values[1000];
    for (int64_t i = 0; i < 1000; i++) {
        values[i] = i * 7 - 500;  // both cached and heap ints
        ft_object *x = ft_int_new(values[i]);
        FT_REQUIRE(ft_list_append(list, x) == 0, "append %" PRId64, i);
        ft_decref(x);
        FT_EXPECT_EQ(ft_list_len(list), i + 1, "length while growing");
    }
    FT_EXPECT(list_holds(list, values, 1000), "contents after growth");
    ft_decref(list);
    FT_EXPECT_EQ(ft_live_objects(), base, "list and items freed");
}

FT_TEST(list_items_are_referenced)
{
    ft_object *list = ft_list_new();
    ft_object *s = ft_str_from_cstr("kept alive by the list");
    ft_list_append(list, s);
    ft_list_append(list, s);
    ft_decref(s);
    ft_object *got = ft_list_get_ref(list, 1);
    FT_EXPECT(got == s, "same object");
    FT_EXPECT(strcmp(ft_str_data(got), "kept alive by the list") == 0, "alive");
    ft_decref(got);
    ft_list_append(list, list);  // a self-reference is legal
    FT_EXPECT_EQ(ft_list_len(list), 3, "len");
    ft_object *popped = ft_list_pop(list);
    FT_EXPECT(popped == list, "self popped");
    ft_decref(popped);
    ft_decref(list);
}

FT_TEST(list_set_and_pop)
{
    int64_t base = ft_live_objects();
    ft_object *list = ft_list_new();
    int64_t values[50];
    for (int64_t i = 0; i < 50; i++) {
        values[i] = 1000 + i;
        append_int(list, values[i]);
    }
    for (int64_t i = 0; i < 50; i += 3) {
        values[i] = -1000 - i;
        ft_object *x = ft_int_new(values[i]);
        FT_EXPECT_EQ(ft_list_set(list, i, x), 0, "set");
        ft_decref(x);
    }
    FT_EXPECT(list_holds(list, values, 50), "after set");
    FT_EXPECT_EQ(ft_live_objects(), base + 51, "replaced items freed");
    for (int64_t n = 50; n > 0; n--) {
        ft_object *x = ft_list_pop(list);
        FT_REQUIRE(x != NULL, "pop");
        FT_EXPECT_EQ(ft_int_value(x), values[n - 1], "pop order");
        ft_decref(x);
        FT_EXPECT_EQ(ft_list_len(list), n - 1, "len after pop");
        if (n % 7 == 0) {
            FT_EXPECT(list_holds(list, values, n - 1), "contents after pop (shrinking)");
        }
    }
    FT_EXPECT(ft_list_pop(list) == NULL, "pop from empty");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_INDEX, "IndexError");
    ft_err_clear();
    // The list grows again after being emptied.
    for (int64_t i = 0; i < 20; i++) {
        values[i] = i + 300;
        append_int(list, values[i]);
    }
    FT_EXPECT(list_holds(list, values, 20), "regrown");
    ft_decref(list);
    FT_EXPECT_EQ(ft_live_objects(), base, "all freed");
}

FT_TEST(list_extend)
{
    int64_t base = ft_live_objects();
    ft_object *a = ft_list_new();
    ft_object *b = ft_list_new();
    int64_t values[400];
    int64_t n = 0;
    for (int64_t i = 0; i < 10; i++) {
        values[n++] = 1000 + i;
        append_int(a, 1000 + i);
        append_int(b, 2000 + i);
    }
    FT_EXPECT_EQ(ft_list_extend(a, b), 0, "extend with another list");
    for (int64_t i = 0; i < 10; i++) {
        values[n++] = 2000 + i;
    }
    FT_EXPECT(list_holds(a, values, n), "a + b");
    FT_EXPECT(list_holds(b, values + 10, 10), "b unchanged");
    // Extending a list with itself doubles it (reads the old length once).
    FT_EXPECT_EQ(ft_list_extend(a, a), 0, "extend with itself");
    memcpy(values + n, values, (size_t)n * sizeof(values[0]));
    n *= 2;
    FT_EXPECT(list_holds(a, values, n), "a + a");
    // With spare capacity, self-extension must not read what it writes.
    ft_object *x = ft_list_pop(a);
    ft_decref(x);
    n--;
    FT_EXPECT_EQ(ft_list_extend(a, a), 0, "extend with itself again");
    memcpy(values + n, values, (size_t)n * sizeof(values[0]));
    n *= 2;
    FT_EXPECT(list_holds(a, values, n), "a + a again");
    // Tuples extend too; empty sources change nothing.
    ft_object *i1 = ft_int_new(7);
    ft_object *i2 = ft_int_new(8);
    ft_object *items[2] = {i1, i2};
    ft_object *t = ft_tuple_new(2, items);
    FT_EXPECT_EQ(ft_list_extend(a, t), 0, "extend with a tuple");
    values[n++] = 7;
    values[n++] = 8;
    ft_object *empty = ft_list_new();
    ft_object *empty_tuple = ft_tuple_new(0, NULL);
    FT_EXPECT_EQ(ft_list_extend(a, empty), 0, "extend with []");
    FT_EXPECT_EQ(ft_list_extend(a, empty_tuple), 0, "extend with ()");
    FT_EXPECT(list_holds(a, values, n), "after tuple and empties");
    FT_EXPECT_EQ(ft_list_extend(empty, empty), 0, "[] + []");
    FT_EXPECT_EQ(ft_list_len(empty), 0, "still empty");
    ft_decref(i1);
    ft_decref(i2);
    ft_decref(t);
    ft_decref(empty);
    ft_decref(empty_tuple);
    ft_decref(a);
    ft_decref(b);
    FT_EXPECT_EQ(ft_live_objects(), base, "all freed");
}

FT_TEST(list_is_unhashable)
{
    ft_object *list = ft_list_new();
    FT_EXPECT_EQ(ft_object_hash(list), -1, "unhashable");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    FT_EXPECT(strstr(ft_err_message(), "unhashable type: 'list'") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    FT_EXPECT_EQ(ft_object_eq(list, list), 1, "identity");
    ft_decref(list);
}

FT_TEST(list_bad_arguments_leave_it_unchanged)
{
    ft_object *list = ft_list_new();
    int64_t values[3] = {1000, 1001, 1002};
    for (int i = 0; i < 3; i++) {
        append_int(list, values[i]);
    }
    ft_object *x = ft_int_new(5);
    ft_object *d = ft_dict_new();
    const int64_t bad[] = {-1, 3, 4, INT64_MIN, INT64_MAX};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        FT_EXPECT(ft_list_get_ref(list, bad[k]) == NULL, "get %" PRId64, bad[k]);
        FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_INDEX, "get IndexError");
        ft_err_clear();
        FT_EXPECT(ft_list_set(list, bad[k], x) == -1, "set %" PRId64, bad[k]);
        FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_INDEX, "set IndexError");
        ft_err_clear();
    }
    FT_EXPECT_EQ(ft_list_append(list, NULL), -1, "append NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_list_set(list, 0, NULL), -1, "set NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_list_extend(list, NULL), -1, "extend NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_list_extend(list, d), -1, "extend with a dict");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    FT_EXPECT(strstr(ft_err_message(), "expected list or tuple, got dict") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    FT_EXPECT(list_holds(list, values, 3), "unchanged");
    // Wrong receivers.
    FT_EXPECT_EQ(ft_list_append(d, x), -1, "append to a dict");
    FT_EXPECT(strstr(ft_err_message(), "expected list, got dict") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    FT_EXPECT_EQ(ft_list_len(x), -1, "len of an int");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT(ft_list_pop(x) == NULL, "pop of an int");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_list_extend(x, list), -1, "extend an int");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT(list_holds(list, values, 3), "still unchanged");
    ft_decref(x);
    ft_decref(d);
    ft_decref(list);
}

FT_TEST(list_via_object_new)
{
    // A list made by the generic constructor is a valid empty list.
    ft_object *list = ft_object_new(&ft_list_type);
    FT_REQUIRE(list != NULL, "ft_object_new(list)");
    FT_EXPECT_EQ(ft_list_len(list), 0, "empty");
    append_int(list, 12345);
    int64_t v = 12345;
    FT_EXPECT(list_holds(list, &v, 1), "append works");
    ft_decref(list);
}
