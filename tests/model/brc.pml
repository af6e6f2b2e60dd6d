/* tests/model/brc.pml: biased reference counting, queue and merge states
 * (DESIGN.md §4.2), for spin.
 *
 * Checked, on one object with an owner and NFOREIGN other threads: it is
 * deallocated exactly once, only when no reference is left (ghost `refs`
 * counts every reference, queue entries included: B5), and nobody touches
 * it afterwards except a lock-free reader's try-incref, which must fail;
 * the state of the shared word only rises, so the object is queued at most
 * once (B3); the count is negative only while QUEUED (B4); ob_tid and
 * ob_ref_local are 0 whenever MERGED shows (B2); ob_ref_local is written
 * only by its owner while attached, or by a merger holding the owner
 * SUSPENDED or finding it exited (B1); no merge goes negative; and once
 * every thread is done the object is freed, its queue empty.
 *
 * Model: ob_ref_shared is the pair (scount, sstate), always written
 * together in one d_step, so each CAS and fetch_add is one step; relaxed
 * loads and stores of ob_ref_local and ob_tid are steps of their own. The
 * object starts owned (local = 1 + handed references, shared 0, DEFAULT).
 * The owner holds one reference (more once given some) and drops them, may
 * detach and re-attach (ft_detach merges a pending queue first), merges its
 * queue at safepoints (FT_EB_BRC), and exits (drains its queue and unlinks
 * under the bucket lock). Each foreign thread starts with a reference the
 * owner handed it (counted in local), or borrows one with a shared incref
 * while an owner reference pins the object (a GIVER then hands it to the
 * owner, whose decref takes the local path, so local can reach 0 while the
 * word is QUEUED), may take one more, and drops them with foreign decrefs;
 * with READER, a lock-free reader (SHARED set) tries ft_ref_try_incref() at
 * any time, even after the free (QSBR keeps the memory). Not modelled: the merge queue's chunk allocation failing (stop
 * the world), collections (pauses), immortality, the parking of an owner
 * waiting to attach (a blocking guard here; tests/model/mutex.pml checks
 * parking).
 *
 * States and labels -> C (refcount/brc.c, refcount/refcount.h,
 * runtime/thread.c):
 *   ref_local, ob_tid        ob_ref_local, ob_tid (OWNER or 0)
 *   scount, sstate           ob_ref_shared = count * 4 + state
 *   ostate, registered       owner ft_thread.state; linked in its BRC bucket
 *   blk, qlen, eval_brc      brc_bucket.mutex; owner merge_queue size;
 *                            FT_EB_BRC in its eval breaker
 *   owner_decref:            ft_decref() by the owner: relaxed load of
 *                            ob_tid; ours -> relaxed load and store of
 *                            ob_ref_local, 1 -> 0 calls
 *                            ft_ref_merge_zero_local(); 0 (merged) ->
 *   owner_decref_shared:     ft_ref_decref_shared() on a MERGED word
 *   zero_local:              ft_ref_merge_zero_local(): acquire load of the
 *                            word; 0 and not SHARED -> free without RMW;
 *                            else tid = 0, CAS to MERGED, free at MERGED|0
 *   merge_own (inline)       ft_brc_merge_own(): clear FT_EB_BRC, take the
 *                            queue under the bucket lock, merge_explicit(-1)
 *   detach:, attach:         ft_detach() (merge if pending, release store
 *                            DETACHED), attach_state() (CAS DETACHED ->
 *                            ATTACHED, waits while SUSPENDED)
 *   unregister:              ft_brc_thread_unregister(): drain until empty,
 *                            unlink under the same bucket lock
 *   foreign_decref:          ft_ref_decref_shared(): CAS loop; count 0 and
 *                            state < QUEUED -> QUEUED (donate), else -4
 *   brc_queue:               brc_queue(): relaxed load of tid; 0 -> decref
 *                            again; bucket lock; owner gone -> orphan merge;
 *                            CAS DETACHED -> SUSPENDED -> merge on behalf;
 *                            else push and set FT_EB_BRC
 *   on_behalf:               merge_on_behalf_locked(): merge_explicit(0),
 *                            release CAS SUSPENDED -> DETACHED, unlock, then
 *                            ft_decref() of the kept reference
 *   merge_explicit (inline)  merge_explicit(): local = 0, tid = 0, then the
 *                            CAS to (count + local + extra, MERGED)
 *   try_incref:              ft_ref_try_incref(): refuse MERGED|0, else CAS +4
 *   dealloc (inline)         ft_ref_dealloc()
 *
 * Run: spin -a brc.pml && gcc -O2 -DSAFETY -o pan pan.c && ./pan
 * (tests/model/check.sh brc runs the variants). */

#ifndef NHANDED
#define NHANDED 2      /* foreign threads the owner handed a reference */
#endif
#ifndef NBORROW
#define NBORROW 0      /* foreign threads that borrow with a shared incref */
#endif
#ifndef NGIVER
#define NGIVER 0       /* foreign threads that borrow and give it to the owner */
#endif
#ifndef DETACHES
#define DETACHES 1     /* detach/attach rounds of the owner */
#endif
#ifdef READER
#define NREADER 1
#else
#define NREADER 0
#endif
#define NFOREIGN (NHANDED + NBORROW + NGIVER + NREADER)

#define DEFAULT 0
#define QUEUED 2
#define MERGED 3

#define ATTACHED 1
#define DETACHED 2
#define SUSPENDED 3

#define OWNER 1

#define HANDED 0
#define BORROWER 1
#define READS 2
#define GIVER 3

/* the object */
byte ref_local = 1 + NHANDED;
byte ob_tid = OWNER;
short scount;
byte sstate = DEFAULT;
#ifdef READER
bool shared_bit = true;
#else
bool shared_bit;
#endif

/* the owner thread */
byte ostate = ATTACHED;
bool registered = true;
bool blk;
byte qlen;
bool eval_brc;

/* ghosts */
byte refs = 1 + NHANDED;     /* references held, queue entries included */
bool freed;
byte owner_refs = 1;         /* references the owner holds */
byte finished;

inline dealloc()
{
    d_step {
        assert(!freed);
        assert(refs == 0);
        freed = true
    }
}

/* Post-conditions of every write of the shared word (inside its d_step). */
inline check_word(old_state)
{
    assert(sstate >= old_state);                   /* B3 */
    assert(scount >= 0 || sstate == QUEUED);       /* B4 */
    assert(sstate != MERGED || (ob_tid == 0 && ref_local == 0));   /* B2 */
}

/* merge_explicit(obj, extra) by thread `me` -> cnt. The caller has the
 * right to ref_local (B1): it is the attached owner, or holds it SUSPENDED, or
 * found it exited. */
inline merge_explicit(me, extra, cnt)
{
    assert(!freed);
    assert((me == OWNER && ostate == ATTACHED)
           || (me != OWNER && (ostate == SUSPENDED || !registered)));   /* B1 */
    l = ref_local;
    ref_local = 0;
    ob_tid = 0;
    c = scount;
    s = sstate;
    do
    :: d_step {
           if
           :: scount == c && sstate == s ->
               cnt = c + l + extra;
               assert(cnt >= 0);   /* debug: merge-accounting mismatch */
               scount = cnt;
               sstate = MERGED;
               refs = refs + extra;
               check_word(s);
               ok = true
           :: else ->
               c = scount;
               s = sstate;
               ok = false
           fi
       };
       if
       :: ok -> break
       :: else -> skip
       fi
    od;
    l = 0; c = 0; s = 0
}

/* ft_brc_merge_own(), owner attached */
inline merge_own()
{
    eval_brc = false;
    atomic { !blk -> blk = true };
    n = qlen;
    qlen = 0;
    blk = false;
    do
    :: n > 0 ->
        merge_explicit(OWNER, -1, cnt);
        if
        :: cnt == 0 -> dealloc()
        :: else -> skip
        fi;
        n--
    :: else -> break
    od
}

proctype owner()
{
    byte l, n, s, t, detaches;
    short c, cnt;
    bool ok;

    do
    :: owner_refs > 0 ->
owner_decref:
        d_step {
            assert(!freed && ostate == ATTACHED);
            refs--;
            owner_refs--
        };
        t = ob_tid;
        if
        :: t != OWNER ->
            /* merged by our own queue merge or on our behalf: the count is
             * in the word now, so ft_decref() takes the foreign path */
owner_decref_shared:
            c = scount;
            s = sstate;
            do
            :: d_step {
                   if
                   :: scount == c && sstate == s ->
                       assert(s == MERGED && c > 0);
                       scount = c - 1;
                       check_word(s);
                       ok = true
                   :: else ->
                       c = scount;
                       s = sstate;
                       ok = false
                   fi
               };
               if
               :: ok -> break
               :: else -> skip
               fi
            od;
            if
            :: c == 1 -> dealloc()
            :: else -> skip
            fi
        :: else -> skip
        fi;
        if
        :: t != OWNER -> l = 0
        :: else ->
            l = ref_local;
            assert(l > 0 && ostate == ATTACHED);   /* debug: underflow; B1 */
            ref_local = l - 1
        fi;
        if
        :: l == 1 ->
zero_local:
            c = scount;   /* load_acquire of the word (a pair: one read) */
            s = sstate;
            if
            :: c == 0 && s == DEFAULT && !shared_bit -> dealloc()
            :: else ->
                ob_tid = 0;
                do
                :: d_step {
                       if
                       :: scount == c && sstate == s ->
                           scount = c;
                           sstate = MERGED;
                           check_word(s);
                           ok = true
                       :: else ->
                           c = scount;
                           s = sstate;
                           ok = false
                       fi
                   };
                   if
                   :: ok -> break
                   :: else -> skip
                   fi
                od;
                if
                :: c == 0 -> dealloc()
                :: else -> skip
                fi
            fi
        :: else -> skip
        fi;
        l = 0; c = 0; s = 0; t = 0
    :: eval_brc ->   /* a safepoint */
        merge_own()
    :: detaches < DETACHES ->
detach:
        if
        :: eval_brc -> merge_own()
        :: else -> skip
        fi;
        ostate = DETACHED;
attach:
        atomic { ostate == DETACHED -> ostate = ATTACHED };
        detaches++
    :: owner_refs == 0 -> break
    od;

unregister:
    do
    :: true ->
        eval_brc = false;
        atomic { !blk -> blk = true };
        if
        :: qlen == 0 ->
            registered = false;
            blk = false;
            break
        :: else ->
            n = qlen;
            qlen = 0;
            blk = false;
            do
            :: n > 0 ->
                merge_explicit(OWNER, -1, cnt);
                if
                :: cnt == 0 -> dealloc()
                :: else -> skip
                fi;
                n--
            :: else -> break
            od
        fi
    od;
    finished++
}

proctype foreign(byte me; byte kind)
{
    byte held, l, s, t, n, ns;
    short c, cnt, nc;
    bool ok, queue, got;

    /* how this thread gets its references */
    if
    :: kind == HANDED ->
        held = 1;
        if
        :: d_step { assert(!freed); scount++; refs++ }; held++   /* ft_incref: fetch_add */
        :: true -> skip
        fi
    :: kind == BORROWER ->
        if
        :: atomic { owner_refs > 0 -> assert(!freed); scount++; refs++ }; held = 1
        :: else -> skip   /* the owner dropped its references first: nothing to borrow */
        fi
    :: kind == GIVER ->
        /* a shared incref handed to the owner, which drops it on its local
         * path (ob_tid is its own): local can reach 0 with the word QUEUED */
        if
        :: atomic { owner_refs > 0 -> assert(!freed); scount++; refs++; owner_refs++ }
        :: else -> skip
        fi
    :: kind == READS ->
try_incref:
        c = scount;
        s = sstate;
        do
        :: c == 0 && s == MERGED -> break   /* dead or dying: refused */
        :: else ->
            d_step {
                if
                :: scount == c && sstate == s ->
                    assert(!freed);   /* never revives a freed object */
                    scount++;
                    refs++;
                    check_word(s);
                    ok = true
                :: else ->
                    c = scount;
                    s = sstate;
                    ok = false
                fi
            };
            if
            :: ok -> held = 1; break
            :: else -> skip
            fi
        od
    fi;

    do
    :: held > 0 ->
        d_step { assert(!freed); refs-- };
foreign_decref:
        c = scount;
        s = sstate;
        do
        :: d_step {
               if
               :: scount == c && sstate == s ->
                   assert(!freed);
                   assert(!(s == MERGED && c <= 0));   /* debug: underflow */
                   if
                   :: s < QUEUED && c == 0 ->   /* donate to the owner's queue */
                       sstate = QUEUED;
                       refs++;
                       queue = true
                   :: else ->
                       scount = c - 1;
                       queue = false
                   fi;
                   nc = scount;
                   ns = sstate;
                   check_word(s);
                   ok = true
               :: else ->
                   c = scount;
                   s = sstate;
                   ok = false
               fi
           };
           if
           :: ok -> break
           :: else -> skip
           fi
        od;
        if
        :: queue ->
brc_queue:
            t = ob_tid;
            if
            :: t == 0 ->   /* the owner merged meanwhile: drop it as a plain decref */
                goto foreign_decref_again
            :: else -> skip
            fi;
            atomic { !blk -> blk = true };
            if
            :: !registered ->   /* orphan: the owner exited */
                merge_explicit(me, -1, cnt);
                blk = false;
                if
                :: cnt == 0 -> dealloc()
                :: else -> skip
                fi
            :: else ->
                if
                :: atomic { ostate == DETACHED -> ostate = SUSPENDED } ->
on_behalf:
                    merge_explicit(me, 0, cnt);
                    assert(qlen == 0);   /* B3: our object is its only entry */
                    d_step { assert(ostate == SUSPENDED); ostate = DETACHED };
                    blk = false;
                    goto foreign_decref_again   /* ft_decref of the kept reference */
                :: else ->
                    qlen++;
                    assert(qlen <= 1);   /* B3 */
                    eval_brc = true;
                    blk = false
                fi
            fi
        :: !queue && nc == 0 && ns == MERGED -> dealloc()
        :: else -> skip
        fi;
        held--;
        goto next;
foreign_decref_again:
        /* the queued reference, dropped by a second foreign decref (ob_tid is 0
         * or stale; the state is QUEUED or MERGED, so it never queues again) */
        atomic { assert(!freed); refs-- };
        c = scount;
        s = sstate;
        do
        :: d_step {
               if
               :: scount == c && sstate == s ->
                   assert(!freed);
                   assert(s >= QUEUED);
                   assert(!(s == MERGED && c <= 0));
                   scount = c - 1;
                   nc = scount;
                   ns = sstate;
                   check_word(s);
                   ok = true
               :: else ->
                   c = scount;
                   s = sstate;
                   ok = false
               fi
           };
           if
           :: ok -> break
           :: else -> skip
           fi
        od;
        if
        :: nc == 0 && ns == MERGED -> dealloc()
        :: else -> skip
        fi;
        held--;
next:
        c = 0; s = 0; nc = 0; ns = 0; t = 0; queue = false
    :: else -> break
    od;
    finished++
}

/* Once every thread is done, the object must be gone. If a thread blocks
 * forever this never runs and spin reports an invalid end state. */
active proctype monitor()
{
    finished == NFOREIGN + 1;
    assert(freed);
    assert(refs == 0);
    assert(qlen == 0)
}

init
{
    byte i;
    atomic {
        run owner();
        i = 0;
        do
        :: i < NHANDED -> run foreign(2 + i, HANDED); i++
        :: i >= NHANDED && i < NHANDED + NBORROW -> run foreign(2 + i, BORROWER); i++
        :: i >= NHANDED + NBORROW && i < NHANDED + NBORROW + NGIVER ->
            run foreign(2 + i, GIVER); i++
        :: i >= NHANDED + NBORROW + NGIVER && i < NFOREIGN -> run foreign(2 + i, READS); i++
        :: i == NFOREIGN -> break
        od
    }
}
