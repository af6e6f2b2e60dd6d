// tests/harness.h: the tiny test harness (STYLE.md rule 14).
//
//   FT_TEST(name) { ... }         runs between ft_init() and ft_fini()
//   FT_TEST_RAW(name) { ... }     runs with no runtime set up
//   FT_EXPECT(cond, fmt, ...)     records a failure, goes on
//   FT_EXPECT_EQ(a, b, msg)       int64 comparison, prints both values
//   FT_REQUIRE(cond, fmt, ...)    records a failure and leaves the test
//   FT_SKIP_IF(cond, why)
//   ft_test_seed()                FT_SEED or a fixed default, printed once
//   ft_test_scale(n)              n, cut to n/8 (at least 1) under sanitizers
//   ft_test_expect_death(fn, arg, "substring")   fork; child must abort and
//                                 print the substring on stderr
//
// Workers record, only the main thread asserts: FT_EXPECT is not thread-safe
// by design (a worker stores its result; the test checks it after join).
// A test binary runs every test (or those named on the command line) and
// exits 1 if any failed; its last line is "N passed, N failed".
#ifndef FT_TESTS_HARNESS_H
#define FT_TESTS_HARNESS_H

#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ftrt.h"

typedef struct ft_test_case {
    const char *name;
    void (*fn)(void);
    bool raw;
} ft_test_case;

#define FT_TEST_MAX 256
static ft_test_case ft_test_cases[FT_TEST_MAX];
static int ft_test_count;
static int ft_test_failures;   // failures in the current test



static jmp_buf ft_test_jmp_buf;

static inline void
ft_test_register(const char *name, void (*fn)(void), bool raw)
{
    if (ft_test_count < FT_TEST_MAX) {
        ft_test_cases[ft_test_count++] = (ft_test_case){name, fn, raw};
    }
}

#define FT_TEST_DEFINE(name, raw)                                              \
    static void ft_test_##name(void);                                          \
    __attribute__((constructor)) static void ft_test_register_##name(void)     \
    {                                                                          \
        ft_test_register(#name, ft_test_##name, raw);                          \
    }                                                                          \
    static void ft_test_##name(void)
#define FT_TEST(name) FT_TEST_DEFINE(name, false)
#define FT_TEST_RAW(name) FT_TEST_DEFINE(name, true)

#define FT_EXPECT(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            ft_test_failures++;                                                \
        }                                                                      \
    } while (0)
#define FT_REQUIRE(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            FT_EXPECT(cond, __VA_ARGS__);                                      \
            longjmp(ft_test_jmp_buf, 1);                                       \
        }                                                                      \
    } while (0)
#define FT_EXPECT_EQ(a, b, msg)                                                \
    do {                                                                       \
        int64_t ft_a_ = (int64_t)(a), ft_b_ = (int64_t)(b);                    \
        FT_EXPECT(ft_a_ == ft_b_, "%s: %" PRId64 " != %" PRId64, msg, ft_a_,   \
                  ft_b_);                                                      \
    } while (0)
#define FT_SKIP_IF(cond, why)                                                  \
    do {                                                                       \
        if (cond) {                                                            \
            printf("  skipped: %s\n", why);                                    \
            return;                                                            \
        }                                                                      \
    } while (0)

static inline uint64_t
ft_test_seed(void)
{
    static uint64_t seed;
    static bool printed;
    if (!printed) {
        const char *env = getenv("FT_SEED");
        seed = env ? strtoull(env, NULL, 0) : 0x7feb352dULL;
        printf("seed=0x%" PRIx64 " (rerun: FT_SEED=0x%" PRIx64 ")\n", seed, seed);
        printed = true;
    }
    return seed;
}

// splitmix64: per-thread streams from the test seed.
static inline uint64_t
ft_test_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t
ft_test_thread_seed(int index)
{
    return ft_test_seed() ^ ((uint64_t)(index + 1) * 0x9e3779b97f4a7c15ULL);
}

static inline int64_t
ft_test_scale(int64_t n)
{
#if FT_TSAN || FT_ASAN
    int64_t cut = n / 8;
    return cut > 0 ? cut : 1;
#else
    return n;
#endif
}

// ft_init() with the runtime's schedule-fuzzing yield points armed from the
// test seed (FT_FUZZ_SCHED is read once, at ft_init; debug builds only).
static inline int
ft_test_init_fuzz_sched(void)
{
    char seed[32];
    snprintf(seed, sizeof(seed), "%" PRIu64, ft_test_seed());
    setenv("FT_FUZZ_SCHED", seed, 1);
    int rc = ft_init();
    unsetenv("FT_FUZZ_SCHED");
    return rc;
}

// Forks; the child runs fn(arg), which must abort with `expect` on stderr.
static inline bool
ft_test_expect_death(void (*fn)(void *), void *arg, const char *expect)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        fn(arg);
        _exit(0);   // survived: the death test fails
    }
    close(pipefd[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t got;
    while ((got = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)got;
        if (len == sizeof(buf) - 1) {
            break;
        }
    }
    buf[len] = 0;
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    bool died = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
    bool said = strstr(buf, expect) != NULL;
    if (!died || !said) {
        fprintf(stderr, "  death test: died=%d, expected \"%s\" in:\n%s\n", died,
                expect, buf);
    }
    return died && said;
}

// Flags between a test and its workers: a release store and an acquire load.
static inline void
ft_test_store_flag(_Atomic(int) *flag, int value)
{
    // pairs: acquire load in ft_test_load_flag() / ft_test_wait_flag()
    atomic_store_explicit(flag, value, memory_order_release);
}

static inline int
ft_test_load_flag(_Atomic(int) *flag)
{
    // pairs: release store in ft_test_store_flag()
    return atomic_load_explicit(flag, memory_order_acquire);
}

// Spins (detached) until *flag is non-zero or ~timeout_s passes; the limit
// only turns a hang into a failure, it asserts nothing about speed.
static inline bool
ft_test_wait_flag(_Atomic(int) *flag, int timeout_s)
{
    for (long i = 0; i < (long)timeout_s * 10000; i++) {
        if (atomic_load_explicit(flag, memory_order_acquire)) {  // pairs: the setter's release store
            return true;
        }
        FT_BEGIN_ALLOW_THREADS
        usleep(100);
        FT_END_ALLOW_THREADS
    }
    return false;
}

// The setjmp lives in its own frame so that FT_REQUIRE's longjmp cannot
// clobber the caller's loop variables (-Wclobbered).
static __attribute__((noinline)) void
ft_test_run_one(ft_test_case *t)
{
    if (setjmp(ft_test_jmp_buf) == 0) {
        t->fn();
    }
}

int
main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < ft_test_count; i++) {
        ft_test_case *t = &ft_test_cases[i];
        if (argc > 1) {
            bool wanted = false;
            for (int a = 1; a < argc; a++) {
                wanted |= strcmp(argv[a], t->name) == 0;
            }
            if (!wanted) {
                continue;
            }
        }
        ft_test_failures = 0;
        printf("[ RUN  ] %s\n", t->name);
        if (!t->raw && ft_init() != 0) {
            printf("  ft_init failed: %s\n", ft_err_message());
            ft_test_failures++;
        } else {
            ft_test_run_one(t);
        }
        if (!t->raw) {
            ft_err_clear();   // errors a test provoked on purpose
            ft_fini();
            if (ft_err_occurred()) {
                printf("  ft_fini refused: %s\n", ft_err_message());
                ft_test_failures++;
                ft_err_clear();
            }
        }
        printf("[ %s ] %s\n", ft_test_failures ? "FAIL" : " OK ", t->name);
        if (ft_test_failures) {
            failed++;
        } else {
            passed++;
        }
    }

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif
