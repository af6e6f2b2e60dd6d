// bench_locking_mutex: ft_mutex against pthread_mutex_t (DESIGN.md §4.4, §8:
// faster uncontended, >= 1.5x under 2-thread contention), in one process.
//
//   uncontended   one thread, lock + unlock in a loop: ns per pair
//   threads:N     N threads hammer one lock for --duration-ms each repetition
//                 (counter++ inside, --cs-work / --outside-work extra loop
//                 iterations): ns per lock+unlock of all threads together,
//                 with fairness (fewest / most ops of one thread), parks per
//                 op and the worst sampled wait for the lock (1 op in 16)
//   spin variants ft_mutex re-run in child processes with FT_MUTEX_SPIN=yield
//                 and =pause (locking/mutex.c reads it once), so the spin
//                 strategy is chosen on the machine at hand (--no-spin-compare
//                 skips them)
//
// Flags: --reps N (5) --json FILE --smoke --no-pin --threads 2,4
// --duration-ms 300 --uncontended-ops 20000000 --cs-work 0 --outside-work 0
// --raw-threads (workers without a thread state; automatic when a GIL is on,
// since attached workers would then measure the GIL). Worker k is pinned to
// the k-th allowed CPU, so 2-thread runs use distinct CPUs.
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "harness.h"

extern char **environ;

enum { MAX_THREADS = 64, LATENCY_SAMPLE_MASK = 15 };

typedef struct config {
    int threads[8];
    int thread_counts;
    int64_t duration_ms;
    int64_t uncontended_ops;
    int cs_work, outside_work;
    bool raw_threads;
    bool spin_compare;
    bool child;                // --child: contended ft_mutex only, under `label`
    const char *label;         // ft_mutex's name in results
    const char *entries_path;  // --emit-entries FILE (child mode)
} config;

typedef enum lock_kind { LOCK_FT, LOCK_PTHREAD } lock_kind;

typedef struct run_state {
    lock_kind kind;
    ft_mutex ft;
    pthread_mutex_t pt;
    int64_t counter;     // guarded by: the lock under test
    _Atomic(int) ready;  // workers at the start line
    _Atomic(int) go;     // main: start (release)
    _Atomic(int) stop;   // main: stop (relaxed: a flag, no data)
    int64_t fixed_ops;   // > 0 (smoke): each worker does exactly this many
    int cs_work, outside_work;
    bool pin;
} run_state;

typedef struct worker_arg {
    run_state *run;
    int index;
    int64_t ops;          // owner only; read after join
    int64_t max_wait_ns;  // owner only; read after join
    int64_t end_ns;       // owner only; read after join
} worker_arg;

// ------------------------------------------------------------ workers
static inline void
busy(int n)
{
    for (int i = 0; i < n; i++) {
        FT_OPT_BARRIER(i);
    }
}

// One loop per lock type so each compiles to its own fast path.
#define WORKER_LOOP(LOCK, UNLOCK)                                                      \
    for (;;) {                                                                         \
        if (r->fixed_ops > 0 ? ops == r->fixed_ops                                     \
                             : atomic_load_explicit(&r->stop, memory_order_relaxed)) { \
            break;                                                                     \
        }                                                                              \
        if ((ops & LATENCY_SAMPLE_MASK) == 0) {                                        \
            int64_t t0 = ft_bench_now_ns();                                            \
            LOCK;                                                                      \
            int64_t waited = ft_bench_now_ns() - t0;                                   \
            max_wait = waited > max_wait ? waited : max_wait;                          \
        } else {                                                                       \
            LOCK;                                                                      \
        }                                                                              \
        r->counter++;                                                                  \
        busy(r->cs_work);                                                              \
        UNLOCK;                                                                        \
        busy(r->outside_work);                                                         \
        ops++;                                                                         \
    }

static void
run_worker(worker_arg *w)
{
    run_state *r = w->run;
    if (r->pin) {
        ft_bench_pin_self(w->index);
    }
    // relaxed: a count main polls; the start itself is the release of `go`
    atomic_fetch_add_explicit(&r->ready, 1, memory_order_relaxed);
    // pairs: release store of `go` in run_contended()
    while (!atomic_load_explicit(&r->go, memory_order_acquire)) {
        ft_safepoint();
        sched_yield();
    }
    int64_t ops = 0, max_wait = 0;
    if (r->kind == LOCK_FT) {
        WORKER_LOOP(ft_mutex_lock(&r->ft), ft_mutex_unlock(&r->ft))
    } else {
        WORKER_LOOP(pthread_mutex_lock(&r->pt), pthread_mutex_unlock(&r->pt))
    }
    w->ops = ops;
    w->max_wait_ns = max_wait;
    w->end_ns = ft_bench_now_ns();
}

static void
ft_worker(void *arg)
{
    run_worker(arg);
}

static void *
raw_worker(void *arg)
{
    run_worker(arg);
    return NULL;
}

// ------------------------------------------------------------ one repetition
typedef struct rep_result {
    double ns_per_op, cpu_per_op, fairness, parks_per_op, max_wait_ns;
    int64_t ops;
    bool exact;
} rep_result;

static void
sleep_detached(int64_t ns)
{
    FT_BEGIN_ALLOW_THREADS
    ft_bench_sleep_ns(ns);
    FT_END_ALLOW_THREADS
}

static void
start_workers(const config *cfg, run_state *r, worker_arg *args, int n, ft_thread **fts,
              pthread_t *raws)
{
    for (int i = 0; i < n; i++) {
        args[i] = (worker_arg){.run = r, .index = i};
        if (cfg->raw_threads) {
            if (pthread_create(&raws[i], NULL, raw_worker, &args[i]) != 0) {
                fprintf(stderr, "pthread_create failed\n");
                exit(1);
            }
        } else if ((fts[i] = ft_thread_start(ft_worker, &args[i])) == NULL) {
            fprintf(stderr, "ft_thread_start: %s\n", ft_err_message());
            exit(1);
        }
    }
}

static void
join_workers(const config *cfg, int n, ft_thread **fts, pthread_t *raws)
{
    for (int i = 0; i < n; i++) {
        if (cfg->raw_threads) {
            FT_BEGIN_ALLOW_THREADS
            pthread_join(raws[i], NULL);
            FT_END_ALLOW_THREADS
        } else {
            ft_thread_join(fts[i]);
        }
    }
}

static rep_result
summarize_rep(run_state *r, worker_arg *args, int n, int64_t t0, int64_t cpu0, uint64_t parks)
{
    rep_result res = {0};
    int64_t end = t0, min_ops = INT64_MAX, max_ops = 0;
    for (int i = 0; i < n; i++) {
        res.ops += args[i].ops;
        end = args[i].end_ns > end ? args[i].end_ns : end;
        min_ops = args[i].ops < min_ops ? args[i].ops : min_ops;
        max_ops = args[i].ops > max_ops ? args[i].ops : max_ops;
        res.max_wait_ns =
            args[i].max_wait_ns > res.max_wait_ns ? (double)args[i].max_wait_ns : res.max_wait_ns;
    }
    res.exact = r->counter == res.ops;
    double ops = res.ops > 0 ? (double)res.ops : 1.0;
    res.ns_per_op = (double)(end - t0) / ops;
    res.cpu_per_op = (double)(ft_bench_cpu_ns() - cpu0) / ops;
    res.fairness = max_ops > 0 ? (double)min_ops / (double)max_ops : 0;
    res.parks_per_op = (double)(ft_stats_get("mutex_parks") - parks) / ops;
    return res;
}

static rep_result
run_contended(const config *cfg, const ft_bench_options *opts, lock_kind kind, int n)
{
    static worker_arg args[MAX_THREADS];
    ft_thread *fts[MAX_THREADS];
    pthread_t raws[MAX_THREADS];
    run_state *r = calloc(1, sizeof(*r));
    *r = (run_state){.kind = kind,
                     .ft = FT_MUTEX_INIT,
                     .cs_work = cfg->cs_work,
                     .outside_work = cfg->outside_work,
                     .pin = opts->pin,
                     .fixed_ops = opts->smoke ? 2000 : 0};
    pthread_mutex_init(&r->pt, NULL);
    start_workers(cfg, r, args, n, fts, raws);
    while (atomic_load_explicit(&r->ready, memory_order_relaxed) < n) {  // relaxed: a count
        sleep_detached(100000);
    }
    uint64_t parks = ft_stats_get("mutex_parks");
    int64_t cpu0 = ft_bench_cpu_ns();
    int64_t t0 = ft_bench_now_ns();
    // pairs: acquire load in run_worker()
    atomic_store_explicit(&r->go, 1, memory_order_release);
    if (!opts->smoke) {
        sleep_detached(cfg->duration_ms * 1000000);
    }
    atomic_store_explicit(&r->stop, 1, memory_order_relaxed);  // relaxed: a flag
    join_workers(cfg, n, fts, raws);
    rep_result res = summarize_rep(r, args, n, t0, cpu0, parks);
    pthread_mutex_destroy(&r->pt);
    free(r);
    return res;
}

static rep_result
run_uncontended(const config *cfg, const ft_bench_options *opts, lock_kind kind)
{
    ft_mutex ft = FT_MUTEX_INIT;
    pthread_mutex_t pt;
    pthread_mutex_init(&pt, NULL);
    int64_t n = opts->smoke ? 1000 : cfg->uncontended_ops;
    int64_t cpu0 = ft_bench_cpu_ns();
    int64_t t0 = ft_bench_now_ns();
    if (kind == LOCK_FT) {
        for (int64_t i = 0; i < n; i++) {
            ft_mutex_lock(&ft);
            ft_mutex_unlock(&ft);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            pthread_mutex_lock(&pt);
            pthread_mutex_unlock(&pt);
        }
    }
    rep_result res = {.ops = n};
    res.ns_per_op = (double)(ft_bench_now_ns() - t0) / (double)n;
    res.cpu_per_op = (double)(ft_bench_cpu_ns() - cpu0) / (double)n;
    // pairs: the lock protocol's release stores (a final check)
    res.exact = ft_atomic_load_acquire_u8(&ft.bits) == 0 && pthread_mutex_trylock(&pt) == 0;
    pthread_mutex_unlock(&pt);
    pthread_mutex_destroy(&pt);
    return res;
}

// ------------------------------------------------------------ repetitions
static bool all_exact = true;

// Runs `reps` repetitions (n == 0: uncontended) and records one result.
static void
measure(ft_bench_results *results, const config *cfg, const ft_bench_options *opts, lock_kind kind,
        int n)
{
    int reps = opts->smoke ? 1 : opts->reps;
    double ns[reps], cpu[reps], fair[reps], parks[reps], wait[reps], ops[reps];
    for (int i = 0; i < reps; i++) {
        rep_result r =
            n == 0 ? run_uncontended(cfg, opts, kind) : run_contended(cfg, opts, kind, n);
        ns[i] = r.ns_per_op;
        cpu[i] = r.cpu_per_op;
        fair[i] = r.fairness;
        parks[i] = r.parks_per_op;
        wait[i] = r.max_wait_ns;
        ops[i] = (double)r.ops;
        if (!r.exact) {
            fprintf(stderr, "%s: %s with %d threads: the count under the lock is wrong\n",
                    opts->argv0, kind == LOCK_FT ? cfg->label : "pthread", n);
            all_exact = false;
        }
    }
    char name[160];
    const char *lock = kind == LOCK_FT ? cfg->label : "pthread";
    if (n == 0) {
        snprintf(name, sizeof(name), "mutex/%s/uncontended", lock);
    } else {
        snprintf(name, sizeof(name), "mutex/%s/threads:%d", lock, n);
    }
    ft_bench_summary s = ft_bench_summarize(ns, reps);
    ft_bench_result *e = ft_bench_add(results, name);
    e->real_time = s.median;
    e->min = s.min;
    e->max = s.max;
    e->cpu_time = ft_bench_summarize(cpu, reps).median;
    e->iterations = (int64_t)ft_bench_summarize(ops, reps).median;
    e->repetitions = reps;
    e->threads = n == 0 ? 1 : n;
    if (n > 0) {
        ft_bench_extra(e, "fairness_min_max", ft_bench_summarize(fair, reps).median);
        ft_bench_extra(e, "max_wait_ns", ft_bench_summarize(wait, reps).median);
        if (kind == LOCK_FT && !cfg->raw_threads) {
            ft_bench_extra(e, "parks_per_op", ft_bench_summarize(parks, reps).median);
        }
    }
}

// ------------------------------------------------------------ spin variants
// Re-runs contended ft_mutex in a child with FT_MUTEX_SPIN=<policy> and
// splices its entries into ours.
static void
run_spin_variant(ft_bench_results *results, const config *cfg, const ft_bench_options *opts,
                 const char *policy)
{
    char tmp[] = "/tmp/bench_locking_mutex_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) {
        perror("mkstemp");
        return;
    }
    close(fd);
    char reps[16], duration[32], label[64], threads[64] = "", env_spin[32];
    snprintf(reps, sizeof(reps), "%d", opts->reps);
    snprintf(duration, sizeof(duration), "%" PRId64, cfg->duration_ms);
    snprintf(label, sizeof(label), "ft_mutex_spin_%s", policy);
    snprintf(env_spin, sizeof(env_spin), "FT_MUTEX_SPIN=%s", policy);
    for (int i = 0; i < cfg->thread_counts; i++) {
        size_t len = strlen(threads);
        snprintf(threads + len, sizeof(threads) - len, "%s%d", i ? "," : "", cfg->threads[i]);
    }
    char *argv[] = {"/proc/self/exe",
                    "--child",
                    "--label",
                    label,
                    "--emit-entries",
                    tmp,
                    "--reps",
                    reps,
                    "--duration-ms",
                    duration,
                    "--threads",
                    threads,
                    opts->pin ? "--pin" : "--no-pin",
                    cfg->raw_threads ? "--raw-threads" : "--pin",
                    NULL};
    size_t envc = 0;
    while (environ[envc] != NULL) {
        envc++;
    }
    char **envp = calloc(envc + 2, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < envc; i++) {
        if (strncmp(environ[i], "FT_MUTEX_SPIN=", 14) != 0) {
            envp[k++] = environ[i];
        }
    }
    envp[k++] = env_spin;
    pid_t pid;
    int status = -1;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, envp) == 0) {
        FT_BEGIN_ALLOW_THREADS
        waitpid(pid, &status, 0);
        FT_END_ALLOW_THREADS
    }
    free(envp);
    if (status != 0 || ft_bench_read_entries(results, tmp) == 0) {
        fprintf(stderr, "%s: spin variant '%s' failed (status %d)\n", opts->argv0, policy, status);
        all_exact = false;
    }
    unlink(tmp);
}

// ------------------------------------------------------------ main
static void *
return_at_once(void *arg)
{
    return arg;
}

// glibc (2.35+) skips the atomics of pthread_mutex_lock/unlock while the
// process has never had a second thread, which would make the uncontended
// baseline a plain load and store that no multithreaded runtime ever sees.
// One short-lived thread turns that off for the life of the process.
static void
leave_single_threaded_mode(void)
{
    pthread_t thread;
    if (pthread_create(&thread, NULL, return_at_once, NULL) == 0) {
        pthread_join(thread, NULL);
    }
}

static int
parse_flag(void *ctx, const char *flag, const char *value)
{
    config *cfg = ctx;
    if (strcmp(flag, "--raw-threads") == 0) {
        cfg->raw_threads = true;
        return 1;
    }
    if (strcmp(flag, "--pin") == 0) {
        return 1;  // the default; lets a parent pass either spelling
    }
    if (strcmp(flag, "--no-spin-compare") == 0) {
        cfg->spin_compare = false;
        return 1;
    }
    if (strcmp(flag, "--child") == 0) {
        cfg->child = true;
        cfg->spin_compare = false;
        return 1;
    }
    if (value == NULL) {
        return 0;
    }
    if (strcmp(flag, "--threads") == 0) {
        cfg->thread_counts = ft_bench_parse_list(value, cfg->threads, 8);
        for (int i = 0; i < cfg->thread_counts; i++) {
            if (cfg->threads[i] > MAX_THREADS) {
                return 0;
            }
        }
        return cfg->thread_counts > 0 ? 2 : 0;
    }
    if (strcmp(flag, "--duration-ms") == 0) {
        cfg->duration_ms = atoll(value);
        return cfg->duration_ms > 0 ? 2 : 0;
    }
    if (strcmp(flag, "--uncontended-ops") == 0) {
        cfg->uncontended_ops = atoll(value);
        return cfg->uncontended_ops > 0 ? 2 : 0;
    }
    if (strcmp(flag, "--cs-work") == 0 || strcmp(flag, "--outside-work") == 0) {
        int v = atoi(value);
        *(flag[2] == 'c' ? &cfg->cs_work : &cfg->outside_work) = v < 0 ? 0 : v;
        return 2;
    }
    if (strcmp(flag, "--label") == 0) {
        cfg->label = value;
        return 2;
    }
    if (strcmp(flag, "--emit-entries") == 0) {
        cfg->entries_path = value;
        return 2;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    config cfg = {.threads = {2, 4},
                  .thread_counts = 2,
                  .duration_ms = 300,
                  .uncontended_ops = 20000000,
                  .spin_compare = true,
                  .label = "ft_mutex"};
    ft_bench_options opts;
    ft_bench_parse(&opts, argc, argv, parse_flag, &cfg);
    ft_bench_require_release(&opts);
    signal(SIGPIPE, SIG_IGN);
    leave_single_threaded_mode();
    if (ft_init() != 0) {
        fprintf(stderr, "ft_init: %s\n", ft_err_message());
        return 1;
    }
    if (ft_gil_is_enabled()) {
        cfg.raw_threads = true;  // attached workers would measure the GIL
    }
    if (!opts.smoke && !cfg.child) {
        printf("# %s\n# cpus=%d pin=%s workers=%s reps=%d duration=%" PRId64 " ms\n",
               ft_build_info(), ft_bench_cpu_count(), opts.pin ? "yes" : "no",
               cfg.raw_threads ? "raw pthreads" : "ft threads", opts.reps, cfg.duration_ms);
    }
    ft_bench_results results = {0};
    if (!cfg.child) {
        measure(&results, &cfg, &opts, LOCK_FT, 0);
        measure(&results, &cfg, &opts, LOCK_PTHREAD, 0);
    }
    for (int i = 0; i < cfg.thread_counts; i++) {
        measure(&results, &cfg, &opts, LOCK_FT, cfg.threads[i]);
        if (!cfg.child) {
            measure(&results, &cfg, &opts, LOCK_PTHREAD, cfg.threads[i]);
        }
    }
    if (!opts.smoke) {
        ft_bench_print_table(&results);
        fflush(stdout);
    }
    if (cfg.spin_compare && !opts.smoke) {
        run_spin_variant(&results, &cfg, &opts, "yield");
        run_spin_variant(&results, &cfg, &opts, "pause");
    }
    int rc = all_exact ? 0 : 1;
    if (opts.smoke) {
        printf("bench_locking_mutex smoke: %s\n", all_exact ? "ok" : "FAILED");
    } else if (cfg.entries_path != NULL && ft_bench_write_entries(&results, cfg.entries_path)) {
        rc = 1;
    } else if (opts.json_path != NULL &&
               ft_bench_write_json(&results, opts.json_path, opts.argv0) != 0) {
        rc = 1;
    }
    ft_bench_results_free(&results);
    ft_fini();
    return rc;
}
