// bench_refcount_pairs: ns per ft_incref + ft_decref pair (DESIGN.md §7, §8:
// the owner pair within 15% of the GIL build's plain pair; what the atomic
// variant costs; non-owner pairs uncontended and contended; immortals do not
// contend). Every figure is per thread: wall time of a thread's loop divided
// by its pairs, median over --reps repetitions.
//
//   own/threads:1                 the owner's object (biased: plain local count)
//   foreign/threads:1             an object another thread owns
//   foreign/threads:2             each thread its own foreign object (no sharing)
//   foreign_contended/threads:2   both threads hammer one foreign object
//   foreign_sharded/..., foreign_contended_sharded/threads:2
//                                 the same after promotion to per-thread
//                                 counts (FT_SHARDED_RC; otherwise equal to
//                                 the biased cases). Biased cases run with
//                                 promotion off (threshold 0).
//   immortal/threads:1, :2        ft_none(): no write at all in FT builds
//   emulated_plain, emulated_atomic   the same loop on a bare C counter, plain
//                 and lock-prefixed: this machine's baseline, in this process
//
// Workers are ft threads pinned to distinct CPUs (--no-pin to leave them);
// they poll ft_safepoint() every 1024 pairs, as an interpreter would, so the
// GIL build's 2-thread figures include its switching (the honest cost there).
// Objects are 128-byte blocks, one per pair of cache lines: the uncontended
// runs share nothing. Flags: --reps N (5) --json FILE --smoke --no-pin
// --pairs N (pairs per thread per repetition for the fast cases; 20000000).
#include "harness.h"

enum { SAFEPOINT_EVERY = 1024 };

typedef struct bench_object {
    ft_object ob_base;
    char pad[128 - sizeof(ft_object)];
} bench_object;

static _Atomic(int) bench_freed;   // atomic: deallocators / main (after joins)

static void
bench_dealloc(ft_object *obj)
{
    // pairs: acquire load in main()
    ft_atomic_add_release_int(&bench_freed, 1);
    ft_object_free(obj);
}

static const ft_type bench_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "bench_refcount_object",
    .tp_basicsize = sizeof(bench_object),
    .tp_dealloc = bench_dealloc,
};

typedef enum pair_kind { PAIR_FT, PAIR_PLAIN, PAIR_ATOMIC } pair_kind;

typedef struct run_state {
    pair_kind kind;
    ft_object *objs[2];     // per worker; created by main before the start
    bool create_own;        // workers create their own object instead
    int64_t pairs;
    bool pin;
    _Atomic(int) ready;
    _Atomic(int) go;
} run_state;

typedef struct worker_arg {
    run_state *run;
    int index;
    int64_t ns;             // owner only; read after join
    int64_t own_count;      // count of its own object before its last decref
} worker_arg;

// One loop per kind so each compiles to its own fast path. The barrier keeps
// the compiler from folding an increment into the following decrement.
static void
loop_ft(ft_object *obj, int64_t pairs)
{
    for (int64_t i = 0; i < pairs; i++) {
        ft_incref(obj);
        FT_OPT_BARRIER(obj);
        ft_decref(obj);
        FT_OPT_BARRIER(obj);
        if (FT_UNLIKELY((i & (SAFEPOINT_EVERY - 1)) == 0)) {
            ft_safepoint();
        }
    }
}

static void
loop_plain(int64_t pairs)
{
    struct {
        int64_t count;
    } emulated = {1};
    int64_t *count = &emulated.count;
    for (int64_t i = 0; i < pairs; i++) {
        ++*count;
        FT_OPT_BARRIER(count);
        if (--*count == 0) {
            abort();
        }
        FT_OPT_BARRIER(count);
        if (FT_UNLIKELY((i & (SAFEPOINT_EVERY - 1)) == 0)) {
            ft_safepoint();
        }
    }
}

static void
loop_atomic(int64_t pairs)
{
    _Atomic(int64_t) emulated = 1;
    _Atomic(int64_t) *count = &emulated;
    for (int64_t i = 0; i < pairs; i++) {
        // relaxed: as ft_incref() in the atomic build
        ft_atomic_add_relaxed_i64(count, 1);
        FT_OPT_BARRIER(count);
        // pairs: the other decrements (as ft_decref() in the atomic build)
        if (ft_atomic_sub_acq_rel_i64(count, 1) == 1) {
            abort();
        }
        FT_OPT_BARRIER(count);
        if (FT_UNLIKELY((i & (SAFEPOINT_EVERY - 1)) == 0)) {
            ft_safepoint();
        }
    }
}

static void
worker_main(void *arg)
{
    worker_arg *w = arg;
    run_state *r = w->run;
    if (r->pin) {
        ft_bench_pin_self(w->index);
    }
    ft_object *obj = r->create_own ? ft_object_new(&bench_type) : r->objs[w->index];
    // pairs: acquire load in run_once()
    ft_atomic_add_release_int(&r->ready, 1);
    // pairs: release store in run_once()
    while (!ft_atomic_load_acquire_int(&r->go)) {
        ft_safepoint();   // the GIL build hands the lock around meanwhile
        sched_yield();
    }
    int64_t start = ft_bench_now_ns();
    if (r->kind == PAIR_PLAIN) {
        loop_plain(r->pairs);
    } else if (r->kind == PAIR_ATOMIC) {
        loop_atomic(r->pairs);
    } else if (obj != NULL) {
        loop_ft(obj, r->pairs);
    }
    w->ns = ft_bench_now_ns() - start;
    if (r->create_own && obj != NULL) {
        w->own_count = ft_ref_count_approx(obj);
        ft_decref(obj);
    }
}

static bool all_exact = true;   // main only

// One repetition: `threads` workers, each `pairs` pairs. Returns the mean
// per-thread ns per pair; *cpu gets process CPU ns per pair.
static double
run_once(run_state *r, int threads, double *cpu)
{
    worker_arg args[2];
    ft_thread *handles[2];
    // relaxed: no worker runs yet
    ft_atomic_store_relaxed_int(&r->ready, 0);
    ft_atomic_store_relaxed_int(&r->go, 0);
    for (int i = 0; i < threads; i++) {
        args[i] = (worker_arg){.run = r, .index = i};
        handles[i] = ft_thread_start(worker_main, &args[i]);
        if (handles[i] == NULL) {
            fprintf(stderr, "ft_thread_start: %s\n", ft_err_message());
            exit(1);
        }
    }
    int64_t cpu_start = 0;
    FT_BEGIN_ALLOW_THREADS
    // pairs: release add in worker_main()
    while (ft_atomic_load_acquire_int(&r->ready) < threads) {
        sched_yield();
    }
    cpu_start = ft_bench_cpu_ns();
    // pairs: acquire load in worker_main()
    ft_atomic_store_release_int(&r->go, 1);
    FT_END_ALLOW_THREADS
    double sum = 0;
    for (int i = 0; i < threads; i++) {
        ft_thread_join(handles[i]);
        sum += (double)args[i].ns / (double)r->pairs;
        if (r->create_own && args[i].own_count != 1) {
            fprintf(stderr, "own object: count %lld after the loop, expected 1\n",
                    (long long)args[i].own_count);
            all_exact = false;
        }
    }
    *cpu = (double)(ft_bench_cpu_ns() - cpu_start) / (double)(r->pairs * threads);
    return sum / threads;
}

typedef struct bench_case {
    const char *name;
    pair_kind kind;
    int threads;
    bool own, immortal, contended;
    bool sharded;            // promote the foreign object(s) before measuring
    int64_t pairs_divisor;   // slow cases run fewer pairs
} bench_case;

static void
verify_objects(ft_object **objs, int n)
{
    for (int i = 0; i < n; i++) {
        if (objs[i] != NULL && !ft_ref_is_immortal(objs[i]) && ft_ref_count_approx(objs[i]) != 1) {
            fprintf(stderr, "object %d: count %lld after the run, expected 1\n", i,
                    (long long)ft_ref_count_approx(objs[i]));
            all_exact = false;
        }
    }
}

static void
measure(ft_bench_results *results, const bench_case *c, const ft_bench_options *opts,
        int64_t pairs)
{
    run_state r = {.kind = c->kind, .create_own = c->own, .pin = opts->pin,
                   .pairs = opts->smoke ? 1000 : pairs / c->pairs_divisor};
    ft_object *made[2] = {NULL, NULL};
    if (c->kind == PAIR_FT && !c->own) {
        for (int i = 0; i < 2; i++) {
            if (c->immortal) {
                r.objs[i] = ft_none();
            } else if (c->contended && i == 1) {
                r.objs[i] = r.objs[0];
            } else {
                made[i] = r.objs[i] = ft_object_new(&bench_type);   // owned by main
                if (made[i] == NULL) {
                    fprintf(stderr, "ft_object_new: %s\n", ft_err_message());
                    exit(1);
                }
            }
        }
    }
    // Biased cases pin the object unsharded (threshold 0); sharded cases
    // promote it first with a short warm-up and a pause (refcount/shard.c).
    ft_ref_shard_set_threshold(c->sharded ? 1 : 0);
    if (c->sharded) {
        // Promoted on request: this measures what a sharded pair costs,
        // not how soon contention promotes (test_refcount_shard does that).
        for (int i = 0; i < c->threads; i++) {
            ft_ref_shard_promote(r.objs[i]);
        }
        ft_ref_shard_sync(0);
        for (int i = 0; i < c->threads; i++) {
            if (made[i] != NULL && !ft_ref_is_sharded(made[i]) && FT_SHARDED_RC) {
                fprintf(stderr, "%s: object %d was not promoted\n", c->name, i);
                all_exact = false;
            }
        }
    }
    int reps = opts->smoke ? 1 : opts->reps;
    double samples[64], cpu_samples[64];
    reps = reps > 64 ? 64 : reps;
    for (int rep = 0; rep < reps; rep++) {
        samples[rep] = run_once(&r, c->threads, &cpu_samples[rep]);
    }
    ft_ref_shard_sync(0);   // sharded counts are exact in the header after a pause
    verify_objects(made, 2);
    for (int i = 0; i < 2; i++) {
        if (made[i] != NULL) {
            ft_decref(made[i]);
        }
    }
    if (opts->smoke) {
        return;
    }
    ft_bench_summary s = ft_bench_summarize(samples, reps);
    ft_bench_summary cpu = ft_bench_summarize(cpu_samples, reps);
    ft_bench_result *e = ft_bench_add(results, c->name);
    e->real_time = s.median;
    e->cpu_time = cpu.median;
    e->min = s.min;
    e->max = s.max;
    e->iterations = r.pairs;
    e->repetitions = reps;
    e->threads = c->threads;
}

static int
parse_flag(void *ctx, const char *flag, const char *value)
{
    int64_t *pairs = ctx;
    if (strcmp(flag, "--pairs") == 0 && value != NULL) {
        *pairs = atoll(value);
        return *pairs >= 1000 ? 2 : 0;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    int64_t pairs = 20000000;
    ft_bench_options opts;
    ft_bench_parse(&opts, argc, argv, parse_flag, &pairs);
    ft_bench_require_release(&opts);
    if (ft_init() != 0) {
        fprintf(stderr, "ft_init: %s\n", ft_err_message());
        return 1;
    }
    static const bench_case cases[] = {
        {"refcount_pairs/own/threads:1", PAIR_FT, 1, .own = true, .pairs_divisor = 1},
        {"refcount_pairs/own/threads:2", PAIR_FT, 2, .own = true, .pairs_divisor = 1},
        {"refcount_pairs/foreign/threads:1", PAIR_FT, 1, .pairs_divisor = 4},
        {"refcount_pairs/foreign/threads:2", PAIR_FT, 2, .pairs_divisor = 4},
        {"refcount_pairs/foreign_contended/threads:2", PAIR_FT, 2, .contended = true,
         .pairs_divisor = 40},
        {"refcount_pairs/foreign_sharded/threads:1", PAIR_FT, 1, .sharded = true,
         .pairs_divisor = 1},
        {"refcount_pairs/foreign_sharded/threads:2", PAIR_FT, 2, .sharded = true,
         .pairs_divisor = 1},
        {"refcount_pairs/foreign_contended_sharded/threads:2", PAIR_FT, 2, .contended = true,
         .sharded = true, .pairs_divisor = 1},
        {"refcount_pairs/immortal/threads:1", PAIR_FT, 1, .immortal = true, .pairs_divisor = 1},
        {"refcount_pairs/immortal/threads:2", PAIR_FT, 2, .immortal = true, .pairs_divisor = 1},
        {"refcount_pairs/emulated_plain/threads:1", PAIR_PLAIN, 1, .pairs_divisor = 1},
        {"refcount_pairs/emulated_atomic/threads:1", PAIR_ATOMIC, 1, .pairs_divisor = 1},
    };
    if (!opts.smoke) {
        printf("# %s\n# cpus=%d pin=%s reps=%d pairs=%lld\n", ft_build_info(),
               ft_bench_cpu_count(), opts.pin ? "yes" : "no", opts.reps, (long long)pairs);
    }
    unsigned char none_before[sizeof(ft_object)];
    memcpy(none_before, ft_none(), sizeof(ft_object));
    ft_gc_collect();
    int64_t live = ft_live_objects();
    ft_bench_results results = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        measure(&results, &cases[i], &opts, pairs);
    }
    ft_gc_collect();
    if (ft_live_objects() != live) {
        fprintf(stderr, "live objects %lld, expected %lld\n", (long long)ft_live_objects(),
                (long long)live);
        all_exact = false;
    }
    if (memcmp(none_before, ft_none(), sizeof(ft_object)) != 0) {
        fprintf(stderr, "the immortal None header changed\n");
        all_exact = false;
    }
    // pairs: release add in bench_dealloc()
    if (ft_atomic_load_acquire_int(&bench_freed) == 0) {
        fprintf(stderr, "no benchmark object was ever freed\n");
        all_exact = false;
    }
    int rc = all_exact ? 0 : 1;
    if (opts.smoke) {
        printf("bench_refcount_pairs smoke: %s\n", all_exact ? "ok" : "FAILED");
    } else {
        ft_bench_print_table(&results);
        if (opts.json_path != NULL &&
            ft_bench_write_json(&results, opts.json_path, opts.argv0) != 0) {
            rc = 1;
        }
    }
    ft_bench_results_free(&results);
    ft_fini();
    return rc;
}
