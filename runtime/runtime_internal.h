// runtime/runtime_internal.h: what the runtime's subsystems share and
// embedders never see: the thread record, the runtime globals, internal
// locks, the parking lot, fatal errors and the hooks each subsystem gives
// the thread lifecycle.
#ifndef FT_RUNTIME_RUNTIME_INTERNAL_H
#define FT_RUNTIME_RUNTIME_INTERNAL_H

#ifndef FT_BUILD_CORE
#  error "runtime_internal.h is private to the ftrt runtime"
#endif

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "locking/locking.h"
#include "runtime/atomic.h"
#include "runtime/runtime.h"

// ------------------------------------------------------------ fatal errors
// "ftrt fatal: <what> (object <addr>, type <name>)" then abort, every build.
FT_API _Noreturn void ft_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
#define FT_FATAL_IF(cond, ...)                                                 \
    do {                                                                       \
        if (FT_UNLIKELY(cond)) {                                               \
            ft_fatal(__VA_ARGS__);                                             \
        }                                                                      \
    } while (0)
#if FT_DEBUG
#  define FT_ASSERT(cond, msg)                                                 \
    FT_FATAL_IF(!(cond), "%s:%d: assertion failed: %s (%s)", __FILE__,         \
                __LINE__, #cond, msg)
#else
#  define FT_ASSERT(cond, msg) ((void)0)
#endif

// ------------------------------------------------------------ schedule fuzzing
#if FT_DEBUG
// Yields (chosen by a seeded generator) when FT_FUZZ_SCHED=<seed> is set;
// ft_yield_point_slow and ft_fuzz_sched_enabled are declared in runtime.h.
#  define FT_YIELD_POINT()                                                     \
    do {                                                                       \
        if (FT_UNLIKELY(ft_fuzz_sched_enabled)) {                              \
            ft_yield_point_slow();                                             \
        }                                                                      \
    } while (0)
#else
#  define FT_YIELD_POINT() ((void)0)
#endif

// ------------------------------------------------------------ memory
void ft_mem_configure_from_env(void);
void *ft_mem_alloc_aligned_zeroed(size_t align, size_t size);

// ------------------------------------------------------------ object stack
// A chunked LIFO of object pointers in raw memory (merge queues, GC marking).
typedef struct ft_object_chunk ft_object_chunk;
typedef struct ft_object_stack {
    ft_object_chunk *head;   // rule: that of the stack's owner (see users)
    ft_object_chunk *spare;  // one cached empty chunk, so a drain-refill
                             // cycle does not allocate
    size_t size;
} ft_object_stack;
struct ft_object;
// Returns 0, or -1 when a chunk cannot be allocated (stack unchanged).
int ft_object_stack_push(ft_object_stack *stack, struct ft_object *obj);
struct ft_object *ft_object_stack_pop(ft_object_stack *stack);   // NULL if empty
void ft_object_stack_take_all(ft_object_stack *dst, ft_object_stack *src);
void ft_object_stack_fini(ft_object_stack *stack);

// ------------------------------------------------------------ thread record
#define FT_SHARD_PENDING_MAX 256          // promotion candidates buffered per thread
typedef enum ft_thread_state {
    FT_THREAD_DETACHED = 0,
    FT_THREAD_ATTACHED = 1,
    FT_THREAD_SUSPENDED = 2,
} ft_thread_state;

struct ft_thread {
    // --- identity
    uintptr_t tid;                        // immutable after registration
    _Atomic(uint32_t) *eval_breaker;      // immutable after registration (into owner's TLS)
    ft_hot_stats *hot_stats;              // immutable after registration (into owner's TLS)
    ft_tls_state *tls;                    // immutable after registration: the owner's TLS
                                          // (shard tables, read by a pause's requester)
    // --- state word: DETACHED/ATTACHED/SUSPENDED (DESIGN.md §4.6)
    _Atomic(uint32_t) state;              // atomic: owner, pause requester, merger (CAS)
    _Atomic(uint32_t) park_word;          // atomic: unparker (release) / owner (acquire)
    // --- registry
    ft_thread *next, *prev;               // guarded by: runtime.threads_mutex
    uint8_t world_parked;                 // guarded by: runtime.threads_mutex
    uint8_t attach_waiting;               // guarded by: runtime.threads_mutex
    uint8_t started;                      // immutable: made by ft_thread_start()
    uint8_t registered;                   // guarded by: runtime.threads_mutex
    uint8_t released_by_pause;            // guarded by: runtime.threads_mutex
    // --- start/join
    void (*fn)(void *);                   // immutable after ft_thread_start()
    void *arg;                            // immutable after ft_thread_start()
    pthread_t pthread;                    // immutable after pthread_create()
    // --- biased reference counting (refcount/brc.c)
    ft_object_stack merge_queue;          // guarded by: its BRC bucket lock
    ft_object_stack promote_queue;        // guarded by: its BRC bucket lock (sharded
                                          // counting: objects it owns to promote, each
                                          // holding a donated reference)
    ft_thread *brc_next;                  // guarded by: its BRC bucket lock
    // --- QSBR (gc/qsbr.c)
    _Atomic(uint64_t) qsbr_seq;           // atomic: owner (release) / pollers (acquire)
    void *qsbr_queue;                     // owner only (world stopped: the requester)
    uint64_t qsbr_storage[12];            // owner only: the queue qsbr_queue points to
    // --- cycle collector (gc/)
    uint32_t gc_slot;                     // owner only (set at registration)
    // --- sharded counting (refcount/shard.c)
    uint8_t shard_closed;                 // owner only: deltas folded at exit, none after
    uint32_t shard_npending;              // owner only
    uint32_t shard_pending_hits;          // owner only
    struct ft_object *shard_pending[FT_SHARD_PENDING_MAX];   // owner only: candidates,
                                          // each holding a donated reference
    int64_t gc_alloc_delta;               // owner only
    // --- GIL (locking/gil.c)
    uint8_t gil_drop_requested;           // guarded by: gil.mu
    // --- statistics not hot enough for TLS
    _Atomic(uint64_t) cold_stats[32];     // atomic: owner adds / readers (relaxed)
} __attribute__((aligned(FT_CACHE_LINE)));

// Cold statistics indices (counted in ft_thread.cold_stats).
#define FT_COLD_STATS(X)                                                       \
    X(brc_queued)                                                              \
    X(brc_merged_owner)                                                        \
    X(brc_merged_behalf)                                                       \
    X(brc_merged_orphan)                                                       \
    X(brc_merged_in_pause)                                                     \
    X(mutex_slow)                                                              \
    X(mutex_parks)                                                             \
    X(mutex_handoffs)                                                          \
    X(cs_suspensions)                                                          \
    X(qsbr_deferred)                                                           \
    X(qsbr_freed)                                                              \
    X(qsbr_deferred_bytes_peak)                                                \
    X(world_pauses)                                                            \
    X(world_ns)                                                                \
    X(gc_collections)                                                          \
    X(gc_freed)                                                                \
    X(gc_examined)                                                             \
    X(gc_pause_ns)                                                             \
    X(shard_promoted)                                                          \
    X(shard_demoted)                                                           \
    X(shard_freed)                                                             \
    X(shard_pauses)                                                            \
    X(shard_suspects)                                                          \
    X(gil_switches)                                                            \
    X(gil_forced_switches)
enum {
#define FT_COLD_ENUM(name) FT_STAT_##name,
    FT_COLD_STATS(FT_COLD_ENUM)
#undef FT_COLD_ENUM
    FT_STAT_COLD_COUNT
};
// Adds to the calling thread's cold counter (no-op without a thread state).
void ft_stat_add(int which, uint64_t n);
void ft_stat_max(int which, uint64_t value);
#define FT_STAT_ADD(name, n) ft_stat_add(FT_STAT_##name, (n))

// ------------------------------------------------------------ runtime globals
typedef struct ft_runtime {
    _Atomic(uint32_t) initialized;        // atomic: ft_init/ft_fini (release) / readers (acquire)
    ft_mutex threads_mutex;               // internal lock, rank THREADS
    ft_thread *threads;                   // guarded by: threads_mutex
    size_t thread_count;                  // guarded by: threads_mutex
    size_t started_unjoined;              // guarded by: threads_mutex
    _Atomic(uint64_t) next_tid;           // atomic: registration (relaxed: uniqueness only)
    ft_thread *main_thread;               // immutable between ft_init and ft_fini
    // --- stop-the-world (runtime/world.c)
    ft_mutex world_mutex;                 // detaching lock, rank WORLD
    uint8_t world_requested;              // guarded by: threads_mutex
    uint8_t world_stopped;                // guarded by: threads_mutex
    _Atomic(ft_thread *) world_requester; // atomic: written under threads_mutex; read relaxed
                                          // (a thread only compares it with itself)
    uint32_t world_depth;                 // requester only
    _Atomic(uint32_t) world_generation;   // atomic: parkers bump (release) / requester parks on it
    int64_t world_start_ns;               // requester only
    // --- counters of exited threads
    _Atomic(uint64_t) exited_hot[sizeof(ft_hot_stats) / sizeof(uint64_t)];
    _Atomic(uint64_t) exited_cold[FT_STAT_COLD_COUNT];
} ft_runtime;
extern ft_runtime ft_runtime_state;

// ------------------------------------------------------------ thread internals
ft_thread *ft_thread_self(void);                 // NULL if not registered
bool ft_thread_is_attached(void);
// Sets RuntimeError and returns false when the caller has no attached state.
bool ft_thread_check_attached(const char *function);
// Detach/attach around a block inside a lock (parking, joins). Unlike
// ft_detach() they do not drain the merge queue (no destructors inside a lock
// acquisition). Returns whether the thread was attached.
bool ft_thread_detach_for_block(void);
void ft_thread_attach_after_block(bool was_attached);
// Calls fn(thread, arg) for every registered thread, under threads_mutex.
void ft_threads_foreach_locked(void (*fn)(ft_thread *, void *), void *arg);
ft_thread *ft_thread_lookup_locked(uintptr_t tid);   // threads_mutex held
void ft_thread_park_for_world_locked(ft_thread *thread);   // threads_mutex held
void ft_thread_reattach_after_world(ft_thread *thread);
int ft_thread_init_main(void);
void ft_thread_fini_main(void);

// ------------------------------------------------------------ stop-the-world
// The caller is attached and holds no internal lock (K1). Nested calls by the
// requester only count depth. In the GIL build the GIL is held already.
void ft_world_stop(void);
void ft_world_start(void);
bool ft_world_is_requester(void);   // the caller is the current pause's requester
void ft_world_park_self(void);      // at a safepoint with FT_EB_WORLD
void ft_world_after_fork_child(void);

// ------------------------------------------------------------ internal locks
// Internal locks park without detaching (K1: never held across a safepoint,
// detach, detaching lock, ft_decref, type slot or ft_world_stop).
typedef enum ft_lock_rank {
    FT_RANK_NONE = 0,
    FT_RANK_OBJECT = 1,
    FT_RANK_WORLD,
    FT_RANK_QSBR_ORPHANS,
    FT_RANK_THREADS,
    FT_RANK_GC_SLOTS,     // slot allocation, above every GC list lock
    FT_RANK_GC_LIST,      // GC lists, among themselves by slot number
    FT_RANK_BRC_BUCKET,
    FT_RANK_SHARD,        // sharded-count candidate and suspect lists
    FT_RANK_PARKING,
} ft_lock_rank;
void ft_mutex_lock_internal(ft_mutex *mutex, ft_lock_rank rank);
void ft_mutex_unlock_internal(ft_mutex *mutex, ft_lock_rank rank);

// ------------------------------------------------------------ parking lot
// Wait entries live on the waiter's stack; each thread has a persistent
// park_word. `validate` runs under the bucket lock; if it returns false the
// call returns FT_PARK_AGAIN at once (no lost wake-up, M3).
enum { FT_PARK_AGAIN = -1, FT_PARK_TIMEOUT = -2, FT_PARK_WOKEN = 1, FT_PARK_HANDOFF = 2 };
// deadline_ns: absolute CLOCK_MONOTONIC, or -1 for none. detach: detach
// the thread while parked (object and user locks) or not (internal locks).
int ft_parking_park(const void *addr, bool (*validate)(const void *addr, void *arg),
                    void *arg, int64_t deadline_ns, bool detach);
// Under the bucket lock, dequeue the first waiter on addr and call
// decide(arg, waited_ns_of_that_waiter, more_waiters_on_addr) (decide may be
// NULL; it also runs, with no waiter (waited -1), when the queue is empty);
// the waiter's park returns decide's result (FT_PARK_WOKEN or
// FT_PARK_HANDOFF). Returns whether a waiter was woken.
bool ft_parking_unpark_one(const void *addr,
                           int (*decide)(void *arg, int64_t waited_ns, bool more),
                           void *arg);
size_t ft_parking_unpark_all(const void *addr);   // waiters woken (FT_PARK_WOKEN)
void ft_parking_after_fork_child(void);
int64_t ft_monotonic_ns(void);

// ------------------------------------------------------------ critical sections
void ft_cs_suspend_all(void);          // detach: release every active section
void ft_cs_resume_top(void);           // attach: re-lock the top section
bool ft_cs_stack_is_empty(void);

// ------------------------------------------------------------ GIL (locking/gil.c)
void ft_gil_init(bool enabled);        // at ft_init: FT_GIL build or FT_ENABLE_GIL=1
void ft_gil_take(ft_thread *thread);
void ft_gil_drop(ft_thread *thread);
void ft_gil_thread_exit(ft_thread *thread);   // clears its drop request (L4)
bool ft_gil_held_by(ft_thread *thread);
void ft_gil_after_fork_child(ft_thread *thread);

// ------------------------------------------------------------ subsystem hooks
// Biased reference counting (refcount/): per-thread registration in the BRC
// buckets, the owner's merge at safepoints/detach, exit draining.
void ft_brc_thread_register(ft_thread *thread);
void ft_brc_thread_unregister(ft_thread *thread);   // drains, then unlinks
void ft_brc_merge_own(void);
bool ft_brc_has_pending(ft_thread *thread);
// World stopped: merge every queue; objects whose count reaches 0 keep one
// reference and are pushed on `later`, to be decref'd after the restart.
void ft_brc_merge_all_in_pause(ft_object_stack *later);
void ft_brc_after_fork_child(ft_thread *survivor);
// Sharded counting: promote each object with the right to its owner's local
// count (B1) -- ours, an exited owner's, or a detached owner's held
// SUSPENDED -- or hand it to its attached owner's promote queue (the entry
// is then set to NULL: the owner drops that reference). The caller drops
// the donated reference of every entry left non-NULL.
void ft_brc_promote_batch(struct ft_object **objs, size_t n);
// World stopped: promote every promote queue's objects (sharded counting;
// with !promote none); those left unsharded go on `drops` with their
// donated references.
void ft_brc_promote_all_in_pause(ft_object_stack *drops, bool promote);
// Sharded counting (refcount/shard.c; empty without FT_SHARDED_RC).
void ft_shard_init(void);                  // ft_init: threshold from the environment
void ft_shard_fini(void);                  // ft_fini, last thread: frees the registry
void ft_shard_thread_exit(ft_thread *thread);   // attached: fold our deltas, drop the table
void ft_shard_safepoint(void);             // FT_EB_SHARD: run a shard pause
// World stopped: promote candidates, resolve suspects, and with `full` fold
// every delta (demoting idle objects, or all with demote_all). Objects to
// drop a reference to after the restart go on `later` (dead ones hold count
// 1 as plain MERGED objects, so that decref frees them). Returns how many
// sharded objects were found dead.
int64_t ft_shard_in_pause(ft_object_stack *later, bool full, bool demote_all);
void ft_shard_after_fork_child(ft_thread *survivor);   // before the registry forgets the others
int64_t ft_shard_settle(void);             // attached, no pause: short pauses until no work is left
void ft_shard_flush(void);                 // attached: promote our buffered candidates
// Objects subsystem: static singletons and caches, set up once per ft_init.
int ft_objects_init(void);
void ft_objects_fini(void);
// QSBR and GC (gc/).
void ft_qsbr_thread_register(ft_thread *thread);
void ft_qsbr_thread_unregister(ft_thread *thread);
void ft_qsbr_online(ft_thread *thread);
void ft_qsbr_offline(ft_thread *thread);
void ft_qsbr_safepoint(void);
void ft_gc_thread_register(ft_thread *thread);
void ft_gc_thread_unregister(ft_thread *thread);
void ft_gc_safepoint(void);
void ft_gc_init(void);
void ft_gc_fini(void);
void ft_qsbr_collect_in_pause(void);   // world stopped: free everything deferred
void ft_qsbr_fini(void);
// Frees ptr with release(ptr) once no lock-free reader can hold it (Q1).
void ft_qsbr_defer(void *ptr, size_t bytes, void (*release)(void *ptr));
size_t ft_qsbr_deferred_bytes(void);   // the calling thread's

#endif
