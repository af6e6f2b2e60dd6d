// ft_live_objects(): back to its baseline after building and dropping
// nested containers; immortal objects are never counted and never freed.
#include "harness.h"

// Builds {str: [int, float, (str, int), {int: list}]} n times into a list.
static ft_object *
build_nested(int n)
{
    ft_object *outer = ft_list_new();
    char buf[32];
    for (int i = 0; i < n; i++) {
        ft_object *d = ft_dict_new();
        snprintf(buf, sizeof(buf), "k%d", i);
        ft_object *k = ft_str_from_cstr(buf);
        ft_object *l = ft_list_new();
        ft_object *a = ft_int_new(100000 + i);
        ft_object *f = ft_float_new(i * 0.5);
        ft_object *pair_items[2] = {k, a};
        ft_object *t = ft_tuple_new(2, pair_items);
        ft_object *inner = ft_dict_new();
        ft_object *inner_list = ft_list_new();
        ft_list_append(inner_list, t);
        ft_dict_set(inner, a, inner_list);
        ft_list_append(l, a);
        ft_list_append(l, f);
        ft_list_append(l, t);
        ft_list_append(l, inner);
        ft_dict_set(d, k, l);
        ft_list_append(outer, d);
        ft_decref(d);
        ft_decref(k);
        ft_decref(l);
        ft_decref(a);
        ft_decref(f);
        ft_decref(t);
        ft_decref(inner);
        ft_decref(inner_list);
    }
    return outer;
}

FT_TEST(nested_containers_return_to_baseline)
{
    ft_gc_collect();
    int64_t base = ft_live_objects();
    ft_object *outer = build_nested(200);
    // Per entry: dict, str, list, int, float, tuple, inner dict, inner list.
    FT_EXPECT_EQ(ft_live_objects(), base + 1 + 200 * 8, "everything counted once");
    ft_object *copy = ft_list_new();
    ft_list_extend(copy, outer);
    ft_list_extend(copy, copy);
    FT_EXPECT_EQ(ft_list_len(copy), 400, "shared references");
    ft_decref(outer);
    FT_EXPECT_EQ(ft_live_objects(), base + 1 + 200 * 8, "copy keeps the items");
    ft_decref(copy);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "back to the baseline");
}

FT_TEST(dict_of_dicts_update_returns_to_baseline)
{
    ft_gc_collect();
    int64_t base = ft_live_objects();
    ft_object *a = ft_dict_new();
    ft_object *b = ft_dict_new();
    for (int i = 0; i < 300; i++) {
        ft_object *k = ft_int_new(5000 + i);
        ft_object *v = build_nested(1);
        ft_dict_set(i % 2 ? a : b, k, v);
        ft_dict_set(b, k, v);
        ft_decref(k);
        ft_decref(v);
    }
    ft_dict_update(a, b);
    ft_dict_update(b, a);
    ft_decref(a);
    ft_decref(b);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "back to the baseline");
}

FT_TEST(immortals_never_counted_or_freed)
{
    ft_gc_collect();
    int64_t base = ft_live_objects();
    ft_object *immortals[] = {
        ft_none(),
        ft_true(),
        ft_false(),
        ft_int_new(-5),
        ft_int_new(0),
        ft_int_new(256),
        ft_tuple_new(0, NULL),
        ft_str_new("", 0),
        (ft_object *)&ft_int_type,
        (ft_object *)&ft_dict_type,
        (ft_object *)&ft_type_type,
    };
    size_t n = sizeof(immortals) / sizeof(immortals[0]);
    FT_EXPECT_EQ(ft_live_objects(), base, "creating immortals counts nothing");
    for (size_t i = 0; i < n; i++) {
        FT_EXPECT(ft_ref_is_immortal(immortals[i]), "object %zu (%s) immortal", i,
                  ft_type_name(immortals[i]));
    }
    // Far more decrefs than increfs would free a mortal object many times over.
    for (int round = 0; round < 100000; round++) {
        for (size_t i = 0; i < n; i++) {
            ft_decref(immortals[i]);
        }
    }
    for (int round = 0; round < 100000; round++) {
        for (size_t i = 0; i < n; i++) {
            ft_incref(immortals[i]);
        }
    }
    // Held in containers and dropped with them.
    ft_object *list = ft_list_new();
    ft_object *dict = ft_dict_new();
    for (size_t i = 0; i < n; i++) {
        ft_list_append(list, immortals[i]);
        if (ft_object_hash(immortals[i]) != -1) {
            ft_dict_set(dict, immortals[i], immortals[i]);
        }
    }
    ft_object *t = ft_tuple_new(n, immortals);
    ft_decref(t);
    ft_decref(list);
    ft_decref(dict);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "baseline");
    for (size_t i = 0; i < n; i++) {
        FT_EXPECT(ft_ref_is_immortal(immortals[i]), "object %zu still immortal", i);
    }
    FT_EXPECT_EQ(ft_int_value(immortals[5]), 256, "small int intact");
    FT_EXPECT_EQ(ft_tuple_size(immortals[6]), 0, "empty tuple intact");
    FT_EXPECT_EQ(ft_str_len(immortals[7]), 0, "empty str intact");
    // Balance the GIL build's counts (immortals are counted there).
    for (size_t i = 3; i < 8; i++) {
        ft_decref(immortals[i]);
    }
}
