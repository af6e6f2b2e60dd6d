// objects/singletons.c: None, True and False, and the subsystem's
// ft_init/ft_fini hooks.
//
// Every immortal of the objects subsystem -- these singletons, the small
// ints (int.c), the empty tuple (tuple.c), the empty string (str.c) and the
// types -- is static data whose header is FT_OBJECT_HEAD_INIT, so it exists
// before ft_init(), survives ft_fini() and any number of init/fini cycles,
// and never passes through ft_object_alloc/free (I2, I3: never freed, never
// counted). The hooks therefore have nothing to allocate.
#include "objects/objects_internal.h"

static void
immortal_dealloc(ft_object *obj)
{
    ft_fatal("deallocating an immortal object (object %p, type %s)", (void *)obj,
             ft_type_name(obj));
}

static int64_t
none_hash(ft_object *obj)
{
    (void)obj;
    return 0x5f3759df;  // any constant: there is one None
}

static int64_t
bool_hash(ft_object *obj)
{
    return ((ft_int_object *)obj)->value;
}

ft_type ft_none_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "NoneType",
    .tp_basicsize = sizeof(ft_object),
    .tp_flags = FT_TPFLAGS_IMMUTABLE_EQ,
    .tp_dealloc = immortal_dealloc,
    .tp_hash = none_hash,
    .tp_eq = ft_object_identity_eq,
};

ft_type ft_bool_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "bool",
    .tp_basicsize = sizeof(ft_int_object),
    .tp_flags = FT_TPFLAGS_IMMUTABLE_EQ,
    .tp_dealloc = immortal_dealloc,
    .tp_hash = bool_hash,
    .tp_eq = ft_object_identity_eq,
};

static ft_object none_object = FT_OBJECT_HEAD_INIT(&ft_none_type);
static ft_int_object false_object = {.ob_base = FT_OBJECT_HEAD_INIT(&ft_bool_type), .value = 0};
static ft_int_object true_object = {.ob_base = FT_OBJECT_HEAD_INIT(&ft_bool_type), .value = 1};

// The singletons are constants: they need no attached thread and set no
// error (DESIGN.md §6 lists them as immortal; callers may incref/decref).
ft_object *
ft_none(void)
{
    return &none_object;
}

ft_object *
ft_true(void)
{
    return &true_object.ob_base;
}

ft_object *
ft_false(void)
{
    return &false_object.ob_base;
}

ft_object *
ft_bool(int value)
{
    return value ? &true_object.ob_base : &false_object.ob_base;
}

int
ft_objects_init(void)
{
    return 0;
}

void
ft_objects_fini(void)
{
}
