// objects/float.c: IEEE double objects, immutable.
//
// Invariant: equal floats hash equally. Equality is C's ==, so 0.0 == -0.0
// (both hash as +0.0) and a NaN equals no other object (identity still
// matches it in container lookups, as in Python).
#include <string.h>

#include "objects/objects_internal.h"

static int64_t
float_hash(ft_object *obj)
{
    double value = ((ft_float_object *)obj)->value;
    if (value == 0.0) {
        value = 0.0;  // -0.0 == 0.0, so they must hash alike
    }
    uint64_t bits;
    memcpy(&bits, &value, sizeof(bits));
    return ft_hash_mix64(bits);
}

static int
float_eq(ft_object *a, ft_object *b)
{
    return ((ft_float_object *)a)->value == ((ft_float_object *)b)->value;
}

static void
float_dealloc(ft_object *obj)
{
    ft_object_free(obj);
}

ft_type ft_float_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "float",
    .tp_basicsize = sizeof(ft_float_object),
    .tp_flags = FT_TPFLAGS_IMMUTABLE_EQ,
    .tp_dealloc = float_dealloc,
    .tp_hash = float_hash,
    .tp_eq = float_eq,
};

ft_object *
ft_float_new(double value)
{
    if (!ft_objects_check_attached("ft_float_new")) {
        return NULL;
    }
    ft_float_object *obj = (ft_float_object *)ft_object_alloc(&ft_float_type, 0);
    if (obj == NULL) {
        return NULL;
    }
    obj->value = value;
    return &obj->ob_base;
}

double
ft_float_value(ft_object *obj)
{
    if (!ft_objects_check(obj, &ft_float_type, "ft_float_value")) {
        return -1.0;
    }
    return ((ft_float_object *)obj)->value;
}
