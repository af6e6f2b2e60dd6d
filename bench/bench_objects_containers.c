// bench_objects_containers: single-thread container micro-benchmarks on the
// caller's own objects (DESIGN.md §7, issue 4): ns per operation.
//
//   list_append/own      append to a fresh list (growth included)
//   list_get/own         ft_list_get_ref + ft_decref on a 1024-item list
//   dict_insert/own      insert distinct int keys into a fresh dict (resizes included)
//   dict_overwrite/own   ft_dict_set of existing keys (1024-entry dict)
//   dict_get/own         ft_dict_get_ref + ft_decref of existing keys
//   int_alloc_free       ft_int_new outside the small-int cache + ft_decref
//
// Items and keys are heap ints made once by this thread (owner-path
// reference counting), so the figures measure the container operation and
// its critical section, not allocation of the items. Compare builds by
// running the same command under release-gil, release-ft and
// release-ft-atomic (`./ftrt compare` does that).
//
// Flags: --reps N (5) --json FILE --smoke --no-pin --ops N (1000000 per
// repetition). --smoke runs 2000 operations, verifies every result and
// prints no timings; debug and sanitizer builds refuse to run without it.
#include "harness.h"

#define POOL 1024  // items, keys and values reused by the loops (power of 2)

typedef struct config {
    int64_t ops;
} config;

typedef struct pools {
    ft_object *items[POOL];  // heap ints 1000000 + i
    ft_object **keys;        // ops distinct heap ints (dict_insert)
    int64_t nkeys;
} pools;

static int
parse_flag(void *ctx, const char *flag, const char *value)
{
    config *cfg = ctx;
    if (strcmp(flag, "--ops") == 0 && value != NULL) {
        cfg->ops = strtoll(value, NULL, 10);
        return cfg->ops > 0 ? 2 : 0;
    }
    return 0;
}

static bool verify_failed;

static void
check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "bench_objects_containers: verification failed: %s (%s)\n", what,
                ft_err_occurred() ? ft_err_message() : "no error set");
        verify_failed = true;
    }
}

// ------------------------------------------------------------ benchmarks
// Each returns the elapsed ns of its timed loop of `ops` operations.

static int64_t
bench_list_append(pools *p, int64_t ops)
{
    ft_object *list = ft_list_new();
    int64_t start = ft_bench_now_ns();
    for (int64_t i = 0; i < ops; i++) {
        ft_list_append(list, p->items[i & (POOL - 1)]);
    }
    int64_t elapsed = ft_bench_now_ns() - start;
    check(ft_list_len(list) == ops, "list_append length");
    ft_object *last = ft_list_get_ref(list, ops - 1);
    check(last == p->items[(ops - 1) & (POOL - 1)], "list_append last item");
    ft_xdecref(last);
    ft_decref(list);
    return elapsed;
}

static int64_t
bench_list_get(pools *p, int64_t ops)
{
    ft_object *list = ft_list_new();
    for (int i = 0; i < POOL; i++) {
        ft_list_append(list, p->items[i]);
    }
    int64_t mismatches = 0;
    int64_t start = ft_bench_now_ns();
    for (int64_t i = 0; i < ops; i++) {
        ft_object *x = ft_list_get_ref(list, i & (POOL - 1));
        mismatches += x != p->items[i & (POOL - 1)];
        ft_xdecref(x);
    }
    int64_t elapsed = ft_bench_now_ns() - start;
    check(mismatches == 0, "list_get items");
    ft_decref(list);
    return elapsed;
}

static int64_t
bench_dict_insert(pools *p, int64_t ops)
{
    ft_object *dict = ft_dict_new();
    ft_object *value = p->items[0];
    int64_t start = ft_bench_now_ns();
    for (int64_t i = 0; i < ops; i++) {
        ft_dict_set(dict, p->keys[i], value);
    }
    int64_t elapsed = ft_bench_now_ns() - start;
    check(ft_dict_len(dict) == ops, "dict_insert length");
    ft_object *got = NULL;
    check(ft_dict_get_ref(dict, p->keys[ops / 2], &got) == 1 && got == value, "dict_insert lookup");
    ft_xdecref(got);
    ft_decref(dict);
    return elapsed;
}

static ft_object *
dict_of_pool(pools *p)
{
    ft_object *dict = ft_dict_new();
    for (int i = 0; i < POOL; i++) {
        ft_dict_set(dict, p->items[i], p->items[i]);
    }
    return dict;
}

static int64_t
bench_dict_overwrite(pools *p, int64_t ops)
{
    ft_object *dict = dict_of_pool(p);
    int64_t start = ft_bench_now_ns();
    for (int64_t i = 0; i < ops; i++) {
        ft_dict_set(dict, p->items[i & (POOL - 1)], p->items[(i + 1) & (POOL - 1)]);
    }
    int64_t elapsed = ft_bench_now_ns() - start;
    check(ft_dict_len(dict) == POOL, "dict_overwrite length");
    ft_object *got = NULL;
    int64_t k = (ops - 1) & (POOL - 1);
    check(ft_dict_get_ref(dict, p->items[k], &got) == 1 && got == p->items[(k + 1) & (POOL - 1)],
          "dict_overwrite value");
    ft_xdecref(got);
    ft_decref(dict);
    return elapsed;
}

static int64_t
bench_dict_get(pools *p, int64_t ops)
{
    ft_object *dict = dict_of_pool(p);
    int64_t mismatches = 0;
    int64_t start = ft_bench_now_ns();
    for (int64_t i = 0; i < ops; i++) {
        ft_object *got = NULL;
        ft_dict_get_ref(dict, p->items[i & (POOL - 1)], &got);
        mismatches += got != p->items[i & (POOL - 1)];
        ft_xdecref(got);
    }
    int64_t elapsed = ft_bench_now_ns() - start;
    check(mismatches == 0, "dict_get values");
    ft_decref(dict);
    return elapsed;
}

static int64_t
bench_int_alloc_free(pools *p, int64_t ops)
{
    (void)p;
    int64_t sum = 0;
    int64_t start = ft_bench_now_ns();
    for (int64_t i = 0; i < ops; i++) {
        ft_object *x = ft_int_new(1000 + (i & (POOL - 1)));
        FT_OPT_BARRIER(x);
        sum += x != NULL;
        ft_decref(x);
    }
    int64_t elapsed = ft_bench_now_ns() - start;
    check(sum == ops, "int_alloc_free allocations");
    return elapsed;
}

typedef struct bench_case {
    const char *name;
    int64_t (*run)(pools *p, int64_t ops);
} bench_case;

static const bench_case cases[] = {
    {"containers/list_append/own", bench_list_append},
    {"containers/list_get/own", bench_list_get},
    {"containers/dict_insert/own", bench_dict_insert},
    {"containers/dict_overwrite/own", bench_dict_overwrite},
    {"containers/dict_get/own", bench_dict_get},
    {"containers/int_alloc_free", bench_int_alloc_free},
};

// ------------------------------------------------------------ driver

static int
make_pools(pools *p, int64_t nkeys)
{
    for (int i = 0; i < POOL; i++) {
        p->items[i] = ft_int_new(1000000 + i);
    }
    p->nkeys = nkeys;
    p->keys = malloc(sizeof(ft_object *) * (size_t)nkeys);
    if (p->keys == NULL) {
        return -1;
    }
    for (int64_t i = 0; i < nkeys; i++) {
        p->keys[i] = ft_int_new(2000000 + i * 7);
    }
    return 0;
}

static void
free_pools(pools *p)
{
    for (int i = 0; i < POOL; i++) {
        ft_decref(p->items[i]);
    }
    for (int64_t i = 0; i < p->nkeys; i++) {
        ft_decref(p->keys[i]);
    }
    free(p->keys);
}

static void
measure(const bench_case *c, pools *p, const ft_bench_options *opts, int64_t ops,
        ft_bench_results *results)
{
    double samples[64], cpu_samples[64];
    int reps = opts->reps < 64 ? opts->reps : 64;
    c->run(p, ops < 10000 ? ops : 10000);  // warm-up: page in the allocator's pages
    for (int r = 0; r < reps; r++) {
        int64_t cpu0 = ft_bench_cpu_ns();
        int64_t ns = c->run(p, ops);
        int64_t cpu = ft_bench_cpu_ns() - cpu0;  // includes the untimed setup/teardown
        samples[r] = (double)ns / (double)ops;
        cpu_samples[r] = (double)cpu / (double)ops;
    }
    ft_bench_summary s = ft_bench_summarize(samples, reps);
    ft_bench_summary cs = ft_bench_summarize(cpu_samples, reps);
    ft_bench_result *e = ft_bench_add(results, c->name);
    e->real_time = s.median;
    e->cpu_time = cs.median;
    e->min = s.min;
    e->max = s.max;
    e->iterations = ops;
    e->repetitions = reps;
}

int
main(int argc, char **argv)
{
    config cfg = {.ops = 1000000};
    ft_bench_options opts;
    ft_bench_parse(&opts, argc, argv, parse_flag, &cfg);
    ft_bench_require_release(&opts);
    if (opts.smoke) {
        cfg.ops = 2000;
        opts.reps = 1;
    }
    if (ft_init() != 0) {
        fprintf(stderr, "ft_init: %s\n", ft_err_message());
        return 1;
    }
    if (opts.pin) {
        ft_bench_pin_self(0);
    }
    int64_t base = ft_live_objects();
    pools p;
    if (make_pools(&p, cfg.ops) != 0) {
        fprintf(stderr, "bench_objects_containers: out of memory\n");
        return 1;
    }
    ft_bench_results results = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        measure(&cases[i], &p, &opts, cfg.ops, &results);
    }
    free_pools(&p);
    ft_gc_collect();
    check(ft_live_objects() == base, "every object freed");
    int rc = verify_failed ? 1 : 0;
    if (opts.smoke) {
        printf("bench_objects_containers: smoke %s (%d benchmarks verified)\n",
               rc == 0 ? "ok" : "FAILED", results.count);
    } else {
        printf("%s\n", ft_build_info());
        ft_bench_print_table(&results);
        if (opts.json_path != NULL && ft_bench_write_json(&results, opts.json_path, argv[0]) != 0) {
            rc = 1;
        }
    }
    ft_bench_results_free(&results);
    ft_fini();
    return rc;
}
