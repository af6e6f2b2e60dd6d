// Biased reference counting states (DESIGN.md §4.2): foreign counting, the
// QUEUED donation, owner / on-behalf / orphan / in-pause merges and the
// out-of-memory fallback. Every test also runs in the GIL and atomic builds,
// where only the freeing is checked.
#include <string.h>

#include "harness.h"
#include "refcount_probe.h"

#if FT_REFCOUNT_BIASED
static intptr_t
shared_word(ft_object *obj)
{
    // relaxed: the test reads after the writers' flags or joins
    return ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
}

static uint32_t
local_count(ft_object *obj)
{
    // relaxed: as above
    return ft_atomic_load_relaxed_u32(&obj->ob_ref_local);
}

static uintptr_t
owner_tid(ft_object *obj)
{
    // relaxed: as above
    return ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
}
#endif

// ------------------------------------------------------------ foreign pairs
typedef struct pair_job {
    ft_object *obj;
    int rounds;
} pair_job;

static void
foreign_pairs(void *arg)
{
    pair_job *job = arg;
    for (int i = 0; i < job->rounds; i++) {
        ft_incref(job->obj);
        ft_decref(job->obj);
    }
}

FT_TEST(foreign_pairs_leave_the_header_as_it_was)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    pair_job job = {obj, 1000};
    ft_thread *t = ft_thread_start(foreign_pairs, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    ft_thread_join(t);
#if FT_REFCOUNT_BIASED
    FT_EXPECT_EQ(shared_word(obj), 0, "foreign increments and decrements cancel");
    FT_EXPECT_EQ(local_count(obj), 1, "owner count untouched");
    FT_EXPECT_EQ(owner_tid(obj), ft_thread_current_tid(), "still owned");
    FT_EXPECT_EQ(ft_stats_get("rc_shared_incref"), 1000, "foreign increfs counted");
    FT_EXPECT_EQ(ft_stats_get("rc_shared_decref"), 1000, "foreign decrefs counted");
#endif
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "one reference left");
    FT_EXPECT_EQ(probe_freed(&freed), 0, "alive");
    ft_decref(obj);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed by the owner");
    EXPECT_BRC_ACCOUNTING();
}

// ------------------------------------------------------------ queue to an attached owner
typedef struct drop_job {
    ft_object *obj;
    int drops;
    _Atomic(int) done;
    _Atomic(int) go;
} drop_job;

// Stays registered until `go`, so its counters are read while it is live.
static void
drop_refs(void *arg)
{
    drop_job *job = arg;
    for (int i = 0; i < job->drops; i++) {
        ft_decref(job->obj);
    }
    flag_set(&job->done);
    flag_wait_attached(&job->go);
}

FT_TEST(foreign_decref_to_negative_queues_to_the_owner)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    ft_incref(obj);
    ft_incref(obj);   // three references: ours and two for the worker
    drop_job job = {.obj = obj, .drops = 2};
    ft_thread *t = ft_thread_start(drop_refs, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    FT_REQUIRE(flag_wait_attached(&job.done), "worker never finished");
#if FT_REFCOUNT_BIASED
    // count 0 -> QUEUED|0 (donated), then -1 while QUEUED (B4)
    FT_EXPECT_EQ(shared_word(obj), -1 * FT_REF_SHARED_ONE + 2, "QUEUED with count -1");
    FT_EXPECT_EQ(local_count(obj), 3, "the owner's count is untouched until it merges");
    FT_EXPECT_EQ(ft_stats_get("brc_queued"), 1, "queued once (B3)");
    FT_EXPECT_EQ(ft_stats_get("brc_merged_owner"), 0, "not merged before a safepoint");
    ft_safepoint();   // FT_EB_BRC: the owner merges its queue
    FT_EXPECT_EQ(ft_stats_get("brc_merged_owner"), 1, "merged by the owner");
    FT_EXPECT_EQ(shared_word(obj), 1 * FT_REF_SHARED_ONE + 3, "MERGED with the true count 1");
    FT_EXPECT_EQ(local_count(obj), 0, "local folded (B2)");
    FT_EXPECT_EQ(owner_tid(obj), 0, "tid zeroed (B2, H2)");
#endif
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "one reference left");
    FT_EXPECT_EQ(probe_freed(&freed), 0, "alive");
    ft_decref(obj);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed once");
    flag_set(&job.go);
    ft_thread_join(t);
    EXPECT_BRC_ACCOUNTING();
}

// ------------------------------------------------------------ owner's local reaches 0
static void
hold_then_drop(void *arg)
{
    drop_job *job = arg;
    ft_incref(job->obj);
    flag_set(&job->done);
    if (flag_wait_attached(&job->go)) {
        ft_decref(job->obj);
    }
}

FT_TEST(owner_local_zero_merges_and_the_last_foreign_decref_frees)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    drop_job job = {.obj = obj};
    ft_thread *t = ft_thread_start(hold_then_drop, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    FT_REQUIRE(flag_wait_attached(&job.done), "worker never took its reference");
    ft_decref(obj);   // local 1 -> 0 with a foreign reference alive
#if FT_REFCOUNT_BIASED
    FT_EXPECT_EQ(shared_word(obj), 1 * FT_REF_SHARED_ONE + 3, "MERGED|1");
    FT_EXPECT_EQ(owner_tid(obj), 0, "tid zeroed before MERGED shows (B2)");
    FT_EXPECT_EQ(local_count(obj), 0, "local 0");
#endif
    FT_EXPECT_EQ(probe_freed(&freed), 0, "alive while the worker holds it");
    flag_set(&job.go);
    ft_thread_join(t);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed once, by the worker");
    EXPECT_BRC_ACCOUNTING();
}

// ------------------------------------------------------------ detached owner
typedef struct behalf_job {
    ft_object *objs[16];
    _Atomic(int) start;
    _Atomic(int) done;
    _Atomic(int) *freed;
    int freed_each_time;   // worker-written, read after join
} behalf_job;

static void
drop_while_owner_detached(void *arg)
{
    behalf_job *job = arg;
    if (!flag_wait_attached(&job->start)) {
        return;
    }
    job->freed_each_time = 1;
    for (int i = 0; i < 16; i++) {
        ft_decref(job->objs[i]);
        // Merged on the owner's behalf and freed before the decref returns.
        if (probe_freed(job->freed) != i + 1) {
            job->freed_each_time = 0;
        }
    }
    flag_set(&job->done);
}

FT_TEST(detached_owner_is_merged_on_its_behalf)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    behalf_job job = {.freed = &freed};
    for (int i = 0; i < 16; i++) {
        job.objs[i] = probe_new(&freed);
        FT_REQUIRE(job.objs[i] != NULL, "probe_new");
    }
    ft_thread *t = ft_thread_start(drop_while_owner_detached, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    int freed_while_detached = -1;
    bool finished;
    FT_BEGIN_ALLOW_THREADS
    flag_set(&job.start);
    int64_t limit = probe_now_ns() + 20 * (int64_t)1000000000;
    while (!(finished = flag_is_set(&job.done)) && probe_now_ns() < limit) {
        sched_yield();
    }
    freed_while_detached = probe_freed(&freed);
    FT_END_ALLOW_THREADS
    FT_EXPECT(finished, "worker never finished");
    ft_thread_join(t);
    FT_EXPECT_EQ(freed_while_detached, 16, "all freed before the owner re-attached");
    FT_EXPECT(job.freed_each_time, "each object freed by the decref that dropped it");
#if FT_REFCOUNT_BIASED
    FT_EXPECT_EQ(ft_stats_get("brc_merged_behalf"), 16, "merged on the owner's behalf");
#endif
    EXPECT_BRC_ACCOUNTING();
}

// ------------------------------------------------------------ exited owner
typedef struct orphan_job {
    ft_object *obj;
    _Atomic(int) *freed;
    int extra_refs;
} orphan_job;

static void
create_and_exit(void *arg)
{
    orphan_job *job = arg;
    job->obj = probe_new(job->freed);
    for (int i = 0; i < job->extra_refs && job->obj != NULL; i++) {
        ft_incref(job->obj);
    }
}

FT_TEST(exited_owner_objects_merge_on_the_spot)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    orphan_job job = {.freed = &freed, .extra_refs = 1};
    ft_thread *t = ft_thread_start(create_and_exit, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    ft_thread_join(t);   // publishes job.obj
    FT_REQUIRE(job.obj != NULL, "worker could not create");
    ft_decref(job.obj);   // count 0 -> QUEUED -> owner gone -> orphan merge
#if FT_REFCOUNT_BIASED
    FT_EXPECT_EQ(ft_stats_get("brc_merged_orphan"), 1, "merged as an orphan");
    FT_EXPECT_EQ(shared_word(job.obj), 1 * FT_REF_SHARED_ONE + 3, "MERGED|1");
    FT_EXPECT_EQ(owner_tid(job.obj), 0, "tid zeroed");
#endif
    FT_EXPECT_EQ(probe_freed(&freed), 0, "one reference left");
    ft_decref(job.obj);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed once");

    orphan_job single = {.freed = &freed, .extra_refs = 0};
    t = ft_thread_start(create_and_exit, &single);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    ft_thread_join(t);
    FT_REQUIRE(single.obj != NULL, "worker could not create");
    ft_decref(single.obj);
    FT_EXPECT_EQ(probe_freed(&freed), 2, "the last reference of an orphan frees it");
    EXPECT_BRC_ACCOUNTING();
}

// ------------------------------------------------------------ merged in a pause
typedef struct pause_job {
    ft_object *obj;
    _Atomic(int) *freed;
    _Atomic(int) created;
    _Atomic(int) go;
} pause_job;

// Creates an object, hands it over and waits attached, serving only pauses,
// so what gets queued to it is merged by a stop-the-world requester.
static void
create_and_wait(void *arg)
{
    pause_job *job = arg;
    job->obj = probe_new(job->freed);
    flag_set(&job->created);
    flag_wait_attached(&job->go);
}

FT_TEST(queued_objects_are_merged_in_a_pause)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    pause_job job = {.freed = &freed};
    ft_thread *t = ft_thread_start(create_and_wait, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    FT_REQUIRE(flag_wait_attached(&job.created), "worker never created");
    FT_REQUIRE(job.obj != NULL, "worker could not create");
    ft_decref(job.obj);   // queued to the attached worker, which does not merge
#if FT_REFCOUNT_BIASED
    FT_EXPECT_EQ(probe_freed(&freed), 0, "queued, not freed");
#endif
    ft_gc_collect();      // merges every queue in the pause, frees after restart
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed by the collection");
#if FT_REFCOUNT_BIASED
    FT_EXPECT_EQ(ft_stats_get("brc_merged_in_pause"), 1, "merged in the pause");
#endif
    flag_set(&job.go);
    ft_thread_join(t);
    EXPECT_BRC_ACCOUNTING();
}

FT_TEST(queue_chunk_out_of_memory_stops_the_world)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    FT_SKIP_IF(ft_mem_fail_after(0) < 0, "fault injection is compiled out");
    _Atomic(int) freed = 0;
    pause_job job = {.freed = &freed};
    ft_thread *t = ft_thread_start(create_and_wait, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    FT_REQUIRE(flag_wait_attached(&job.created), "worker never created");
    FT_REQUIRE(job.obj != NULL, "worker could not create");
    int64_t injected = (int64_t)ft_mem_failures_injected();
    ft_mem_fail_after(1);   // the queue's first chunk
    ft_decref(job.obj);
    ft_mem_fail_after(0);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "merged with the world stopped and freed");
#if FT_REFCOUNT_BIASED
    FT_EXPECT_EQ((int64_t)ft_mem_failures_injected() - injected, 1,
                 "the chunk allocation failed");
    FT_EXPECT_EQ(ft_stats_get("brc_merged_in_pause"), 1, "fallback merge in a pause");
    FT_EXPECT(ft_stats_get("world_pauses") >= 1, "the world was stopped");
#else
    (void)injected;
#endif
    flag_set(&job.go);
    ft_thread_join(t);
    EXPECT_BRC_ACCOUNTING();
}

// ------------------------------------------------------------ readers' try-incref
FT_TEST(try_incref_refuses_only_the_dead)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    ((probe_object *)obj)->keep_memory = 1;   // inspect the header after death
    FT_EXPECT(ft_ref_try_incref(obj), "owner try-incref of a live object");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 2, "counted");
    ft_decref(obj);
    drop_job job = {.obj = obj};
    ft_thread *t = ft_thread_start(hold_then_drop, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    FT_REQUIRE(flag_wait_attached(&job.done), "worker never took its reference");
    ft_decref(obj);   // merged; the worker's reference keeps it alive
    FT_EXPECT(ft_ref_try_incref(obj), "MERGED with a positive count");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 2, "counted");
    ft_decref(obj);
    flag_set(&job.go);
    ft_thread_join(t);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed by the worker");
#if FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC
    FT_EXPECT(!ft_ref_try_incref(obj), "a dead object cannot be revived");
#endif
    ft_object_free(obj);

    ft_object *none = ft_none();
    int64_t before = ft_ref_count_approx(none);
    FT_EXPECT(ft_ref_try_incref(none), "immortal");
    ft_decref(none);
    FT_EXPECT_EQ(ft_ref_count_approx(none), before, "immortal count unchanged");
    EXPECT_BRC_ACCOUNTING();
}

// ------------------------------------------------------------ backlog of a parked owner
// The owner parks on a contended mutex: an internal detach, which does not
// merge. What was queued to it before must be merged with the next object a
// foreign thread drops while it is parked, and freed then (bounded retention).
#define PROBES 2048

typedef struct backlog_job {
    ft_mutex mutex;
    ft_object *backlog;
    ft_object *probes[PROBES];
    _Atomic(int) backlog_freed;
    _Atomic(int) probe_freed[PROBES];
    _Atomic(int) ready;
    int first_freed_probe;      // worker-written, read after join
    int backlog_freed_then;
    int earlier_probes_freed_then;
} backlog_job;

static void
drop_while_owner_parks(void *arg)
{
    backlog_job *job = arg;
    ft_mutex_lock(&job->mutex);
    ft_decref(job->backlog);   // the owner is attached: queued
    flag_set(&job->ready);
    job->first_freed_probe = -1;
    int i = 0;
    for (; i < PROBES; i++) {
        usleep(1000);
        ft_decref(job->probes[i]);
        if (probe_freed(&job->probe_freed[i]) == 1) {   // merged on the owner's behalf
            job->first_freed_probe = i;
            job->backlog_freed_then = probe_freed(&job->backlog_freed);
            job->earlier_probes_freed_then = 0;
            for (int k = 0; k < i; k++) {
                job->earlier_probes_freed_then += probe_freed(&job->probe_freed[k]);
            }
            i++;
            break;
        }
    }
    ft_mutex_unlock(&job->mutex);
    for (; i < PROBES; i++) {
        ft_decref(job->probes[i]);
    }
}

FT_TEST(parked_owner_backlog_is_merged_on_its_behalf)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    static backlog_job job;
    memset(&job, 0, sizeof(job));
    job.backlog = probe_new(&job.backlog_freed);
    FT_REQUIRE(job.backlog != NULL, "probe_new");
    for (int i = 0; i < PROBES; i++) {
        job.probes[i] = probe_new(&job.probe_freed[i]);
        FT_REQUIRE(job.probes[i] != NULL, "probe_new");
    }
    ft_thread *t = ft_thread_start(drop_while_owner_parks, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    FT_REQUIRE(flag_wait_attached(&job.ready), "worker never started");
#if FT_REFCOUNT_BIASED
    FT_EXPECT_EQ(probe_freed(&job.backlog_freed), 0, "queued to the attached owner");
#endif
    ft_mutex_lock(&job.mutex);   // parks detached until the worker unlocks
    ft_mutex_unlock(&job.mutex);
    ft_thread_join(t);
    FT_EXPECT(job.first_freed_probe >= 0, "the owner never looked detached");
    FT_EXPECT_EQ(job.backlog_freed_then, 1, "backlog not merged with the owner parked");
    FT_EXPECT_EQ(job.earlier_probes_freed_then, job.first_freed_probe,
                 "probes queued before the park not merged with it");
#if FT_REFCOUNT_BIASED
    FT_EXPECT(ft_stats_get("brc_merged_behalf") >= 2, "merged on the owner's behalf");
#endif
    int64_t wrong = probe_freed(&job.backlog_freed) != 1;
    for (int i = 0; i < PROBES; i++) {
        wrong += probe_freed(&job.probe_freed[i]) != 1;
    }
    FT_EXPECT_EQ(wrong, 0, "objects not freed exactly once");
    EXPECT_BRC_ACCOUNTING();
}
