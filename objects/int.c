// objects/int.c: 64-bit integers with an immortal cache of -5 ... 256.
//
// Invariant: ft_int_new(v) for v in the cache range returns the one static
// object of that value, so those values are never allocated; every other
// value is a fresh heap object. Values are immutable, so reads need no lock.
#include "objects/objects_internal.h"

static int64_t
int_hash(ft_object *obj)
{
    return ft_hash_mix64((uint64_t)((ft_int_object *)obj)->value);
}

static int
int_eq(ft_object *a, ft_object *b)
{
    return ((ft_int_object *)a)->value == ((ft_int_object *)b)->value;
}

static void
int_dealloc(ft_object *obj)
{
    ft_object_free(obj);
}

ft_type ft_int_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "int",
    .tp_basicsize = sizeof(ft_int_object),
    .tp_flags = FT_TPFLAGS_IMMUTABLE_EQ,
    .tp_dealloc = int_dealloc,
    .tp_hash = int_hash,
    .tp_eq = int_eq,
};

// The cache is static data (the same text in both builds): 262 entries
// spelled out by doubling macros.
// clang-format off
#define SMALL_INT(v) {.ob_base = FT_OBJECT_HEAD_INIT(&ft_int_type), .value = (v)}
#define SMALL_INT4(v) SMALL_INT(v), SMALL_INT((v) + 1), SMALL_INT((v) + 2), SMALL_INT((v) + 3)
#define SMALL_INT16(v)                                                         \
    SMALL_INT4(v), SMALL_INT4((v) + 4), SMALL_INT4((v) + 8), SMALL_INT4((v) + 12)
#define SMALL_INT64(v)                                                         \
    SMALL_INT16(v), SMALL_INT16((v) + 16), SMALL_INT16((v) + 32), SMALL_INT16((v) + 48)
#define SMALL_INT256(v)                                                        \
    SMALL_INT64(v), SMALL_INT64((v) + 64), SMALL_INT64((v) + 128), SMALL_INT64((v) + 192)

ft_int_object ft_small_ints[FT_SMALL_INT_MAX - FT_SMALL_INT_MIN + 1] = {
    SMALL_INT(-5), SMALL_INT(-4), SMALL_INT(-3), SMALL_INT(-2), SMALL_INT(-1),
    SMALL_INT256(0), SMALL_INT(256),
};
// clang-format on
static_assert(FT_SMALL_INT_MIN == -5 && FT_SMALL_INT_MAX == 256,
              "the initializer above spells out -5 ... 256");

ft_object *
ft_int_new(int64_t value)
{
    if (!ft_objects_check_attached("ft_int_new")) {
        return NULL;
    }
    if (value >= FT_SMALL_INT_MIN && value <= FT_SMALL_INT_MAX) {
        // Immortal: the incref is free in the FT build and keeps the GIL
        // build's count balanced against the caller's decref.
        return ft_newref(&ft_small_ints[value - FT_SMALL_INT_MIN].ob_base);
    }
    ft_int_object *obj = (ft_int_object *)ft_object_alloc(&ft_int_type, 0);
    if (obj == NULL) {
        return NULL;
    }
    obj->value = value;
    return &obj->ob_base;
}

int64_t
ft_int_value(ft_object *obj)
{
    if (!ft_objects_check(obj, &ft_int_type, "ft_int_value")) {
        return -1;
    }
    return ((ft_int_object *)obj)->value;
}
