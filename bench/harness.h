// bench/harness.h: what every bench/bench_<subsystem>_<topic>.c shares
// (STYLE.md rule 17, DESIGN.md §7). Header-only: each benchmark is one file.
//
//   ft_bench_options opts;
//   ft_bench_parse(&opts, argc, argv, my_flag, my_ctx)
//       --reps N (default 5), --json FILE, --smoke, --no-pin; anything else
//       goes to my_flag(ctx, flag, value), which returns how many arguments
//       it used (1: the flag alone, 2: flag and value) or 0 (unknown: usage
//       error). Exits 2 on a usage error.
//   ft_bench_require_release(&opts)
//       debug and sanitizer builds exit 2 unless --smoke: their figures
//       would mislead (DESIGN.md §7); --smoke runs tiny work and verifies it.
//   ft_bench_now_ns(), ft_bench_cpu_ns()   monotonic / process CPU time
//   ft_bench_summary s = ft_bench_summarize(samples, n)   median, min, max, mean
//   ft_bench_cpu_count(), ft_bench_pin_self(k)   pin to the k-th allowed CPU
//   ft_bench_results r = {0}; ft_bench_result *e = ft_bench_add(&r, name);
//       fill e->real_time (median per iteration), e->cpu_time, e->min,
//       e->max, e->iterations, e->repetitions, e->threads and up to
//       FT_BENCH_EXTRA_MAX named extras with ft_bench_extra(e, "key", v);
//   ft_bench_add_raw(&r, "{...}")   an entry already rendered as JSON (a
//       child process's line from ft_bench_write_entries)
//   ft_bench_write_json(&r, path)   Google Benchmark layout, which
//       libbenchmark-tools' compare.py and bench/report.py read:
//       {"context": {"date", "host_name", "executable", "num_cpus",
//        "mhz_per_cpu", "cpu_scaling_enabled", "library_build_type",
//        "build_info", ...}, "benchmarks": [{"name", "run_name",
//        "run_type": "iteration", "repetitions", "real_time", "cpu_time",
//        "time_unit": "ns", "iterations", "min", "max", extras...}]}
//   ft_bench_write_entries(&r, path)   one rendered entry per line
//   ft_bench_print_table(&r)           the short human table on stdout
//   ft_bench_parse_list("1,2,4", out, max)   comma list of positive ints
//   ft_bench_results_free(&r)          at the end: the smoke runs under ASan
//                                      check for leaks
//
// Times are nanoseconds per iteration; the figures are medians over the
// repetitions with min and max beside them, never a single run.
#ifndef FT_BENCH_HARNESS_H
#define FT_BENCH_HARNESS_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ftrt.h"

// ------------------------------------------------------------ options
typedef struct ft_bench_options {
    int reps;               // --reps N (>= 1)
    const char *json_path;  // --json FILE, or NULL
    bool smoke;             // --smoke: tiny work, verified, no timing output
    bool pin;               // cleared by --no-pin
    const char *argv0;
} ft_bench_options;

typedef int (*ft_bench_flag_fn)(void *ctx, const char *flag, const char *value);

static inline void
ft_bench_usage_error(const char *argv0, const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s '%s'\n(common flags: --reps N --json FILE --smoke --no-pin)\n", argv0,
            what, arg);
    exit(2);
}

static inline void
ft_bench_parse(ft_bench_options *opts, int argc, char **argv, ft_bench_flag_fn extra, void *ctx)
{
    *opts = (ft_bench_options){.reps = 5, .pin = true, .argv0 = argv[0]};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--smoke") == 0) {
            opts->smoke = true;
        } else if (strcmp(flag, "--no-pin") == 0) {
            opts->pin = false;
        } else if (strcmp(flag, "--reps") == 0 && value != NULL) {
            opts->reps = atoi(value);
            if (opts->reps < 1) {
                ft_bench_usage_error(argv[0], "bad --reps", value);
            }
            i++;
        } else if (strcmp(flag, "--json") == 0 && value != NULL) {
            opts->json_path = value;
            i++;
        } else {
            int used = extra != NULL ? extra(ctx, flag, value) : 0;
            if (used <= 0) {
                ft_bench_usage_error(argv[0], "unknown flag or missing value", flag);
            }
            i += used - 1;
        }
    }
}

static inline void
ft_bench_require_release(const ft_bench_options *opts)
{
#if FT_DEBUG || FT_TSAN || FT_ASAN
    if (!opts->smoke) {
        fprintf(stderr,
                "%s: this is a debug or sanitizer build (%s); its timings would "
                "mislead. Use a release preset, or --smoke to only check that it runs.\n",
                opts->argv0, ft_build_info());
        exit(2);
    }
#else
    (void)opts;
#endif
}

// Parses "1,2,4" into out[]; returns the count, or -1 on a bad list.
static inline int
ft_bench_parse_list(const char *text, int *out, int max)
{
    int n = 0;
    const char *p = text;
    while (*p != '\0') {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 0 || v > 1 << 20 || n == max) {
            return -1;
        }
        out[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0') {
            return -1;
        }
    }
    return n > 0 ? n : -1;
}

// ------------------------------------------------------------ time
static inline int64_t
ft_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t
ft_bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void
ft_bench_sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

// ------------------------------------------------------------ statistics
typedef struct ft_bench_summary {
    double median, min, max, mean;
} ft_bench_summary;

static inline int
ft_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline ft_bench_summary
ft_bench_summarize(const double *samples, int n)
{
    ft_bench_summary s = {0, 0, 0, 0};
    if (n <= 0) {
        return s;
    }
    double *sorted = malloc(sizeof(double) * (size_t)n);
    if (sorted == NULL) {
        return s;
    }
    memcpy(sorted, samples, sizeof(double) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(double), ft_bench_cmp_double);
    s.min = sorted[0];
    s.max = sorted[n - 1];
    s.median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    for (int i = 0; i < n; i++) {
        s.mean += sorted[i] / n;
    }
    free(sorted);
    return s;
}

// ------------------------------------------------------------ CPUs
static inline int
ft_bench_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return (int)sysconf(_SC_NPROCESSORS_ONLN);
    }
    return CPU_COUNT(&set);
}

// Pins the calling thread to the k-th CPU (mod count) of the process's
// allowed set, so k = 0, 1 land on distinct CPUs. Returns whether it did.
static cpu_set_t ft_bench_allowed_cpus;  // written once, before pinning

static inline void
ft_bench_read_allowed_cpus(void)
{
    if (sched_getaffinity(0, sizeof(ft_bench_allowed_cpus), &ft_bench_allowed_cpus) != 0) {
        CPU_ZERO(&ft_bench_allowed_cpus);
    }
}

static inline bool
ft_bench_pin_self(int k)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ft_bench_read_allowed_cpus);
    const cpu_set_t *allowed = &ft_bench_allowed_cpus;
    int count = CPU_COUNT(allowed);
    if (count <= 0) {
        return false;
    }
    int want = k % count;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, allowed) && want-- == 0) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
        }
    }
    return false;
}

// ------------------------------------------------------------ results
#define FT_BENCH_EXTRA_MAX 8

typedef struct ft_bench_result {
    char name[160];
    char *raw;           // a pre-rendered entry (ft_bench_add_raw), else NULL
    double real_time;    // ns per iteration, median over repetitions
    double cpu_time;     // ns of process CPU per iteration, median
    double min, max;     // of real_time over repetitions
    int64_t iterations;  // per repetition (median)
    int repetitions;
    int threads;
    int extra_count;
    const char *extra_key[FT_BENCH_EXTRA_MAX];  // string literals
    double extra_value[FT_BENCH_EXTRA_MAX];
} ft_bench_result;

typedef struct ft_bench_results {
    ft_bench_result *items;
    int count, capacity;
} ft_bench_results;

static inline ft_bench_result *
ft_bench_add(ft_bench_results *r, const char *name)
{
    if (r->count == r->capacity) {
        int cap = r->capacity ? 2 * r->capacity : 16;
        ft_bench_result *grown = realloc(r->items, sizeof(*grown) * (size_t)cap);
        if (grown == NULL) {
            fprintf(stderr, "bench: out of memory\n");
            exit(1);
        }
        r->items = grown;
        r->capacity = cap;
    }
    ft_bench_result *e = &r->items[r->count++];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->threads = 1;
    return e;
}

static inline void
ft_bench_extra(ft_bench_result *e, const char *key, double value)
{
    if (e->extra_count < FT_BENCH_EXTRA_MAX) {
        e->extra_key[e->extra_count] = key;
        e->extra_value[e->extra_count++] = value;
    }
}

static inline void
ft_bench_add_raw(ft_bench_results *r, const char *json_object)
{
    ft_bench_result *e = ft_bench_add(r, "(raw)");
    e->raw = strdup(json_object);
}

static inline void
ft_bench_render_entry(FILE *f, const ft_bench_result *e)
{
    if (e->raw != NULL) {
        fputs(e->raw, f);
        return;
    }
    fprintf(f,
            "{\"name\": \"%s\", \"run_name\": \"%s\", \"run_type\": \"iteration\", "
            "\"repetitions\": %d, \"repetition_index\": 0, \"threads\": %d, "
            "\"iterations\": %" PRId64 ", \"real_time\": %.6g, \"cpu_time\": %.6g, "
            "\"time_unit\": \"ns\", \"min\": %.6g, \"max\": %.6g",
            e->name, e->name, e->repetitions, e->threads, e->iterations, e->real_time, e->cpu_time,
            e->min, e->max);
    for (int i = 0; i < e->extra_count; i++) {
        fprintf(f, ", \"%s\": %.6g", e->extra_key[i], e->extra_value[i]);
    }
    fputc('}', f);
}

static inline double
ft_bench_mhz(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    double mhz = 0;
    char line[256];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "cpu MHz : %lf", &mhz) == 1) {
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return mhz;
}

static inline void
ft_bench_write_context(FILE *f, const char *argv0)
{
    char date[64], host[128] = "unknown";
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    long off = tm.tm_gmtoff / 60;
    gethostname(host, sizeof(host) - 1);
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    fprintf(f,
            "  \"context\": {\"date\": \"%s%c%02ld:%02ld\", \"host_name\": \"%s\", "
            "\"executable\": \"%s\", \"num_cpus\": %d, \"mhz_per_cpu\": %.0f, "
            "\"cpu_scaling_enabled\": false, \"caches\": [], "
            "\"load_avg\": [%.2f, %.2f, %.2f], \"library_build_type\": \"%s\", "
            "\"build_info\": \"%s\"},\n",
            date, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60, host, argv0,
            ft_bench_cpu_count(), ft_bench_mhz(), load[0], load[1], load[2],
            FT_DEBUG ? "debug" : "release", ft_build_info());
}

// Returns 0, or -1 (message printed) if the file cannot be written.
static inline int
ft_bench_write_json(const ft_bench_results *r, const char *path, const char *argv0)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    fputs("{\n", f);
    ft_bench_write_context(f, argv0);
    fputs("  \"benchmarks\": [\n", f);
    for (int i = 0; i < r->count; i++) {
        fputs("    ", f);
        ft_bench_render_entry(f, &r->items[i]);
        fputs(i + 1 < r->count ? ",\n" : "\n", f);
    }
    fputs("  ]\n}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

// One rendered entry per line, for a parent process to splice in.
static inline int
ft_bench_write_entries(const ft_bench_results *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    for (int i = 0; i < r->count; i++) {
        ft_bench_render_entry(f, &r->items[i]);
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

// Reads a file of ft_bench_write_entries lines into r. Returns the count.
static inline int
ft_bench_read_entries(ft_bench_results *r, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '{') {
            ft_bench_add_raw(r, line);
            n++;
        }
    }
    fclose(f);
    return n;
}

static inline void
ft_bench_print_table(const ft_bench_results *r)
{
    printf("%-44s %12s %12s %12s %14s\n", "benchmark", "median ns", "min ns", "max ns",
           "iterations");
    for (int i = 0; i < r->count; i++) {
        const ft_bench_result *e = &r->items[i];
        if (e->raw != NULL) {
            continue;  // printed by the process that measured it
        }
        printf("%-44s %12.2f %12.2f %12.2f %14" PRId64, e->name, e->real_time, e->min, e->max,
               e->iterations);
        for (int k = 0; k < e->extra_count; k++) {
            printf("  %s=%.3g", e->extra_key[k], e->extra_value[k]);
        }
        putchar('\n');
    }
}

static inline void
ft_bench_results_free(ft_bench_results *r)
{
    for (int i = 0; i < r->count; i++) {
        free(r->items[i].raw);
    }
    free(r->items);
    *r = (ft_bench_results){0};
}

#endif
