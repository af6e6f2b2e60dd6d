// Immortal objects (DESIGN.md §4.3): increments and decrements from several
// threads never write the header (FT builds) or leave it where it was (the
// GIL build counts immortals from 2^62), and immortals are never freed.
#include <string.h>

#include "harness.h"
#include "refcount_probe.h"

#define IMMORTALS 4

typedef struct immortal_job {
    ft_object *objs[IMMORTALS];
    int64_t rounds;
    _Atomic(int) increfs_done;   // this worker finished its increments
    _Atomic(int) *proceed;       // main checked the headers: decrement now
} immortal_job;

static void
hammer_immortals(void *arg)
{
    immortal_job *job = arg;
    for (int64_t i = 0; i < job->rounds; i++) {
        for (int k = 0; k < IMMORTALS; k++) {
            ft_incref(job->objs[k]);
        }
        if ((i & 1023) == 0) {
            ft_safepoint();
        }
    }
    flag_set(&job->increfs_done);
    flag_wait_attached(job->proceed);
    for (int64_t i = 0; i < job->rounds; i++) {
        for (int k = 0; k < IMMORTALS; k++) {
            ft_decref(job->objs[k]);
        }
        if ((i & 1023) == 0) {
            ft_safepoint();
        }
    }
}

FT_TEST(immortal_headers_never_change)
{
    ft_object *small = ft_int_new(42);
    FT_REQUIRE(small != NULL, "ft_int_new");
    ft_object *objs[IMMORTALS] = {ft_none(), ft_true(), ft_false(), small};
    unsigned char before[IMMORTALS][sizeof(ft_object)];
    for (int k = 0; k < IMMORTALS; k++) {
        FT_EXPECT(ft_ref_is_immortal(objs[k]), "object %d is immortal", k);
        memcpy(before[k], objs[k], sizeof(ft_object));
    }
    int64_t live = ft_live_objects();
    _Atomic(int) proceed = 0;
    immortal_job jobs[2];
    ft_thread *threads[2];
    for (int j = 0; j < 2; j++) {
        memset(&jobs[j], 0, sizeof(jobs[j]));
        memcpy(jobs[j].objs, objs, sizeof(objs));
        jobs[j].rounds = ft_test_scale(1000000);
        jobs[j].proceed = &proceed;
        threads[j] = ft_thread_start(hammer_immortals, &jobs[j]);
        FT_REQUIRE(threads[j] != NULL, "ft_thread_start");
    }
    bool waited = flag_wait_attached(&jobs[0].increfs_done) &&
                  flag_wait_attached(&jobs[1].increfs_done);
    FT_EXPECT(waited, "workers never finished their increments");
#if FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC
    // After 2 x 10^6 increments: not one byte written (I2, §4.3).
    for (int k = 0; k < IMMORTALS; k++) {
        FT_EXPECT(memcmp(before[k], objs[k], sizeof(ft_object)) == 0,
                  "header of object %d changed by increfs", k);
    }
#endif
    flag_set(&proceed);
    for (int j = 0; j < 2; j++) {
        ft_thread_join(threads[j]);
    }
    for (int k = 0; k < IMMORTALS; k++) {
        FT_EXPECT(memcmp(before[k], objs[k], sizeof(ft_object)) == 0,
                  "header of object %d changed", k);
        FT_EXPECT(ft_ref_is_immortal(objs[k]), "object %d still immortal", k);
    }
    FT_EXPECT_EQ(ft_live_objects(), live, "immortals are never counted or freed (I3)");
    ft_decref(small);
}

FT_TEST(immortals_survive_extra_decrefs)
{
#if FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC
    // FT builds skip counting altogether, so even unbalanced decrefs of an
    // immortal object are absorbed (I2).
    ft_object *none = ft_none();
    unsigned char before[sizeof(ft_object)];
    memcpy(before, none, sizeof(ft_object));
    for (int i = 0; i < 1000; i++) {
        ft_decref(none);
    }
    FT_EXPECT(memcmp(before, none, sizeof(ft_object)) == 0, "header unchanged");
#else
    FT_SKIP_IF(1, "the GIL build counts immortals: decrefs must stay balanced");
#endif
}

static const ft_type made_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "made_immortal",
    .tp_basicsize = sizeof(ft_object),
};

FT_TEST(make_immortal_of_a_private_object)
{
    ft_object *obj = ft_object_new(&made_type);
    FT_REQUIRE(obj != NULL, "ft_object_new");
    ft_ref_make_immortal(obj);
    FT_EXPECT(ft_ref_is_immortal(obj), "immortal");
    FT_EXPECT(!ft_is_unique(obj), "immortals are never unique");
    for (int i = 0; i < 100; i++) {
        ft_incref(obj);
    }
    for (int i = 0; i < 100; i++) {
        ft_decref(obj);
    }
    FT_EXPECT(ft_ref_is_immortal(obj), "still immortal");
    // Never freed by counting (I2); the test returns the block itself.
    ft_object_free(obj);
}
