// Four threads set, get and delete in one dict with overlapping keys. Each
// thread logs its successful operations; the final state must be one that a
// sequential replay of some interleaving of the per-thread logs produces:
//
//   private keys (one thread each): the dict matches that thread's model
//     exactly, and every read of them saw the model's value;
//   shared keys: a present value (w, c) must be writer w's last successful
//     mutation of that key, an absent key must be some thread's last
//     successful mutation being a delete (or never set); reads only return
//     values written for that key, and never a writer's older write after a
//     newer one (per-key linearizability).
#include "harness.h"

#define THREADS 4
#define PRIVATE_KEYS 64
#define SHARED_KEYS 32
#define KEY_BASE 1000000
#define PRIVATE_KEY(t, i) (KEY_BASE + (t)*PRIVATE_KEYS + (i))
#define SHARED_KEY(i) (KEY_BASE + THREADS * PRIVATE_KEYS + (i))

enum { MUT_NONE = 0, MUT_SET = 1, MUT_DEL = 2 };

// value = key_slot << 40 | writer << 32 | counter (counter >= 1): a heap int
static int64_t
encode(int64_t slot, int writer, int64_t counter)
{
    return (slot << 40) | ((int64_t)writer << 32) | counter;
}

typedef struct worker {
    ft_object *dict;
    int index;
    int64_t ops;
    // Private model: 0 = absent, else the value.
    int64_t model[PRIVATE_KEYS];
    // Shared keys: last successful mutation and, for a set, its value.
    int last_mut[SHARED_KEYS];
    int64_t last_set_value[SHARED_KEYS];
    int64_t last_seen[SHARED_KEYS][THREADS];  // per writer, newest counter read
    int64_t errors, bad_private_reads, bad_shared_reads, stale_reads;
} worker;

static ft_object *
int_obj(int64_t v)
{
    return ft_int_new(v);
}

static void
do_private(worker *w, uint64_t r, int64_t counter)
{
    int i = (int)(r % PRIVATE_KEYS);
    ft_object *key = int_obj(PRIVATE_KEY(w->index, i));
    int op = (int)((r >> 8) % 3);
    if (op == 0) {
        int64_t v = encode(i, w->index, counter);
        ft_object *value = int_obj(v);
        if (ft_dict_set(w->dict, key, value) == 0) {
            w->model[i] = v;
        } else {
            w->errors++;
        }
        ft_decref(value);
    } else if (op == 1) {
        int rc = ft_dict_del(w->dict, key);
        if (rc == 0) {
            w->bad_private_reads += w->model[i] == 0;
            w->model[i] = 0;
        } else {
            w->bad_private_reads += w->model[i] != 0 || ft_err_occurred() != FT_ERR_KEY;
            ft_err_clear();
        }
    } else {
        ft_object *got = NULL;
        int rc = ft_dict_get_ref(w->dict, key, &got);
        int64_t v = rc == 1 ? ft_int_value(got) : 0;
        w->bad_private_reads += rc < 0 || v != w->model[i];
        ft_xdecref(got);
    }
    ft_decref(key);
}

static void
check_shared_read(worker *w, int i, int64_t v)
{
    int64_t slot = v >> 40;
    int writer = (int)((v >> 32) & 0xff);
    int64_t counter = v & 0xffffffff;
    if (slot != i || writer >= THREADS || counter == 0) {
        w->bad_shared_reads++;
        return;
    }
    if (counter < w->last_seen[i][writer]) {
        w->stale_reads++;
    }
    w->last_seen[i][writer] = counter;
}

static void
do_shared(worker *w, uint64_t r, int64_t counter)
{
    int i = (int)(r % SHARED_KEYS);
    ft_object *key = int_obj(SHARED_KEY(i));
    int op = (int)((r >> 8) % 4);  // set twice as often as delete
    if (op <= 1) {
        int64_t v = encode(i, w->index, counter);
        ft_object *value = int_obj(v);
        if (ft_dict_set(w->dict, key, value) == 0) {
            w->last_mut[i] = MUT_SET;
            w->last_set_value[i] = v;
            w->last_seen[i][w->index] = counter;
        } else {
            w->errors++;
        }
        ft_decref(value);
    } else if (op == 2) {
        if (ft_dict_del(w->dict, key) == 0) {
            w->last_mut[i] = MUT_DEL;
        } else {
            w->errors += ft_err_occurred() != FT_ERR_KEY;
            ft_err_clear();
        }
    } else {
        ft_object *got = NULL;
        int rc = ft_dict_get_ref(w->dict, key, &got);
        if (rc == 1) {
            check_shared_read(w, i, ft_int_value(got));
        } else if (rc < 0) {
            w->errors++;
        }
        ft_xdecref(got);
    }
    ft_decref(key);
}

static void
run_worker(void *arg)
{
    worker *w = arg;
    uint64_t rng = ft_test_thread_seed(w->index);
    for (int64_t counter = 1; counter <= w->ops; counter++) {
        uint64_t r = ft_test_rand(&rng);
        if (r & (1ULL << 60)) {
            do_shared(w, r, counter);
        } else {
            do_private(w, r, counter);
        }
        if ((counter & 127) == 0) {
            ft_safepoint();
        }
        if ((counter & 4095) == 0 && ft_dict_len(w->dict) < 0) {
            w->errors++;
        }
    }
}

static void
check_final(ft_object *dict, worker *workers)
{
    int64_t expected_len = 0, private_mismatch = 0, shared_unexplained = 0;
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < PRIVATE_KEYS; i++) {
            ft_object *key = int_obj(PRIVATE_KEY(t, i));
            ft_object *got = NULL;
            int rc = ft_dict_get_ref(dict, key, &got);
            int64_t v = rc == 1 ? ft_int_value(got) : 0;
            private_mismatch += v != workers[t].model[i];
            expected_len += workers[t].model[i] != 0;
            ft_xdecref(got);
            ft_decref(key);
        }
    }
    for (int i = 0; i < SHARED_KEYS; i++) {
        ft_object *key = int_obj(SHARED_KEY(i));
        ft_object *got = NULL;
        int rc = ft_dict_get_ref(dict, key, &got);
        bool explained = false;
        if (rc == 1) {
            int64_t v = ft_int_value(got);
            int writer = (int)((v >> 32) & 0xff);
            explained = writer < THREADS && workers[writer].last_mut[i] == MUT_SET &&
                        workers[writer].last_set_value[i] == v;
            expected_len++;
        } else {
            bool ever_set = false;
            for (int t = 0; t < THREADS; t++) {
                explained |= workers[t].last_mut[i] == MUT_DEL;
                ever_set |= workers[t].last_mut[i] != MUT_NONE;
            }
            explained |= !ever_set;
        }
        shared_unexplained += !explained;
        ft_xdecref(got);
        ft_decref(key);
    }
    FT_EXPECT_EQ(private_mismatch, 0, "private keys differ from their thread's model");
    FT_EXPECT_EQ(shared_unexplained, 0, "shared keys no interleaving explains");
    FT_EXPECT_EQ(ft_dict_len(dict), expected_len, "length");
}

FT_TEST(shared_dict_set_get_del)
{
    ft_test_seed();
    int64_t base = ft_live_objects();
    ft_object *dict = ft_dict_new();
    static worker workers[THREADS];
    ft_thread *threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&workers[t], 0, sizeof(workers[t]));
        workers[t].dict = dict;
        workers[t].index = t;
        workers[t].ops = ft_test_scale(200000);
        threads[t] = ft_thread_start(run_worker, &workers[t]);
        FT_REQUIRE(threads[t] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    for (int t = 0; t < THREADS; t++) {
        FT_EXPECT_EQ(ft_thread_join(threads[t]), 0, "join");
    }
    for (int t = 0; t < THREADS; t++) {
        FT_EXPECT_EQ(workers[t].errors, 0, "unexpected errors");
        FT_EXPECT_EQ(workers[t].bad_private_reads, 0, "private reads off the model");
        FT_EXPECT_EQ(workers[t].bad_shared_reads, 0, "shared reads of unwritten values");
        FT_EXPECT_EQ(workers[t].stale_reads, 0, "a writer's older value after a newer one");
    }
    check_final(dict, workers);
    ft_decref(dict);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "dict, keys and values freed");
}
