// Owner counting and the one uniqueness test (DESIGN.md §4.1, H4): owned by
// the caller, local count 1, shared word 0, never SHARED.
#include "harness.h"
#include "refcount_probe.h"

FT_TEST(owner_incref_decref_counts_locally)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    for (int i = 0; i < 1000; i++) {
        ft_incref(obj);
    }
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1001, "counted");
#if FT_REFCOUNT_BIASED
    // relaxed: our own object
    FT_EXPECT_EQ(ft_atomic_load_relaxed_u32(&obj->ob_ref_local), 1001, "in the local count");
    FT_EXPECT_EQ(ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared), 0, "shared untouched");
    FT_EXPECT_EQ(ft_stats_get("rc_owner_incref"), 1000, "owner increfs counted");
    FT_EXPECT_EQ(ft_stats_get("rc_shared_incref"), 0, "no shared increfs");
#endif
    for (int i = 0; i < 1000; i++) {
        ft_decref(obj);
    }
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "back to one");
    FT_EXPECT_EQ(probe_freed(&freed), 0, "alive");
    ft_decref(obj);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed at zero");
}

FT_TEST(new_object_is_unique_until_shared)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    FT_EXPECT(ft_is_unique(obj), "a new object is unique");
    ft_incref(obj);
    FT_EXPECT(!ft_is_unique(obj), "two references");
    ft_decref(obj);
    FT_EXPECT(ft_is_unique(obj), "one reference again");
    ft_decref(obj);
    FT_EXPECT(!ft_is_unique(ft_none()), "immortals are never unique");
    FT_EXPECT(!ft_is_unique(ft_true()), "immortals are never unique");
}

typedef struct holder_job {
    ft_object *obj;
    _Atomic(int) holding;
    _Atomic(int) release;
} holder_job;

static void
hold_reference(void *arg)
{
    holder_job *job = arg;
    ft_incref(job->obj);
    flag_set(&job->holding);
    if (flag_wait_attached(&job->release)) {
        ft_decref(job->obj);
    }
}

FT_TEST(foreign_reference_is_not_unique)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    ft_incref(obj);
    holder_job job = {.obj = obj};
    ft_thread *t = ft_thread_start(hold_reference, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    FT_REQUIRE(flag_wait_attached(&job.holding), "holder never started");
    ft_decref(obj);   // local 1 again, but a foreign reference is in the shared word
    FT_EXPECT(!ft_is_unique(obj), "foreign holder");
    flag_set(&job.release);
    ft_thread_join(t);
    // The foreign decref cancelled the foreign incref: shared word 0 again.
    FT_EXPECT(ft_is_unique(obj), "the foreign reference is gone");
    ft_decref(obj);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed once");
}

typedef struct create_job {
    ft_object *obj;
    _Atomic(int) *freed;
} create_job;

static void
create_only(void *arg)
{
    create_job *job = arg;
    job->obj = probe_new(job->freed);
}

FT_TEST(another_threads_object_is_not_unique)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    create_job job = {.freed = &freed};
    ft_thread *t = ft_thread_start(create_only, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    ft_thread_join(t);
    FT_REQUIRE(job.obj != NULL, "worker could not create");
#if FT_REFCOUNT_BIASED
    // One reference, but counted in another thread's local count (H4).
    FT_EXPECT(!ft_is_unique(job.obj), "owned by another thread");
#else
    FT_EXPECT(ft_is_unique(job.obj), "one reference, one count");
#endif
    ft_decref(job.obj);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed once");
}

typedef struct orphan_job {
    ft_object *obj;
    _Atomic(int) *freed;
} orphan_job;

static void
create_two_refs(void *arg)
{
    orphan_job *job = arg;
    job->obj = probe_new(job->freed);
    if (job->obj != NULL) {
        ft_incref(job->obj);
    }
}

FT_TEST(merged_object_is_not_unique)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    orphan_job job = {.freed = &freed};
    ft_thread *t = ft_thread_start(create_two_refs, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    ft_thread_join(t);   // the owner exits holding two references for us
    FT_REQUIRE(job.obj != NULL, "worker could not create");
    ft_decref(job.obj);  // orphan merge: MERGED, true count 1
    FT_EXPECT_EQ(ft_ref_count_approx(job.obj), 1, "one reference left");
#if FT_REFCOUNT_BIASED
    FT_EXPECT(!ft_is_unique(job.obj), "MERGED objects have no owner (H4)");
#else
    FT_EXPECT(ft_is_unique(job.obj), "one reference, one count");
#endif
    ft_decref(job.obj);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed once");
}

FT_TEST(shared_bit_is_not_unique)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
#if FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC
    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    FT_EXPECT(ft_is_unique(obj), "unique before");
    // A lock-free reader could hold a pointer without a reference (§4.9).
    // pairs: acquire load in ft_is_unique()
    ft_atomic_or_release_u8(&obj->ob_gc_bits, FT_GC_BIT_SHARED);
    FT_EXPECT(!ft_is_unique(obj), "SHARED objects are never unique");
    ft_decref(obj);   // SHARED: the owner must CAS to free
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed once");
#else
    FT_SKIP_IF(1, "no SHARED bit in the GIL build");
#endif
}
