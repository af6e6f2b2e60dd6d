// Sharded (per-thread) reference counts (refcount/shard.c): promotion by
// foreign decrefs, deltas that cross threads, deltas of exiting threads,
// demotion and id reuse, containers of sharded items, cycles with sharded
// members, and the API's errors. Every count is checked exactly right after
// a pause (the only time the header is the truth) and every object is freed
// exactly once: by the pause that found its true count 0 when it is sharded,
// by the decref that dropped it otherwise.
//
// In builds without FT_SHARDED_RC (GIL, atomic counting, FT_SHARDED_RC=OFF)
// the same scenarios check the documented "off" behaviour: nothing is ever
// sharded, a sync frees nothing and returns 0, and objects die on their last
// decref.
#include <string.h>

#include "harness.h"
#include "refcount_probe.h"


static void
note_if_off(void)
{
    static bool printed;
    if (!SHARDED && !printed) {
        printed = true;
        printf("  note: sharded counting is compiled out of this build (%s): checking that "
               "nothing is sharded and that objects die on their last decref\n",
               ft_build_info());
    }
}

// Every test: the build noted once, no automatic collection (a pause behind
// the test's back would promote or free early), the live-object baseline.
static int64_t
begin_test(int threshold)
{
    note_if_off();
    ft_gc_disable();
    ft_gc_collect();
    ft_ref_shard_set_threshold(threshold);
    return ft_live_objects();
}

// Drops the last reference of a sharded (or, off, a plain) object: freed
// by the next pause, exactly once; then nothing left behind.
static void
end_with_last_drop(ft_object *obj, _Atomic(int) *freed, int64_t baseline)
{
    ft_decref(obj);
    FT_EXPECT_EQ(probe_freed(freed), SHARDED ? 0 : 1, "freed before a pause / not at decref");
    FT_EXPECT_EQ(ft_ref_shard_sync(0), SHARDED ? 1 : 0, "objects freed by the sync");
    FT_EXPECT_EQ(probe_freed(freed), 1, "freed exactly once");
    FT_EXPECT_EQ(ft_ref_shard_live(), 0, "no sharded object left");
    ft_gc_collect();
    FT_EXPECT_EQ(probe_freed(freed), 1, "freed exactly once");
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
    ft_gc_enable();
}

#if FT_SHARDED_RC
static uint32_t
shard_id(ft_object *obj)
{
    // relaxed: read while no other thread runs (the id changes only at
    // promotion and in pauses)
    return (uint32_t)ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
}
#endif

// ------------------------------------------------------------ helpers
typedef struct objs_job {
    ft_object **objs;
    int n;
    int rounds;
} objs_job;

// Foreign incref/decref pairs: from threads one after the other they never
// contend, so they never promote (only lost CAS races count, refcount.h).
static void
foreign_pairs(void *arg)
{
    objs_job *job = arg;
    for (int r = 0; r < job->rounds; r++) {
        for (int i = 0; i < job->n; i++) {
            ft_incref(job->objs[i]);
            ft_decref(job->objs[i]);
        }
    }
}

// Runs fn(arg) on a new attached thread and joins it.
static bool
run_thread(void (*fn)(void *), void *arg)
{
    ft_thread *t = ft_thread_start(fn, arg);
    if (t == NULL) {
        return false;
    }
    return ft_thread_join(t) == 0;
}

// A candidate handed to us while we (the owner) were still attached --
// between ft_thread_start() and the detach in ft_thread_join() -- waits in
// our promote queue for our next safepoint or the next pause
// (promotion_while_the_owner_is_attached checks the pause). Serve it, as an
// interpreter loop would, so that the other tests do not depend on that race.
static void
serve_own_queue(void)
{
    ft_safepoint();
}

// Asks for promotion from another thread while main waits in the join
// (detached): the promoter holds main SUSPENDED and promotes on its behalf
// (B1), the path a contended foreign decref takes. Adaptive promotion
// (contention) has its own test: it depends on timing.
static void
foreign_promote(void *arg)
{
    objs_job *job = arg;
    for (int i = 0; i < job->n; i++) {
        if (ft_ref_shard_promote(job->objs[i]) != 0) {
            return;
        }
    }
}

static bool
make_candidates(ft_object **objs, int n)
{
    objs_job job = {objs, n, 1};
    if (!run_thread(foreign_promote, &job)) {
        return false;
    }
    serve_own_queue();
    return true;
}

// make_candidates(), then one sync; returns how many are sharded afterwards.
static int
promote_all(ft_object **objs, int n, int64_t *sync_rc)
{
    if (!make_candidates(objs, n)) {
        return -1;
    }
    *sync_rc = ft_ref_shard_sync(0);
    int sharded = 0;
    for (int i = 0; i < n; i++) {
        sharded += ft_ref_is_sharded(objs[i]) != 0;
    }
    return sharded;
}

// A new probe object promoted by promote_all(); *sync_rc gets its sync's
// result. Leaves the test (FT_REQUIRE) if either step fails.
static ft_object *
new_promoted(_Atomic(int) *freed, int64_t *sync_rc)
{
    ft_object *obj = probe_new(freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    FT_REQUIRE(promote_all(&obj, 1, sync_rc) == SHARDED, "promotion");
    return obj;
}

// An incref/decref pair by the calling thread: through its table, so the
// next full pass sees the object used and does not demote it.
static void
touch_all(ft_object **objs, int n)
{
    for (int i = 0; i < n; i++) {
        ft_incref(objs[i]);
        ft_decref(objs[i]);
    }
}

// ------------------------------------------------------------ 1. promotion
FT_TEST(promotion_then_freed_by_the_next_pause)
{
    ft_test_seed();
    int64_t baseline = begin_test(2);
    FT_EXPECT_EQ(ft_ref_shard_threshold(), SHARDED ? 2 : 0, "threshold");
    FT_EXPECT_EQ(ft_ref_shard_live(), 0, "nothing sharded at start");

    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    uint64_t promoted_before = ft_stats_get("shard_promoted");
    FT_REQUIRE(make_candidates(&obj, 1), "foreign threads");

    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "the promoting sync freed something");
    FT_EXPECT_EQ(ft_ref_is_sharded(obj), SHARDED, "sharded after the threshold and a sync");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "exact count right after the sync");
    FT_EXPECT_EQ(ft_ref_shard_live(), SHARDED, "sharded objects now");
#if FT_SHARDED_RC && FT_STATS
    FT_EXPECT_EQ(ft_stats_get("shard_promoted") - promoted_before, 1, "promoted once");
#else
    (void)promoted_before;
#endif
    FT_EXPECT_EQ(ft_live_objects(), baseline + 1, "one live object");

    // The owner's own counting goes through its table now; the count stays exact.
    for (int i = 0; i < 5; i++) {
        ft_incref(obj);
    }
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync with references held freed something");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 6, "five more references, folded by the sync");
    for (int i = 0; i < 5; i++) {
        ft_decref(obj);
    }
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync freed a referenced object");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "back to one");
    FT_EXPECT_EQ(ft_ref_is_sharded(obj), SHARDED, "still sharded (it was used)");
    FT_EXPECT_EQ(probe_freed(&freed), 0, "alive");

    ft_decref(obj);  // the last reference
    FT_EXPECT_EQ(probe_freed(&freed), SHARDED ? 0 : 1,
                 SHARDED ? "a sharded object was freed without a pause"
                         : "an unsharded object not freed by its last decref");
    FT_EXPECT_EQ(ft_ref_shard_sync(0), SHARDED ? 1 : 0, "objects freed by the sync");
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed exactly once");
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "a second sync frees nothing more");
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed exactly once");
    FT_EXPECT_EQ(ft_ref_shard_live(), 0, "no sharded object left");
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
    ft_gc_enable();
}

FT_TEST(no_promotion_without_contention_or_when_off)
{
    note_if_off();
    ft_gc_disable();
    _Atomic(int) freed[4] = {0, 0, 0, 0};
    ft_object *objs[4];
    for (int i = 0; i < 4; i++) {
        objs[i] = probe_new(&freed[i]);
        FT_REQUIRE(objs[i] != NULL, "probe_new");
    }
    // objs[0]: ten foreign threads one after the other, threshold 1: many
    // foreign decrefs from many threads, none contended.
    ft_ref_shard_set_threshold(1);
    objs_job job = {&objs[0], 1, 20};
    for (int k = 0; k < 10; k++) {
        FT_REQUIRE(run_thread(foreign_pairs, &job), "foreign thread");
    }
    // objs[1]: one foreign thread, many decrefs: uncontended, never promoted.
    job = (objs_job){&objs[1], 1, 2000};
    FT_REQUIRE(run_thread(foreign_pairs, &job), "foreign thread");
    // objs[2]: promotion off: even a request is a no-op.
    ft_ref_shard_set_threshold(0);
    FT_EXPECT_EQ(ft_ref_shard_promote(objs[2]), 0, "promote with promotion off");
    job = (objs_job){&objs[2], 1, 1};
    FT_REQUIRE(run_thread(foreign_promote, &job), "foreign thread");
    // objs[3], the control: a request with threshold 1.
    ft_ref_shard_set_threshold(1);
    job = (objs_job){&objs[3], 1, 1};
    FT_REQUIRE(run_thread(foreign_promote, &job), "foreign thread");
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync");
    FT_EXPECT(!ft_ref_is_sharded(objs[0]), "promoted without contention");
    FT_EXPECT(!ft_ref_is_sharded(objs[1]), "promoted by a single foreign thread");
    FT_EXPECT(!ft_ref_is_sharded(objs[2]), "promoted with promotion off");
    FT_EXPECT_EQ(ft_ref_is_sharded(objs[3]), SHARDED, "the control was not promoted");
    FT_EXPECT_EQ(ft_ref_shard_live(), SHARDED, "sharded objects");
    for (int i = 0; i < 4; i++) {
        FT_EXPECT_EQ(ft_ref_count_approx(objs[i]), 1, "exact count");
    }
    for (int i = 0; i < 3; i++) {
        ft_decref(objs[i]);
        FT_EXPECT_EQ(probe_freed(&freed[i]), 1, "an unsharded object dies on its last decref");
    }
    ft_decref(objs[3]);
    FT_EXPECT_EQ(ft_ref_shard_sync(0), SHARDED, "the control, freed by the sync");
    FT_EXPECT_EQ(probe_freed(&freed[3]), 1, "freed exactly once");
    ft_gc_enable();
}

// Adaptive promotion: two foreign threads hammer one object at the same
// time; their decrefs' CASes lose races, and the object is promoted. Timing
// dependent by nature, so bounded: up to 20 s of pairs (typically 10-300k
// pairs, milliseconds), and asserted only with two CPUs online.
typedef struct hammer_job {
    ft_object *obj;
    _Atomic(int) *stop;
    int64_t pairs;
} hammer_job;

static void
hammer(void *arg)
{
    hammer_job *job = arg;
    // pairs: release store in contention_promotes() (a flag only)
    while (!ft_atomic_load_acquire_int(job->stop)) {
        for (int i = 0; i < 1000; i++) {
            ft_incref(job->obj);
            ft_decref(job->obj);
        }
        job->pairs += 1000;
        ft_safepoint();
    }
}

FT_TEST(contention_promotes)
{
    int64_t baseline = begin_test(1);
    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    _Atomic(int) stop = 0;
    hammer_job jobs[2] = {{obj, &stop, 0}, {obj, &stop, 0}};
    ft_thread *t[2];
    for (int i = 0; i < 2; i++) {
        t[i] = ft_thread_start(hammer, &jobs[i]);
        FT_REQUIRE(t[i] != NULL, "ft_thread_start");
    }
    int64_t deadline = probe_now_ns() + 20 * (int64_t)1000000000;
    bool promoted = false;
    FT_BEGIN_ALLOW_THREADS
    while (!promoted && probe_now_ns() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        promoted = ft_ref_is_sharded(obj) != 0;
    }
    // pairs: acquire loads in hammer()
    ft_atomic_store_release_int(&stop, 1);
    FT_END_ALLOW_THREADS
    for (int i = 0; i < 2; i++) {
        FT_EXPECT_EQ(ft_thread_join(t[i]), 0, "join");
    }
    FT_EXPECT(ft_ref_shard_sync(0) >= 0, "sync");
    promoted = ft_ref_is_sharded(obj) != 0;
    printf("  contention: %s after %lld + %lld pairs\n", promoted ? "promoted" : "not promoted",
           (long long)jobs[0].pairs, (long long)jobs[1].pairs);
    // TSan runs atomics on a shadow lock, so lost CAS races are rare there
    // (one run needed 6 * 10^6 pairs): it only reports.
    if (SHARDED && probe_parallel_cpus() && !FT_TSAN) {
        FT_EXPECT(promoted, "two threads hammering one object did not promote it");
    } else if (!SHARDED) {
        FT_EXPECT(!promoted, "promoted in a build without sharded counts");
    }
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "exact count after the sync");
    ft_decref(obj);
    ft_gc_collect();
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed exactly once");
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
    ft_gc_enable();
}

// The decref that reaches the threshold comes from a thread that stays
// alive while the owner (main) is attached and not at a safepoint: the
// candidate cannot be promoted on the owner's behalf then, and the sync must
// still leave it sharded ("promotes the pending candidates").
typedef struct attached_job {
    ft_object *obj;
    _Atomic(int) done;
    _Atomic(int) go;
} attached_job;

static void
last_pair_then_wait(void *arg)
{
    attached_job *job = arg;
    ft_ref_shard_promote(job->obj);  // main is attached: queued to it
    flag_set(&job->done);
    flag_wait_attached(&job->go);
}

FT_TEST(promotion_while_the_owner_is_attached)
{
    note_if_off();
    ft_gc_disable();
    ft_ref_shard_set_threshold(2);
    _Atomic(int) freed = 0;
    ft_object *obj = probe_new(&freed);
    FT_REQUIRE(obj != NULL, "probe_new");
    attached_job job = {.obj = obj};
    ft_thread *t = ft_thread_start(last_pair_then_wait, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    // Attached, serving only stop-the-world requests (not merges).
    FT_REQUIRE(flag_wait_attached(&job.done), "worker never finished its pair");
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync");
    FT_EXPECT_EQ(ft_ref_is_sharded(obj), SHARDED, "not sharded after the sync");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "exact count after the sync");
    flag_set(&job.go);
    FT_EXPECT_EQ(ft_thread_join(t), 0, "join");
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync");
    FT_EXPECT_EQ(ft_ref_is_sharded(obj), SHARDED, "not sharded after the join and a sync");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "exact count after the sync");
    ft_decref(obj);
    ft_gc_collect();
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed exactly once");
    FT_EXPECT_EQ(ft_ref_shard_live(), 0, "no sharded object left");
    ft_gc_enable();
}

// ------------------------------------------------------------ 2. deltas crossing threads
typedef struct delta_job {
    ft_object *obj;
    int n;
    _Atomic(int) done;
    _Atomic(int) go;
    int wait;  // stay registered (attached) until `go`
} delta_job;

static void
incref_n(void *arg)
{
    delta_job *job = arg;
    for (int i = 0; i < job->n; i++) {
        ft_incref(job->obj);  // stored nowhere: the references live in our table
    }
    flag_set(&job->done);
    if (job->wait) {
        flag_wait_attached(&job->go);  // serves pauses, keeps our deltas
    }
}

static void
decref_n(void *arg)
{
    delta_job *job = arg;
    for (int i = 0; i < job->n; i++) {
        ft_decref(job->obj);
    }
}

FT_TEST(deltas_cross_threads)
{
    int64_t baseline = begin_test(2);
    _Atomic(int) freed = 0;
    int64_t rc = -2;
    ft_object *obj = new_promoted(&freed, &rc);
    FT_EXPECT_EQ(rc, 0, "promoting sync");
    enum { N = 100 };

    // Phase 1: A holds N references in its table while B drops N: B's decrefs
    // find no delta of their own and take the header far below zero.
    delta_job a = {.obj = obj, .n = N, .wait = 1};
    ft_thread *ta = ft_thread_start(incref_n, &a);
    FT_REQUIRE(ta != NULL, "ft_thread_start");
    FT_REQUIRE(flag_wait_detached(&a.done), "A never finished its increfs");
    delta_job b = {.obj = obj, .n = N};
    FT_EXPECT(run_thread(decref_n, &b), "thread B");
    FT_EXPECT_EQ(probe_freed(&freed), 0, "freed while A's references were alive");
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync freed an object A holds references for");
    FT_EXPECT_EQ(probe_freed(&freed), 0, "freed while A's references were alive");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "exact count after the sync (A's N - B's N + 1)");
    FT_EXPECT_EQ(ft_ref_is_sharded(obj), SHARDED, "still sharded (A used it)");
    flag_set(&a.go);
    FT_EXPECT_EQ(ft_thread_join(ta), 0, "join A");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "A exited with no delta left");

    // Phase 2: A' takes N and exits first (its deltas fold into the header);
    // B' then drops them.
    delta_job a2 = {.obj = obj, .n = N};
    FT_EXPECT(run_thread(incref_n, &a2), "thread A'");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1 + N, "exited thread's deltas folded at exit");
    delta_job b2 = {.obj = obj, .n = N};
    FT_EXPECT(run_thread(decref_n, &b2), "thread B'");
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync freed a referenced object");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "exact count");
    FT_EXPECT_EQ(probe_freed(&freed), 0, "alive");
    FT_EXPECT_EQ(ft_ref_is_sharded(obj), SHARDED, "still sharded before the last drop");

    end_with_last_drop(obj, &freed, baseline);
}

// ------------------------------------------------------------ 3. exit with deltas
FT_TEST(thread_exit_folds_its_deltas)
{
    int64_t baseline = begin_test(1);
    _Atomic(int) freed = 0;
    int64_t rc = -2;
    ft_object *obj = new_promoted(&freed, &rc);
    enum { K = 37 };
    delta_job job = {.obj = obj, .n = K};
    FT_REQUIRE(run_thread(incref_n, &job), "thread");
    // S6: the header holds the exited thread's references at once.
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1 + K, "header after the exit fold");
    touch_all(&obj, 1);  // keep it sharded through the next full pass
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync freed a referenced object");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1 + K, "exact count after the sync");
    FT_EXPECT_EQ(ft_ref_is_sharded(obj), SHARDED, "still sharded");
    for (int i = 0; i < K; i++) {
        ft_decref(obj);  // the exited thread's references, dropped by main
    }
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "those decrefs went to the header");
    FT_EXPECT_EQ(probe_freed(&freed), 0, "alive");
    end_with_last_drop(obj, &freed, baseline);
}

// ------------------------------------------------------------ 4. demotion, id reuse
FT_TEST(demote_all_returns_to_normal_counting)
{
    int64_t baseline = begin_test(2);
    _Atomic(int) freed = 0;
    int64_t rc = -2;
    ft_object *obj = new_promoted(&freed, &rc);
    ft_incref(obj);
    ft_incref(obj);  // three references, two of them in main's table
    uint64_t demoted_before = ft_stats_get("shard_demoted");
    FT_EXPECT_EQ(ft_ref_shard_sync(FT_SHARD_SYNC_DEMOTE_ALL), 0, "demoting sync freed something");
    FT_EXPECT(!ft_ref_is_sharded(obj), "sharded after DEMOTE_ALL");
    FT_EXPECT_EQ(ft_ref_shard_live(), 0, "sharded objects after DEMOTE_ALL");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 3, "exact count after demotion");
#if FT_SHARDED_RC && FT_STATS
    FT_EXPECT_EQ(ft_stats_get("shard_demoted") - demoted_before, 1, "demoted once");
#else
    (void)demoted_before;
#endif
    // Plain counting again: no promotion now, so every count below is exact
    // without a pause and the last decref frees on the spot.
    ft_ref_shard_set_threshold(0);
    ft_decref(obj);
    ft_decref(obj);  // main's table deltas were folded: these go to the header
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "exact count");
    objs_job job = {&obj, 1, 50};
    FT_REQUIRE(run_thread(foreign_pairs, &job), "foreign thread");
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 1, "foreign pairs cancel");
    for (int i = 0; i < 10; i++) {
        ft_incref(obj);
    }
    FT_EXPECT_EQ(ft_ref_count_approx(obj), 11, "exact count");
    for (int i = 0; i < 10; i++) {
        ft_decref(obj);
    }
    FT_EXPECT_EQ(probe_freed(&freed), 0, "alive");
    ft_decref(obj);
    FT_EXPECT_EQ(probe_freed(&freed), 1, "a demoted object dies on its last decref");
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "nothing left for a sync to free");
    FT_EXPECT_EQ(probe_freed(&freed), 1, "freed exactly once");
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
    ft_gc_enable();
}

FT_TEST(idle_objects_are_demoted_after_two_full_passes)
{
    ft_gc_disable();
    ft_ref_shard_set_threshold(1);
    _Atomic(int) freed[2] = {0, 0};
    ft_object *objs[2] = {probe_new(&freed[0]), probe_new(&freed[1])};
    FT_REQUIRE(objs[0] != NULL && objs[1] != NULL, "probe_new");
    int64_t rc = -2;
    FT_REQUIRE(promote_all(objs, 2, &rc) == 2 * SHARDED, "promotion");  // full pass 1
    touch_all(&objs[0], 1);                         // objs[0] is used, objs[1] is not
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync");  // full pass 2
    FT_EXPECT_EQ(ft_ref_is_sharded(objs[0]), SHARDED, "a used object was demoted");
    FT_EXPECT(!ft_ref_is_sharded(objs[1]), "an object idle for two full passes stays sharded");
    FT_EXPECT_EQ(ft_ref_shard_live(), SHARDED, "sharded now");
    for (int i = 0; i < 2; i++) {
        FT_EXPECT_EQ(ft_ref_count_approx(objs[i]), 1, "exact count");
    }
    ft_decref(objs[1]);
    FT_EXPECT_EQ(probe_freed(&freed[1]), 1, "a demoted object dies on its last decref");
    ft_decref(objs[0]);
    FT_EXPECT_EQ(ft_ref_shard_sync(0), SHARDED, "freed by the sync");
    FT_EXPECT_EQ(probe_freed(&freed[0]), 1, "freed exactly once");
    FT_EXPECT_EQ(probe_freed(&freed[1]), 1, "freed exactly once");
    ft_gc_enable();
}

#define GEN 24  // objects per generation (< SUSPECT_BATCH: no automatic pause)
#define ROUNDS 12

FT_TEST(ids_are_reused)
{
    int64_t baseline = begin_test(2);
    static _Atomic(int) freed[ROUNDS][GEN];
    static ft_object *objs[ROUNDS][GEN];
    memset(freed, 0, sizeof(freed));
    uint32_t max_id = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < GEN; i++) {
            objs[r][i] = probe_new(&freed[r][i]);
            FT_REQUIRE(objs[r][i] != NULL, "probe_new");
        }
        FT_REQUIRE(make_candidates(objs[r], GEN), "foreign threads");
        if (r > 0) {
            touch_all(objs[r - 1], GEN);  // the previous generation stays sharded
        }
        FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "promoting sync freed something");
        int sharded = 0;
        for (int g = r > 0 ? r - 1 : 0; g <= r; g++) {
            for (int i = 0; i < GEN; i++) {
                sharded += ft_ref_is_sharded(objs[g][i]) != 0;
                FT_EXPECT_EQ(ft_ref_count_approx(objs[g][i]), 1, "exact count");
#if FT_SHARDED_RC
                if (shard_id(objs[g][i]) > max_id) {
                    max_id = shard_id(objs[g][i]);
                }
#endif
            }
        }
        int expect_live = SHARDED * GEN * (r > 0 ? 2 : 1);
        FT_EXPECT_EQ(sharded, expect_live, "sharded objects of two generations");
        FT_EXPECT_EQ(ft_ref_shard_live(), expect_live, "live equals what is sharded now");
        if (r > 0) {
            for (int i = 0; i < GEN; i++) {
                ft_decref(objs[r - 1][i]);  // the previous generation dies
            }
            int64_t early = 0;
            for (int i = 0; i < GEN; i++) {
                early += probe_freed(&freed[r - 1][i]);
            }
            FT_EXPECT_EQ(early, SHARDED ? 0 : GEN, "freed before a pause / not at decref");
            touch_all(objs[r], GEN);
            FT_EXPECT_EQ(ft_ref_shard_sync(0), SHARDED * GEN,
                         "the dead generation, freed by the sync");
            FT_EXPECT_EQ(ft_ref_shard_live(), SHARDED * GEN, "live after freeing a generation");
        }
    }
    FT_EXPECT(max_id <= 2 * GEN, "ids not reused: id %u with at most %d sharded at once",
              (unsigned)max_id, 2 * GEN);
#if FT_SHARDED_RC
    FT_EXPECT(max_id >= 1, "no id seen");
    printf("  highest id %u after %d generations of %d\n", (unsigned)max_id, ROUNDS, GEN);
#endif
    for (int i = 0; i < GEN; i++) {
        ft_decref(objs[ROUNDS - 1][i]);
    }
    FT_EXPECT_EQ(ft_ref_shard_sync(0), SHARDED * GEN, "the last generation, freed by the sync");
    int64_t wrong = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < GEN; i++) {
            wrong += probe_freed(&freed[r][i]) != 1;
        }
    }
    FT_EXPECT_EQ(wrong, 0, "objects not freed exactly once");
    FT_EXPECT_EQ(ft_ref_shard_live(), 0, "no sharded object left");
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
    ft_gc_enable();
}

// ------------------------------------------------------------ 5. containers
#define ITEMS 8

typedef struct container_job {
    ft_object *list;
    ft_object *dict;
    ft_object **keys;        // borrowed: main holds them
    ft_object **list_items;  // what the list holds, index by index
    ft_object **dict_items;  // what the dict maps keys[i] to
    int rounds;
    ft_object *got_list[ITEMS];  // new references the reader keeps (read after join)
    ft_object *got_dict[ITEMS];
    int wrong;  // read after join
} container_job;

// Foreign reads through the containers' read paths, each reference dropped:
// the decrefs make the items candidates.
static void
read_and_drop(void *arg)
{
    container_job *job = arg;
    for (int r = 0; r < job->rounds; r++) {
        for (int i = 0; i < ITEMS; i++) {
            ft_object *x = ft_list_get_ref(job->list, i);
            job->wrong += x != job->list_items[i];
            ft_xdecref(x);
            ft_object *y = NULL;
            job->wrong += ft_dict_get_ref(job->dict, job->keys[i], &y) != 1;
            job->wrong += y != job->dict_items[i];
            ft_xdecref(y);
        }
    }
}

// Reads every item again and keeps the references (they are in this
// thread's table when it exits).
static void
read_and_keep(void *arg)
{
    container_job *job = arg;
    for (int r = 0; r < 2; r++) {  // the second pass is lock-free everywhere
        for (int i = 0; i < ITEMS; i++) {
            ft_xdecref(job->got_list[i]);
            ft_xdecref(job->got_dict[i]);
            job->got_list[i] = ft_list_get_ref(job->list, i);
            job->got_dict[i] = NULL;
            job->wrong += ft_dict_get_ref(job->dict, job->keys[i], &job->got_dict[i]) != 1;
        }
    }
    for (int i = 0; i < ITEMS; i++) {
        job->wrong += job->got_list[i] != job->list_items[i];
        job->wrong += job->got_dict[i] != job->dict_items[i];
    }
}

FT_TEST(containers_of_sharded_items)
{
    int64_t baseline = begin_test(2);
    _Atomic(int) freed_a[ITEMS], freed_b[ITEMS];
    ft_object *a[ITEMS], *b[ITEMS], *keys[ITEMS];
    ft_object *list = ft_list_new();
    ft_object *dict = ft_dict_new();
    FT_REQUIRE(list != NULL && dict != NULL, "containers");
    for (int i = 0; i < ITEMS; i++) {
        atomic_init(&freed_a[i], 0);
        atomic_init(&freed_b[i], 0);
        a[i] = probe_new(&freed_a[i]);
        b[i] = probe_new(&freed_b[i]);
        keys[i] = ft_int_new(1000000 + i);
        FT_REQUIRE(a[i] != NULL && b[i] != NULL && keys[i] != NULL, "new");
        FT_REQUIRE(ft_list_append(list, a[i]) == 0, "append");
        FT_REQUIRE(ft_dict_set(dict, keys[i], b[i]) == 0, "dict set");
        ft_decref(a[i]);  // the containers hold the only references
        ft_decref(b[i]);
    }
    // Three readers in turn (uncontended: no promotion by itself), then
    // promotion on request from another thread.
    for (int k = 0; k < 3; k++) {
        container_job job = {.list = list,
                             .dict = dict,
                             .keys = keys,
                             .list_items = a,
                             .dict_items = b,
                             .rounds = 1};
        FT_REQUIRE(run_thread(read_and_drop, &job), "reader");
        FT_EXPECT_EQ(job.wrong, 0, "foreign reads returned the wrong items");
    }
    FT_REQUIRE(make_candidates(a, ITEMS) && make_candidates(b, ITEMS), "promoter");
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "promoting sync freed something");
    for (int i = 0; i < ITEMS; i++) {
        FT_EXPECT_EQ(ft_ref_is_sharded(a[i]), SHARDED, "list item promoted");
        FT_EXPECT_EQ(ft_ref_is_sharded(b[i]), SHARDED, "dict value promoted");
        FT_EXPECT_EQ(ft_ref_count_approx(a[i]), 1, "the list's reference");
        FT_EXPECT_EQ(ft_ref_count_approx(b[i]), 1, "the dict's reference");
    }
    FT_EXPECT_EQ(ft_ref_shard_live(), SHARDED * 2 * ITEMS, "sharded items");

    // The owner's lock-free read of a sharded item: a new reference.
    uint64_t optimistic = ft_stats_get("read_optimistic");
    ft_object *x = ft_list_get_ref(list, 3);
    ft_object *y = NULL;
    FT_EXPECT_EQ(ft_dict_get_ref(dict, keys[5], &y), 1, "dict get");
    FT_EXPECT(x == a[3] && y == b[5], "read the wrong items");
#if FT_OPTIMISTIC_READS && FT_STATS
    FT_EXPECT_EQ(ft_stats_get("read_optimistic") - optimistic, 2, "reads were not lock-free");
#else
    (void)optimistic;
#endif
    touch_all(a, ITEMS);  // every item stays sharded through the next full pass
    touch_all(b, ITEMS);
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync freed something");
    FT_EXPECT_EQ(ft_ref_count_approx(a[3]), 2, "the read's reference counted");
    FT_EXPECT_EQ(ft_ref_count_approx(b[5]), 2, "the read's reference counted");
    ft_xdecref(x);
    ft_xdecref(y);

    // A foreign reader keeps new references and exits with them.
    container_job keep = {
        .list = list, .dict = dict, .keys = keys, .list_items = a, .dict_items = b};
    FT_REQUIRE(run_thread(read_and_keep, &keep), "keeping reader");
    FT_EXPECT_EQ(keep.wrong, 0, "foreign reads returned the wrong items");
    touch_all(a, ITEMS);
    touch_all(b, ITEMS);
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "sync freed something");
    for (int i = 0; i < ITEMS; i++) {
        FT_EXPECT_EQ(ft_ref_count_approx(a[i]), 2, "container + reader's reference");
        FT_EXPECT_EQ(ft_ref_count_approx(b[i]), 2, "container + reader's reference");
        ft_xdecref(keep.got_list[i]);
        ft_xdecref(keep.got_dict[i]);
    }
    for (int i = 0; i < ITEMS; i++) {
        FT_EXPECT_EQ(ft_ref_is_sharded(a[i]), SHARDED, "list item still sharded");
        FT_EXPECT_EQ(ft_ref_count_approx(a[i]), 1, "the list's reference");
    }

    // The list dies: its items die at the next pause, exactly once.
    ft_decref(list);
    int64_t early = 0;
    for (int i = 0; i < ITEMS; i++) {
        early += probe_freed(&freed_a[i]);
    }
    FT_EXPECT_EQ(early, SHARDED ? 0 : ITEMS, "freed before a pause / not at decref");
    touch_all(b, ITEMS);  // the dict's items stay sharded through this pass
    FT_EXPECT_EQ(ft_ref_shard_sync(0), SHARDED * ITEMS, "list items freed by the sync");
    for (int i = 0; i < ITEMS; i++) {
        FT_EXPECT_EQ(probe_freed(&freed_a[i]), 1, "list item freed exactly once");
        FT_EXPECT_EQ(probe_freed(&freed_b[i]), 0, "a dict value died with the list");
        FT_EXPECT_EQ(ft_ref_is_sharded(b[i]), SHARDED, "dict value still sharded");
    }

    // The dict dies: its values die in the collection's settling pauses.
    ft_decref(dict);
    early = 0;
    for (int i = 0; i < ITEMS; i++) {
        early += probe_freed(&freed_b[i]);
    }
    FT_EXPECT_EQ(early, SHARDED ? 0 : ITEMS, "freed before a pause / not at decref");
    ft_gc_collect();
    for (int i = 0; i < ITEMS; i++) {
        FT_EXPECT_EQ(probe_freed(&freed_b[i]), 1,
                     "dict value freed exactly once by the collection");
        ft_decref(keys[i]);
    }
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "nothing left to free");
    FT_EXPECT_EQ(ft_ref_shard_live(), 0, "no sharded object left");
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
    ft_gc_enable();
}

// ------------------------------------------------------------ 6. cycles
FT_TEST(collection_frees_a_cycle_with_sharded_members)
{
    int64_t baseline = begin_test(2);
    _Atomic(int) freed_p = 0, freed_q = 0;

    // Garbage to be: l1 <-> l2, l1 also holds probe p; l1 and p are sharded.
    ft_object *l1 = ft_list_new();
    ft_object *l2 = ft_list_new();
    ft_object *p = probe_new(&freed_p);
    // Reachable: l3 <-> l4 held by main, l3 holds probe q; l3 and q sharded.
    ft_object *l3 = ft_list_new();
    ft_object *l4 = ft_list_new();
    ft_object *q = probe_new(&freed_q);
    FT_REQUIRE(l1 && l2 && p && l3 && l4 && q, "new");
    FT_REQUIRE(ft_list_append(l1, l2) == 0 && ft_list_append(l2, l1) == 0 &&
                   ft_list_append(l1, p) == 0,
               "append");
    FT_REQUIRE(ft_list_append(l3, l4) == 0 && ft_list_append(l4, l3) == 0 &&
                   ft_list_append(l3, q) == 0,
               "append");
    ft_object *hot[4] = {l1, p, l3, q};
    int64_t rc = -2;
    FT_REQUIRE(promote_all(hot, 4, &rc) == 4 * SHARDED, "promotion");
    FT_EXPECT_EQ(rc, 0, "promoting sync");
    FT_EXPECT_EQ(ft_ref_count_approx(l1), 2, "main + l2");
    FT_EXPECT_EQ(ft_ref_count_approx(p), 2, "main + l1");

    // Used (through main's table) since the promoting pass: the next two full
    // passes (the sync below, the collection) do not demote them.
    touch_all(hot, 4);
    ft_decref(l1);
    ft_decref(l2);
    ft_decref(p);   // only the cycle holds l1, l2 and p now
    ft_decref(l4);  // main holds l3, which holds l4 and q
    ft_decref(q);
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "a sync freed part of a cycle");
    FT_EXPECT_EQ(probe_freed(&freed_p), 0, "an object held by a cycle died");
    FT_EXPECT_EQ(ft_ref_is_sharded(l1), SHARDED, "cycle member sharded before the collection");
    FT_EXPECT_EQ(ft_ref_is_sharded(p), SHARDED, "cycle's probe sharded before the collection");
    uint64_t shard_freed = ft_stats_get("shard_freed");
    int64_t collected = ft_gc_collect();
    FT_EXPECT_EQ(collected, 2, "unreachable tracked objects (l1, l2)");
    FT_EXPECT_EQ(probe_freed(&freed_p), 1, "the cycle's probe freed exactly once");
    FT_EXPECT_EQ(probe_freed(&freed_q), 0, "a reachable object was freed");
#if FT_SHARDED_RC && FT_STATS
    FT_EXPECT_EQ(ft_stats_get("shard_freed") - shard_freed, 2, "l1 and p freed by shard pauses");
#else
    (void)shard_freed;
#endif
    FT_EXPECT_EQ(ft_live_objects(), baseline + 3, "the reachable cycle (l3, l4, q) only");
    FT_EXPECT_EQ(ft_ref_count_approx(l3), 2, "reachable cycle member: main + l4");
    FT_EXPECT_EQ(ft_ref_count_approx(q), 1, "reachable probe: l3");
    FT_EXPECT_EQ(ft_ref_is_sharded(l3), SHARDED, "reachable member still sharded");
    FT_EXPECT_EQ(ft_ref_shard_live(), 2 * SHARDED, "l3 and q sharded");
    FT_EXPECT_EQ(ft_gc_collect(), 0, "a second collection finds nothing");

    ft_decref(l3);
    FT_EXPECT_EQ(ft_gc_collect(), 2, "l3 and l4 collected");
    FT_EXPECT_EQ(probe_freed(&freed_q), 1, "q freed exactly once");
    FT_EXPECT_EQ(probe_freed(&freed_p), 1, "p freed exactly once");
    FT_EXPECT_EQ(ft_ref_shard_live(), 0, "no sharded object left");
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
    ft_gc_enable();
}

// ------------------------------------------------------------ 7. errors
static void
sync_detached(void *arg)
{
    int64_t *out = arg;
    int64_t rc = 0;
    int kind = 0;
    FT_BEGIN_ALLOW_THREADS
    rc = ft_ref_shard_sync(0);
    kind = ft_err_occurred();
    ft_err_clear();
    FT_END_ALLOW_THREADS
    out[0] = rc;
    out[1] = kind;
}

FT_TEST(api_errors)
{
    note_if_off();
    ft_ref_shard_set_threshold(5);
    FT_EXPECT_EQ(ft_err_occurred(), 0, "a valid threshold set an error");
    int before = ft_ref_shard_threshold();
    FT_EXPECT_EQ(before, SHARDED ? 5 : 0, "threshold");
    int bad[] = {16, -1, 1000, -2147483647 - 1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ft_err_clear();
        ft_ref_shard_set_threshold(bad[i]);
        FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_VALUE, "bad threshold: no ValueError");
        FT_EXPECT_EQ(ft_ref_shard_threshold(), before, "a bad threshold changed the setting");
    }
    ft_err_clear();
    ft_ref_shard_set_threshold(7);
    FT_EXPECT_EQ(ft_err_occurred(), 0, "7 is valid");
    FT_EXPECT_EQ(ft_ref_shard_threshold(), SHARDED ? 7 : 0, "threshold 7");
    ft_ref_shard_set_threshold(0);
    FT_EXPECT_EQ(ft_err_occurred(), 0, "0 is valid");
    FT_EXPECT_EQ(ft_ref_shard_threshold(), 0, "threshold 0");

    int bad_flags[] = {0x100, 2, 3, -1};
    for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
        ft_err_clear();
        FT_EXPECT_EQ(ft_ref_shard_sync(bad_flags[i]), -1, "bad flags accepted");
        FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_VALUE, "bad flags: no ValueError");
    }
    ft_err_clear();
    FT_EXPECT_EQ(ft_ref_shard_sync(0), 0, "a sync with nothing sharded");
    FT_EXPECT_EQ(ft_ref_shard_sync(FT_SHARD_SYNC_DEMOTE_ALL), 0, "DEMOTE_ALL with nothing");
    FT_EXPECT_EQ(ft_err_occurred(), 0, "a good sync set an error");
    FT_EXPECT_EQ(ft_ref_is_sharded(NULL), 0, "NULL is not sharded");

    int64_t out[2] = {0, 0};
    FT_REQUIRE(run_thread(sync_detached, out), "thread");
    FT_EXPECT_EQ(out[0], -1, "a detached sync succeeded");
    FT_EXPECT_EQ(out[1], FT_ERR_RUNTIME, "a detached sync: no RuntimeError");
}
