// bench_gc_pause: time of one ft_gc_collect() against the number of tracked
// (reachable) containers: 10^4, 10^5, 10^6. The collector stops the world
// in the FT build and holds the GIL in the GIL build; the mark work is the
// same, so the ratio shows what the stop-the-world protocol adds.
//   bench_gc_pause [--reps N] [--json FILE] [--smoke] [--max N]
#include "harness.h"

typedef struct config {
    int64_t max;
} config;

static int
parse_flag(void *ctx, const char *flag, const char *value)
{
    config *cfg = ctx;
    if (strcmp(flag, "--max") == 0 && value != NULL) {
        cfg->max = strtoll(value, NULL, 0);
        return 2;
    }
    return 0;
}

// n tracked containers, all reachable from one root list: half lists holding
// an int, half dicts mapping an int to the previous list.
static ft_object *
build(int64_t n)
{
    ft_object *root = ft_list_new();
    ft_object *prev = NULL;
    for (int64_t i = 0; root != NULL && i + 1 < n; i++) {
        ft_object *num = ft_int_new(1000 + i);
        ft_object *c;
        if (i % 2 == 0) {
            c = ft_list_new();
            ft_list_append(c, num);
        } else {
            c = ft_dict_new();
            ft_dict_set(c, num, prev != NULL ? prev : ft_none());
        }
        ft_list_append(root, c);
        prev = c;
        ft_decref(c);
        ft_decref(num);
    }
    return root;
}

int
main(int argc, char **argv)
{
    config cfg = {.max = 1000000};
    ft_bench_options opts;
    ft_bench_parse(&opts, argc, argv, parse_flag, &cfg);
    ft_bench_require_release(&opts);
    if (opts.smoke) {
        cfg.max = 1000;
        opts.reps = 1;
    }
    if (ft_init() != 0) {
        fprintf(stderr, "ft_init: %s\n", ft_err_message());
        return 1;
    }
    ft_gc_disable();   // only the timed collections run
    int64_t base = ft_live_objects();
    ft_bench_results results = {0};
    int failed = 0;
    for (int64_t n = opts.smoke ? 1000 : 10000; n <= cfg.max; n *= 10) {
        ft_object *root = build(n);
        if (root == NULL) {
            fprintf(stderr, "bench_gc_pause: out of memory\n");
            return 1;
        }
        double samples[64];
        int reps = opts.reps < 64 ? opts.reps : 64;
        for (int r = 0; r < reps; r++) {
            int64_t t0 = ft_bench_now_ns();
            int64_t freed = ft_gc_collect();
            samples[r] = (double)(ft_bench_now_ns() - t0);
            if (freed != 0) {
                fprintf(stderr, "bench_gc_pause: collected %lld reachable objects\n",
                        (long long)freed);
                failed = 1;
            }
        }
        ft_decref(root);
        ft_bench_summary s = ft_bench_summarize(samples, reps);
        char name[64];
        snprintf(name, sizeof(name), "gc_pause/tracked:%lld", (long long)n);
        ft_bench_result *e = ft_bench_add(&results, name);
        e->real_time = s.median;
        e->cpu_time = s.median;
        e->min = s.min;
        e->max = s.max;
        e->iterations = 1;
        e->repetitions = reps;
        e->threads = 1;
        ft_bench_extra(e, "ns_per_object", s.median / (double)n);
    }
    ft_gc_collect();
    if (ft_live_objects() != base) {
        fprintf(stderr, "bench_gc_pause: %lld objects leaked\n",
                (long long)(ft_live_objects() - base));
        failed = 1;
    }
    if (opts.smoke) {
        printf("bench_gc_pause: smoke %s\n", failed ? "FAILED" : "ok");
    } else {
        printf("%s\n", ft_build_info());
        ft_bench_print_table(&results);
        if (opts.json_path != NULL &&
            ft_bench_write_json(&results, opts.json_path, argv[0]) != 0) {
            failed = 1;
        }
    }
    ft_bench_results_free(&results);
    ft_fini();
    return failed;
}
