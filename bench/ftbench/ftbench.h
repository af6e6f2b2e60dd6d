// bench/ftbench/ftbench.h: the workload table of ftbench (DESIGN.md §7,
// issue 6) and the helpers the workload files share.
//
// A workload is C code that drives the public API the way an interpreter
// would: every value boxed, every load and store a real incref/decref, one
// ft_safepoint() per loop iteration (or per call, for recursion), and
// FT_BEGIN_ALLOW_THREADS around sleeps and pure C work. One "unit" is the
// work one thread does in one repetition; every thread does one unit, so
// ideal scaling keeps the wall time constant and throughput is
// threads * units / time.
//
// Life of one repetition (main.c): setup() once on the main thread, run() on
// every thread (started together), verify() on the main thread after the
// joins, teardown(); then the harness collects and checks that
// ft_live_objects() is back where it was (the leak check). Under
// --processes each child process does all of this with nthreads = 1.
#ifndef FTBENCH_FTBENCH_H
#define FTBENCH_FTBENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "ftrt.h"

// What one thread's run() hands back; verify() checks it.
// Padded to a cache line: run() updates its result every iteration, and the
// 16-byte results of neighbouring threads used to share a line. Padding, not
// an alignment attribute: results live in calloc'ed arrays, whose elements
// could not honour a 64-byte alignment (UBSan: misaligned store); 64 bytes
// apart, the hot fields of two results never share a line.
typedef struct ftb_result {
    int64_t value;  // a workload-defined checksum
    int64_t count;  // a workload-defined count (items, hits, ...)
    char pad[64 - 2 * sizeof(int64_t)];
} ftb_result;

// The state every run() receives as `shared`: the size of the unit, and the
// workload's own shared objects (setup() fills data; NULL when unshared).
// All fields are written before the threads start and only read after.
typedef struct ftb_state {
    int64_t n;         // iterations per unit (per thread)
    int nthreads;      // threads (1 in each process of --processes)
    bool real_cycles;  // cycle_churn: leave cycles to the collector
    void *data;        // the workload's shared state
} ftb_state;

// Extra per-workload numbers for the report (e.g. lost_updates).
#define FTB_MAX_EXTRAS 4
typedef struct ftb_extras {
    int count;
    const char *name[FTB_MAX_EXTRAS];
    int64_t value[FTB_MAX_EXTRAS];
} ftb_extras;

typedef struct ftb_workload {
    const char *name;
    const char *description;
    bool shared;         // threads share objects (vs each its own)
    int64_t unit;        // default iterations per unit (release build)
    int64_t smoke_unit;  // iterations per unit under --smoke
    // Builds st->data from st->n and st->nthreads. Returns 0; like run()
    // and verify(), it reports failures through ftb_fail(), which exits.
    int (*setup)(ftb_state *st);
    // One unit of work on thread `thread_index` of `nthreads`; `shared` is
    // the ftb_state. Returns 0 (the harness fails loudly on anything else).
    int (*run)(int thread_index, int nthreads, void *shared, ftb_result *out);
    // Checks the results of all threads; may fill extras. Returns 0.
    int (*verify)(ftb_state *st, const ftb_result *results, ftb_extras *extras);
    void (*teardown)(ftb_state *st);  // drops st->data (NULL: nothing)
    // How --seconds rescales the unit: 0 when the time is linear in n, else
    // the factor one more n multiplies it by (fib: the golden ratio).
    double growth;
} ftb_workload;

// Each workloads_*.c exports its entries; main.c builds the table from them.
extern const ftb_workload ftb_classic_workloads[];
extern const int ftb_classic_workload_count;
extern const ftb_workload ftb_container_workloads[];
extern const int ftb_container_workload_count;
extern const ftb_workload ftb_churn_workloads[];
extern const int ftb_churn_workload_count;
extern const ftb_workload ftb_graph_workloads[];
extern const int ftb_graph_workload_count;

// What is running, for ftb_fail()'s message: written by main.c only while no
// workload thread runs.
extern const char *ftb_current_name;
extern const char *ftb_current_mode;  // "threads" or "processes"
extern int ftb_current_threads;

// Prints "ftbench: FAIL <workload> ...: <message>" (and the runtime's error,
// if one is set) and exits the process with status 1 at once: a wrong result
// must never look like a fast one, and a thread that gives up could leave its
// partners waiting forever.
_Noreturn void ftb_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define FTB_CHECK(cond, ...)       \
    do {                           \
        if (!(cond)) {             \
            ftb_fail(__VA_ARGS__); \
        }                          \
    } while (0)

// Checked constructors and accessors: each fails loudly on NULL / error.
ft_object *ftb_int(int64_t value);
int64_t ftb_int_value(ft_object *obj);
ft_object *ftb_str(const char *s);
ft_object *ftb_list(void);
ft_object *ftb_dict(void);
void ftb_append(ft_object *list, ft_object *item);
void ftb_set(ft_object *dict, ft_object *key, ft_object *value);
// d[key], a new reference; fails loudly when the key is missing.
ft_object *ftb_get(ft_object *dict, ft_object *key);
ft_object *ftb_list_get(ft_object *list, int64_t i);
// Sleeps detached (other threads may run, a pause may proceed).
void ftb_sleep_detached(int64_t ns);

// Adds the extra named `name` to the report.
void ftb_extra(ftb_extras *extras, const char *name, int64_t value);

#endif
