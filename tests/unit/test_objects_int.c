// int objects: the immortal small-int cache, heap ints, hashing, type-strict
// equality, and the errors of ft_int_value.
#include "harness.h"

FT_TEST(small_ints_are_cached_and_immortal)
{
    int64_t base = ft_live_objects();
    for (int64_t v = -5; v <= 256; v++) {
        ft_object *a = ft_int_new(v);
        ft_object *b = ft_int_new(v);
        FT_REQUIRE(a != NULL && b != NULL, "ft_int_new(%" PRId64 ")", v);
        FT_EXPECT(a == b, "small int %" PRId64 " not cached", v);
        FT_EXPECT(ft_ref_is_immortal(a), "small int %" PRId64 " not immortal", v);
        FT_EXPECT_EQ(ft_int_value(a), v, "cached value");
        ft_decref(a);
        ft_decref(b);
    }
    FT_EXPECT_EQ(ft_live_objects(), base, "cached ints are never counted live");
}

FT_TEST(heap_ints_round_trip)
{
    int64_t base = ft_live_objects();
    const int64_t values[] = {-6, 257, 1000, -1000, INT64_MAX, INT64_MIN, 1LL << 40};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        ft_object *a = ft_int_new(values[i]);
        ft_object *b = ft_int_new(values[i]);
        FT_REQUIRE(a != NULL && b != NULL, "ft_int_new");
        FT_EXPECT(a != b, "%" PRId64 " is outside the cache: two objects", values[i]);
        FT_EXPECT(!ft_ref_is_immortal(a), "heap int immortal");
        FT_EXPECT_EQ(ft_live_objects(), base + 2, "two live ints");
        FT_EXPECT_EQ(ft_int_value(a), values[i], "value");
        FT_EXPECT_EQ(ft_object_eq(a, b), 1, "equal values");
        FT_EXPECT_EQ(ft_object_hash(a), ft_object_hash(b), "equal hashes");
        FT_EXPECT(ft_object_hash(a) != -1, "hash is never -1");
        FT_EXPECT(strcmp(ft_type_name(a), "int") == 0, "type name");
        ft_decref(a);
        ft_decref(b);
        FT_EXPECT_EQ(ft_live_objects(), base, "ints freed");
    }
}

FT_TEST(int_hash_spreads)
{
    // A 64-bit mix: consecutive values land in different low bits.
    int buckets[64] = {0};
    for (int64_t v = 1000; v < 1000 + 64 * 16; v++) {
        ft_object *a = ft_int_new(v);
        buckets[ft_object_hash(a) & 63]++;
        ft_decref(a);
    }
    for (int i = 0; i < 64; i++) {
        FT_EXPECT(buckets[i] > 0 && buckets[i] < 64, "bucket %d holds %d of 1024", i, buckets[i]);
    }
    ft_object *m1 = ft_int_new(-1);
    FT_EXPECT(ft_object_hash(m1) != -1, "hash(-1) must not be the error value");
    ft_decref(m1);
}

FT_TEST(equality_is_type_strict)
{
    ft_object *one = ft_int_new(1);
    ft_object *one_f = ft_float_new(1.0);
    ft_object *big = ft_int_new(1000);
    ft_object *big2 = ft_int_new(1001);
    FT_EXPECT_EQ(ft_object_eq(one, one_f), 0, "1 != 1.0");
    FT_EXPECT_EQ(ft_object_eq(one, ft_true()), 0, "1 != True");
    FT_EXPECT_EQ(ft_object_eq(big, big2), 0, "1000 != 1001");
    FT_EXPECT_EQ(ft_object_eq(big, big), 1, "identity");
    ft_decref(one);
    ft_decref(one_f);
    ft_decref(big);
    ft_decref(big2);
}

FT_TEST(int_value_errors)
{
    FT_EXPECT_EQ(ft_int_value(NULL), -1, "NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "NULL gives TypeError");
    FT_EXPECT(strstr(ft_err_message(), "expected int, got NULL") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    ft_object *s = ft_str_from_cstr("x");
    FT_EXPECT_EQ(ft_int_value(s), -1, "str");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "str gives TypeError");
    FT_EXPECT(strstr(ft_err_message(), "expected int, got str") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    FT_EXPECT_EQ(ft_int_value(ft_true()), -1, "bool is not int (type-strict)");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "bool gives TypeError");
    ft_err_clear();
    // -1 is also a valid value: only the error state tells them apart.
    ft_object *m = ft_int_new(-1);
    FT_EXPECT_EQ(ft_int_value(m), -1, "value -1");
    FT_EXPECT_EQ(ft_err_occurred(), 0, "no error for a real -1");
    ft_decref(m);
    ft_decref(s);
}

FT_TEST(singletons)
{
    FT_EXPECT(ft_none() == ft_none(), "one None");
    FT_EXPECT(ft_bool(1) == ft_true() && ft_bool(0) == ft_false(), "ft_bool");
    FT_EXPECT(ft_bool(42) == ft_true(), "any non-zero is True");
    FT_EXPECT(strcmp(ft_type_name(ft_none()), "NoneType") == 0, "None type");
    FT_EXPECT(strcmp(ft_type_name(ft_true()), "bool") == 0, "bool type");
    FT_EXPECT(strcmp(ft_type_name(NULL), "NULL") == 0, "NULL name");
    FT_EXPECT(ft_ref_is_immortal(ft_none()) && ft_ref_is_immortal(ft_true()) &&
                  ft_ref_is_immortal(ft_false()),
              "singletons immortal");
    FT_EXPECT(ft_ref_is_immortal((ft_object *)&ft_int_type), "types immortal");
    FT_EXPECT_EQ(ft_object_eq(ft_true(), ft_false()), 0, "True != False");
    FT_EXPECT(ft_object_hash(ft_none()) != -1, "None hashable");
    FT_EXPECT(ft_object_hash((ft_object *)&ft_list_type) != -1, "types hashable");
    int64_t base = ft_live_objects();
    for (int i = 0; i < 1000; i++) {
        ft_incref(ft_none());
        ft_decref(ft_none());
    }
    FT_EXPECT_EQ(ft_live_objects(), base, "singletons not counted");
}
