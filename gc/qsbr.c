// gc/qsbr.c: quiescent-state-based reclamation (DESIGN.md §4.8).
//
// Invariant (Q1): a deferred block is freed only after every thread that was
// online when it was unlinked has passed a quiescent point (published a
// sequence >= the block's goal) or gone offline (sequence 0).
//
// How: a global write sequence wr_seq (odd, +2 per advance). A deferred
// block gets its goal from an advance made by the deferring thread itself
// after the unlink: at once every 16th deferral or after 256 KiB, otherwise
// lazily, when the thread next processes its queue (one advance covers every
// block deferred since). A goal of wr_seq + 2 read without an advance of our
// own is NOT enough: another thread's advance can reach it before our unlink
// is visible, and a reader reporting at that sequence may still load the old
// pointer (found by tests/model/qsbr.pml, -DADVANCER). Threads publish
// wr_seq into their own record at quiescent points (the safepoint slow path
// when work is pending, and detach); a block is freed once the minimum over
// online records reaches its goal (cached in rd_seq). Goals never fall within
// one thread's queue (Q2), so it is freed in order. Past 1 MiB deferred a
// thread advances, polls and prods laggards by setting their FT_EB_QSBR bit,
// which they answer within T5: memory stays bounded even when a thread sits
// in a long loop (gh-132519, gh-133136). Exiting threads hand their queue to
// an orphan queue that any thread drains with a try-lock (gh-130794). In a
// pause every other thread is offline, so the requester frees everything.
//
// Why it holds: a goal comes from an advance made after the unlink, so a
// thread whose published sequence is >= goal loaded its pointers after the
// unlink; an offline thread holds no pointers (T1). The seq_cst exchange and
// fence in ft_qsbr_online() pair with the fence in poll(): either the poller
// sees the new record, or the thread coming online sees the unlink.
//
// Origin: CPython Python/qsbr.c (itself after FreeBSD's GUS); we keep each
// record in its ft_thread (no array to grow under a pause, gh-157666) and
// bound deferred memory.
#include <string.h>

#include "gc/gc_internal.h"
#include "locking/locking_internal.h"

#define rt ft_runtime_state

#define QSBR_INCR 2
#define ADVANCE_EVERY 16
#define ADVANCE_BYTES (256u * 1024)
#define EAGER_BYTES (1024u * 1024)
#define PROD_EVERY 64
// A thread asks itself to process (its own FT_EB_QSBR bit) once per batch of
// deferrals, not per deferral: each process() polls every thread's record
// under threads_mutex, which cost more than the free it enables when a
// shared dict's value was replaced in a loop (counter_locked spent ~100 ns
// of a ~190 ns iteration there, ftbench release-ft, 1 thread).
#define PROCESS_BATCH 32
#define PROCESS_BATCH_BYTES (64u * 1024)
#define CHUNK_ITEMS 126

typedef struct qsbr_item {
    void *ptr;
    void (*release)(void *ptr);
    uint64_t goal;
    size_t bytes;
} qsbr_item;

typedef struct qsbr_chunk {
    struct qsbr_chunk *next;
    size_t head, tail;   // items [head, tail) are pending
    qsbr_item items[CHUNK_ITEMS];
} qsbr_chunk;

// Per-thread queue (ft_thread.qsbr_queue points here): FIFO of chunks.
typedef struct qsbr_queue {
    qsbr_chunk *first, *last;   // owner only (or world stopped)
    qsbr_chunk *unassigned_chunk;   // owner only: first item whose goal is 0
    size_t unassigned_index;        // (waiting for our next advance), or NULL
    size_t bytes;               // owner only
    uint32_t deferrals;         // owner only: since the last advance
    size_t bytes_since_advance; // owner only
    uint32_t visits;            // owner only: process() calls
    uint32_t since_process;     // owner only: deferrals since the last process()
} qsbr_queue;

static struct {
    _Atomic(uint64_t) wr_seq;   // atomic: advance() (acq_rel) / readers (acquire)
    _Atomic(uint64_t) rd_seq;   // atomic: pollers raise it (relaxed: a cache of a proven bound)
    ft_mutex orphans_lock;      // internal lock, rank QSBR_ORPHANS
    qsbr_queue orphans;         // guarded by: orphans_lock
    _Atomic(int) have_orphans;  // atomic: relaxed hint, re-checked under orphans_lock
} qsbr = {.wr_seq = 1, .rd_seq = 1};

static qsbr_queue *
my_queue(void)
{
    ft_thread *t = ft_thread_self();
    return t != NULL ? t->qsbr_queue : NULL;
}

// ------------------------------------------------------------ sequences
void
ft_qsbr_online(ft_thread *thread)
{
    // pairs: acq_rel fetch_add in advance()
    uint64_t seq = ft_atomic_load_acquire_u64(&qsbr.wr_seq);
    // pairs: fence in poll() (store-load ordering against a concurrent scan)
    ft_atomic_exchange_seq_cst_u64(&thread->qsbr_seq, seq);
    // pairs: fence in poll()
    ft_atomic_fence_seq_cst();
}

void
ft_qsbr_offline(ft_thread *thread)
{
    // pairs: acquire load in poll_min()
    ft_atomic_store_release_u64(&thread->qsbr_seq, 0);
}

static void
quiescent(ft_thread *thread)
{
    // pairs: acq_rel fetch_add in advance()
    uint64_t seq = ft_atomic_load_acquire_u64(&qsbr.wr_seq);
    // pairs: acquire load in poll_min()
    ft_atomic_store_release_u64(&thread->qsbr_seq, seq);
}

// Returns the NEW write sequence (a goal must be reached by a quiescent
// point after this advance, not before).
static uint64_t
advance(void)
{
    // pairs: acquire loads of wr_seq in ft_qsbr_online()/quiescent()
    return ft_atomic_add_acq_rel_u64(&qsbr.wr_seq, QSBR_INCR) + QSBR_INCR;
}

typedef struct min_scan {
    uint64_t min;
} min_scan;

static void
scan_thread(ft_thread *t, void *arg)
{
    min_scan *scan = arg;
    // Also ordered: the seq_cst exchange in ft_qsbr_online().
    // pairs: release stores in quiescent() / ft_qsbr_offline()
    uint64_t seq = ft_atomic_load_acquire_u64(&t->qsbr_seq);
    if (seq != 0 && seq < scan->min) {
        scan->min = seq;
    }
}

static bool
poll(uint64_t goal)
{
    // A bound another poller proved carries the happens-before of the
    // quiescent stores it read.
    // pairs: release CAS of rd_seq in poll()
    if (ft_atomic_load_acquire_u64(&qsbr.rd_seq) >= goal) {
        return true;
    }
    FT_YIELD_POINT();
    // pairs: fence in ft_qsbr_online()
    ft_atomic_fence_seq_cst();
    // pairs: acq_rel fetch_add in advance()
    min_scan scan = {ft_atomic_load_acquire_u64(&qsbr.wr_seq)};
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    ft_threads_foreach_locked(scan_thread, &scan);
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    // relaxed: the current value is only a starting point for the CAS
    uint64_t old = ft_atomic_load_relaxed_u64(&qsbr.rd_seq);
    // pairs: acquire load of rd_seq at the top of poll()
    while (scan.min > old && !ft_atomic_cas_release_u64(&qsbr.rd_seq, &old, scan.min)) {
    }
    return scan.min >= goal;
}

// ------------------------------------------------------------ queues
static int
queue_push(qsbr_queue *q, qsbr_item item)
{
    if (q->last == NULL || q->last->tail == CHUNK_ITEMS) {
        qsbr_chunk *chunk = ft_mem_alloc(sizeof(*chunk));
        if (chunk == NULL) {
            return -1;
        }
        chunk->next = NULL;
        chunk->head = chunk->tail = 0;
        if (q->last != NULL) {
            q->last->next = chunk;
        } else {
            q->first = chunk;
        }
        q->last = chunk;
    }
    if (item.goal == 0 && q->unassigned_chunk == NULL) {
        q->unassigned_chunk = q->last;
        q->unassigned_index = q->last->tail;
    }
    q->last->items[q->last->tail++] = item;
    q->bytes += item.bytes;
    return 0;
}

// Gives every block deferred since the last advance of ours the goal of a
// fresh advance, made now, after all their unlinks (program order, and the
// advance is an acq_rel RMW on wr_seq that readers acquire).
static void
assign_goals(qsbr_queue *q)
{
    if (q->unassigned_chunk == NULL) {
        return;
    }
    uint64_t goal = advance();
    size_t i = q->unassigned_index;
    for (qsbr_chunk *c = q->unassigned_chunk; c != NULL; c = c->next, i = 0) {
        for (; i < c->tail; i++) {
            c->items[i].goal = goal;
        }
    }
    q->unassigned_chunk = NULL;
    q->deferrals = 0;
    q->bytes_since_advance = 0;
}

static qsbr_item *
queue_front(qsbr_queue *q)
{
    while (q->first != NULL && q->first->head == q->first->tail) {
        qsbr_chunk *done = q->first;
        q->first = done->next;
        if (q->first == NULL) {
            q->last = NULL;
        }
        ft_mem_free(done);
    }
    return q->first != NULL ? &q->first->items[q->first->head] : NULL;
}

static void
queue_pop_free(qsbr_queue *q)
{
    qsbr_item item = q->first->items[q->first->head++];
    q->bytes -= item.bytes;
    item.release(item.ptr);   // memory only: no destructor runs from QSBR (Q4)
    FT_STAT_ADD(qsbr_freed, 1);
}

// Frees items whose goal has been reached, in order (Q2). Returns whether
// items remain, and their oldest goal in *pending_goal.
static bool
queue_drain(qsbr_queue *q, uint64_t *pending_goal)
{
    qsbr_item *front;
    while ((front = queue_front(q)) != NULL) {
        FT_ASSERT(front->goal != 0, "QSBR: draining a block whose goal is unassigned");
        if (!poll(front->goal)) {
            *pending_goal = front->goal;
            return true;
        }
        queue_pop_free(q);
    }
    return false;
}

static void
queue_free_all(qsbr_queue *q)
{
    q->unassigned_chunk = NULL;   // in a pause or at the end nobody reads
    while (queue_front(q) != NULL) {
        queue_pop_free(q);
    }
}

static void
queue_append(qsbr_queue *dst, qsbr_queue *src)
{
    if (src->first == NULL) {
        return;
    }
    if (dst->last != NULL) {
        dst->last->next = src->first;
    } else {
        dst->first = src->first;
    }
    dst->last = src->last;
    dst->bytes += src->bytes;
    src->first = src->last = NULL;
    src->bytes = 0;
}

// ------------------------------------------------------------ processing
typedef struct prod_state {
    uint64_t goal;
    ft_thread *self;
} prod_state;

static void
prod_laggard(ft_thread *t, void *arg)
{
    prod_state *prod = arg;
    // pairs: release stores in quiescent() / ft_qsbr_offline()
    uint64_t seq = ft_atomic_load_acquire_u64(&t->qsbr_seq);
    if (t != prod->self && seq != 0 && seq < prod->goal) {
        // pairs: acquire load in ft_safepoint_slow()
        ft_atomic_or_release_u32(t->eval_breaker, FT_EB_QSBR);
    }
}

static void
process(bool eager)
{
    ft_thread *self = ft_thread_self();
    qsbr_queue *q = my_queue();
    if (q == NULL) {
        return;
    }
    assign_goals(q);   // our own advance, after every unlink we queued
    if (ft_tls.attached) {
        quiescent(self);   // we hold no pointer older than now
    }
    uint64_t pending_goal = 0;
    q->visits++;
    q->since_process = 0;
    if (queue_drain(q, &pending_goal)) {
        // Laggards are prodded now and then (every visit when eager): they
        // report at their next safepoint, and our own bit brings us back.
        if (eager || q->visits % PROD_EVERY == 1) {
            prod_state prod = {pending_goal, self};
            ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
            ft_threads_foreach_locked(prod_laggard, &prod);
            ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
        }
        // pairs: acquire load in ft_safepoint_slow() (keep our own bit)
        ft_atomic_or_release_u32(&ft_tls.eval_breaker, FT_EB_QSBR);
    } else {
        // relaxed: we clear our own request bit
        ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_QSBR);
    }
}

static void
drain_orphans(void)
{
    // relaxed: a hint; the queue itself is read under orphans_lock
    if (!ft_atomic_load_relaxed_int(&qsbr.have_orphans)) {
        return;
    }
    if (!ft_mutex_try_lock_internal(&qsbr.orphans_lock, FT_RANK_QSBR_ORPHANS)) {
        return;   // someone else is draining (gh-130794: never wait here)
    }
    uint64_t pending_goal = 0;
    bool left = queue_drain(&qsbr.orphans, &pending_goal);
    // relaxed: hint, guarded by orphans_lock for the truth
    ft_atomic_store_relaxed_int(&qsbr.have_orphans, left);
    ft_mutex_unlock_internal(&qsbr.orphans_lock, FT_RANK_QSBR_ORPHANS);
}

// ------------------------------------------------------------ public to the runtime
void
ft_qsbr_defer(void *ptr, size_t bytes, void (*release)(void *ptr))
{
    qsbr_queue *q = my_queue();
    if (q == NULL) {
        release(ptr);   // no thread state: nobody can be reading through us
        return;
    }
    // Goal 0: assigned by our next advance (assign_goals), never before.
    if (queue_push(q, (qsbr_item){ptr, release, 0, bytes}) < 0) {
        // Cannot queue: stop the world, where every other thread is offline.
        ft_world_stop();
        release(ptr);
        ft_world_start();
        return;
    }
    q->bytes_since_advance += bytes;
    if (++q->deferrals >= ADVANCE_EVERY || q->bytes_since_advance >= ADVANCE_BYTES) {
        assign_goals(q);
    }
    FT_STAT_ADD(qsbr_deferred, 1);
    ft_stat_max(FT_STAT_qsbr_deferred_bytes_peak, q->bytes);
    if (++q->since_process >= PROCESS_BATCH || q->bytes >= PROCESS_BATCH_BYTES) {
        // pairs: acquire load in ft_safepoint_slow() (our own bit)
        ft_atomic_or_release_u32(&ft_tls.eval_breaker, FT_EB_QSBR);
    }
    if (q->bytes >= EAGER_BYTES) {
        process(true);
    }
}

size_t
ft_qsbr_deferred_bytes(void)
{
    qsbr_queue *q = my_queue();
    return q != NULL ? q->bytes : 0;
}

void
ft_qsbr_safepoint(void)
{
    process(false);
    drain_orphans();
}

void
ft_qsbr_thread_register(ft_thread *thread)
{
    // relaxed: not yet visible to other threads
    ft_atomic_store_relaxed_u64(&thread->qsbr_seq, 0);
    static_assert(sizeof(qsbr_queue) <= sizeof(thread->qsbr_storage), "qsbr_storage too small");
    thread->qsbr_queue = thread->qsbr_storage;
    memset(thread->qsbr_queue, 0, sizeof(qsbr_queue));
}

// Exit: free what is ready, hand the rest to the orphan queue.
void
ft_qsbr_thread_unregister(ft_thread *thread)
{
    qsbr_queue *q = thread->qsbr_queue;
    if (q == NULL) {
        return;
    }
    process(false);
    if (q->first != NULL) {
        ft_mutex_lock_internal(&qsbr.orphans_lock, FT_RANK_QSBR_ORPHANS);
        queue_append(&qsbr.orphans, q);
        // relaxed: hint, guarded by orphans_lock for the truth
        ft_atomic_store_relaxed_int(&qsbr.have_orphans, 1);
        ft_mutex_unlock_internal(&qsbr.orphans_lock, FT_RANK_QSBR_ORPHANS);
    }
    thread->qsbr_queue = NULL;
}

static void
free_thread_queue(ft_thread *t, void *arg)
{
    (void)arg;
    if (t->qsbr_queue != NULL) {
        queue_free_all(t->qsbr_queue);
    }
}

// World stopped: everyone else is offline, so everything deferred is free
// to go (memory only).
void
ft_qsbr_collect_in_pause(void)
{
    advance();
    ft_mutex_lock_internal(&qsbr.orphans_lock, FT_RANK_QSBR_ORPHANS);
    queue_free_all(&qsbr.orphans);
    // relaxed: guarded by orphans_lock
    ft_atomic_store_relaxed_int(&qsbr.have_orphans, 0);
    ft_mutex_unlock_internal(&qsbr.orphans_lock, FT_RANK_QSBR_ORPHANS);
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    ft_threads_foreach_locked(free_thread_queue, NULL);
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
}

// ft_fini: the last thread frees everything still queued.
void
ft_qsbr_fini(void)
{
    ft_mutex_lock_internal(&qsbr.orphans_lock, FT_RANK_QSBR_ORPHANS);
    queue_free_all(&qsbr.orphans);
    ft_atomic_store_relaxed_int(&qsbr.have_orphans, 0);   // relaxed: guarded by orphans_lock
    ft_mutex_unlock_internal(&qsbr.orphans_lock, FT_RANK_QSBR_ORPHANS);
    qsbr_queue *q = my_queue();
    if (q != NULL) {
        queue_free_all(q);
    }
}
