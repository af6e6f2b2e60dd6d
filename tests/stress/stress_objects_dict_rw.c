// Lock-free dict reads (DESIGN.md §4.9): readers call ft_dict_get_ref()
// while writers set, overwrite and delete, and force resizes both ways.
//
//   - Shared keys (KEYS of them, int and str) are mutated by WRITERS threads.
//     Each value is fresh and encodes (key slot, writer, counter) -- a heap
//     int, or a `tagged` object (tests/tagged_object.h) whose dead flag its
//     tp_dealloc sets. Writers insert with fresh key objects, so a deleted
//     key's object dies while readers may be comparing it by contents.
//   - Private keys belong to one more writer alone, which keeps a model; the
//     dict must match it exactly at the end.
//   - Writers occasionally insert a burst of filler keys and delete them
//     again: the table grows, and the next resize after the deletions
//     shrinks it. Deleted slots are not reused, so plain churn resizes too.
//   - Readers look keys up with their own key objects (equality by
//     contents) or the writers' canonical ones (identity), and record every
//     value they got. After the joins main checks that each was written for
//     that key by a successful ft_dict_set() (logged per writer and
//     counter), that no tagged value was dead while a reader held it, that
//     lookups only failed by missing, and that every object was freed.
#include "harness.h"
#include "tagged_object.h"

#define WRITERS 2  // on the shared keys; one more writer owns PRIVATE_KEYS
#define READERS 2
#define KEYS 64
#define PRIVATE_KEYS 64
#define FILLER_BASE 50000000
#define KEY_BASE 1000000
#define COUNTER_BITS 32

typedef struct shared_state {
    ft_object *dict;
    ft_object *int_keys[KEYS];  // canonical key objects (main's)
    ft_object *str_keys[KEYS];
    ft_object *private_keys[PRIVATE_KEYS];
    int64_t ops;                // immutable after start: per writer, and the counter bound
    _Atomic(uint8_t) *set_ok;   // [(writer) * ops + counter]: key slot + 1 after a set
    _Atomic(int) writers_done;  // atomic: main (release) / readers (acquire)
} shared_state;

typedef struct writer {
    shared_state *s;
    int index;  // 0 .. WRITERS - 1 on shared keys, WRITERS = the private writer
    int64_t failures, sets, dels, bursts;
    int64_t model[PRIVATE_KEYS];  // private writer: 0 absent, else the value's code
} writer;

typedef struct reader {
    shared_state *s;
    int index;
    int64_t min_reads;
    uint8_t *seen;  // [writer * ops + counter]: key slot + 1 read
    int64_t reads, hits, misses, errors;
    int64_t bad_type, bad_value, wrong_key, dead_while_held, tagged_hits;
} reader;

// value code: slot << 40 | writer << 32 | counter (counter >= 1)
static int64_t
encode(int64_t slot, int writer_index, int64_t counter)
{
    return (slot << 40) | ((int64_t)writer_index << COUNTER_BITS) | counter;
}

// Keys: slot k is the int KEY_BASE + k when k is even, the string "key-<k>"
// when odd; private keys are ints after them.
static ft_object *
key_new(int64_t slot)
{
    if (slot >= KEYS) {
        return ft_int_new(KEY_BASE + slot);
    }
    if (slot % 2 == 0) {
        return ft_int_new(KEY_BASE + slot);
    }
    char text[32];
    snprintf(text, sizeof(text), "key-%" PRId64, slot);
    return ft_str_from_cstr(text);
}

// A fresh value; a tagged one's id is its cell writer * ops + counter.
static ft_object *
value_new(shared_state *s, int writer_index, int64_t counter, int64_t code, uint64_t r)
{
    if (r & 1) {
        return tagged_new(writer_index * s->ops + counter, code);
    }
    return ft_int_new(code);
}

// ------------------------------------------------------------ writers

static void
writer_set(writer *w, int64_t slot, int64_t counter, uint64_t r)
{
    int64_t code = encode(slot, w->index, counter);
    ft_object *key = key_new(slot);
    ft_object *value = value_new(w->s, w->index, counter, code, r);
    if (key == NULL || value == NULL || ft_dict_set(w->s->dict, key, value) != 0) {
        w->failures++;
        ft_err_clear();
    } else {
        w->sets++;
        if (slot < KEYS) {
            // relaxed: main reads it after the joins
            ft_atomic_store_relaxed_u8(&w->s->set_ok[w->index * w->s->ops + counter],
                                       (uint8_t)(slot + 1));
        } else {
            w->model[slot - KEYS] = code;
        }
    }
    ft_xdecref(key);
    ft_xdecref(value);
}

static void
writer_del(writer *w, int64_t slot)
{
    ft_object *key = key_new(slot);
    int rc = key != NULL ? ft_dict_del(w->s->dict, key) : -1;
    if (rc == 0) {
        w->dels++;
        if (slot >= KEYS) {
            w->model[slot - KEYS] = 0;
        }
    } else if (ft_err_occurred() == FT_ERR_KEY) {
        w->failures += slot >= KEYS && w->model[slot - KEYS] != 0;  // private: must exist
        ft_err_clear();
    } else {
        w->failures++;
        ft_err_clear();
    }
    ft_xdecref(key);
}

// Inserts n filler keys and deletes them again: the table grows for them,
// and a later resize (entries run out: deleted slots are not reused)
// shrinks it back.
static void
writer_burst(writer *w, int64_t n)
{
    w->bursts++;
    int64_t base = FILLER_BASE + (int64_t)w->index * 100000;
    for (int64_t i = 0; i < n; i++) {
        ft_object *key = ft_int_new(base + i);
        if (key == NULL || ft_dict_set(w->s->dict, key, key) != 0) {
            w->failures++;
            ft_err_clear();
        }
        ft_xdecref(key);
        ft_safepoint();
    }
    for (int64_t i = 0; i < n; i++) {
        ft_object *key = ft_int_new(base + i);
        if (key == NULL || ft_dict_del(w->s->dict, key) != 0) {
            w->failures++;
            ft_err_clear();
        }
        ft_xdecref(key);
        ft_safepoint();
    }
}

static void
write_loop(void *arg)
{
    writer *w = arg;
    uint64_t rng = ft_test_thread_seed(w->index);
    bool private_writer = w->index == WRITERS;
    for (int64_t counter = 1; counter < w->s->ops; counter++) {
        uint64_t r = ft_test_rand(&rng);
        int64_t slot = (int64_t)((r >> 8) % KEYS) + (private_writer ? KEYS : 0);
        unsigned pick = (unsigned)(r % 1000);
        if (pick < 600) {
            writer_set(w, slot, counter, r >> 16);
        } else if (pick < 998) {
            writer_del(w, slot);
        } else {
            writer_burst(w, 64 + (int64_t)((r >> 32) % 512));
        }
        ft_safepoint();
    }
}

// ------------------------------------------------------------ readers

static void
check_value(reader *rd, ft_object *got, int64_t slot, uint64_t r)
{
    int64_t code;
    if (got->ob_type == &tagged_type) {
        code = ((tagged_object *)got)->where;
        rd->tagged_hits++;
        rd->dead_while_held += tagged_is_dead(got);
        if ((r & 15) == 0) {
            sched_yield();  // hold the reference across a yield, then look again
            rd->dead_while_held += tagged_is_dead(got);
        }
    } else if (got->ob_type == &ft_int_type) {
        code = ft_int_value(got);
    } else {
        rd->bad_type++;
        return;
    }
    int64_t counter = code & (((int64_t)1 << COUNTER_BITS) - 1);
    int64_t writer_index = (code >> COUNTER_BITS) & 0xff;
    if (code < 0 || counter < 1 || counter >= rd->s->ops || writer_index >= WRITERS + 1) {
        rd->bad_value++;
        return;
    }
    rd->wrong_key += code >> 40 != slot;
    if (slot < KEYS) {
        rd->seen[writer_index * rd->s->ops + counter] = (uint8_t)(slot + 1);
    }
}

static void
reader_main(void *arg)
{
    reader *rd = arg;
    shared_state *s = rd->s;
    uint64_t rng = ft_test_thread_seed(100 + rd->index);
    // pairs: release store in run_dict_rw() after the writers' joins
    while (!ft_atomic_load_acquire_int(&s->writers_done) || rd->reads < rd->min_reads) {
        uint64_t r = ft_test_rand(&rng);
        int64_t slot = (int64_t)((r >> 8) % (KEYS + PRIVATE_KEYS));
        ft_object *key;
        if (r & 2) {
            key = key_new(slot);  // our own object: equality by contents
        } else {
            key = slot < KEYS ? (slot % 2 ? s->str_keys[slot] : s->int_keys[slot])
                              : s->private_keys[slot - KEYS];
            ft_incref(key);
        }
        ft_object *got = NULL;
        int rc = key != NULL ? ft_dict_get_ref(s->dict, key, &got) : -1;
        rd->reads++;
        if (rc == 1) {
            rd->hits++;
            check_value(rd, got, slot, r >> 4);
            ft_decref(got);
        } else if (rc == 0) {
            rd->misses++;
        } else {
            rd->errors++;
            ft_err_clear();
        }
        ft_xdecref(key);
        if ((rd->reads & 15) == 0) {
            ft_safepoint();
        }
    }
}

// ------------------------------------------------------------ the test

static void
start_threads(shared_state *s, writer *writers, reader *readers, ft_thread **threads)
{
    size_t cells = (size_t)(WRITERS + 1) * (size_t)s->ops;
    for (int t = 0; t < READERS; t++) {
        readers[t] = (reader){.s = s, .index = t, .min_reads = s->ops / 2};
        readers[t].seen = calloc(cells, 1);
        FT_REQUIRE(readers[t].seen != NULL, "out of memory");
        threads[WRITERS + 1 + t] = ft_thread_start(reader_main, &readers[t]);
        FT_REQUIRE(threads[WRITERS + 1 + t] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    for (int t = 0; t <= WRITERS; t++) {
        writers[t] = (writer){.s = s, .index = t};
        threads[t] = ft_thread_start(write_loop, &writers[t]);
        FT_REQUIRE(threads[t] != NULL, "ft_thread_start: %s", ft_err_message());
    }
}

static void
check_readers(shared_state *s, reader *readers)
{
    size_t cells = (size_t)(WRITERS + 1) * (size_t)s->ops;
    for (int t = 0; t < READERS; t++) {
        reader *rd = &readers[t];
        FT_EXPECT_EQ(rd->errors, 0, "lookups failed");
        FT_EXPECT_EQ(rd->bad_type, 0, "lookups returned an object of a type never stored");
        FT_EXPECT_EQ(rd->bad_value, 0, "lookups returned an int that is no value code");
        FT_EXPECT_EQ(rd->wrong_key, 0, "lookups returned a value written for another key");
        FT_EXPECT_EQ(rd->dead_while_held, 0, "a value was freed while a reader held it");
        int64_t never_set = 0;
        for (size_t c = 0; c < cells; c++) {
            // relaxed: the joins ordered the writers' stores
            never_set +=
                rd->seen[c] != 0 && ft_atomic_load_relaxed_u8(&s->set_ok[c]) != rd->seen[c];
        }
        FT_EXPECT_EQ(never_set, 0, "lookups returned a value never set for that key");
        printf("  reader %d: reads=%" PRId64 " hits=%" PRId64 " (tagged %" PRId64
               ") misses=%" PRId64 "\n",
               t, rd->reads, rd->hits, rd->tagged_hits, rd->misses);
        free(rd->seen);
    }
}

// The private writer's keys hold exactly its model; nothing else is in the
// dict but shared keys (fillers were all deleted).
static void
check_final_state(shared_state *s, writer *private_writer)
{
    int64_t present = 0, mismatches = 0;
    for (int64_t k = 0; k < PRIVATE_KEYS; k++) {
        ft_object *got = NULL;
        int rc = ft_dict_get_ref(s->dict, s->private_keys[k], &got);
        int64_t want = private_writer->model[k];
        if (rc == 1) {
            int64_t code =
                got->ob_type == &tagged_type ? ((tagged_object *)got)->where : ft_int_value(got);
            mismatches += code != want;
            present++;
            ft_decref(got);
        } else {
            mismatches += rc != 0 || want != 0;
        }
    }
    FT_EXPECT_EQ(mismatches, 0, "private keys differ from their writer's model");
    int64_t shared_present = 0;
    for (int64_t k = 0; k < KEYS; k++) {
        ft_object *got = NULL;
        ft_object *key = k % 2 ? s->str_keys[k] : s->int_keys[k];
        shared_present += ft_dict_get_ref(s->dict, key, &got) == 1;
        ft_xdecref(got);
    }
    FT_EXPECT_EQ(ft_dict_len(s->dict), present + shared_present, "dict length");
}

static void
run_dict_rw(int64_t ops)
{
    int64_t base = ft_live_objects();
    uint64_t optimistic0 = ft_stats_get("read_optimistic");
    shared_state s = {.dict = ft_dict_new(), .ops = ops};
    FT_REQUIRE(s.dict != NULL, "ft_dict_new: %s", ft_err_message());
    for (int64_t k = 0; k < KEYS; k++) {
        s.int_keys[k] = ft_int_new(KEY_BASE + k);
        char text[32];
        snprintf(text, sizeof(text), "key-%" PRId64, k);
        s.str_keys[k] = ft_str_from_cstr(text);
    }
    for (int64_t k = 0; k < PRIVATE_KEYS; k++) {
        s.private_keys[k] = key_new(KEYS + k);
    }
    s.set_ok = calloc((size_t)(WRITERS + 1) * (size_t)ops, 1);
    FT_REQUIRE(s.set_ok != NULL && tagged_table_init((WRITERS + 1) * ops), "out of memory");

    writer writers[WRITERS + 1];
    reader readers[READERS];
    ft_thread *threads[WRITERS + 1 + READERS];
    start_threads(&s, writers, readers, threads);
    for (int t = 0; t <= WRITERS; t++) {
        FT_EXPECT_EQ(ft_thread_join(threads[t]), 0, "join writer");
    }
    // pairs: acquire loads in reader_main()
    ft_atomic_store_release_int(&s.writers_done, 1);
    for (int t = 0; t < READERS; t++) {
        FT_EXPECT_EQ(ft_thread_join(threads[WRITERS + 1 + t]), 0, "join reader");
    }
    int64_t bursts = 0;
    for (int t = 0; t <= WRITERS; t++) {
        FT_EXPECT_EQ(writers[t].failures, 0, "writer operations failed");
        bursts += writers[t].bursts;
    }
    check_readers(&s, readers);
    check_final_state(&s, &writers[WRITERS]);
    printf("  bursts=%" PRId64 " read_optimistic=%" PRIu64 " read_fallback=%" PRIu64 "\n", bursts,
           ft_stats_get("read_optimistic") - optimistic0, ft_stats_get("read_fallback"));
#if FT_OPTIMISTIC_READS
    FT_EXPECT(ft_stats_get("read_optimistic") > optimistic0, "no lookup went lock-free");
#endif
    for (int64_t k = 0; k < KEYS; k++) {
        ft_decref(s.int_keys[k]);
        ft_decref(s.str_keys[k]);
    }
    for (int64_t k = 0; k < PRIVATE_KEYS; k++) {
        ft_decref(s.private_keys[k]);
    }
    ft_decref(s.dict);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "every object freed");
    // relaxed: every deallocator ran before ft_gc_collect() returned
    int64_t freed = ft_atomic_load_relaxed_i64(&tagged_freed);
    // relaxed: every maker was joined
    FT_EXPECT_EQ(freed, ft_atomic_load_relaxed_i64(&tagged_created),
                 "every tagged value freed once");
    free(s.set_ok);
    tagged_table_fini();
}

FT_TEST(dict_rw)
{
    ft_test_seed();
    run_dict_rw(ft_test_scale(100000));
}

// The same with the runtime's yield points on (FT_FUZZ_SCHED, debug and
// sanitizer builds): between the reader's index, key, value and re-check
// loads, and at the writers' entry stores.
FT_TEST_RAW(dict_rw_fuzz_sched)
{
    int rc = ft_test_init_fuzz_sched();
    FT_REQUIRE(rc == 0, "ft_init: %s", ft_err_message());
    run_dict_rw(ft_test_scale(10000));
    ft_fini();
}
