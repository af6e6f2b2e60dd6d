// runtime/stats.c: statistics summed over live and exited threads.
//
// Hot counters live in each thread's TLS and cold ones in its ft_thread;
// both are written only by their thread (relaxed) and read here with relaxed
// loads under threads_mutex, which keeps the records alive. Exited threads
// fold theirs into the runtime totals (DESIGN.md §4.12).
#include <string.h>

#include "runtime/runtime_internal.h"

#define rt ft_runtime_state

static const char *const hot_names[] = {
#define NAME(n) #n,
    FT_HOT_STATS(NAME)
#undef NAME
};
static const char *const cold_names[] = {
#define NAME(n) #n,
    FT_COLD_STATS(NAME)
#undef NAME
};
#define HOT_COUNT (sizeof(ft_hot_stats) / sizeof(uint64_t))

void
ft_stat_add(int which, uint64_t n)
{
    ft_thread *t = ft_tls.thread;
    if (t != NULL) {
        // relaxed: statistics only
        ft_atomic_add_relaxed_u64(&t->cold_stats[which], n);
    }
}

void
ft_stat_max(int which, uint64_t value)
{
    ft_thread *t = ft_tls.thread;
    // relaxed: statistics only; only the owner writes its record
    if (t != NULL && value > ft_atomic_load_relaxed_u64(&t->cold_stats[which])) {
        ft_atomic_store_relaxed_u64(&t->cold_stats[which], value);
    }
}

typedef struct totals {
    uint64_t hot[HOT_COUNT];
    uint64_t cold[FT_STAT_COLD_COUNT];
    uint64_t threads;
} totals;

static void
add_thread(ft_thread *t, void *arg)
{
    totals *sum = arg;
    const _Atomic(uint64_t) *hot = (const _Atomic(uint64_t) *)t->hot_stats;
    for (size_t i = 0; i < HOT_COUNT; i++) {
        sum->hot[i] += ft_atomic_load_relaxed_u64(&hot[i]);   // relaxed: statistics only
    }
    for (size_t i = 0; i < FT_STAT_COLD_COUNT; i++) {
        // relaxed: statistics only
        uint64_t v = ft_atomic_load_relaxed_u64(&t->cold_stats[i]);
        if (i == FT_STAT_qsbr_deferred_bytes_peak) {
            sum->cold[i] = v > sum->cold[i] ? v : sum->cold[i];
        } else {
            sum->cold[i] += v;
        }
    }
    sum->threads++;
}

static void
collect(totals *sum)
{
    memset(sum, 0, sizeof(*sum));
    // Exiting threads fold their counters in under threads_mutex, so the
    // totals and the live threads are read under it too: a thread is then
    // counted exactly once, live or folded.
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    for (size_t i = 0; i < HOT_COUNT; i++) {
        sum->hot[i] = ft_atomic_load_relaxed_u64(&rt.exited_hot[i]);   // relaxed: statistics only
    }
    for (size_t i = 0; i < FT_STAT_COLD_COUNT; i++) {
        sum->cold[i] = ft_atomic_load_relaxed_u64(&rt.exited_cold[i]);   // relaxed: statistics only
    }
    ft_threads_foreach_locked(add_thread, sum);
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
}

uint64_t
ft_stats_get(const char *name)
{
    totals sum;
    collect(&sum);
    for (size_t i = 0; i < HOT_COUNT; i++) {
        if (strcmp(name, hot_names[i]) == 0) {
            return sum.hot[i];
        }
    }
    for (size_t i = 0; i < FT_STAT_COLD_COUNT; i++) {
        if (strcmp(name, cold_names[i]) == 0) {
            return sum.cold[i];
        }
    }
    return 0;
}

int64_t
ft_live_objects(void)
{
    totals sum;
    collect(&sum);
    // Index by name so the order of FT_HOT_STATS can change freely.
    size_t allocated = 0, freed = 0;
    for (size_t i = 0; i < HOT_COUNT; i++) {
        if (strcmp(hot_names[i], "objects_allocated") == 0) {
            allocated = i;
        } else if (strcmp(hot_names[i], "objects_freed") == 0) {
            freed = i;
        }
    }
    return (int64_t)(sum.hot[allocated] - sum.hot[freed]);
}

void
ft_stats_json(FILE *out)
{
    totals sum;
    collect(&sum);
    fprintf(out, "{\"build\": \"%s\", \"threads\": %llu, \"counters\": {", ft_build_info(),
            (unsigned long long)sum.threads);
    for (size_t i = 0; i < HOT_COUNT; i++) {
        fprintf(out, "%s\"%s\": %llu", i ? ", " : "", hot_names[i],
                (unsigned long long)sum.hot[i]);
    }
    for (size_t i = 0; i < FT_STAT_COLD_COUNT; i++) {
        fprintf(out, ", \"%s\": %llu", cold_names[i], (unsigned long long)sum.cold[i]);
    }
    fprintf(out, "}}\n");
}

void
ft_stats_reset_exited(void)
{
    for (size_t i = 0; i < HOT_COUNT; i++) {
        ft_atomic_store_relaxed_u64(&rt.exited_hot[i], 0);   // relaxed: single-threaded at ft_init
    }
    for (size_t i = 0; i < FT_STAT_COLD_COUNT; i++) {
        ft_atomic_store_relaxed_u64(&rt.exited_cold[i], 0);   // relaxed: single-threaded at ft_init
    }
}
