// stress_locking_cs_pairs: 4 threads take random pairs of 8 objects with
// ft_cs_begin2 in both argument orders, nest sections, and detach inside
// them (DESIGN.md §4.5). Oracles: no deadlock (a watchdog turns a hang into
// a failure), per-object counters exact, and no two threads ever inside a
// section window on one object at once.
//
// A window is a stretch inside a section with no call that can block or
// detach, so it is exclusive in both builds (a lock in the FT build, the GIL
// in the GIL build); after a nested section or a detach the outer section
// may have been suspended, so each window re-marks its objects.
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "harness.h"

enum { THREADS = 4, OBJECTS = 8 };
#define WATCHDOG_S 240

typedef struct shared_state {
    ft_object *objects[OBJECTS];  // immutable while workers run
    int64_t count[OBJECTS];       // guarded by: the object's section
    _Atomic(int) owner[OBJECTS];  // atomic: window markers (relaxed)
    int64_t iterations;           // immutable while workers run
} shared_state;

typedef struct worker_state {
    shared_state *shared;
    int index;
    uint64_t rng;                 // owner only
    int64_t increments[OBJECTS];  // owner only; read after join
    int64_t violations;           // owner only; read after join
    int64_t nested, detached;     // owner only; read after join
} worker_state;

static shared_state shared;

// Marks, counts and unmarks one object; a marker already set means another
// thread is inside a window on it.
static void
window_one(worker_state *w, int obj)
{
    // relaxed: the section orders the counter; the marker only detects overlap
    int prev = atomic_exchange_explicit(&shared.owner[obj], w->index + 1, memory_order_relaxed);
    w->violations += prev != 0;
    shared.count[obj]++;
    w->increments[obj]++;
    // relaxed: as above
    prev = atomic_exchange_explicit(&shared.owner[obj], 0, memory_order_relaxed);
    w->violations += prev != w->index + 1;
}

static void
window(worker_state *w, int a, int b)
{
    window_one(w, a);
    if (b != a) {
        window_one(w, b);
    }
}

static int
pick(worker_state *w)
{
    return (int)(ft_test_rand(&w->rng) % OBJECTS);
}

static void
maybe_detach(worker_state *w, int a, int b)
{
    if (ft_test_rand(&w->rng) % 8 == 0) {
        w->detached++;
        FT_BEGIN_ALLOW_THREADS
        sched_yield();
        FT_END_ALLOW_THREADS
        window(w, a, b);  // the section was suspended: count again
    }
}

// A section on (a, b), argument order chosen at random, through the
// function or the macro.
static void
pair_section(worker_state *w, int a, int b, int depth)
{
    ft_object *x = shared.objects[a];
    ft_object *y = shared.objects[b];
    uint64_t r = ft_test_rand(&w->rng);
    ft_cs cs;
    if (r & 1) {
        ft_cs_begin2(&cs, x, y);
    } else {
        ft_cs_begin2(&cs, y, x);
    }
    window(w, a, b);
    maybe_detach(w, a, b);
    if (depth == 0 && (r & 6) == 0) {
        w->nested++;
        int c = pick(w);
        int d = pick(w);
        if (r & 8) {
            FT_CS_BEGIN(shared.objects[c]);
            window(w, c, c);
            maybe_detach(w, c, c);
            FT_CS_END();
        } else {
            pair_section(w, c, d, depth + 1);
        }
        window(w, a, b);  // resumed after the nested section
    }
    ft_cs_end(&cs);
}

static void
worker(void *arg)
{
    worker_state *w = arg;
    for (int64_t i = 0; i < shared.iterations; i++) {
        pair_section(w, pick(w), pick(w), 0);
        ft_safepoint();
    }
}

// ------------------------------------------------------------ watchdog
static pthread_mutex_t watchdog_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watchdog_cond = PTHREAD_COND_INITIALIZER;
static bool watchdog_done;  // guarded by: watchdog_mu

static void *
watchdog(void *arg)
{
    (void)arg;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WATCHDOG_S;
    pthread_mutex_lock(&watchdog_mu);
    while (!watchdog_done) {
        if (pthread_cond_timedwait(&watchdog_cond, &watchdog_mu, &deadline) != 0) {
            break;
        }
    }
    bool done = watchdog_done;
    pthread_mutex_unlock(&watchdog_mu);
    if (!done) {
        uint64_t seed = ft_test_seed();
        fprintf(stderr,
                "stress_locking_cs_pairs: no progress after %d s: deadlock? "
                "(rerun: FT_SEED=0x%" PRIx64 ")\n",
                WATCHDOG_S, seed);
        abort();
    }
    return NULL;
}

static void
stop_watchdog(pthread_t thread)
{
    pthread_mutex_lock(&watchdog_mu);
    watchdog_done = true;
    pthread_cond_signal(&watchdog_cond);
    pthread_mutex_unlock(&watchdog_mu);
    FT_BEGIN_ALLOW_THREADS
    pthread_join(thread, NULL);
    FT_END_ALLOW_THREADS
}

FT_TEST(cs_random_pairs)
{
    ft_test_seed();
    shared.iterations = ft_test_scale(100000);
    for (int i = 0; i < OBJECTS; i++) {
        shared.objects[i] = ft_list_new();
        FT_REQUIRE(shared.objects[i] != NULL, "ft_list_new: %s", ft_err_message());
    }
    pthread_t dog;
    FT_REQUIRE(pthread_create(&dog, NULL, watchdog, NULL) == 0, "watchdog");
    static worker_state workers[THREADS];
    ft_thread *threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker_state){.shared = &shared, .index = i, .rng = ft_test_thread_seed(i)};
        threads[i] = ft_thread_start(worker, &workers[i]);
        FT_REQUIRE(threads[i] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    for (int i = 0; i < THREADS; i++) {
        FT_EXPECT_EQ(ft_thread_join(threads[i]), 0, "join");
    }
    stop_watchdog(dog);
    int64_t nested = 0, detached = 0;
    for (int obj = 0; obj < OBJECTS; obj++) {
        int64_t expected = 0;
        for (int i = 0; i < THREADS; i++) {
            expected += workers[i].increments[obj];
        }
        FT_EXPECT_EQ(shared.count[obj], expected, "per-object counter");
    }
    for (int i = 0; i < THREADS; i++) {
        FT_EXPECT_EQ(workers[i].violations, 0, "two threads inside one object's section");
        nested += workers[i].nested;
        detached += workers[i].detached;
    }
    FT_EXPECT(nested > 0 && detached > 0, "nested=%" PRId64 " detached=%" PRId64, nested, detached);
    printf("  iterations=%" PRId64 " x %d threads, nested=%" PRId64 ", detached=%" PRId64
           ", cs_suspensions=%" PRIu64 "\n",
           shared.iterations, THREADS, nested, detached, ft_stats_get("cs_suspensions"));
    for (int i = 0; i < OBJECTS; i++) {
#if !FT_GIL
        FT_EXPECT(!ft_mutex_is_locked(&shared.objects[i]->ob_mutex), "object %d left locked", i);
#endif
        ft_decref(shared.objects[i]);
    }
}
