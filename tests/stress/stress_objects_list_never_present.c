// Lock-free list reads (DESIGN.md §4.9, "the race CPython leaves open"):
// writers set, append and pop, and force resizes both ways (bursts that grow
// the list past several capacities and pop it down to a few items or to
// empty), while readers call ft_list_get_ref() on random indices.
//
// Every stored object is fresh and tagged with a unique id and the index it
// was stored at (heap ints encode id << 16 | index; `tagged` objects carry
// both and a dead flag their tp_dealloc sets). A writer logs (id -> index)
// after each successful store; appends run inside a section on the list so
// the writer knows the index its item lands on. Readers record what they
// saw; after the joins main checks that every object a reader got
//   - was valid: an int whose value decodes, or a live `tagged` object
//     (its dead flag stayed clear while the reader held its reference, read
//     twice around a yield), never anything else;
//   - held the index it was read at, and was logged as stored at that index
//     (so it was in the list at that index at some point);
// and that the list ends consistent, with every object freed after the
// final ft_gc_collect(). A second test runs the same with FT_FUZZ_SCHED
// yields inside the runtime (between the reader's array and slot loads, at
// its re-check, at writer stores).
#include "harness.h"
#include "tagged_object.h"

#define WRITERS 2
#define READERS 2
#define MAX_LEN 600
#define INDEX_BITS 16

typedef struct shared_state {
    ft_object *list;
    _Atomic(int32_t) *stored_index;  // atomic: writers (relaxed) / main after join; -1 unset
    _Atomic(int64_t) next_id;        // atomic: writers (relaxed: uniqueness only)
    _Atomic(int) writers_done;       // atomic: writers (release) / readers (acquire)
    int64_t max_ids;                 // immutable after start
} shared_state;

typedef struct writer {
    shared_state *s;
    int index;
    int64_t ops;
    int64_t failures;  // unexpected errors
    int64_t stores, pops, bursts;
} writer;

typedef struct reader {
    shared_state *s;
    int index;
    int64_t min_reads;
    uint16_t *seen;  // per id: index + 1 it was read at, 0 = never
    int64_t reads, index_errors, other_errors;
    int64_t bad_type, bad_value, wrong_index, seen_twice_elsewhere, dead_while_held;
    int64_t tagged_reads;
} reader;

// ------------------------------------------------------------ writers

// A fresh object for `index`, or NULL when the id space is used up. Ids
// start at 1, so no tag is a cached small int.
static ft_object *
make_item(shared_state *s, int64_t index, uint64_t r)
{
    // relaxed: only uniqueness matters
    int64_t id = ft_atomic_add_relaxed_i64(&s->next_id, 1);
    if (id >= s->max_ids) {
        return NULL;
    }
    if (r & 1) {
        return tagged_new(id, index);
    }
    return ft_int_new((id << INDEX_BITS) | index);
}

static int64_t
item_id(ft_object *obj)
{
    if (obj->ob_type == &tagged_type) {
        return ((tagged_object *)obj)->id;
    }
    return ft_int_value(obj) >> INDEX_BITS;
}

static void
log_store(shared_state *s, ft_object *obj, int64_t index)
{
    // relaxed: main reads it after the joins
    ft_atomic_store_relaxed_i32(&s->stored_index[item_id(obj)], (int32_t)index);
}

static void
do_set(writer *w, uint64_t r)
{
    int64_t len = ft_list_len(w->s->list);
    if (len <= 0) {
        return;
    }
    int64_t i = (int64_t)((r >> 8) % (uint64_t)len);
    ft_object *obj = make_item(w->s, i, r);
    if (obj == NULL) {
        return;
    }
    if (ft_list_set(w->s->list, i, obj) == 0) {
        log_store(w->s, obj, i);
        w->stores++;
    } else if (ft_err_occurred() == FT_ERR_INDEX) {
        ft_err_clear();  // another writer popped below i meanwhile
    } else {
        w->failures++;
        ft_err_clear();
    }
    ft_decref(obj);
}

// Appends inside a section on the list, so the landing index is known. The
// section is not atomic across a block (§4.5), but nothing in here blocks.
static void
do_append(writer *w, uint64_t r)
{
    ft_object *list = w->s->list;
    ft_object *obj = NULL;
    int rc = 0;
    int64_t index = -1;
    FT_CS_BEGIN(list);
    index = ft_list_len(list);
    if (index < MAX_LEN) {
        obj = make_item(w->s, index, r);
        rc = obj != NULL ? ft_list_append(list, obj) : 0;
        if (obj != NULL && rc == 0) {
            log_store(w->s, obj, index);
        }
    }
    FT_CS_END();
    if (obj != NULL) {
        w->stores += rc == 0;
        w->failures += rc != 0;
        ft_decref(obj);
    }
}

static void
do_pop(writer *w)
{
    ft_object *got = ft_list_pop(w->s->list);
    if (got != NULL) {
        w->pops++;
        ft_decref(got);
    } else if (ft_err_occurred() == FT_ERR_INDEX) {
        ft_err_clear();
    } else {
        w->failures++;
        ft_err_clear();
    }
}

// Pops down to `low` items (shrinking the array, or dropping it at 0), then
// appends back to `high` (growing through several capacities).
static void
do_burst(writer *w, uint64_t r, int64_t low, int64_t high)
{
    w->bursts++;
    while (ft_list_len(w->s->list) > low) {
        do_pop(w);
        ft_safepoint();
    }
    for (int64_t k = 0; k < high && ft_list_len(w->s->list) < high; k++) {
        do_append(w, r >> (k & 31));
        ft_safepoint();
    }
}

// Sets 45% of the time; otherwise appends or pops toward a target length
// that moves every 500 operations (so the array grows and shrinks through
// several capacities), with an occasional burst.
static void
write_loop(void *arg)
{
    writer *w = arg;
    uint64_t rng = ft_test_thread_seed(w->index);
    int64_t target = MAX_LEN / 2;
    for (int64_t op = 0; op < w->ops; op++) {
        uint64_t r = ft_test_rand(&rng);
        unsigned pick = (unsigned)(r % 1000);
        if (op % 500 == 0) {
            target = (int64_t)((r >> 40) % MAX_LEN);
        }
        if (pick < 450) {
            do_set(w, r);
        } else if (pick < 997) {
            bool grow = ft_list_len(w->s->list) < target;
            if (pick % 8 == 0 ? !grow : grow) {  // a step the other way now and then
                do_append(w, r);
            } else {
                do_pop(w);
            }
        } else {
            // Down to a few items (a quarter of the time to none), back up.
            int64_t low = (r >> 20) % 4 == 0 ? 0 : (int64_t)((r >> 24) % 8);
            do_burst(w, r, low, 64 + (int64_t)((r >> 32) % (MAX_LEN - 64)));
        }
        ft_safepoint();
    }
}

// ------------------------------------------------------------ readers

static void
check_item(reader *rd, ft_object *got, int64_t i, uint64_t r)
{
    int64_t id, where;
    if (got->ob_type == &tagged_type) {
        tagged_object *t = (tagged_object *)got;
        id = t->id;
        where = t->where;
        rd->tagged_reads++;
        rd->dead_while_held += tagged_is_dead(got);
        if ((r & 15) == 0) {
            sched_yield();  // hold the reference across a yield, then look again
            rd->dead_while_held += tagged_is_dead(got);
        }
    } else if (got->ob_type == &ft_int_type) {
        int64_t v = ft_int_value(got);
        if (v < 0) {
            rd->bad_value++;
            ft_err_clear();
            return;
        }
        id = v >> INDEX_BITS;
        where = v & ((1 << INDEX_BITS) - 1);
    } else {
        rd->bad_type++;
        return;
    }
    if (id < 0 || id >= rd->s->max_ids) {
        rd->bad_value++;
        return;
    }
    rd->wrong_index += where != i;
    if (rd->seen[id] != 0 && rd->seen[id] != (uint16_t)(i + 1)) {
        rd->seen_twice_elsewhere++;  // each object is stored at one index only
    }
    rd->seen[id] = (uint16_t)(i + 1);
}

static void
reader_main(void *arg)
{
    reader *rd = arg;
    uint64_t rng = ft_test_thread_seed(100 + rd->index);
    // pairs: release store at the end of the writers' run (main)
    while (!ft_atomic_load_acquire_int(&rd->s->writers_done) || rd->reads < rd->min_reads) {
        uint64_t r = ft_test_rand(&rng);
        int64_t len = ft_list_len(rd->s->list);
        // Past the end now and then: the IndexError path of the reader.
        int64_t i = (int64_t)((r >> 8) % (uint64_t)(len + 2));
        ft_object *got = ft_list_get_ref(rd->s->list, i);
        rd->reads++;
        if (got == NULL) {
            if (ft_err_occurred() == FT_ERR_INDEX) {
                rd->index_errors++;
            } else {
                rd->other_errors++;
            }
            ft_err_clear();
        } else {
            check_item(rd, got, i, r);
            ft_decref(got);
        }
        if ((rd->reads & 15) == 0) {
            ft_safepoint();
        }
    }
}

// ------------------------------------------------------------ the test

static void
run_never_present(int64_t ops)
{
    int64_t base = ft_live_objects();
    uint64_t optimistic0 = ft_stats_get("read_optimistic");
    // Ids per writer op: at most one, plus about one more from bursts.
    shared_state s = {
        .list = ft_list_new(), .next_id = 1, .max_ids = WRITERS * ops * 3 + 8 * MAX_LEN};
    FT_REQUIRE(s.list != NULL, "ft_list_new: %s", ft_err_message());
    s.stored_index = malloc(sizeof(*s.stored_index) * (size_t)s.max_ids);
    FT_REQUIRE(s.stored_index != NULL && tagged_table_init(s.max_ids), "out of memory");
    for (int64_t id = 0; id < s.max_ids; id++) {
        ft_atomic_store_relaxed_i32(&s.stored_index[id], -1);  // relaxed: no worker yet
    }
    writer writers[WRITERS];
    reader readers[READERS];
    ft_thread *threads[WRITERS + READERS];
    for (int t = 0; t < READERS; t++) {
        readers[t] = (reader){.s = &s, .index = t, .min_reads = ops / 4};
        readers[t].seen = calloc((size_t)s.max_ids, sizeof(uint16_t));
        FT_REQUIRE(readers[t].seen != NULL, "out of memory");
    }
    for (int t = 0; t < WRITERS; t++) {
        writers[t] = (writer){.s = &s, .index = t, .ops = ops};
    }
    for (int t = 0; t < READERS; t++) {
        threads[WRITERS + t] = ft_thread_start(reader_main, &readers[t]);
        FT_REQUIRE(threads[WRITERS + t] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    for (int t = 0; t < WRITERS; t++) {
        threads[t] = ft_thread_start(write_loop, &writers[t]);
        FT_REQUIRE(threads[t] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    for (int t = 0; t < WRITERS; t++) {
        FT_EXPECT_EQ(ft_thread_join(threads[t]), 0, "join writer");
    }
    // pairs: acquire loads in reader_main()
    ft_atomic_store_release_int(&s.writers_done, 1);
    for (int t = 0; t < READERS; t++) {
        FT_EXPECT_EQ(ft_thread_join(threads[WRITERS + t]), 0, "join reader");
    }

    int64_t stores = 0, reads = 0, tagged_reads = 0, never_stored = 0;
    for (int t = 0; t < WRITERS; t++) {
        FT_EXPECT_EQ(writers[t].failures, 0, "writer operations failed");
        stores += writers[t].stores;
    }
    for (int t = 0; t < READERS; t++) {
        reader *rd = &readers[t];
        FT_EXPECT_EQ(rd->other_errors, 0, "reads failed with other than IndexError");
        FT_EXPECT_EQ(rd->bad_type, 0, "reads returned an object of a type never stored");
        FT_EXPECT_EQ(rd->bad_value, 0, "reads returned an int that is no tag");
        FT_EXPECT_EQ(rd->wrong_index, 0, "reads returned an object made for another index");
        FT_EXPECT_EQ(rd->seen_twice_elsewhere, 0, "one object read at two indices");
        FT_EXPECT_EQ(rd->dead_while_held, 0, "an object was freed while a reader held it");
        for (int64_t id = 0; id < s.max_ids; id++) {
            // relaxed: the joins ordered the writers' stores
            int32_t at = ft_atomic_load_relaxed_i32(&s.stored_index[id]);
            never_stored += rd->seen[id] != 0 && at != (int32_t)rd->seen[id] - 1;
        }
        reads += rd->reads;
        tagged_reads += rd->tagged_reads;
    }
    FT_EXPECT_EQ(never_stored, 0, "reads returned an object never stored at that index");
    printf("  stores=%" PRId64 " reads=%" PRId64 " (tagged %" PRId64 ") bursts=%" PRId64
           " read_optimistic=%" PRIu64 " read_fallback=%" PRIu64 "\n",
           stores, reads, tagged_reads, writers[0].bursts + writers[1].bursts,
           ft_stats_get("read_optimistic") - optimistic0, ft_stats_get("read_fallback"));
    FT_EXPECT(reads > 0, "readers ran");  // how many overlapped the writers is up to the OS
#if FT_OPTIMISTIC_READS
    FT_EXPECT(ft_stats_get("read_optimistic") > optimistic0, "no read went lock-free");
#endif

    // Final state: every item is a live object logged at its index.
    int64_t len = ft_list_len(s.list), bad_final = 0;
    for (int64_t i = 0; i < len; i++) {
        ft_object *got = ft_list_get_ref(s.list, i);
        if (got == NULL) {
            bad_final++;
            continue;
        }
        int64_t id = item_id(got);
        bool logged = id >= 0 && id < s.max_ids &&
                      // relaxed: ordered by the joins
                      ft_atomic_load_relaxed_i32(&s.stored_index[id]) == (int32_t)i;
        bad_final += !logged || (got->ob_type == &tagged_type && tagged_is_dead(got));
        ft_decref(got);
    }
    FT_EXPECT_EQ(bad_final, 0, "final list items not logged at their index");
    ft_decref(s.list);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "every object freed");
    // relaxed: every deallocator ran before ft_gc_collect() returned (joins)
    int64_t freed = ft_atomic_load_relaxed_i64(&tagged_freed);
    // relaxed: every maker was joined
    FT_EXPECT_EQ(freed, ft_atomic_load_relaxed_i64(&tagged_created),
                 "every tagged object freed once");
    for (int t = 0; t < READERS; t++) {
        free(readers[t].seen);
    }
    free(s.stored_index);
    tagged_table_fini();
}

FT_TEST(list_never_present)
{
    ft_test_seed();
    run_never_present(ft_test_scale(200000));
}

// The same with the runtime's yield points on (FT_FUZZ_SCHED, debug and
// sanitizer builds): they widen the reader's window between its array, slot
// and re-check loads, and the writers' between allocation and store.
FT_TEST_RAW(list_never_present_fuzz_sched)
{
    int rc = ft_test_init_fuzz_sched();
    FT_REQUIRE(rc == 0, "ft_init: %s", ft_err_message());
    run_never_present(ft_test_scale(8000));
    ft_fini();
}
