// Sharded reference counts under traffic (refcount/shard.c).
//
// traffic_*: four workers incref and decref a small shared set at random and
// hand references to each other by swapping them through a shared slot
// array, while a fifth thread stops the world over and over (shard syncs,
// some demoting everything, collections, threshold flips): promotion,
// demotion, id reuse and freeing all happen under traffic. Half the objects
// are anchored in a list (workers re-read them from it, lock-free, when they
// hold none); the other half live only through the workers' and the slots'
// references and die mid-run. Workers detach now and then (which hands
// their buffered candidates to promotion while the traffic goes on). A worker checks, each time it is about to
// count an object, that the object was not freed while it held a reference.
//
// exit_chain: chains of short-lived threads; each takes the references its
// predecessor handed it, increfs the objects a random number of times,
// drops some, hands some on and exits holding the rest (its deltas fold into
// the headers). At quiescent points the exact counts must match the
// bookkeeping.
//
// Both end with every object freed exactly once and the live-object count
// back to its baseline. In builds without FT_SHARDED_RC the same traffic
// runs (plain biased, atomic or GIL counting) and only the sharded-specific
// statistics are not checked.
#include <string.h>

#include "harness.h"
#include "refcount_probe.h"


static void
print_shard_stats(const char *label)
{
    printf("  %s: promoted=%llu demoted=%llu shard_freed=%llu shard_pauses=%llu "
           "sharded_incref=%llu sharded_decref=%llu gc=%llu (sharded_rc=%d)\n",
           label, (unsigned long long)ft_stats_get("shard_promoted"),
           (unsigned long long)ft_stats_get("shard_demoted"),
           (unsigned long long)ft_stats_get("shard_freed"),
           (unsigned long long)ft_stats_get("shard_pauses"),
           (unsigned long long)ft_stats_get("rc_sharded_incref"),
           (unsigned long long)ft_stats_get("rc_sharded_decref"),
           (unsigned long long)ft_stats_get("gc_collections"), SHARDED);
}

static int64_t
now_ns(void)
{
    return probe_now_ns();
}

// ------------------------------------------------------------ a. traffic
#define WORKERS 4
#define NOBJ 16
#define ANCHORED 8  // objs[0..ANCHORED) are held by the anchor list
#define NSLOTS 8
#define MAX_HELD 6
#define INITIAL_HELD 2
#define MIN_PAUSES 60

typedef struct traffic {
    ft_object *objs[NOBJ];  // written before the threads start
    _Atomic(int) freed[NOBJ];
    ft_object *anchors;                  // list of objs[0..ANCHORED); written before the start
    _Atomic(ft_object *) slots[NSLOTS];  // atomic: exchange acq_rel; each holds a reference
    _Atomic(int) workers_done;
    _Atomic(int64_t) pauses;  // atomic: pauser (relaxed: a progress count)
    int64_t ops;
    int threshold;
} traffic;

typedef struct traffic_worker {
    traffic *t;
    int index;
    int held[NOBJ];      // references this worker owns
    int64_t violations;  // read after join
    int64_t swaps, rereads, last_drops;
    int ok;
} traffic_worker;

static int
index_of(traffic *t, ft_object *obj)
{
    // The probe's counter pointer says which object it is (immutable field
    // of an object we hold a reference to).
    return (int)(((probe_object *)obj)->freed - t->freed);
}

// Called before counting objs[i] with held[i] > 0: it must be alive.
static void
check_alive(traffic_worker *w, int i)
{
    if (probe_freed(&w->t->freed[i]) != 0) {
        w->violations++;
    }
}

static void
traffic_main(void *arg)
{
    traffic_worker *w = arg;
    traffic *t = w->t;
    uint64_t rng = ft_test_thread_seed(w->index);
    // At least t->ops operations, and on until MIN_PAUSES pauses ran during
    // the traffic (fast builds finish the ops between a few pauses); the
    // deadline only bounds a stuck pauser.
    int64_t deadline = now_ns() + 20 * (int64_t)1000000000;
    bool more = true;
    for (int64_t n = 0; more; n++) {
        if (n >= t->ops && (n & 1023) == 0) {
            // relaxed: a progress count
            more = ft_atomic_load_relaxed_i64(&t->pauses) < MIN_PAUSES && now_ns() < deadline;
        }
        uint64_t r = ft_test_rand(&rng);
        int i = (int)(r % NOBJ);
        unsigned op = (unsigned)((r >> 8) % 32);
        if (w->held[i] == 0 && i < ANCHORED && op < 4) {
            // Re-read an anchored object from the shared list (a lock-free
            // read of a possibly sharded item): a new reference.
            ft_object *got = ft_list_get_ref(t->anchors, i);
            if (got == NULL || got != t->objs[i]) {
                w->violations++;
                ft_xdecref(got);
            } else {
                w->held[i]++;
                w->rereads++;
            }
        } else if (op < 12) {
            if (w->held[i] > 0 && w->held[i] < MAX_HELD) {
                check_alive(w, i);
                ft_incref(t->objs[i]);
                w->held[i]++;
            }
        } else if (op < 22) {
            if (w->held[i] > 0) {
                check_alive(w, i);
                ft_decref(t->objs[i]);  // may be the object's last reference
                w->held[i]--;
            }
        } else if (op < 28) {
            // Swap one of ours (or nothing) into a slot; own what was there.
            unsigned k = (unsigned)((r >> 16) % NSLOTS);
            ft_object *mine = NULL;
            if (w->held[i] > 0) {
                check_alive(w, i);
                mine = t->objs[i];
                w->held[i]--;
            }
            // The release publishes our reference, the acquire orders the
            // previous holder's writes before our use.
            // pairs: acq_rel exchange in traffic_main() / run_traffic()
            ft_object *old = ft_atomic_exchange_acq_rel_ptr(&t->slots[k], mine);
            if (old != NULL) {
                int j = index_of(t, old);
                w->held[j]++;
                check_alive(w, j);
            }
            w->swaps++;
        } else if (op == 28 && ((r >> 24) % 64) == 0 && w->held[i] > 0) {
            check_alive(w, i);
            while (w->held[i] > 0) {  // let go of this object for now
                ft_decref(t->objs[i]);
                w->held[i]--;
            }
            w->last_drops++;
        } else if (op == 29 && ((r >> 24) % 16) == 0 && w->held[i] > 0) {
            // Promotion on request, besides what contention promotes.
            check_alive(w, i);
            if (ft_ref_shard_promote(t->objs[i]) != 0) {
                w->violations++;
            }
        } else {
            ft_safepoint();
        }
        if ((n & 31) == 0) {
            ft_safepoint();
        }
        if ((n & 2047) == 2047) {
            // Block for a moment, as a thread waiting on I/O would: a
            // detach hands this thread's buffered candidates to promotion,
            // so objects are promoted (and demoted, freed) mid-traffic.
            FT_BEGIN_ALLOW_THREADS
            sched_yield();
            FT_END_ALLOW_THREADS
        }
    }
    for (int i = 0; i < NOBJ; i++) {
        while (w->held[i] > 0) {
            check_alive(w, i);
            ft_decref(t->objs[i]);
            w->held[i]--;
        }
    }
    // pairs: acquire load in pauser_main()
    ft_atomic_add_release_int(&t->workers_done, 1);
    w->ok = 1;
}

typedef struct pauser {
    traffic *t;
    int64_t syncs, demote_alls, collections, flips, errors;
    int64_t freed_by_syncs;
} pauser;

static void
pauser_main(void *arg)
{
    pauser *p = arg;
    traffic *t = p->t;
    uint64_t rng = ft_test_thread_seed(100);
    int64_t limit = now_ns() + 120 * (int64_t)1000000000;
    // pairs: release add at the end of traffic_main()
    while (ft_atomic_load_acquire_int(&t->workers_done) < WORKERS && now_ns() < limit) {
        uint64_t r = ft_test_rand(&rng);
        switch (r % 8) {
        case 0:
        case 1: {
            int64_t rc = ft_gc_collect();
            p->errors += rc < 0;
            p->collections++;
            break;
        }
        case 2:
        case 3: {
            int64_t rc = ft_ref_shard_sync(FT_SHARD_SYNC_DEMOTE_ALL);
            p->errors += rc < 0;
            p->freed_by_syncs += rc > 0 ? rc : 0;
            p->demote_alls++;
            break;
        }
        case 4:
            if ((r >> 8) % 4 == 0) {
                // Promotion off for a moment: pending candidates are declined.
                ft_ref_shard_set_threshold(0);
                p->flips++;
            } else {
                ft_ref_shard_set_threshold(t->threshold);
            }
            p->errors += ft_err_occurred() != 0;
            ft_err_clear();
            break;
        default: {
            int64_t rc = ft_ref_shard_sync(0);
            p->errors += rc < 0;
            p->freed_by_syncs += rc > 0 ? rc : 0;
            p->syncs++;
            break;
        }
        }
        // relaxed: a progress count
        ft_atomic_add_relaxed_i64(&t->pauses, 1);
        FT_BEGIN_ALLOW_THREADS
        usleep(20 + (useconds_t)((r >> 16) % 200));
        FT_END_ALLOW_THREADS
    }
    ft_ref_shard_set_threshold(t->threshold);
}

static void
run_traffic(int threshold)
{
    static traffic t;
    memset(&t, 0, sizeof(t));
    t.threshold = threshold;
    t.ops = ft_test_scale(2000000);
    ft_ref_shard_set_threshold(threshold);
    ft_gc_collect();
    int64_t baseline = ft_live_objects();
    uint64_t promoted0 = ft_stats_get("shard_promoted");
    uint64_t demoted0 = ft_stats_get("shard_demoted");

    t.anchors = ft_list_new();
    FT_REQUIRE(t.anchors != NULL, "ft_list_new");
    for (int i = 0; i < NOBJ; i++) {
        t.objs[i] = probe_new(&t.freed[i]);
        FT_REQUIRE(t.objs[i] != NULL, "probe_new");
        for (int k = 0; k < WORKERS * INITIAL_HELD; k++) {
            ft_incref(t.objs[i]);  // the workers' initial references
        }
        if (i < ANCHORED) {
            FT_REQUIRE(ft_list_append(t.anchors, t.objs[i]) == 0, "append");
        }
        ft_decref(t.objs[i]);  // main keeps none: the list holds the anchors
    }
    traffic_worker workers[WORKERS];
    ft_thread *handles[WORKERS];
    for (int k = 0; k < WORKERS; k++) {
        workers[k] = (traffic_worker){.t = &t, .index = k};
        for (int i = 0; i < NOBJ; i++) {
            workers[k].held[i] = INITIAL_HELD;
        }
    }
    pauser p = {.t = &t};
    ft_thread *pauser_thread = ft_thread_start(pauser_main, &p);
    FT_REQUIRE(pauser_thread != NULL, "ft_thread_start");
    for (int k = 0; k < WORKERS; k++) {
        handles[k] = ft_thread_start(traffic_main, &workers[k]);
        FT_REQUIRE(handles[k] != NULL, "ft_thread_start");
    }
    int64_t violations = 0, swaps = 0, rereads = 0, last_drops = 0;
    for (int k = 0; k < WORKERS; k++) {
        FT_EXPECT_EQ(ft_thread_join(handles[k]), 0, "join");
        FT_EXPECT(workers[k].ok, "worker %d did not finish", k);
        violations += workers[k].violations;
        swaps += workers[k].swaps;
        rereads += workers[k].rereads;
        last_drops += workers[k].last_drops;
    }
    FT_EXPECT_EQ(ft_thread_join(pauser_thread), 0, "join pauser");
    printf("  threshold %d: >= %" PRId64 " ops/worker, %" PRId64 " swaps, %" PRId64
           " list re-reads, %" PRId64 " let-gos; pauser: %" PRId64 " syncs, %" PRId64
           " demote-alls, %" PRId64 " collections, %" PRId64 " flips, %" PRId64 " freed by syncs\n",
           threshold, t.ops, swaps, rereads, last_drops, p.syncs, p.demote_alls, p.collections,
           p.flips, p.freed_by_syncs);
    FT_EXPECT_EQ(violations, 0,
                 "an object was freed while a worker held a reference "
                 "(or a list read returned the wrong object)");
    FT_EXPECT_EQ(p.errors, 0, "a sync, collection or threshold call failed");
    FT_EXPECT(p.syncs + p.demote_alls + p.collections >= MIN_PAUSES / 2,
              "only %" PRId64 " pauses ran during the traffic",
              p.syncs + p.demote_alls + p.collections);

    // A candidate handed to main while it was attached (between joins) waits
    // in main's promote queue for main's next safepoint or the next pause
    // (promotion_while_the_owner_is_attached checks the pause); serve it
    // here as an interpreter loop would.
    ft_safepoint();
    // Drain the slots: the last references to the unanchored objects.
    for (int k = 0; k < NSLOTS; k++) {
        // pairs: the workers' acq_rel exchanges (orders their last use)
        ft_object *old = ft_atomic_exchange_acq_rel_ptr(&t.slots[k], NULL);
        ft_xdecref(old);
    }
    ft_gc_collect();  // merges queues, folds the deltas, frees the dead
    FT_EXPECT(ft_ref_shard_sync(0) >= 0, "sync");
    int64_t wrong = 0;
    for (int i = 0; i < NOBJ; i++) {
        if (i < ANCHORED) {
            wrong += probe_freed(&t.freed[i]) != 0;
            FT_EXPECT_EQ(ft_ref_count_approx(t.objs[i]), 1, "anchored: the list's reference only");
        } else {
            wrong += probe_freed(&t.freed[i]) != 1;
        }
    }
    FT_EXPECT_EQ(wrong, 0, "anchored objects freed, or unanchored not freed exactly once");

    ft_decref(t.anchors);
    ft_gc_collect();
    FT_EXPECT(ft_ref_shard_sync(0) >= 0, "sync");
    wrong = 0;
    for (int i = 0; i < NOBJ; i++) {
        wrong += probe_freed(&t.freed[i]) != 1;
    }
    FT_EXPECT_EQ(wrong, 0, "objects not freed exactly once");
    FT_EXPECT_EQ(ft_ref_shard_live(), 0, "sharded objects left");
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
#if FT_SHARDED_RC && FT_STATS
    FT_EXPECT(ft_stats_get("shard_promoted") > promoted0, "nothing was ever promoted");
    FT_EXPECT(ft_stats_get("shard_demoted") > demoted0, "nothing was ever demoted");
    FT_EXPECT(ft_stats_get("rc_sharded_incref") > 0, "no incref ever went to a table");
#else
    (void)promoted0;
    (void)demoted0;
#endif
    print_shard_stats("traffic");
    EXPECT_BRC_ACCOUNTING();
}

FT_TEST(traffic_threshold_1)
{
    ft_test_seed();
    run_traffic(1);
}

FT_TEST(traffic_threshold_2)
{
    run_traffic(2);
}

// ------------------------------------------------------------ b. exit chains
#define CHAINS 2
#define CHAIN_OBJS 16

typedef struct link_job {
    ft_object **objs;  // borrowed: main's anchors keep them alive
    _Atomic(int) *freed;
    int inbox[CHAIN_OBJS];   // references handed to this thread
    int outbox[CHAIN_OBJS];  // references it hands to the next (read after join)
    int kept[CHAIN_OBJS];    // references it exits with (read after join)
    uint64_t seed;
    int sync_flags;      // -1: none; else it syncs before exiting
    int64_t violations;  // read after join
} link_job;

static void
link_main(void *arg)
{
    link_job *job = arg;
    uint64_t rng = job->seed;
    int held[CHAIN_OBJS];
    for (int i = 0; i < CHAIN_OBJS; i++) {
        held[i] = job->inbox[i];
    }
    for (int i = 0; i < CHAIN_OBJS; i++) {
        if (probe_freed(&job->freed[i]) != 0) {
            job->violations++;
            continue;
        }
        uint64_t r = ft_test_rand(&rng);
        int increfs = (int)(r % 6);
        for (int k = 0; k < increfs; k++) {
            ft_incref(job->objs[i]);  // borrowed from main's anchor
            held[i]++;
        }
        int drops = held[i] > 0 ? (int)((r >> 8) % (uint64_t)(held[i] + 1)) : 0;
        for (int k = 0; k < drops; k++) {
            ft_decref(job->objs[i]);
            held[i]--;
        }
        int pass = held[i] > 0 ? (int)((r >> 16) % (uint64_t)(held[i] + 1)) : 0;
        job->outbox[i] = pass;
        job->kept[i] = held[i] - pass;  // never dropped by us: folded at exit
        if ((r >> 28) % 4 == 0 && held[i] > 0 && ft_ref_shard_promote(job->objs[i]) != 0) {
            job->violations++;   // chains are sequential: promotion only on request
        }
        if ((r >> 24) % 4 == 0) {
            ft_safepoint();
        }
    }
    if (job->sync_flags >= 0) {
        // A pause while the other chain's thread may hold deltas.
        if (ft_ref_shard_sync(job->sync_flags) < 0) {
            job->violations++;
        }
    }
}

FT_TEST(exit_chain)
{
    ft_ref_shard_set_threshold(1);
    ft_gc_collect();
    int64_t baseline = ft_live_objects();
    uint64_t promoted0 = ft_stats_get("shard_promoted");
    static _Atomic(int) freed[CHAIN_OBJS];
    static ft_object *objs[CHAIN_OBJS];
    for (int i = 0; i < CHAIN_OBJS; i++) {
        atomic_init(&freed[i], 0);
        objs[i] = probe_new(&freed[i]);  // main's anchor reference
        FT_REQUIRE(objs[i] != NULL, "probe_new");
    }
    int64_t expected[CHAIN_OBJS];  // references besides main's anchor
    memset(expected, 0, sizeof(expected));
    static link_job jobs[CHAINS];
    memset(jobs, 0, sizeof(jobs));
    uint64_t rng = ft_test_thread_seed(200);
    int64_t generations = ft_test_scale(1600);
    int64_t checks = 0, thread_syncs = 0;
    for (int64_t g = 0; g < generations; g++) {
        ft_thread *handles[CHAINS];
        for (int c = 0; c < CHAINS; c++) {
            link_job *job = &jobs[c];
            memcpy(job->inbox, job->outbox, sizeof(job->inbox));
            memset(job->outbox, 0, sizeof(job->outbox));
            memset(job->kept, 0, sizeof(job->kept));
            job->objs = objs;
            job->freed = freed;
            uint64_t r = ft_test_rand(&rng);
            job->seed = r;
            job->sync_flags = (r >> 40) % 8 == 0   ? 0
                              : (r >> 40) % 8 == 1 ? FT_SHARD_SYNC_DEMOTE_ALL
                                                   : -1;
            thread_syncs += job->sync_flags >= 0;
            handles[c] = ft_thread_start(link_main, job);
            FT_REQUIRE(handles[c] != NULL, "ft_thread_start");
        }
        for (int c = 0; c < CHAINS; c++) {
            FT_EXPECT_EQ(ft_thread_join(handles[c]), 0, "join");
            FT_EXPECT_EQ(jobs[c].violations, 0, "a link saw a freed object or a failed sync");
            jobs[c].violations = 0;
            for (int i = 0; i < CHAIN_OBJS; i++) {
                expected[i] += jobs[c].kept[i];
            }
        }
        uint64_t r = ft_test_rand(&rng);
        if (r % 16 == 0 || g == generations - 1) {
            // Quiescent: the exact count is main's anchor, every kept
            // reference and what the chains are about to hand on. First
            // serve main's promote queue (see run_traffic()).
            ft_safepoint();
            ft_gc_collect();
            FT_EXPECT(ft_ref_shard_sync(0) >= 0, "sync");
            int64_t wrong = 0;
            for (int i = 0; i < CHAIN_OBJS; i++) {
                int64_t want = 1 + expected[i];
                for (int c = 0; c < CHAINS; c++) {
                    want += jobs[c].outbox[i];
                }
                int64_t got = ft_ref_count_approx(objs[i]);
                if (got != want) {
                    if (wrong == 0) {
                        printf("  generation %" PRId64 ", object %d: count %" PRId64
                               ", bookkeeping %" PRId64 "\n",
                               g, i, got, want);
                    }
                    wrong++;
                }
                wrong += probe_freed(&freed[i]) != 0;
            }
            FT_EXPECT_EQ(wrong, 0, "exact counts differ from the bookkeeping");
            checks++;
        } else if (r % 16 == 1) {
            FT_EXPECT(ft_ref_shard_sync((r >> 8) % 2 ? FT_SHARD_SYNC_DEMOTE_ALL : 0) >= 0, "sync");
        }
    }
    printf("  %" PRId64 " generations of %d chains, %" PRId64 " exact-count checks, %" PRId64
           " syncs by exiting threads\n",
           generations, CHAINS, checks, thread_syncs);
    ft_safepoint();
    // Drop every reference the bookkeeping says exists besides the anchors.
    for (int i = 0; i < CHAIN_OBJS; i++) {
        int64_t extra = expected[i];
        for (int c = 0; c < CHAINS; c++) {
            extra += jobs[c].outbox[i];
        }
        for (int64_t k = 0; k < extra; k++) {
            ft_decref(objs[i]);
        }
    }
    FT_EXPECT(ft_ref_shard_sync(0) >= 0, "sync");
    int64_t wrong = 0;
    for (int i = 0; i < CHAIN_OBJS; i++) {
        wrong += ft_ref_count_approx(objs[i]) != 1;
        wrong += probe_freed(&freed[i]) != 0;
    }
    FT_EXPECT_EQ(wrong, 0, "anchors alone do not leave count 1");
    for (int i = 0; i < CHAIN_OBJS; i++) {
        ft_decref(objs[i]);
    }
    FT_EXPECT(ft_ref_shard_sync(0) >= 0, "sync");
    ft_gc_collect();
    wrong = 0;
    for (int i = 0; i < CHAIN_OBJS; i++) {
        wrong += probe_freed(&freed[i]) != 1;
    }
    FT_EXPECT_EQ(wrong, 0, "objects not freed exactly once");
    FT_EXPECT_EQ(ft_ref_shard_live(), 0, "sharded objects left");
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
#if FT_SHARDED_RC && FT_STATS
    FT_EXPECT(ft_stats_get("shard_promoted") > promoted0, "nothing was ever promoted");
#else
    (void)promoted0;
#endif
    print_shard_stats("exit_chain");
    EXPECT_BRC_ACCOUNTING();
}
