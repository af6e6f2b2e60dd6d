// bench/ftbench/main.c: the ftbench CLI -- option parsing, the thread and
// process runners, timing, the leak check, the table and the JSON.
//
// One process runs every selected workload at every thread count
// (DESIGN.md §7: `./ftrt compare` runs one process per build and
// repetition). The runtime is initialized once, at start, and finalized at
// exit; each repetition gets fresh shared state (setup/teardown) and must
// leave ft_live_objects() where it found it, after a collection.
//
// Timing: the threads start, report ready and wait detached on an event; the
// clock runs from setting the event to the last join, so thread creation is
// outside and thread exit inside. --processes forks N children instead; each
// runs ft_init, its unit on one thread, ft_fini, and the clock runs from the
// "go" byte to the last "done" message.
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ftbench/ftbench.h"

#define MAX_WORKLOADS 64
#define MAX_THREAD_COUNTS 32
#define MAX_REPS 1000

// Read by ftb_fail() (util.c); written only while no workload thread runs.
const char *ftb_current_name;
const char *ftb_current_mode = "threads";
int ftb_current_threads;

// ------------------------------------------------------------ workload table
static const ftb_workload *table[MAX_WORKLOADS];
static int table_count;

static void
table_add(const ftb_workload *group, int count)
{
    for (int i = 0; i < count && table_count < MAX_WORKLOADS; i++) {
        table[table_count++] = &group[i];
    }
}

static void
table_build(void)
{
    table_add(ftb_classic_workloads, ftb_classic_workload_count);
    table_add(ftb_container_workloads, ftb_container_workload_count);
    table_add(ftb_churn_workloads, ftb_churn_workload_count);
    table_add(ftb_graph_workloads, ftb_graph_workload_count);
}

static const ftb_workload *
table_find(const char *name)
{
    for (int i = 0; i < table_count; i++) {
        if (strcmp(table[i]->name, name) == 0) {
            return table[i];
        }
    }
    return NULL;
}

// ------------------------------------------------------------ statistics
// Counters recorded per benchmark: deltas summed over the timed repetitions.
static const char *const stat_names[] = {
    "rc_owner_incref",   "rc_owner_decref",   "rc_shared_incref",
    "rc_shared_decref",  "brc_queued",        "brc_merged_owner",
    "brc_merged_behalf", "brc_merged_orphan", "brc_merged_in_pause",
    "mutex_slow",        "mutex_parks",       "mutex_handoffs",
    "cs_suspensions",
    "read_optimistic",   "read_fallback",     "objects_allocated",
    "qsbr_deferred",     "qsbr_freed",        "gc_collections",
    "gc_freed",          "gc_pause_ns",       "world_pauses",
    "world_ns",          "gil_switches",      "gil_forced_switches",
    "rc_sharded_incref", "rc_sharded_decref", "shard_promoted",
    "shard_demoted",     "shard_freed",       "shard_pauses",
};
#define NSTATS ((int)(sizeof(stat_names) / sizeof(stat_names[0])))

static void
stats_snapshot(uint64_t *out)
{
    for (int i = 0; i < NSTATS; i++) {
        out[i] = ft_stats_get(stat_names[i]);
    }
}

static void
stats_add_delta(uint64_t *sum, const uint64_t *before, const uint64_t *after)
{
    for (int i = 0; i < NSTATS; i++) {
        sum[i] += after[i] - before[i];
    }
}

static uint64_t
stat_of(const uint64_t *stats, const char *name)
{
    for (int i = 0; i < NSTATS; i++) {
        if (strcmp(stat_names[i], name) == 0) {
            return stats[i];
        }
    }
    return 0;
}

// ------------------------------------------------------------ options
typedef struct options {
    const ftb_workload *workloads[MAX_WORKLOADS];
    int workload_count;
    int threads[MAX_THREAD_COUNTS];
    int thread_count;
    int reps;
    int warmup;
    double seconds;  // > 0: size each unit to take this long on one thread
    bool processes;
    bool smoke;
    bool quiet;
    bool pin;
    bool list;
    bool real_cycles;  // FTBENCH_REAL_CYCLES=1
    const char *json;
    const char *argv0;
} options;

// One (workload, thread count) benchmark and its repetitions.
typedef struct record {
    const ftb_workload *w;
    int threads;
    int64_t n;
    int reps;
    double real_ms[MAX_REPS];
    double cpu_ms[MAX_REPS];
    ftb_extras extras;       // from the last repetition
    uint64_t stats[NSTATS];  // summed over the timed repetitions
    long peak_rss_kb;        // the process's (or its children's) peak so far
} record;

static _Noreturn void
usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ftbench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(ftbench --help for usage)\n");
    exit(2);
}

static void
print_usage(FILE *out)
{
    fprintf(out,
            "usage: ftbench [options]\n"
            "  --workload NAME[,NAME...]|all  workloads to run (default all; --list names them)\n"
            "  --threads N[,N...]             thread counts (default 1,2)\n"
            "  --reps N                       timed repetitions (default 5)\n"
            "  --warmup N                     untimed runs before timing (default 1)\n"
            "  --seconds S                    size each unit to take S seconds on one thread\n"
            "                                 (default: the workload's fixed unit)\n"
            "  --processes                    N forked processes instead of N threads\n"
            "  --pin                          pin worker i to allowed CPU i %% count\n"
            "  --json FILE                    Google Benchmark JSON\n"
            "  --smoke                        tiny units, results verified, no timings\n"
            "  --quiet                        no progress lines on stderr\n"
            "  --list                         list the workloads and exit\n"
            "Every run verifies its result and checks for leaked objects; a failure\n"
            "exits with status 1. Debug and sanitizer builds run only with --smoke.\n");
}

static long
parse_long(const char *text, const char *what, long low, long high)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < low || v > high) {
        usage_error("bad %s '%s' (expected %ld..%ld)", what, text, low, high);
    }
    return v;
}

static void
parse_workloads(options *o, const char *text)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", text);
    o->workload_count = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "all") == 0) {
            for (int i = 0; i < table_count && o->workload_count < MAX_WORKLOADS; i++) {
                o->workloads[o->workload_count++] = table[i];
            }
            continue;
        }
        const ftb_workload *w = table_find(tok);
        if (w == NULL) {
            usage_error("unknown workload '%s' (ftbench --list)", tok);
        }
        if (o->workload_count < MAX_WORKLOADS) {
            o->workloads[o->workload_count++] = w;
        }
    }
}

static void
parse_threads(options *o, const char *text)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", text);
    o->thread_count = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (o->thread_count == MAX_THREAD_COUNTS) {
            usage_error("at most %d thread counts", MAX_THREAD_COUNTS);
        }
        o->threads[o->thread_count++] = (int)parse_long(tok, "thread count", 1, 1024);
    }
    if (o->thread_count == 0) {
        usage_error("--threads needs at least one count");
    }
}

static const char *
option_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        usage_error("%s needs a value", argv[*i]);
    }
    return argv[++*i];
}

static void
parse_args(options *o, int argc, char **argv)
{
    *o = (options){.reps = 5, .warmup = 1, .argv0 = argv[0]};
    parse_workloads(o, "all");
    parse_threads(o, "1,2");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--workload") == 0 || strcmp(a, "--workloads") == 0) {
            parse_workloads(o, option_value(argc, argv, &i));
        } else if (strcmp(a, "--threads") == 0) {
            parse_threads(o, option_value(argc, argv, &i));
        } else if (strcmp(a, "--reps") == 0) {
            o->reps = (int)parse_long(option_value(argc, argv, &i), "--reps", 1, MAX_REPS);
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = (int)parse_long(option_value(argc, argv, &i), "--warmup", 0, 100);
        } else if (strcmp(a, "--seconds") == 0) {
            const char *v = option_value(argc, argv, &i);
            o->seconds = atof(v);
            if (!(o->seconds > 0 && o->seconds < 3600)) {
                usage_error("bad --seconds '%s'", v);
            }
        } else if (strcmp(a, "--json") == 0) {
            o->json = option_value(argc, argv, &i);
        } else if (strcmp(a, "--processes") == 0) {
            o->processes = true;
        } else if (strcmp(a, "--smoke") == 0) {
            o->smoke = true;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (strcmp(a, "--pin") == 0) {
            o->pin = true;
        } else if (strcmp(a, "--list") == 0) {
            o->list = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_usage(stdout);
            exit(0);
        } else {
            usage_error("unknown option '%s'", a);
        }
    }
    const char *cycles = getenv("FTBENCH_REAL_CYCLES");
    o->real_cycles = cycles != NULL && strcmp(cycles, "1") == 0;
    if (o->smoke) {
        o->reps = 1;
        o->warmup = 0;
        o->seconds = 0;
    }
}

// ------------------------------------------------------------ time and CPUs
static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double
cpu_ms(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// Peak resident set in KiB of `who` (RUSAGE_SELF, or RUSAGE_CHILDREN: the
// largest child reaped so far). A high-water mark over the process's life,
// so a benchmark's figure includes everything that ran before it.
static long
peak_rss_kb(int who)
{
    struct rusage ru;
    return getrusage(who, &ru) == 0 ? ru.ru_maxrss : -1;
}

// The CPUs this process may run on, in order (cgroups and taskset respected).
static int allowed_cpus[CPU_SETSIZE];
static int allowed_count;

static void
cpus_init(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (CPU_ISSET(c, &set)) {
                allowed_cpus[allowed_count++] = c;
            }
        }
    }
    if (allowed_count == 0) {
        allowed_cpus[allowed_count++] = 0;
    }
}

static void
pin_worker(int index)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(allowed_cpus[index % allowed_count], &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        ftb_fail("sched_setaffinity(cpu %d): %s", allowed_cpus[index % allowed_count],
                 strerror(errno));
    }
}

// ------------------------------------------------------------ thread runner
typedef struct worker {
    const ftb_workload *w;     // immutable after start
    ftb_state *state;          // immutable after start
    int index;                 // immutable after start
    int nthreads;              // immutable after start
    bool pin;                  // immutable after start
    _Atomic(uint32_t) *ready;  // atomic: workers add (release) / main polls (acquire)
    ft_event *go;              // set once by main
    ftb_result result;         // owner only until joined, then main's
    int rc;                    // owner only until joined, then main's
} worker;

static void
worker_main(void *arg)
{
    worker *wk = arg;
    if (wk->pin) {
        pin_worker(wk->index);
    }
    // pairs: acquire load in wait_ready()
    ft_atomic_add_release_u32(wk->ready, 1);
    ft_event_wait(wk->go);
    // Workloads update their result in their loops: keep it on this thread's
    // stack, or neighbouring workers would share its cache line.
    ftb_result result = {0};
    wk->rc = wk->w->run(wk->index, wk->nthreads, wk->state, &result);
    wk->result = result;
}

// Waits, detached (so that in the GIL build the workers can run), until
// every worker is parked on the start event.
static void
wait_ready(_Atomic(uint32_t) *ready, uint32_t count)
{
    FT_BEGIN_ALLOW_THREADS
    // pairs: release add in worker_main()
    while (ft_atomic_load_acquire_u32(ready) < count) {
        usleep(50);
    }
    FT_END_ALLOW_THREADS
}

typedef struct rep_timing {
    double real_ms;
    double cpu_ms;
} rep_timing;

static rep_timing
run_threads(const options *o, const ftb_workload *w, ftb_state *st, ftb_result *results,
            uint64_t *stats_sum)
{
    int n = st->nthreads;
    worker *workers = calloc((size_t)n, sizeof(*workers));
    ft_thread **handles = calloc((size_t)n, sizeof(*handles));
    FTB_CHECK(workers != NULL && handles != NULL, "out of memory");
    _Atomic(uint32_t) ready = 0;
    ft_event go = FT_EVENT_INIT;
    for (int i = 0; i < n; i++) {
        workers[i] = (worker){.w = w,
                              .state = st,
                              .index = i,
                              .nthreads = n,
                              .pin = o->pin,
                              .ready = &ready,
                              .go = &go};
        handles[i] = ft_thread_start(worker_main, &workers[i]);
        FTB_CHECK(handles[i] != NULL, "ft_thread_start failed for thread %d", i);
    }
    wait_ready(&ready, (uint32_t)n);
    uint64_t before[NSTATS], after[NSTATS];
    stats_snapshot(before);
    double cpu0 = cpu_ms(RUSAGE_SELF), t0 = now_ms();
    ft_event_set(&go);
    for (int i = 0; i < n; i++) {
        FTB_CHECK(ft_thread_join(handles[i]) == 0, "ft_thread_join failed for thread %d", i);
    }
    rep_timing timing = {now_ms() - t0, cpu_ms(RUSAGE_SELF) - cpu0};
    stats_snapshot(after);
    stats_add_delta(stats_sum, before, after);
    for (int i = 0; i < n; i++) {
        FTB_CHECK(workers[i].rc == 0, "thread %d returned %d", i, workers[i].rc);
        results[i] = workers[i].result;
    }
    free(handles);
    free(workers);
    return timing;
}

// ------------------------------------------------------------ leak check
static int64_t
live_after_collect(void)
{
    FTB_CHECK(ft_gc_collect() >= 0, "ft_gc_collect failed");
    return ft_live_objects();
}

static void
check_no_leak(int64_t base)
{
    int64_t live = live_after_collect();
    FTB_CHECK(live == base, "leak check: %lld live objects after the run, %lld before (%+lld)",
              (long long)live, (long long)base, (long long)(live - base));
}

// One repetition on threads: setup, run, verify, teardown, leak check.
static rep_timing
rep_threads(const options *o, const ftb_workload *w, int64_t n, int nthreads, record *rec,
            uint64_t *stats_sum)
{
    int64_t base = live_after_collect();
    ftb_state st = {.n = n, .nthreads = nthreads, .real_cycles = o->real_cycles};
    if (w->setup != NULL) {
        FTB_CHECK(w->setup(&st) == 0, "setup failed");
    }
    ftb_result *results = calloc((size_t)nthreads, sizeof(*results));
    FTB_CHECK(results != NULL, "out of memory");
    rep_timing timing = run_threads(o, w, &st, results, stats_sum);
    ftb_extras extras = {0};
    FTB_CHECK(w->verify(&st, results, &extras) == 0, "verification failed");
    rec->extras = extras;
    if (w->teardown != NULL) {
        w->teardown(&st);
    }
    free(results);
    check_no_leak(base);
    return timing;
}

// ------------------------------------------------------------ process runner
// Children talk to the parent through one pipe of fixed-size messages (each
// under PIPE_BUF, so writes from several children never interleave) and
// wait for one "go" byte each on another.
enum { MSG_READY = 1, MSG_DONE = 2, MSG_RESULT = 3 };

typedef struct child_msg {
    int32_t kind;
    int32_t index;
    ftb_result result;
    ftb_extras extras;  // names point at literals: same addresses after fork
    uint64_t stats[NSTATS];
} child_msg;
_Static_assert(sizeof(child_msg) < 4096, "a message must fit PIPE_BUF");

static void
child_send(int fd, const child_msg *msg)
{
    ssize_t w = write(fd, msg, sizeof(*msg));
    FTB_CHECK(w == (ssize_t)sizeof(*msg), "child: write to parent failed");
}

// The child: ft_init, setup, ready, wait for go, one unit on one thread,
// done, verify, teardown, leak check, result, ft_fini. Never returns.
static _Noreturn void
child_main(const options *o, const ftb_workload *w, int64_t n, int index, int up, int go)
{
    if (ft_init() != 0) {
        ftb_fail("child %d: ft_init failed", index);
    }
    if (o->pin) {
        pin_worker(index);
    }
    int64_t base = live_after_collect();
    ftb_state st = {.n = n, .nthreads = 1, .real_cycles = o->real_cycles};
    if (w->setup != NULL) {
        FTB_CHECK(w->setup(&st) == 0, "child %d: setup failed", index);
    }
    child_msg msg = {.kind = MSG_READY, .index = index};
    child_send(up, &msg);
    char byte;
    ssize_t got;
    // A thread detaches before it blocks (STYLE.md rule 10).
    FT_BEGIN_ALLOW_THREADS
    got = read(go, &byte, 1);
    FT_END_ALLOW_THREADS
    FTB_CHECK(got == 1, "child %d: no go byte", index);
    uint64_t before[NSTATS], after[NSTATS];
    stats_snapshot(before);
    FTB_CHECK(w->run(0, 1, &st, &msg.result) == 0, "child %d: run failed", index);
    stats_snapshot(after);
    msg.kind = MSG_DONE;
    child_send(up, &msg);
    FTB_CHECK(w->verify(&st, &msg.result, &msg.extras) == 0, "child %d: verify failed", index);
    if (w->teardown != NULL) {
        w->teardown(&st);
    }
    check_no_leak(base);
    stats_add_delta(msg.stats, before, after);
    msg.kind = MSG_RESULT;
    child_send(up, &msg);
    ft_fini();
    FTB_CHECK(ft_err_occurred() == 0, "child %d: ft_fini failed", index);
    _exit(0);
}

typedef struct proc_run {
    int up[2];
    int go[2];
    pid_t *pids;
    bool *reaped;
    int count;
    int seen[MSG_RESULT + 1];  // messages received, by kind
    ftb_result *results;
    record *rec;
    uint64_t *stats_sum;
} proc_run;

// Records how child i ended; unless it exited 0, kills and reaps the others
// (we started them) and fails loudly.
static void
child_ended(proc_run *pr, int i, int status)
{
    pr->reaped[i] = true;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return;
    }
    for (int k = 0; k < pr->count; k++) {
        if (!pr->reaped[k]) {
            kill(pr->pids[k], SIGKILL);
            waitpid(pr->pids[k], NULL, 0);
            pr->reaped[k] = true;
        }
    }
    ftb_fail("process %d %s %d", i, WIFSIGNALED(status) ? "died of signal" : "exited with status",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

// Waits for every child still running; fails loudly if one did not exit 0.
static void
reap_children(proc_run *pr)
{
    for (int i = 0; i < pr->count; i++) {
        int status = 0;
        if (pr->reaped[i]) {
            continue;
        }
        while (waitpid(pr->pids[i], &status, 0) < 0 && errno == EINTR) {
        }
        child_ended(pr, i, status);
    }
}

// A child that fails before "ready" leaves the others blocked on the go
// pipe, still holding their end of ours, so no EOF would ever come: look.
static void
poll_children(proc_run *pr)
{
    for (int i = 0; i < pr->count; i++) {
        int status = 0;
        if (!pr->reaped[i] && waitpid(pr->pids[i], &status, WNOHANG) == pr->pids[i]) {
            child_ended(pr, i, status);
        }
    }
}

// Reads one message, checking on the children while none comes.
static void
parent_read(proc_run *pr, child_msg *msg)
{
    size_t got = 0;
    while (got < sizeof(*msg)) {
        struct pollfd pfd = {.fd = pr->up[0], .events = POLLIN};
        int ready = poll(&pfd, 1, 100);
        if (ready <= 0) {
            FTB_CHECK(ready == 0 || errno == EINTR, "poll: %s", strerror(errno));
            poll_children(pr);
            continue;
        }
        ssize_t r = read(pr->up[0], (char *)msg + got, sizeof(*msg) - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            reap_children(pr);
            ftb_fail("a process exited 0 before reporting");
        }
        got += (size_t)r;
    }
}

static void
spawn_children(const options *o, const ftb_workload *w, int64_t n, proc_run *pr)
{
    FTB_CHECK(pipe(pr->up) == 0 && pipe(pr->go) == 0, "pipe: %s", strerror(errno));
    fflush(NULL);
    for (int i = 0; i < pr->count; i++) {
        pid_t pid = fork();
        FTB_CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            close(pr->up[0]);
            close(pr->go[1]);
            child_main(o, w, n, i, pr->up[1], pr->go[0]);
        }
        pr->pids[i] = pid;
    }
    close(pr->up[1]);
    close(pr->go[0]);
}

static void
take_message(proc_run *pr, const child_msg *msg)
{
    FTB_CHECK(msg->kind >= MSG_READY && msg->kind <= MSG_RESULT && msg->index >= 0 &&
                  msg->index < pr->count,
              "bad message from a child");
    pr->seen[msg->kind]++;
    if (msg->kind == MSG_RESULT) {
        pr->results[msg->index] = msg->result;
        pr->rec->extras = msg->extras;
        for (int s = 0; s < NSTATS; s++) {
            pr->stats_sum[s] += msg->stats[s];
        }
    }
}

// Reads messages until every child has sent one of `kind`. A fast child's
// later messages may come first; take_message() counts them all.
static void
wait_for_all(proc_run *pr, int kind)
{
    while (pr->seen[kind] < pr->count) {
        child_msg msg;
        parent_read(pr, &msg);
        take_message(pr, &msg);
    }
}

// One repetition on processes (the multiprocessing baseline).
static rep_timing
rep_processes(const options *o, const ftb_workload *w, int64_t n, int nprocs, record *rec,
              uint64_t *stats_sum)
{
    proc_run pr = {.count = nprocs, .rec = rec, .stats_sum = stats_sum};
    pr.pids = calloc((size_t)nprocs, sizeof(*pr.pids));
    pr.reaped = calloc((size_t)nprocs, sizeof(*pr.reaped));
    pr.results = calloc((size_t)nprocs, sizeof(*pr.results));
    FTB_CHECK(pr.pids != NULL && pr.reaped != NULL && pr.results != NULL, "out of memory");
    double cpu0 = cpu_ms(RUSAGE_CHILDREN);
    spawn_children(o, w, n, &pr);
    wait_for_all(&pr, MSG_READY);
    double t0 = now_ms();
    for (int i = 0; i < nprocs; i++) {
        FTB_CHECK(write(pr.go[1], "g", 1) == 1, "write to children failed");
    }
    wait_for_all(&pr, MSG_DONE);
    double real = now_ms() - t0;
    wait_for_all(&pr, MSG_RESULT);
    close(pr.up[0]);
    close(pr.go[1]);
    reap_children(&pr);
    free(pr.results);
    free(pr.reaped);
    free(pr.pids);
    return (rep_timing){real, cpu_ms(RUSAGE_CHILDREN) - cpu0};
}

// ------------------------------------------------------------ benchmarking
static rep_timing
one_rep(const options *o, const ftb_workload *w, int64_t n, int threads, record *rec,
        uint64_t *stats_sum)
{
    if (o->processes) {
        return rep_processes(o, w, n, threads, rec, stats_sum);
    }
    return rep_threads(o, w, n, threads, rec, stats_sum);
}

// --seconds: one untimed run at one thread with the default unit, then the
// unit scaled so one run takes the requested time.
static int64_t
calibrate(const options *o, const ftb_workload *w)
{
    if (o->smoke) {
        return w->smoke_unit;
    }
    if (o->seconds <= 0) {
        return w->unit;
    }
    record scratch = {0};
    uint64_t stats[NSTATS] = {0};
    ftb_current_name = w->name;
    ftb_current_threads = 1;
    double ms = one_rep(o, w, w->unit, 1, &scratch, stats).real_ms;
    double factor = o->seconds * 1e3 / (ms > 0.001 ? ms : 0.001);
    int64_t n;
    if (w->growth > 1) {
        n = w->unit + (int64_t)lround(log(factor) / log(w->growth));
    } else {
        n = (int64_t)llround((double)w->unit * factor);
    }
    return n < 1 ? 1 : n;
}

static int
compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double
median_of(const double *values, int count)
{
    double sorted[MAX_REPS];
    memcpy(sorted, values, (size_t)count * sizeof(double));
    qsort(sorted, (size_t)count, sizeof(double), compare_double);
    return count % 2 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
}

static double
min_of(const double *values, int count)
{
    double m = values[0];
    for (int i = 1; i < count; i++) {
        m = values[i] < m ? values[i] : m;
    }
    return m;
}

static double
max_of(const double *values, int count)
{
    double m = values[0];
    for (int i = 1; i < count; i++) {
        m = values[i] > m ? values[i] : m;
    }
    return m;
}

static const char *
mode_name(const options *o)
{
    return o->processes ? "processes" : "threads";
}

static void
print_extras(FILE *out, const ftb_extras *extras)
{
    for (int i = 0; i < extras->count; i++) {
        fprintf(out, " %s=%lld", extras->name[i], (long long)extras->value[i]);
    }
}

static void
run_benchmark(const options *o, const ftb_workload *w, int threads, int64_t n, record *rec)
{
    *rec = (record){.w = w, .threads = threads, .n = n, .reps = o->reps};
    ftb_current_name = w->name;
    ftb_current_threads = threads;
    uint64_t ignored[NSTATS] = {0};
    for (int i = 0; i < o->warmup; i++) {
        one_rep(o, w, n, threads, rec, ignored);
    }
    for (int r = 0; r < o->reps; r++) {
        rep_timing t = one_rep(o, w, n, threads, rec, rec->stats);
        rec->real_ms[r] = o->smoke ? 0 : t.real_ms;
        rec->cpu_ms[r] = o->smoke ? 0 : t.cpu_ms;
        if (!o->quiet) {
            fprintf(stderr, "ftbench: %s %s=%d rep %d/%d", w->name, mode_name(o), threads, r + 1,
                    o->reps);
            if (!o->smoke) {
                fprintf(stderr, ": %.1f ms", t.real_ms);
            }
            print_extras(stderr, &rec->extras);
            fprintf(stderr, " verified\n");
        }
    }
    rec->peak_rss_kb = peak_rss_kb(o->processes ? RUSAGE_CHILDREN : RUSAGE_SELF);
}

// ------------------------------------------------------------ table
static const record *
find_one_thread(const record *recs, int count, const ftb_workload *w)
{
    for (int i = 0; i < count; i++) {
        if (recs[i].w == w && recs[i].threads == 1) {
            return &recs[i];
        }
    }
    return NULL;
}

// Shares of all reference-count operations: the owner's plain path, and
// the sharded (per-thread table) path; the rest are atomics on the header.
static double
rc_fraction(const uint64_t *stats, const char *inc, const char *dec)
{
    double part = (double)(stat_of(stats, inc) + stat_of(stats, dec));
    double all = (double)(stat_of(stats, "rc_owner_incref") + stat_of(stats, "rc_owner_decref") +
                          stat_of(stats, "rc_shared_incref") + stat_of(stats, "rc_shared_decref") +
                          stat_of(stats, "rc_sharded_incref") +
                          stat_of(stats, "rc_sharded_decref"));
    return all > 0 ? part / all : -1;
}

static double
owner_fraction(const uint64_t *stats)
{
    return rc_fraction(stats, "rc_owner_incref", "rc_owner_decref");
}

static double
sharded_fraction(const uint64_t *stats)
{
    return rc_fraction(stats, "rc_sharded_incref", "rc_sharded_decref");
}

static void
print_table(const options *o, const record *recs, int count)
{
    printf("%-20s %4s %10s %10s %10s %10s %10s %8s %7s %7s  %s\n", "workload",
           o->processes ? "proc" : "thr", "unit", "median_ms", "min_ms", "max_ms", "cpu_ms",
           "scaling", "owner%", "shard%", "extra");
    for (int i = 0; i < count; i++) {
        const record *r = &recs[i];
        const record *one = find_one_thread(recs, count, r->w);
        double med = median_of(r->real_ms, r->reps);
        double scaling =
            one != NULL && med > 0 ? r->threads * median_of(one->real_ms, one->reps) / med : NAN;
        double owner = owner_fraction(r->stats);
        double sharded = sharded_fraction(r->stats);
        printf("%-20s %4d %10lld %10.1f %10.1f %10.1f %10.1f %8.2f %7.1f %7.1f ", r->w->name,
               r->threads, (long long)r->n, med, min_of(r->real_ms, r->reps),
               max_of(r->real_ms, r->reps), median_of(r->cpu_ms, r->reps), scaling,
               owner >= 0 ? owner * 100 : NAN, sharded >= 0 ? sharded * 100 : NAN);
        print_extras(stdout, &r->extras);
        printf("\n");
    }
}

static void
print_smoke(const options *o, const record *recs, int count)
{
    for (int i = 0; i < count; i++) {
        printf("smoke ok: %s %s=%d unit=%lld", recs[i].w->name, mode_name(o), recs[i].threads,
               (long long)recs[i].n);
        print_extras(stdout, &recs[i].extras);
        printf(" verified\n");
    }
}

// ------------------------------------------------------------ JSON
static void
json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static void
json_number(FILE *f, double v)
{
    if (isfinite(v)) {
        fprintf(f, "%.6g", v);
    } else {
        fprintf(f, "null");
    }
}

// Facts about the run, read once while the runtime is initialized.
typedef struct run_context {
    char build_info[512];
    bool gil_enabled;
} run_context;

static int
mhz_per_cpu(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    double mhz = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "cpu MHz", 7) == 0 && strchr(line, ':') != NULL) {
            mhz = atof(strchr(line, ':') + 1);
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return (int)lround(mhz);
}

static void
iso_date(char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char zone[8];
    strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof(zone), "%z", &tm);  // +hhmm -> +hh:mm, as Google Benchmark
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "%.3s:%.2s", zone, zone + 3);
}

static void
json_context(FILE *f, const options *o, const run_context *ctx)
{
    char host[256] = "", date[64];
    gethostname(host, sizeof(host) - 1);
    iso_date(date, sizeof(date));
    char build_type[64];
    snprintf(build_type, sizeof(build_type), "%s", FT_BUILD_TYPE_STRING);
    for (char *p = build_type; *p; p++) {
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    }
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    fprintf(f, "  \"context\": {\n    \"date\": ");
    json_string(f, date);
    fprintf(f, ",\n    \"host_name\": ");
    json_string(f, host);
    fprintf(f, ",\n    \"executable\": ");
    json_string(f, o->argv0);
    fprintf(f, ",\n    \"num_cpus\": %ld,\n    \"mhz_per_cpu\": %d,\n",
            sysconf(_SC_NPROCESSORS_ONLN), mhz_per_cpu());
    fprintf(f, "    \"cpu_scaling_enabled\": false,\n    \"caches\": [],\n");
    fprintf(f, "    \"load_avg\": [%.2f, %.2f, %.2f],\n", load[0], load[1], load[2]);
    fprintf(f, "    \"library_build_type\": ");
    json_string(f, build_type);
    fprintf(f, ",\n    \"build_info\": ");
    json_string(f, ctx->build_info);
    fprintf(f, ",\n    \"gil_enabled\": %s,\n", ctx->gil_enabled ? "true" : "false");
    fprintf(f, "    \"ftbench_mode\": \"%s\",\n    \"smoke\": %s,\n    \"reps\": %d,\n",
            mode_name(o), o->smoke ? "true" : "false", o->reps);
    fprintf(f, "    \"warmup\": %d,\n    \"seconds\": ", o->warmup);
    json_number(f, o->seconds);
    fprintf(f, ",\n    \"peak_rss_kb\": %ld,\n", peak_rss_kb(RUSAGE_SELF));
    if (o->processes) {
        fprintf(f, "    \"children_peak_rss_kb\": %ld,\n", peak_rss_kb(RUSAGE_CHILDREN));
    }
    fprintf(f, "    \"pinned\": %s,\n    \"real_cycles\": %s,\n", o->pin ? "true" : "false",
            o->real_cycles ? "true" : "false");
    fprintf(f, "    \"stats_scope\": \"sum over the timed repetitions\"\n  },\n");
}

static void
json_stats(FILE *f, const record *r)
{
    fprintf(f, "      \"stats\": {\"owner_fraction\": ");
    double owner = owner_fraction(r->stats);
    json_number(f, owner >= 0 ? owner : NAN);
    fprintf(f, ", \"sharded_fraction\": ");
    double sharded = sharded_fraction(r->stats);
    json_number(f, sharded >= 0 ? sharded : NAN);
    for (int s = 0; s < NSTATS; s++) {
        fprintf(f, ", \"%s\": %llu", stat_names[s], (unsigned long long)r->stats[s]);
    }
    fprintf(f, "}");
}

static void
json_record(FILE *f, const options *o, const record *r)
{
    char name[128];
    snprintf(name, sizeof(name), "%s/%s:%d", r->w->name, mode_name(o), r->threads);
    double med = median_of(r->real_ms, r->reps);
    fprintf(f, "    {\n      \"name\": \"%s\",\n      \"run_name\": \"%s\",\n", name, name);
    fprintf(f, "      \"run_type\": \"iteration\",\n      \"repetitions\": %d,\n", r->reps);
    fprintf(f, "      \"threads\": %d,\n", r->threads);
    if (o->processes) {
        fprintf(f, "      \"processes\": %d,\n", r->threads);
    }
    fprintf(f, "      \"iterations\": 1,\n      \"unit_size\": %lld,\n", (long long)r->n);
    fprintf(f, "      \"real_time\": ");
    json_number(f, med);
    fprintf(f, ",\n      \"cpu_time\": ");
    json_number(f, median_of(r->cpu_ms, r->reps));
    fprintf(f, ",\n      \"time_unit\": \"ms\",\n      \"min\": ");
    json_number(f, min_of(r->real_ms, r->reps));
    fprintf(f, ",\n      \"max\": ");
    json_number(f, max_of(r->real_ms, r->reps));
    fprintf(f, ",\n      \"samples\": [");
    for (int i = 0; i < r->reps; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_number(f, r->real_ms[i]);
    }
    fprintf(f, "],\n      \"throughput\": ");
    json_number(f, med > 0 ? r->threads / (med / 1e3) : 0);
    fprintf(f, ",\n      \"items_per_second\": ");
    json_number(f, med > 0 ? (double)r->threads * (double)r->n / (med / 1e3) : 0);
    fprintf(f, ",\n      \"peak_rss_kb\": %ld", r->peak_rss_kb);
    fprintf(f, ",\n      \"shared\": %s,\n      \"verified\": true,\n",
            r->w->shared ? "true" : "false");
    for (int i = 0; i < r->extras.count; i++) {
        fprintf(f, "      \"%s\": %lld,\n", r->extras.name[i], (long long)r->extras.value[i]);
    }
    json_stats(f, r);
    fprintf(f, "\n    }");
}

static void
write_json(const options *o, const run_context *ctx, const record *recs, int count)
{
    FILE *f = fopen(o->json, "w");
    if (f == NULL) {
        fprintf(stderr, "ftbench: cannot write %s: %s\n", o->json, strerror(errno));
        exit(1);
    }
    fprintf(f, "{\n");
    json_context(f, o, ctx);
    fprintf(f, "  \"benchmarks\": [\n");
    for (int i = 0; i < count; i++) {
        json_record(f, o, &recs[i]);
        fprintf(f, "%s\n", i + 1 < count ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "ftbench: writing %s failed\n", o->json);
        exit(1);
    }
}

// ------------------------------------------------------------ main
static void
list_workloads(void)
{
    for (int i = 0; i < table_count; i++) {
        const ftb_workload *w = table[i];
        printf("%-20s %-8s unit=%-8lld %s\n", w->name, w->shared ? "shared" : "unshared",
               (long long)w->unit, w->description);
    }
}

// Debug and sanitizer builds would time their checks, not ftrt.
static void
refuse_unless_release(const options *o)
{
    if (o->smoke || (!FT_DEBUG && !FT_TSAN && !FT_ASAN)) {
        return;
    }
    fprintf(stderr,
            "ftbench: this is a %s build (%s); its timings would measure the checks.\n"
            "Use a release preset (release-ft, release-gil, ...), or --smoke to verify\n"
            "results without timing.\n",
            FT_TSAN   ? "ThreadSanitizer"
            : FT_ASAN ? "AddressSanitizer"
                      : "debug",
            FT_BUILD_TYPE_STRING);
    exit(2);
}

static void
init_runtime(run_context *ctx)
{
    if (ft_init() != 0) {
        fprintf(stderr, "ftbench: ft_init failed: %s\n", ft_err_message());
        exit(1);
    }
    snprintf(ctx->build_info, sizeof(ctx->build_info), "%s", ft_build_info());
    ctx->gil_enabled = ft_gil_is_enabled() != 0;
}

static void
fini_runtime(void)
{
    ft_fini();
    if (ft_err_occurred()) {
        fprintf(stderr, "ftbench: ft_fini failed: %s\n", ft_err_message());
        exit(1);
    }
}

static void
run_all(const options *o, record *recs, int *count)
{
    for (int i = 0; i < o->workload_count; i++) {
        const ftb_workload *w = o->workloads[i];
        int64_t n = calibrate(o, w);
        for (int t = 0; t < o->thread_count; t++) {
            run_benchmark(o, w, o->threads[t], n, &recs[(*count)++]);
        }
    }
}

int
main(int argc, char **argv)
{
    table_build();
    options o;
    parse_args(&o, argc, argv);
    ftb_current_mode = mode_name(&o);
    if (o.list) {
        list_workloads();
        return 0;
    }
    refuse_unless_release(&o);
    cpus_init();
    run_context ctx;
    init_runtime(&ctx);
    if (o.processes) {
        // Each child initializes its own runtime, as a fresh process would.
        fini_runtime();
    }
    record *recs = calloc((size_t)(o.workload_count * o.thread_count), sizeof(*recs));
    if (recs == NULL) {
        fprintf(stderr, "ftbench: out of memory\n");
        return 1;
    }
    int count = 0;
    run_all(&o, recs, &count);
    if (o.smoke) {
        print_smoke(&o, recs, count);
    } else {
        print_table(&o, recs, count);
    }
    if (o.json != NULL) {
        write_json(&o, &ctx, recs, count);
    }
    if (!o.processes) {
        fini_runtime();
    }
    free(recs);
    return 0;
}
