// float and str objects: construction, immutability of the copied bytes,
// hashing, equality and every bad argument.
#include <math.h>

#include "harness.h"

FT_TEST(float_round_trip_and_hash)
{
    int64_t base = ft_live_objects();
    ft_object *a = ft_float_new(2.5);
    ft_object *b = ft_float_new(2.5);
    ft_object *c = ft_float_new(-2.5);
    FT_REQUIRE(a && b && c, "ft_float_new");
    FT_EXPECT_EQ(ft_live_objects(), base + 3, "floats are heap objects");
    FT_EXPECT(ft_float_value(a) == 2.5, "value");
    FT_EXPECT_EQ(ft_object_eq(a, b), 1, "equal");
    FT_EXPECT_EQ(ft_object_eq(a, c), 0, "not equal");
    FT_EXPECT_EQ(ft_object_hash(a), ft_object_hash(b), "equal hashes");
    FT_EXPECT(ft_object_hash(a) != ft_object_hash(c), "sign changes the hash");
    FT_EXPECT(strcmp(ft_type_name(a), "float") == 0, "type name");
    ft_decref(a);
    ft_decref(b);
    ft_decref(c);
    FT_EXPECT_EQ(ft_live_objects(), base, "floats freed");
}

FT_TEST(float_zero_and_nan)
{
    ft_object *pz = ft_float_new(0.0);
    ft_object *nz = ft_float_new(-0.0);
    FT_EXPECT_EQ(ft_object_eq(pz, nz), 1, "0.0 == -0.0");
    FT_EXPECT_EQ(ft_object_hash(pz), ft_object_hash(nz), "equal floats hash alike");
    ft_object *n1 = ft_float_new(NAN);
    ft_object *n2 = ft_float_new(NAN);
    FT_EXPECT_EQ(ft_object_eq(n1, n2), 0, "nan != nan");
    FT_EXPECT_EQ(ft_object_eq(n1, n1), 1, "identity implies equality");
    FT_EXPECT(ft_object_hash(n1) != -1, "nan hashable");
    ft_decref(pz);
    ft_decref(nz);
    ft_decref(n1);
    ft_decref(n2);
}

FT_TEST(float_errors)
{
    FT_EXPECT(ft_float_value(NULL) == -1.0, "NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "NULL gives TypeError");
    ft_err_clear();
    ft_object *i = ft_int_new(3);
    FT_EXPECT(ft_float_value(i) == -1.0, "int is not float");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    FT_EXPECT(strstr(ft_err_message(), "expected float, got int") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    ft_decref(i);
}

FT_TEST(str_copies_and_terminates)
{
    int64_t base = ft_live_objects();
    char buf[] = "hello world";
    ft_object *s = ft_str_new(buf, 5);
    FT_REQUIRE(s != NULL, "ft_str_new");
    buf[0] = 'J';  // the string copied its bytes
    FT_EXPECT(strcmp(ft_str_data(s), "hello") == 0, "data: %s", ft_str_data(s));
    FT_EXPECT_EQ(ft_str_len(s), 5, "length");
    FT_EXPECT_EQ(ft_live_objects(), base + 1, "one string");
    ft_object *t = ft_str_from_cstr("hello");
    FT_EXPECT_EQ(ft_object_eq(s, t), 1, "equal strings");
    FT_EXPECT_EQ(ft_object_hash(s), ft_object_hash(t), "equal hashes");
    FT_EXPECT_EQ(ft_object_hash(s), ft_object_hash(s), "hash is stable");
    ft_object *u = ft_str_from_cstr("hellp");
    FT_EXPECT_EQ(ft_object_eq(s, u), 0, "different strings");
    FT_EXPECT(ft_object_hash(s) != ft_object_hash(u), "different hashes (likely)");
    ft_object *longer = ft_str_from_cstr("hello!");
    FT_EXPECT_EQ(ft_object_eq(s, longer), 0, "prefix is not equal");
    // Embedded NUL bytes are part of the string.
    ft_object *z1 = ft_str_new("a\0b", 3);
    ft_object *z2 = ft_str_new("a\0c", 3);
    FT_EXPECT_EQ(ft_str_len(z1), 3, "embedded NUL length");
    FT_EXPECT_EQ(ft_object_eq(z1, z2), 0, "bytes after NUL compared");
    FT_EXPECT(ft_str_data(z1)[3] == '\0', "terminated");
    ft_object *i = ft_int_new(5);
    FT_EXPECT_EQ(ft_object_eq(s, i), 0, "str != int");
    ft_decref(i);
    ft_decref(s);
    ft_decref(t);
    ft_decref(u);
    ft_decref(longer);
    ft_decref(z1);
    ft_decref(z2);
    FT_EXPECT_EQ(ft_live_objects(), base, "strings freed");
}

FT_TEST(str_long_hashes)
{
    // Strings that differ in one byte anywhere hash differently.
    char buf[100];
    memset(buf, 'x', sizeof(buf));
    ft_object *ref = ft_str_new(buf, sizeof(buf));
    int64_t h = ft_object_hash(ref);
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = 'y';
        ft_object *s = ft_str_new(buf, sizeof(buf));
        FT_EXPECT(ft_object_hash(s) != h, "byte %zu does not reach the hash", i);
        FT_EXPECT(ft_object_eq(s, ref) == 0, "differ at %zu", i);
        ft_decref(s);
        buf[i] = 'x';
    }
    ft_decref(ref);
}

FT_TEST(empty_str_is_immortal)
{
    int64_t base = ft_live_objects();
    ft_object *a = ft_str_new("", 0);
    ft_object *b = ft_str_new(NULL, 0);
    ft_object *c = ft_str_from_cstr("");
    FT_REQUIRE(a && b && c, "empty strings");
    FT_EXPECT(a == b && b == c, "one empty string");
    FT_EXPECT(ft_ref_is_immortal(a), "immortal");
    FT_EXPECT_EQ(ft_str_len(a), 0, "length");
    FT_EXPECT(ft_str_data(a)[0] == '\0', "terminated");
    FT_EXPECT_EQ(ft_live_objects(), base, "not counted");
    ft_decref(a);
    ft_decref(b);
    ft_decref(c);
}

FT_TEST(str_errors)
{
    FT_EXPECT(ft_str_new(NULL, 3) == NULL, "NULL bytes");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT(ft_str_from_cstr(NULL) == NULL, "NULL cstr");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT(ft_str_data(NULL) == NULL, "data of NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_str_len(NULL), -1, "len of NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    ft_object *f = ft_float_new(1.5);
    FT_EXPECT(ft_str_data(f) == NULL, "data of float");
    FT_EXPECT(strstr(ft_err_message(), "expected str, got float") != NULL, "message: %s",
              ft_err_message());
    ft_err_clear();
    FT_EXPECT_EQ(ft_str_len(f), -1, "len of float");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "TypeError");
    ft_err_clear();
    ft_decref(f);
}
