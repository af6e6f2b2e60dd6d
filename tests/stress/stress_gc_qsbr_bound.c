// QSBR keeps deferred memory bounded (DESIGN.md §4.8; CPython gh-132519 and
// gh-133136 grew to gigabytes without a bound).
//
// detached_sleeper: one thread sits detached for the whole test
// (FT_BEGIN_ALLOW_THREADS around a wait) while two others take turns
// resizing a list whose contents are shared (each turn grows it through
// several capacities and pops it empty: retired arrays and SHARED items
// are deferred). An offline thread holds no pointer, so it must not hold
// up reclamation: qsbr_deferred_bytes_peak stays under the eager threshold
// plus one batch although many times that much is deferred in all. A turn
// is TURN_CYCLES cycles (~1.6 MB deferred) between safepoints, so it is the
// eager processing inside ft_qsbr_defer() that keeps the bound.
//
// stalled_attached: one thread stays attached without calling ft_safepoint
// while another resizes; the resizer's queue passes the eager threshold and
// it prods the staller (sets its FT_EB_QSBR bit). When the staller calls
// ft_safepoint it reports, although it has nothing of its own pending.
// Afterwards the staller stays attached and only calls ft_safepoint, and
// the resizer's memory stays under the high-water mark of the stall plus
// one batch over several times as many cycles -- without the prods the
// staller's safepoints would do nothing and the queue would grow by every
// cycle. (A thread that never reaches a safepoint breaks T5; nothing can
// bound memory then.)
//
// The resizers wait for their turn, and after the stall for the other
// thread to make progress, so the bound does not depend on how the OS
// schedules the threads. The GIL build and FT_OPTIMISTIC_READS=OFF defer
// nothing; the test then checks that nothing was.
#include <sched.h>

#include "harness.h"

#define EAGER_BYTES (1024 * 1024)  // gc/qsbr.c: past this a thread processes eagerly
#define BATCH_BYTES (256 * 1024)   // gc/qsbr.c ADVANCE_BYTES: one goal's worth
#define MAX_LEN 512                // largest array: 573 slots, under 5 KiB
#define TURN_CYCLES 24             // cycles per turn, without a safepoint

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// Waits detached until *word >= want (false after ~30 s: a hang).
static bool
wait_at_least(_Atomic(int64_t) *word, int64_t want)
{
    bool ok = true;
    int64_t limit = now_ns() + 30 * (int64_t)1000000000;
    FT_BEGIN_ALLOW_THREADS
    // pairs: release stores / adds of the thread we wait for
    while (ft_atomic_load_acquire_i64(word) < want) {
        if (now_ns() > limit) {
            ok = false;
            break;
        }
        sched_yield();
    }
    FT_END_ALLOW_THREADS
    return ok;
}

// Waits attached until *word >= want, calling ft_safepoint (which answers
// prods) and yielding; false after ~30 s (a hang).
static bool
spin_at_least(_Atomic(int64_t) *word, int64_t want)
{
    int64_t limit = now_ns() + 30 * (int64_t)1000000000;
    // pairs: release stores / adds of the thread we wait for
    while (ft_atomic_load_acquire_i64(word) < want) {
        ft_safepoint();
        if (now_ns() > limit) {
            return false;
        }
        sched_yield();
    }
    return true;
}

// Grows the list to MAX_LEN with fresh heap ints, then pops it empty: every
// growth and shrink retires an array, every popped item dies SHARED.
static int64_t
resize_cycle(ft_object *list, int64_t tag)
{
    int64_t failures = 0;
    for (int64_t i = 0; i < MAX_LEN; i++) {
        ft_object *x = ft_int_new(1000000 + tag * MAX_LEN + i);
        failures += x == NULL || ft_list_append(list, x) != 0;
        ft_xdecref(x);
    }
    ft_object *x;
    while ((x = ft_list_pop(list)) != NULL) {
        ft_decref(x);
    }
    ft_err_clear();  // the IndexError that ended the loop
    return failures;
}

static uint64_t
peak_bytes(void)
{
    return ft_stats_get("qsbr_deferred_bytes_peak");
}

// ------------------------------------------------------------ detached sleeper

typedef struct sleeper_state {
    ft_object *list;
    int64_t cycles;
    _Atomic(int64_t) turn;  // atomic: resizers (release) / resizers (acquire)
    _Atomic(int64_t) done;  // atomic: main (release) / sleeper (acquire)
    int64_t failures[2];    // [i]: resizer i only
    bool hung[2];           // [i]: resizer i only
} sleeper_state;

typedef struct resizer_arg {
    sleeper_state *s;
    int index;
} resizer_arg;

static void
sleeper_main(void *arg)
{
    sleeper_state *s = arg;
    FT_BEGIN_ALLOW_THREADS
    // pairs: release store in main
    while (!ft_atomic_load_acquire_i64(&s->done)) {
        usleep(1000);
    }
    FT_END_ALLOW_THREADS
}

static void
turn_resizer_main(void *arg)
{
    resizer_arg *a = arg;
    sleeper_state *s = a->s;
    for (int64_t turn = a->index; turn * TURN_CYCLES < s->cycles; turn += 2) {
        if (!wait_at_least(&s->turn, turn)) {
            s->hung[a->index] = true;
            return;
        }
        for (int64_t c = 0; c < TURN_CYCLES; c++) {
            s->failures[a->index] += resize_cycle(s->list, turn * TURN_CYCLES + c);
        }
        ft_safepoint();
        // pairs: acquire load in wait_at_least() of the other resizer
        ft_atomic_store_release_i64(&s->turn, turn + 1);
    }
}

FT_TEST(detached_sleeper)
{
    int64_t base = ft_live_objects();
    sleeper_state s = {.list = ft_list_new(), .cycles = 2 * (ft_test_scale(240) / 2 + 50)};
    FT_REQUIRE(s.list != NULL, "ft_list_new: %s", ft_err_message());
    resizer_arg args[2] = {{&s, 0}, {&s, 1}};
    ft_thread *sleeper = ft_thread_start(sleeper_main, &s);
    ft_thread *r0 = ft_thread_start(turn_resizer_main, &args[0]);
    ft_thread *r1 = ft_thread_start(turn_resizer_main, &args[1]);
    FT_REQUIRE(sleeper && r0 && r1, "ft_thread_start: %s", ft_err_message());
    FT_EXPECT_EQ(ft_thread_join(r0), 0, "join");
    FT_EXPECT_EQ(ft_thread_join(r1), 0, "join");
    // pairs: acquire load in sleeper_main()
    ft_atomic_store_release_i64(&s.done, 1);
    FT_EXPECT_EQ(ft_thread_join(sleeper), 0, "join");
    FT_EXPECT(!s.hung[0] && !s.hung[1], "a resizer waited 30 s for its turn");
    FT_EXPECT_EQ(s.failures[0] + s.failures[1], 0, "appends failed");
    uint64_t peak = peak_bytes();
    uint64_t deferred = ft_stats_get("qsbr_deferred");
    printf("  cycles=%" PRId64 " deferred=%" PRIu64 " freed=%" PRIu64 " peak=%" PRIu64
           " bytes (bound %d)\n",
           s.cycles, deferred, ft_stats_get("qsbr_freed"), peak, EAGER_BYTES + BATCH_BYTES);
    FT_EXPECT(peak < EAGER_BYTES + BATCH_BYTES, "deferred bytes peaked at %" PRIu64, peak);
#if FT_OPTIMISTIC_READS
    // Each cycle defers MAX_LEN ints (40 bytes or more each) and ~30 arrays:
    // in all, more than the bound went through the queues.
    FT_EXPECT(deferred * 40 > 2 * (uint64_t)(EAGER_BYTES + BATCH_BYTES),
              "too little was deferred (%" PRIu64 " blocks) for the bound to mean anything",
              deferred);
#else
    FT_EXPECT_EQ(peak + deferred, 0, "a build without optimistic reads deferred");
#endif
    ft_decref(s.list);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "every object freed");
}

// ------------------------------------------------------------ stalled attached thread

typedef struct stall_state {
    ft_object *list;
    int64_t stall_cycles, post_cycles;
    _Atomic(int64_t) resizer_cycles;  // atomic: resizer (release) / staller (acquire)
    _Atomic(int64_t) staller_steps;   // atomic: staller (release) / resizer (acquire)
    _Atomic(int64_t) answered;        // atomic: staller (release) / resizer (acquire)
    _Atomic(int64_t) stalling;        // atomic: staller (release) / resizer (acquire)
    bool prodded, staller_hung;       // staller only
    bool resizer_hung;                // resizer only
    uint64_t peak_after_stall, peak_end;
    uint64_t deferred_at_answer, freed_at_end;
    int64_t failures;
} stall_state;

// Serves pauses and GIL drop requests only (the others would wait for us
// forever) and otherwise does not reach ft_safepoint: a thread in a long
// C loop. Records whether a QSBR prod arrived meanwhile.
static void
stall_until(stall_state *s, int64_t cycles)
{
    int64_t limit = now_ns() + 30 * (int64_t)1000000000;
    // pairs: release add in stall_resizer_main()
    while (ft_atomic_load_acquire_i64(&s->resizer_cycles) < cycles) {
        // pairs: release fetch_or of the prodding thread (gc/qsbr.c)
        uint32_t bits = ft_atomic_load_acquire_u32(&ft_tls.eval_breaker);
        s->prodded |= (bits & FT_EB_QSBR) != 0;
        if (bits & (FT_EB_WORLD | FT_EB_GIL_DROP)) {
            ft_safepoint();
        }
        if (now_ns() > limit) {
            s->staller_hung = true;
            return;
        }
        sched_yield();
    }
}

static void
staller_main(void *arg)
{
    stall_state *s = arg;
    // pairs: acquire load in wait_at_least() of the resizer
    ft_atomic_store_release_i64(&s->stalling, 1);
    stall_until(s, s->stall_cycles);
    // pairs: release fetch_or of the prodding thread (gc/qsbr.c)
    s->prodded |= (ft_atomic_load_acquire_u32(&ft_tls.eval_breaker) & FT_EB_QSBR) != 0;
    ft_safepoint();  // the answer: reports quiescence if prodded
    // pairs: acquire load in stall_resizer_main()
    ft_atomic_store_release_i64(&s->answered, 1);
    // Attached and responsive from now on: safepoints while it waits for
    // each resizer cycle (staying online, so only its reports free memory).
    for (int64_t step = 1; step <= s->post_cycles && !s->staller_hung; step++) {
        // pairs: acquire load in wait_at_least() of the resizer
        ft_atomic_store_release_i64(&s->staller_steps, step);
        s->staller_hung |= !spin_at_least(&s->resizer_cycles, s->stall_cycles + step);
    }
}

static void
stall_resizer_main(void *arg)
{
    stall_state *s = arg;
    int64_t c = 0;
    s->resizer_hung |= !wait_at_least(&s->stalling, 1);  // the staller is attached and online
    for (; c < s->stall_cycles; c++) {
        s->failures += resize_cycle(s->list, c);
        ft_safepoint();
        // pairs: acquire load in stall_until()
        ft_atomic_add_release_i64(&s->resizer_cycles, 1);
    }
    s->resizer_hung |= !wait_at_least(&s->answered, 1);
    s->deferred_at_answer = ft_stats_get("qsbr_deferred");
    s->peak_after_stall = peak_bytes();
    for (int64_t step = 1; step <= s->post_cycles && !s->resizer_hung; step++, c++) {
        s->failures += resize_cycle(s->list, c);
        ft_safepoint();
        // pairs: acquire load in wait_at_least() of the staller
        ft_atomic_add_release_i64(&s->resizer_cycles, 1);
        s->resizer_hung |= !wait_at_least(&s->staller_steps, step);
    }
    s->peak_end = peak_bytes();
    s->freed_at_end = ft_stats_get("qsbr_freed");
}

FT_TEST(stalled_attached)
{
    int64_t base = ft_live_objects();
    // No collection can start a pause the staller would answer early.
    ft_gc_disable();
    // 40 cycles defer ~2.7 MB; afterwards 2.5 to 10 times as much.
    int64_t post = ft_test_scale(400);
    stall_state s = {
        .list = ft_list_new(), .stall_cycles = 40, .post_cycles = post < 100 ? 100 : post};
    FT_REQUIRE(s.list != NULL, "ft_list_new: %s", ft_err_message());
    ft_thread *staller = ft_thread_start(staller_main, &s);
    ft_thread *resizer = ft_thread_start(stall_resizer_main, &s);
    FT_REQUIRE(staller && resizer, "ft_thread_start: %s", ft_err_message());
    FT_EXPECT_EQ(ft_thread_join(resizer), 0, "join");
    FT_EXPECT_EQ(ft_thread_join(staller), 0, "join");
    ft_gc_enable();
    FT_EXPECT(!s.staller_hung && !s.resizer_hung, "a thread waited 30 s for the other");
    FT_EXPECT_EQ(s.failures, 0, "appends failed");
    printf("  stall peak=%" PRIu64 " end peak=%" PRIu64 " deferred at answer=%" PRIu64
           " freed at end=%" PRIu64 " prodded=%d\n",
           s.peak_after_stall, s.peak_end, s.deferred_at_answer, s.freed_at_end, s.prodded);
    FT_EXPECT(s.peak_end < s.peak_after_stall + BATCH_BYTES,
              "deferred memory grew after the stall: %" PRIu64 " -> %" PRIu64, s.peak_after_stall,
              s.peak_end);
#if FT_OPTIMISTIC_READS
    FT_EXPECT(s.peak_after_stall >= EAGER_BYTES, "the stall did not pass the eager threshold");
    FT_EXPECT(s.prodded, "the stalled thread was never prodded");
    // FIFO queues: everything deferred before the answer was freed after it.
    FT_EXPECT(s.freed_at_end >= s.deferred_at_answer,
              "blocks deferred during the stall were not freed after the answer");
#else
    FT_EXPECT_EQ(s.peak_end + s.deferred_at_answer, 0, "a build without optimistic reads deferred");
#endif
    ft_decref(s.list);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "every object freed");
}
