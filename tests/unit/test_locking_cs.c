// Critical sections (DESIGN.md §4.5): recursion is free, nesting, two-object
// sections in both orders, suspension on blocking and detaching, resuming
// only the top section, re-locking a mutex a lower section holds. In the GIL
// build sections own nothing: the same calls run and nothing is locked.
#include <sched.h>
#include <stdatomic.h>

#include "harness.h"

#define WAIT_LIMIT_S 30  // only turns a hang into a failure

// Whether a section on a mutex really locks it in this build.
#define CS_LOCKS (!FT_GIL)

static void
expect_locked(ft_mutex *mutex, bool want, const char *what, int line)
{
    bool locked = ft_mutex_is_locked(mutex);
    FT_EXPECT(locked == want, "line %d: %s: locked=%d, want %d", line, what, locked, want);
}
#define EXPECT_HELD(m, what) expect_locked((m), CS_LOCKS, (what), __LINE__)
#define EXPECT_FREE(m, what) expect_locked((m), false, (what), __LINE__)

// Attached polling, for a thread that must keep its sections while it
// waits. Returns false after ~WAIT_LIMIT_S. The safepoint lets a global lock
// (FT_ENABLE_GIL=1) switch to the thread we wait for.
static bool
spin_until_parked(ft_mutex *mutex)
{
    int64_t rounds = (int64_t)WAIT_LIMIT_S * 20000;
    for (int64_t i = 0; i < rounds; i++) {
        // pairs: the lock protocol's stores (a snapshot)
        if (ft_atomic_load_acquire_u8(&mutex->bits) & FT_MUTEX_PARKED) {
            return true;
        }
        usleep(50);
        ft_safepoint();
    }
    return false;
}

// ------------------------------------------------------------ basics
FT_TEST(cs_recursion_is_free)
{
    ft_mutex m = FT_MUTEX_INIT;
    uint64_t parks = ft_stats_get("mutex_parks");
    ft_cs outer, inner;
    ft_cs_begin_mutex(&outer, &m);
    EXPECT_HELD(&m, "outer section");
    ft_cs_begin_mutex(&inner, &m);
    FT_EXPECT(inner.m1 == NULL && inner.m2 == NULL, "a recursive section owns a lock");
    ft_cs_end(&inner);
    EXPECT_HELD(&m, "outer section after the recursive one ended");
    ft_cs_end(&outer);
    EXPECT_FREE(&m, "after both sections");
    FT_EXPECT_EQ(ft_stats_get("mutex_parks"), parks, "recursion parked");
}

FT_TEST(cs_nested_sections)
{
    ft_mutex a = FT_MUTEX_INIT, b = FT_MUTEX_INIT;
    ft_cs ca, cb;
    ft_cs_begin_mutex(&ca, &a);
    ft_cs_begin_mutex(&cb, &b);
    EXPECT_HELD(&a, "outer");
    EXPECT_HELD(&b, "inner");
    ft_cs_end(&cb);
    EXPECT_HELD(&a, "outer after inner ended");
    EXPECT_FREE(&b, "inner after it ended");
    ft_cs_end(&ca);
    EXPECT_FREE(&a, "outer after it ended");
}

FT_TEST(cs_two_objects_both_orders)
{
    ft_object *x = ft_list_new();
    ft_object *y = ft_list_new();
    FT_REQUIRE(x != NULL && y != NULL, "ft_list_new: %s", ft_err_message());
    ft_object *pairs[2][2] = {{x, y}, {y, x}};
    for (int i = 0; i < 2; i++) {
        ft_cs cs;
        ft_cs_begin2(&cs, pairs[i][0], pairs[i][1]);
#if !FT_GIL
        FT_EXPECT(ft_mutex_is_locked(&x->ob_mutex) && ft_mutex_is_locked(&y->ob_mutex),
                  "order %d: both objects must be locked", i);
        FT_EXPECT((uintptr_t)cs.m1 < (uintptr_t)cs.m2, "order %d: lower address first", i);
#endif
        ft_cs_end(&cs);
#if !FT_GIL
        FT_EXPECT(!ft_mutex_is_locked(&x->ob_mutex) && !ft_mutex_is_locked(&y->ob_mutex),
                  "order %d: both objects must be unlocked", i);
#endif
    }
    FT_CS_BEGIN2(x, x);  // the same object twice is a one-object section
    FT_EXPECT_EQ(ft_list_len(x), 0, "list usable inside its own section");
    FT_CS_END();
    FT_CS_BEGIN2(y, x);
    FT_CS_BEGIN(x);  // recursion inside a two-object section
    FT_CS_END();
    FT_CS_END();
    ft_decref(x);
    ft_decref(y);
}

// ------------------------------------------------------------ suspension
typedef struct nested_block {
    ft_mutex outer, inner;
    _Atomic(int) in_outer;
    _Atomic(int) done;
    int outer_relocked;  // worker: outer held again after the inner section
} nested_block;

// Locks outer, then blocks on inner (held by the main thread).
static void
nested_block_worker(void *arg)
{
    nested_block *s = arg;
    ft_cs co, ci;
    ft_cs_begin_mutex(&co, &s->outer);
    ft_test_store_flag(&s->in_outer, 1);
    ft_cs_begin_mutex(&ci, &s->inner);  // parks, detaches, releases outer
    ft_cs_end(&ci);                     // resumes outer
    s->outer_relocked = ft_mutex_is_locked(&s->outer);
    ft_cs_end(&co);
    ft_test_store_flag(&s->done, 1);
}

FT_TEST(cs_blocked_nested_section_lets_others_into_outer)
{
    FT_SKIP_IF(!CS_LOCKS, "sections own no lock in the GIL build");
    nested_block s = {.outer = FT_MUTEX_INIT, .inner = FT_MUTEX_INIT};
    ft_mutex_lock(&s.inner);
    ft_thread *t = ft_thread_start(nested_block_worker, &s);
    FT_REQUIRE(t != NULL, "ft_thread_start: %s", ft_err_message());
    FT_EXPECT(ft_test_wait_flag(&s.in_outer, WAIT_LIMIT_S), "worker never entered");
    FT_EXPECT(spin_until_parked(&s.inner), "worker never blocked on the inner mutex");
    // The blocked worker detaches, so its outer section releases its lock.
    // The parked bit is set just before that detach (under the parking
    // bucket lock), so allow the worker the rest of its way to sleep: it
    // cannot take outer back while main holds inner.
    bool got_outer = false;
    for (int64_t i = 0; i < (int64_t)WAIT_LIMIT_S * 20000 && !got_outer; i++) {
        got_outer = ft_mutex_try_lock(&s.outer);
        if (!got_outer) {
            usleep(50);
        }
    }
    FT_EXPECT(got_outer, "outer object still locked by a blocked thread");
    if (got_outer) {
        ft_mutex_unlock(&s.outer);
    }
    ft_mutex_unlock(&s.inner);
    FT_EXPECT(ft_test_wait_flag(&s.done, WAIT_LIMIT_S), "worker hung");
    ft_thread_join(t);
    FT_EXPECT(s.outer_relocked, "outer section not re-locked after the inner one");
    EXPECT_FREE(&s.outer, "outer at the end");
    EXPECT_FREE(&s.inner, "inner at the end");
}

// The same through objects and the macros: the main thread holds y in a
// section (attached, so it keeps it) while the worker blocks in x -> y.
typedef struct object_block {
    ft_object *x, *y;
    _Atomic(int) in_x;
    _Atomic(int) done;
} object_block;

static void
object_block_worker(void *arg)
{
    object_block *s = arg;
    FT_CS_BEGIN(s->x);
    ft_test_store_flag(&s->in_x, 1);
    FT_CS_BEGIN(s->y);
    FT_CS_END();
    FT_CS_END();
    ft_test_store_flag(&s->done, 1);
}

FT_TEST(cs_blocked_object_section_lets_others_in)
{
    FT_SKIP_IF(!CS_LOCKS, "sections own no lock in the GIL build");
    // Waiting attached while holding y needs the worker to run meanwhile.
    FT_SKIP_IF(ft_gil_is_enabled(), "a global lock (FT_ENABLE_GIL=1) serializes attached threads");
    object_block s = {.x = ft_list_new(), .y = ft_list_new()};
    FT_REQUIRE(s.x != NULL && s.y != NULL, "ft_list_new: %s", ft_err_message());
    ft_thread *t;
    FT_CS_BEGIN(s.y);
    t = ft_thread_start(object_block_worker, &s);
    FT_REQUIRE(t != NULL, "ft_thread_start: %s", ft_err_message());
    for (int i = 0; i < WAIT_LIMIT_S * 20000 && !ft_test_load_flag(&s.in_x); i++) {
        usleep(50);  // attached on purpose: detaching would release y
    }
#if !FT_GIL
    FT_EXPECT(spin_until_parked(&s.y->ob_mutex), "worker never blocked on y");
#endif
    // Nested in our y section: x must be free now.
    FT_CS_BEGIN(s.x);
    FT_EXPECT_EQ(ft_list_append(s.x, s.y), 0, "append inside the section");
    FT_CS_END();
    FT_CS_END();
    ft_thread_join(t);
    FT_EXPECT_EQ(ft_test_load_flag(&s.done), 1, "worker finished");
    FT_EXPECT_EQ(ft_list_len(s.x), 1, "append happened");
    ft_decref(s.x);
    ft_decref(s.y);
}

// ------------------------------------------------------------ detaching
typedef struct detach_probe {
    ft_mutex *mutex;
    _Atomic(int) go;
    _Atomic(int) result;  // 1 got the lock, 2 did not
} detach_probe;

static void
detach_probe_worker(void *arg)
{
    detach_probe *p = arg;
    ft_test_wait_flag(&p->go, WAIT_LIMIT_S);
    bool got = ft_mutex_try_lock(p->mutex);
    if (got) {
        ft_mutex_unlock(p->mutex);
    }
    ft_test_store_flag(&p->result, got ? 1 : 2);
}

// Polls without the runtime (we are detached).
static bool
raw_wait_flag(_Atomic(int) *flag)
{
    for (int i = 0; i < WAIT_LIMIT_S * 10000; i++) {
        if (ft_test_load_flag(flag)) {
            return true;
        }
        usleep(100);
    }
    return false;
}

FT_TEST(cs_detach_releases_and_attach_relocks)
{
    ft_mutex m = FT_MUTEX_INIT;
    detach_probe p = {.mutex = &m};
    ft_thread *t = ft_thread_start(detach_probe_worker, &p);
    FT_REQUIRE(t != NULL, "ft_thread_start: %s", ft_err_message());
    ft_cs cs;
    ft_cs_begin_mutex(&cs, &m);
    EXPECT_HELD(&m, "section before detaching");
    bool saw_result;
    FT_BEGIN_ALLOW_THREADS
    ft_test_store_flag(&p.go, 1);
    saw_result = raw_wait_flag(&p.result);
    FT_END_ALLOW_THREADS
    FT_EXPECT(saw_result, "probe thread hung");
    FT_EXPECT_EQ(ft_test_load_flag(&p.result), 1, "a detached thread kept its section's lock");
    EXPECT_HELD(&m, "section re-locked on attach");
    ft_cs_end(&cs);
    EXPECT_FREE(&m, "after the section");
    ft_thread_join(t);
}

// Only the top section re-locks on attach; the others wait for their turn.
FT_TEST(cs_deep_only_top_relocks)
{
    ft_mutex a = FT_MUTEX_INIT, b = FT_MUTEX_INIT, c = FT_MUTEX_INIT;
    ft_cs ca, cb, cc;
    ft_cs_begin_mutex(&ca, &a);
    ft_cs_begin_mutex(&cb, &b);
    ft_cs_begin_mutex(&cc, &c);
    FT_BEGIN_ALLOW_THREADS
    EXPECT_FREE(&a, "a while detached");
    EXPECT_FREE(&b, "b while detached");
    EXPECT_FREE(&c, "c while detached");
    FT_END_ALLOW_THREADS
    EXPECT_HELD(&c, "top re-locked on attach");
    EXPECT_FREE(&a, "a not re-locked before its turn");
    EXPECT_FREE(&b, "b not re-locked before its turn");
    ft_cs_end(&cc);
    EXPECT_HELD(&b, "b resumed when c ended");
    EXPECT_FREE(&a, "a still suspended");
    ft_cs_end(&cb);
    EXPECT_HELD(&a, "a resumed when b ended");
    ft_cs_end(&ca);
    EXPECT_FREE(&a, "a at the end");
    EXPECT_FREE(&b, "b at the end");
    EXPECT_FREE(&c, "c at the end");
}

// A mutex held by a lower (non-top) section: taking it again parks, which
// suspends the lower sections, and the new section gets it.
FT_TEST(cs_relock_held_by_lower_section)
{
    ft_mutex a = FT_MUTEX_INIT, b = FT_MUTEX_INIT;
    ft_cs ca, cb, ca2;
    ft_cs_begin_mutex(&ca, &a);
    ft_cs_begin_mutex(&cb, &b);
    ft_cs_begin_mutex(&ca2, &a);
    EXPECT_HELD(&a, "a held by the new top section");
    EXPECT_FREE(&b, "b released by the suspension");
    FT_EXPECT(!CS_LOCKS || ca2.m1 == &a, "the new top section must own a");
    ft_cs_end(&ca2);
    EXPECT_HELD(&b, "b resumed");
    EXPECT_FREE(&a, "a's first section still suspended");
    ft_cs_end(&cb);
    EXPECT_HELD(&a, "a resumed");
    ft_cs_end(&ca);
    EXPECT_FREE(&a, "a at the end");
    EXPECT_FREE(&b, "b at the end");
}

// A two-object section over a mutex the top section already holds alone.
FT_TEST(cs_two_object_section_over_held_mutex)
{
    ft_object *x = ft_list_new();
    ft_object *y = ft_list_new();
    FT_REQUIRE(x != NULL && y != NULL, "ft_list_new: %s", ft_err_message());
    FT_CS_BEGIN(x);
    FT_CS_BEGIN2(y, x);
#if !FT_GIL
    FT_EXPECT(ft_mutex_is_locked(&x->ob_mutex) && ft_mutex_is_locked(&y->ob_mutex),
              "both locked in the two-object section");
#endif
    FT_CS_END();
#if !FT_GIL
    FT_EXPECT(ft_mutex_is_locked(&x->ob_mutex), "x resumed after the two-object section");
    FT_EXPECT(!ft_mutex_is_locked(&y->ob_mutex), "y released");
#endif
    FT_CS_END();
#if !FT_GIL
    FT_EXPECT(!ft_mutex_is_locked(&x->ob_mutex), "x released at the end");
#endif
    ft_decref(x);
    ft_decref(y);
}
