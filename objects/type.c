// objects/type.c: the type of types.
//
// Types are static, immortal objects (DESIGN.md §4.3): their header is
// FT_OBJECT_HEAD_INIT, so reference counting skips them (FT) or counts from
// 2^62 (GIL), and they are never freed. They hash and compare by identity.
#include "objects/objects_internal.h"

// Never called: types are immortal. Present so that a stray decref to zero
// in a debug build stops loudly instead of freeing static data.
static void
type_dealloc(ft_object *obj)
{
    ft_fatal("deallocating a type object (object %p, type %s)", (void *)obj,
             ((ft_type *)obj)->tp_name);
}

ft_type ft_type_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "type",
    .tp_basicsize = sizeof(ft_type),
    .tp_flags = FT_TPFLAGS_IMMUTABLE_EQ,
    .tp_dealloc = type_dealloc,
    .tp_hash = ft_object_identity_hash,
    .tp_eq = ft_object_identity_eq,
};
