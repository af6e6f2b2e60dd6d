/* tests/model/qsbr.pml: QSBR grace periods (DESIGN.md §4.8), for spin.
 *
 * Checked (Q1): the item a writer unlinks is freed only when no reader
 * still holds a pointer it loaded; a reader never uses a freed item; every
 * reader that was online at the unlink has since reported a sequence >= the
 * goal or gone offline.
 *
 * Memory model: x86-TSO, what gcc emits for the C11 atomics of gc/qsbr.c on
 * our one target (DESIGN.md §1). In a sequentially consistent model the two
 * seq_cst fences would be no-ops and the race they close could not show, so
 * every thread has a FIFO store buffer: plain, relaxed and release stores
 * (MOV) go into it and reach memory in order, whenever the thread's drainer
 * runs; a load reads the thread's own newest buffered store to that address,
 * else memory; locked read-modify-writes (fetch_add, exchange, CAS) and
 * fences (MFENCE) first wait for the buffer to empty, then act on memory.
 * Only wr_seq is written by RMWs alone, so it lives outside the buffers.
 *
 * Threads: 0 the reader: online at the start with seq 1, it then makes OPS
 * steps, each a lock-free read of the slot (load, then use), a quiescent
 * report, going offline or coming back online. 1 the writer: online (seq
 * 1); it replaces item 1 in the slot by item 2 (a release store, the unlink)
 * and defers item 1 with a goal: an advance of its own (EAGER, as every
 * 16th deferral or after 256 KiB), or the lazy wr_seq + 2 otherwise; then it
 * processes its queue (advance if the goal is ahead, report quiescent,
 * poll) until the item is freed. 2, with ADVANCER, another online thread
 * that advances wr_seq for a deferral of its own, reports quiescent and
 * goes offline (or ends first), whose poll also raises rd_seq.
 *
 * States and labels -> C (gc/qsbr.c, runtime/thread.c):
 *   wr_seq, rd_seq           qsbr.wr_seq (odd, +2), qsbr.rd_seq (cache)
 *   mem[SLOT]                a list slot or storage pointer (item 1 or 2)
 *   mem[SEQ + t]             ft_thread.qsbr_seq of thread t (0 = offline)
 *   buf_*, drainer           the store buffer of each thread
 *   go_online:               ft_qsbr_online(): acquire load of wr_seq,
 *                            seq_cst exchange of seq, seq_cst fence
 *   report:                  quiescent(): acquire load of wr_seq, release
 *                            store of seq
 *   go_offline:              ft_qsbr_offline(): release store of 0
 *   read:, use:              a lock-free reader's acquire load of the slot
 *                            and its later use of what it loaded
 *   unlink:                  the writer's release store that replaces the
 *                            item (list resize publishing a new array, ...)
 *   defer:                   ft_qsbr_defer() + assign_goals(): goal = an
 *                            advance() of the deferring thread (EAGER);
 *                            lazy = the rejected wr_seq + 2 (see below)
 *   process:                 process(): assign_goals(), quiescent(self), poll
 *   polling:                 poll(): rd_seq >= goal, else seq_cst fence,
 *                            acquire load of wr_seq, acquire loads of every
 *                            thread's seq (min over non-zero), CAS rd_seq up
 *   free:                    queue_pop_free() of the item
 *   advance:                 advance(): fetch_add_acq_rel(wr_seq, 2)
 *
 * The lazy variant (no -DEAGER) is the design gc/qsbr.c used first and no
 * longer uses, kept as a configuration that must fail (tests/model/check.sh):
 * a lazy goal wr_seq + 2 is reached by whoever advances next. If that is
 * another thread, nothing orders the unlink before its advance: the
 * writer's unlink store can still sit in its store buffer when it reads
 * wr_seq (x86 lets a load pass an earlier store; in C11 an acquire load
 * orders nothing before it), a third thread advances, the reader reports
 * the new sequence and then loads the old item, and the writer frees it.
 * The C code now gives every deferred block the goal of an advance made by
 * the deferring thread after the unlink -- at once (every 16th deferral or
 * 256 KiB) or at its next process(), which assigns one fresh advance to all
 * blocks deferred since (assign_goals()) -- which is the EAGER case here.
 * poll()'s fast path now loads rd_seq with acquire and raises it with a
 * release CAS, so a bound proved by another poller carries the ordering.
 *
 * Run: spin -a qsbr.pml && gcc -O2 -DSAFETY -o pan pan.c && ./pan
 * (tests/model/check.sh qsbr runs the variants). */

#ifndef OPS
#define OPS 4          /* reader steps */
#endif
#define NT 3           /* threads: 0 reader, 1 writer, 2 advancer */
#define BUFCAP 2       /* store-buffer entries per thread */

#define SLOT 0
#define SEQ 1          /* mem[SEQ + t]: qsbr_seq of thread t */
#define NADDR 4

byte mem[NADDR];
byte wr_seq = 1;
byte rd_seq = 1;

byte buf_addr[NT * BUFCAP];
byte buf_val[NT * BUFCAP];
byte buf_n[NT];

bool freed[3];         /* items 1 and 2 */
byte hold[NT];         /* the item a thread loaded and may still use */
bool writer_done;

inline store(t, a, v)
{
    atomic {
        buf_n[t] < BUFCAP ->
        buf_addr[t * BUFCAP + buf_n[t]] = a;
        buf_val[t * BUFCAP + buf_n[t]] = v;
        buf_n[t]++
    }
}

/* newest own buffered store to a, else memory */
inline load(t, a, v)
{
    d_step {
        v = mem[a];
        k = 0;
        do
        :: k < buf_n[t] ->
            if
            :: buf_addr[t * BUFCAP + k] == a -> v = buf_val[t * BUFCAP + k]
            :: else -> skip
            fi;
            k++
        :: else -> break
        od;
        k = 0
    }
}

/* MFENCE, or the implicit one of a locked instruction */
inline fence(t)
{
    buf_n[t] == 0
}

proctype drainer(byte t)
{
end:
    do
    :: atomic {
           buf_n[t] > 0 ->
           mem[buf_addr[t * BUFCAP]] = buf_val[t * BUFCAP];
           buf_addr[t * BUFCAP] = buf_addr[t * BUFCAP + 1];
           buf_val[t * BUFCAP] = buf_val[t * BUFCAP + 1];
           buf_addr[t * BUFCAP + 1] = 0;
           buf_val[t * BUFCAP + 1] = 0;
           buf_n[t]--
       }
    od
}

inline quiescent(t)
{
    v = wr_seq;
    store(t, SEQ + t, v);
    v = 0
}

proctype reader()
{
    byte v, k, p, ops;
    bool online = true;

    do
    :: ops < OPS ->
        if
        :: online ->
read:
            load(0, SLOT, p);
            hold[0] = p;
use:
            d_step {
                assert(!freed[p]);   /* Q1: the grace period covers this use */
                hold[0] = 0;
                p = 0
            }
        :: online ->
report:
            quiescent(0)
        :: online ->
go_offline:
            store(0, SEQ, 0);
            online = false
        :: !online ->
go_online:
            v = wr_seq;
            fence(0);   /* the exchange is locked */
            mem[SEQ] = v;
            fence(0);   /* the seq_cst fence */
            online = true;
            v = 0
        fi;
        ops++
    :: else -> break
    od
}

/* poll(goal) by thread t -> ok */
inline poll(t, goal, ok)
{
    if
    :: rd_seq >= goal -> ok = true
    :: else ->
        fence(t);
        m = wr_seq;
        i = 0;
        do
        :: i < NT ->
            load(t, SEQ + i, s);
            if
            :: s != 0 && s < m -> m = s
            :: else -> skip
            fi;
            i++
        :: else -> break
        od;
        fence(t);   /* the CAS on rd_seq is locked */
        d_step {
            if
            :: m > rd_seq -> rd_seq = m
            :: else -> skip
            fi
        };
        ok = m >= goal;
        i = 0; s = 0; m = 0
    fi
}

proctype writer()
{
    byte v, k, i, s, m, goal;
    bool ok;

unlink:
    store(1, SLOT, 2);
defer:
#ifdef EAGER
    fence(1);
    d_step { wr_seq = wr_seq + 2; goal = wr_seq };
#else
    goal = wr_seq + 2;
#endif
    do
    :: true ->
process:
        if
        :: goal > wr_seq ->
            fence(1);
            wr_seq = wr_seq + 2
        :: else -> skip
        fi;
        quiescent(1);
polling:
        poll(1, goal, ok);
        if
        :: ok ->
free:
            d_step {
                assert(hold[0] != 1 && hold[2] != 1);   /* Q1 */
                freed[1] = true
            };
            break
        :: else -> skip
        fi
    od;
    writer_done = true
}

proctype advancer()
{
    byte v, k, i, s, m, goal;
    bool ok;

    if
    :: true ->
advance:
        fence(2);
        wr_seq = wr_seq + 2;
        goal = wr_seq;
        quiescent(2);
        poll(2, goal, ok)
    :: true -> skip
    fi;
    store(2, SEQ + 2, 0)   /* offline */
}

init
{
    atomic {
        mem[SLOT] = 1;
        mem[SEQ] = 1;
        mem[SEQ + 1] = 1;
#ifdef ADVANCER
        mem[SEQ + 2] = 1;
        run advancer();
#endif
        run drainer(0);
        run drainer(1);
        run drainer(2);
        run reader();
        run writer()
    }
}
