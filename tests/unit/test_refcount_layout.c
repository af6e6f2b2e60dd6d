// Object header layout (DESIGN.md §4.1): sizes, offsets and the static
// header of immortal objects, in every build.
#include <stddef.h>
#include <string.h>

#include "harness.h"

static const ft_type probe_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "layout_probe",
    .tp_basicsize = sizeof(ft_object),
};
static ft_object probe_static = FT_OBJECT_HEAD_INIT(&probe_type);

FT_TEST_RAW(header_size_and_offsets)
{
#if FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC
    FT_EXPECT_EQ(sizeof(ft_object), 32, "FT header size");
    FT_EXPECT_EQ(offsetof(ft_object, ob_tid), 0, "ob_tid offset");
    FT_EXPECT_EQ(offsetof(ft_object, ob_flags), 8, "ob_flags offset");
    FT_EXPECT_EQ(offsetof(ft_object, ob_mutex), 10, "ob_mutex offset");
    FT_EXPECT_EQ(offsetof(ft_object, ob_gc_bits), 11, "ob_gc_bits offset");
    FT_EXPECT_EQ(offsetof(ft_object, ob_ref_local), 12, "ob_ref_local offset");
    FT_EXPECT_EQ(offsetof(ft_object, ob_ref_shared), 16, "ob_ref_shared offset");
    FT_EXPECT_EQ(offsetof(ft_object, ob_type), 24, "ob_type offset");
#if FT_SHARDED_RC
    FT_EXPECT_EQ(FT_REF_SHARED_ONE, 32, "one shared reference is 32 (state and hot bits)");
    FT_EXPECT_EQ(FT_REF_HOT_MASK, 0x1c, "hot bits 2-4");
#else
    FT_EXPECT_EQ(FT_REF_SHARED_ONE, 4, "one shared reference is 4 (two state bits)");
#endif
    FT_EXPECT_EQ(FT_REF_MERGED & FT_REF_STATE_MASK, 3, "MERGED state");
#else
    FT_EXPECT_EQ(sizeof(ft_object), 16, "GIL header size");
    FT_EXPECT_EQ(offsetof(ft_object, ob_refcnt), 0, "ob_refcnt offset");
    FT_EXPECT_EQ(offsetof(ft_object, ob_type), 8, "ob_type offset");
#endif
    FT_EXPECT_EQ(_Alignof(ft_object), 8, "8-byte alignment");
    volatile intptr_t minus_eight = -8;
    FT_EXPECT_EQ(minus_eight >> 2, -2, "arithmetic shift of negative counts");
}

FT_TEST_RAW(static_header_is_immortal)
{
    FT_EXPECT(ft_ref_is_immortal(&probe_static), "a static header is immortal");
    FT_EXPECT(ft_ref_is_immortal((ft_object *)&probe_type), "a static type is immortal");
    FT_EXPECT(probe_static.ob_type == &probe_type, "type pointer");
#if FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC
    // relaxed (this block): nobody else touches these objects
    FT_EXPECT_EQ(ft_atomic_load_relaxed_uintptr(&probe_static.ob_tid), 0, "no owner");
    FT_EXPECT_EQ(ft_atomic_load_relaxed_u32(&probe_static.ob_ref_local), UINT32_MAX,
                 "immortal marker");
    FT_EXPECT_EQ(ft_atomic_load_relaxed_intptr(&probe_static.ob_ref_shared), 0, "shared 0");
    FT_EXPECT(ft_atomic_load_relaxed_u16(&probe_static.ob_flags) & FT_OBJ_FLAG_STATIC,
              "STATIC flag");
    FT_EXPECT_EQ(ft_atomic_load_relaxed_u8(&probe_static.ob_gc_bits), 0, "no GC bits");
    FT_EXPECT_EQ(ft_atomic_load_relaxed_u8(&probe_static.ob_mutex.bits), 0, "unlocked");
#else
    FT_EXPECT_EQ(probe_static.ob_refcnt, (int64_t)1 << 62, "GIL immortals count from 2^62");
#endif
}

FT_TEST(new_object_header)
{
    ft_object *obj = ft_object_new(&probe_type);
    FT_REQUIRE(obj != NULL, "ft_object_new: %s", ft_err_message());
    FT_EXPECT(!ft_ref_is_immortal(obj), "a new object is mortal");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "a new object has one reference");
    FT_EXPECT(ft_is_unique(obj), "a new object is unique");
#if FT_REFCOUNT_BIASED
    // relaxed (this block): a private object
    FT_EXPECT_EQ(ft_atomic_load_relaxed_uintptr(&obj->ob_tid), ft_thread_current_tid(),
                 "the creator owns it");
    FT_EXPECT_EQ(ft_atomic_load_relaxed_u32(&obj->ob_ref_local), 1, "local 1");
    FT_EXPECT_EQ(ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared), 0, "shared 0");
#endif
    ft_decref(obj);
}

FT_TEST(singletons_are_immortal)
{
    FT_EXPECT(ft_ref_is_immortal(ft_none()), "None");
    FT_EXPECT(ft_ref_is_immortal(ft_true()), "True");
    FT_EXPECT(ft_ref_is_immortal(ft_false()), "False");
    ft_object *small = ft_int_new(7);
    FT_REQUIRE(small != NULL, "ft_int_new: %s", ft_err_message());
    FT_EXPECT(ft_ref_is_immortal(small), "cached small int");
    FT_EXPECT(!ft_is_unique(ft_none()), "an immortal is never unique");
    ft_decref(small);
}
