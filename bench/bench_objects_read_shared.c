// bench_objects_read_shared: lock-free reads of shared containers (DESIGN.md
// §4.9, §7 `read_shared`, §8 "no shared workload below 1.0x at 2 threads").
//
// Main builds one list of --n heap ints and one dict mapping each of them to
// another heap int, and reads neither: every reader is a non-owner. Each
// reader thread makes --passes passes over every element: x =
// ft_list_get_ref(list, i), ft_dict_get_ref(dict, x, &v), decref both, one
// ft_safepoint() per element. The first read of each container by a
// non-owner takes its lock and marks it shared (an untimed warm-up pass).
//
//   read_shared/threads:T   real_time = ns per read (one get_ref + decref)
//                           per thread, wall time of the slowest thread;
//                           extras: reads_per_sec (all threads together),
//                           scaling = reads_per_sec / the 1-thread rate,
//                           fallback_pct = reads that took the lock
//   read_shared_owner/threads:1   the same loop on main, which owns the
//                           containers and every item: owner-path counting,
//                           no atomic RMW (context for the non-owner cost)
//
// Repetitions run the series interleaved (1 thread, 2 threads, owner, then
// again), and scaling is the median of per-repetition ratios, so a drift of
// a shared VM hits both sides of each ratio alike.
//
// Build flavours: release-ft (optimistic reads), release-ft-locked (readers
// lock: the ablation), release-gil (reads under the GIL). Both threads hit
// the same items: each read increments and decrements a count two cores
// write (an atomic RMW on a shared line in the FT builds; biased counting
// only helps the owner, and nobody here is the owner), so threads:2 pays a
// cache-line transfer per read -- the figure reports it honestly.
//
// Flags: --reps N (5) --json FILE --smoke --no-pin --threads 1,2 --n N
// (100000) --passes P (10 per repetition). --smoke: n 2000, 2 passes, 1
// repetition, every value verified, no timings.
#include "harness.h"

#define BIG 1000000
#define MAX_THREADS 16

typedef struct config {
    int64_t n;
    int64_t passes;
    int threads[MAX_THREADS];
    int nthreads;
} config;

typedef struct shared_data {
    ft_object *list;
    ft_object *dict;
    int64_t n;
    int64_t passes;
    bool pin;
    bool verify;         // smoke: check every value
    _Atomic(int) ready;  // atomic: workers (release) / main (acquire)
    _Atomic(int) go;     // atomic: main (release) / workers (acquire)
} shared_data;

typedef struct worker {
    shared_data *d;
    int index;
    int64_t start_ns, end_ns;  // owner only; read after the join
    int64_t bad;               // owner only: wrong or missing values
} worker;

static int
parse_flag(void *ctx, const char *flag, const char *value)
{
    config *cfg = ctx;
    if (value == NULL) {
        return 0;
    }
    if (strcmp(flag, "--n") == 0) {
        cfg->n = strtoll(value, NULL, 10);
        return cfg->n > 0 ? 2 : 0;
    }
    if (strcmp(flag, "--passes") == 0) {
        cfg->passes = strtoll(value, NULL, 10);
        return cfg->passes > 0 ? 2 : 0;
    }
    if (strcmp(flag, "--threads") == 0) {
        cfg->nthreads = ft_bench_parse_list(value, cfg->threads, MAX_THREADS);
        return cfg->nthreads > 0 ? 2 : 0;
    }
    return 0;
}

// One pass over every element. Returns the count of bad reads.
static int64_t
read_pass(shared_data *d, bool verify)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < d->n; i++) {
        ft_object *x = ft_list_get_ref(d->list, i);
        ft_object *v = NULL;
        if (FT_UNLIKELY(x == NULL || ft_dict_get_ref(d->dict, x, &v) != 1)) {
            bad++;
            ft_err_clear();
        } else if (verify) {
            bad += ft_int_value(x) != BIG + i || ft_int_value(v) != 3 * BIG + i;
        }
        FT_OPT_BARRIER(v);
        ft_xdecref(v);
        ft_xdecref(x);
        ft_safepoint();
    }
    return bad;
}

static void
worker_main(void *arg)
{
    worker *w = arg;
    shared_data *d = w->d;
    if (d->pin) {
        ft_bench_pin_self(w->index);
    }
    w->bad += read_pass(d, true);  // warm-up: shares the containers, verifies
    // pairs: acquire load in run_once()
    ft_atomic_add_release_int(&d->ready, 1);
    // pairs: release store in run_once()
    while (!ft_atomic_load_acquire_int(&d->go)) {
        ft_safepoint();  // the GIL build hands the lock around meanwhile
        sched_yield();
    }
    w->start_ns = ft_bench_now_ns();
    for (int64_t p = 0; p < d->passes; p++) {
        w->bad += read_pass(d, d->verify);
    }
    w->end_ns = ft_bench_now_ns();
}

// One repetition with `threads` readers: the wall ns from the first start to
// the last end; *cpu_ns the process CPU time meanwhile; *bad wrong reads.
static int64_t
run_once(shared_data *d, int threads, int64_t *cpu_ns, int64_t *bad)
{
    worker workers[MAX_THREADS];
    ft_thread *handles[MAX_THREADS];
    // relaxed: no worker runs yet
    ft_atomic_store_relaxed_int(&d->ready, 0);
    ft_atomic_store_relaxed_int(&d->go, 0);  // relaxed: as above
    for (int t = 0; t < threads; t++) {
        workers[t] = (worker){.d = d, .index = t};
        handles[t] = ft_thread_start(worker_main, &workers[t]);
        if (handles[t] == NULL) {
            fprintf(stderr, "ft_thread_start: %s\n", ft_err_message());
            exit(1);
        }
    }
    int64_t cpu_start = 0;
    FT_BEGIN_ALLOW_THREADS
    // pairs: release add in worker_main()
    while (ft_atomic_load_acquire_int(&d->ready) < threads) {
        sched_yield();
    }
    cpu_start = ft_bench_cpu_ns();
    // pairs: acquire load in worker_main()
    ft_atomic_store_release_int(&d->go, 1);
    FT_END_ALLOW_THREADS
    int64_t first = INT64_MAX, last = 0;
    for (int t = 0; t < threads; t++) {
        ft_thread_join(handles[t]);
        first = workers[t].start_ns < first ? workers[t].start_ns : first;
        last = workers[t].end_ns > last ? workers[t].end_ns : last;
        *bad += workers[t].bad;
    }
    *cpu_ns = ft_bench_cpu_ns() - cpu_start;
    return last - first;
}

static int
build_containers(shared_data *d)
{
    d->list = ft_list_new();
    d->dict = ft_dict_new();
    if (d->list == NULL || d->dict == NULL) {
        return -1;
    }
    for (int64_t i = 0; i < d->n; i++) {
        ft_object *x = ft_int_new(BIG + i);
        ft_object *v = ft_int_new(3 * BIG + i);
        int rc = x != NULL && v != NULL && ft_list_append(d->list, x) == 0 &&
                         ft_dict_set(d->dict, x, v) == 0
                     ? 0
                     : -1;
        ft_xdecref(x);
        ft_xdecref(v);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

// The samples of one thread count (0 = the owner's loop on main).
typedef struct series {
    int threads;
    double ns[64], cpu[64], rate[64], scaling[64];
    uint64_t optimistic, fallback;
} series;

// One repetition of one series; scaling is against `base_rate`, the same
// repetition's 1-thread rate (0: none).
static void
sample(shared_data *d, series *sr, int r, double base_rate, int64_t *bad)
{
    int64_t reads_per_thread = 2 * d->n * d->passes;  // list + dict per element
    int threads = sr->threads > 0 ? sr->threads : 1;
    uint64_t optimistic0 = ft_stats_get("read_optimistic");
    uint64_t fallback0 = ft_stats_get("read_fallback");
    int64_t cpu = 0, wall;
    if (sr->threads > 0) {
        wall = run_once(d, threads, &cpu, bad);
    } else {
        int64_t cpu0 = ft_bench_cpu_ns();
        int64_t start = ft_bench_now_ns();
        for (int64_t p = 0; p < d->passes; p++) {
            *bad += read_pass(d, d->verify);
        }
        wall = ft_bench_now_ns() - start;
        cpu = ft_bench_cpu_ns() - cpu0;
    }
    sr->optimistic += ft_stats_get("read_optimistic") - optimistic0;
    sr->fallback += ft_stats_get("read_fallback") - fallback0;
    sr->ns[r] = (double)wall / (double)reads_per_thread;
    sr->cpu[r] = (double)cpu / (double)(reads_per_thread * threads);
    sr->rate[r] = (double)(reads_per_thread * threads) * 1e9 / (double)wall;
    sr->scaling[r] = base_rate > 0 ? sr->rate[r] / base_rate : 1.0;
}

static void
report(shared_data *d, series *sr, int reps, ft_bench_results *results)
{
    ft_bench_summary s = ft_bench_summarize(sr->ns, reps);
    ft_bench_summary cs = ft_bench_summarize(sr->cpu, reps);
    ft_bench_summary rs = ft_bench_summarize(sr->rate, reps);
    ft_bench_summary sc = ft_bench_summarize(sr->scaling, reps);
    char name[64];
    if (sr->threads > 0) {
        snprintf(name, sizeof(name), "read_shared/threads:%d", sr->threads);
    } else {
        snprintf(name, sizeof(name), "read_shared_owner/threads:1");
    }
    ft_bench_result *e = ft_bench_add(results, name);
    e->real_time = s.median;
    e->cpu_time = cs.median;
    e->min = s.min;
    e->max = s.max;
    e->iterations = 2 * d->n * d->passes;
    e->repetitions = reps;
    e->threads = sr->threads > 0 ? sr->threads : 1;
    ft_bench_extra(e, "reads_per_sec", rs.median);
    if (sr->threads > 0) {
        ft_bench_extra(e, "scaling", sc.median);
        ft_bench_extra(e, "scaling_min", sc.min);
        ft_bench_extra(e, "scaling_max", sc.max);
    }
    uint64_t total = sr->optimistic + sr->fallback;
    ft_bench_extra(e, "fallback_pct",
                   total > 0 ? 100.0 * (double)sr->fallback / (double)total : 100.0);
}

// Repetitions outermost, the series interleaved inside each, so a slow
// drift of the machine hits every series alike; scaling is the median over
// repetitions of (T-thread rate / the same repetition's 1-thread rate).
static void
measure_all(shared_data *d, const config *cfg, const ft_bench_options *opts,
            ft_bench_results *results, int64_t *bad)
{
    int reps = opts->reps < 64 ? opts->reps : 64;
    int count = cfg->nthreads + 1;
    series *all = calloc((size_t)count, sizeof(series));
    if (all == NULL) {
        fprintf(stderr, "bench_objects_read_shared: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < cfg->nthreads; i++) {
        all[i].threads = cfg->threads[i];
    }
    all[cfg->nthreads].threads = 0;  // the owner's loop
    *bad += read_pass(d, true);      // main's warm-up
    for (int r = 0; r < reps; r++) {
        double base_rate = 0;
        for (int i = 0; i < count; i++) {
            sample(d, &all[i], r, all[i].threads > 1 ? base_rate : 0, bad);
            if (all[i].threads == 1) {
                base_rate = all[i].rate[r];
            }
        }
    }
    for (int i = 0; i < count; i++) {
        report(d, &all[i], reps, results);
    }
    free(all);
}

int
main(int argc, char **argv)
{
    config cfg = {.n = 100000, .passes = 10, .threads = {1, 2}, .nthreads = 2};
    ft_bench_options opts;
    ft_bench_parse(&opts, argc, argv, parse_flag, &cfg);
    ft_bench_require_release(&opts);
    if (opts.smoke) {
        cfg.n = 2000;
        cfg.passes = 2;
        opts.reps = 1;
    }
    if (ft_init() != 0) {
        fprintf(stderr, "ft_init: %s\n", ft_err_message());
        return 1;
    }
    int64_t base = ft_live_objects();
    shared_data d = {.n = cfg.n, .passes = cfg.passes, .pin = opts.pin, .verify = opts.smoke};
    if (build_containers(&d) != 0) {
        fprintf(stderr, "bench_objects_read_shared: out of memory\n");
        return 1;
    }
    ft_bench_results results = {0};
    int64_t bad = 0;
    if (opts.pin) {
        ft_bench_pin_self(0);
    }
    measure_all(&d, &cfg, &opts, &results, &bad);
    ft_decref(d.list);
    ft_decref(d.dict);
    ft_gc_collect();
    bool ok = bad == 0 && ft_live_objects() == base;
    if (!ok) {
        fprintf(
            stderr,
            "bench_objects_read_shared: verification failed: %lld bad reads, %lld objects left\n",
            (long long)bad, (long long)(ft_live_objects() - base));
    }
    int rc = ok ? 0 : 1;
    if (opts.smoke) {
        printf("bench_objects_read_shared: smoke %s (%d runs verified)\n", ok ? "ok" : "FAILED",
               results.count);
    } else {
        printf("# %s\n# cpus=%d pin=%s reps=%d n=%lld passes=%lld\n", ft_build_info(),
               ft_bench_cpu_count(), opts.pin ? "yes" : "no", opts.reps, (long long)cfg.n,
               (long long)cfg.passes);
        ft_bench_print_table(&results);
        if (opts.json_path != NULL && ft_bench_write_json(&results, opts.json_path, argv[0]) != 0) {
            rc = 1;
        }
    }
    ft_bench_results_free(&results);
    ft_fini();
    return rc;
}
