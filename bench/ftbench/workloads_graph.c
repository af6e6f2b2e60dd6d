// bench/ftbench/workloads_graph.c: a mixed, interpreter-like workload on
// parsed-JSON-shaped data (dicts of lists of strings and ints):
//
//     doc = {"id": j, "name": "user<j>", "tags": ["t<j % 7>", "x", "long-tag"],
//            "scores": [j % 10, j % 10 + 1, j % 10 + 2, 1000 + j]}
//
// object_graph         each thread builds batches of 64 docs, walks them
//                      (sums the scores and the lengths of name and tags),
//                      stores the sum as doc["total"], drops the batch
// object_graph_shared  256 docs built by the main thread; each thread walks
//                      docs picked round-robin and updates them in a critical
//                      section: doc["hits"] += 1; doc["last"] = <new int>
//
// Every walk is checked against the same sum computed in plain C.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftbench/ftbench.h"

typedef struct doc_keys {
    ft_object *id, *name, *tags, *scores, *total, *hits, *last;
} doc_keys;

static void
keys_make(doc_keys *k)
{
    k->id = ftb_str("id");
    k->name = ftb_str("name");
    k->tags = ftb_str("tags");
    k->scores = ftb_str("scores");
    k->total = ftb_str("total");
    k->hits = ftb_str("hits");
    k->last = ftb_str("last");
}

static void
keys_drop(doc_keys *k)
{
    ft_object *all[] = {k->id, k->name, k->tags, k->scores, k->total, k->hits, k->last};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        ft_decref(all[i]);
    }
}

// Sets dict[key] = value and drops the caller's reference to value.
static void
set_steal(ft_object *dict, ft_object *key, ft_object *value)
{
    ftb_set(dict, key, value);
    ft_decref(value);
}

static void
append_steal(ft_object *list, ft_object *item)
{
    ftb_append(list, item);
    ft_decref(item);
}

static ft_object *
make_tags(int64_t j)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "t%lld", (long long)(j % 7));
    ft_object *tags = ftb_list();
    append_steal(tags, ftb_str(tag));
    append_steal(tags, ftb_str("x"));
    append_steal(tags, ftb_str("long-tag"));
    return tags;
}

static ft_object *
make_scores(int64_t j)
{
    ft_object *scores = ftb_list();
    for (int64_t s = 0; s < 3; s++) {
        append_steal(scores, ftb_int(j % 10 + s));
    }
    append_steal(scores, ftb_int(1000 + j));
    return scores;
}

static ft_object *
make_doc(const doc_keys *k, int64_t j)
{
    char name[32];
    snprintf(name, sizeof(name), "user%lld", (long long)j);
    ft_object *doc = ftb_dict();
    set_steal(doc, k->id, ftb_int(j));
    set_steal(doc, k->name, ftb_str(name));
    set_steal(doc, k->tags, make_tags(j));
    set_steal(doc, k->scores, make_scores(j));
    return doc;
}

// What walk_doc() must find in doc j, computed without the runtime.
static int64_t
doc_expected(int64_t j)
{
    char name[32];
    int name_len = snprintf(name, sizeof(name), "user%lld", (long long)j);
    return 3 * (j % 10) + 3 + 1000 + j + name_len + 2 + 1 + 8;
}

static int64_t
sum_list(ft_object *list, bool lengths)
{
    int64_t sum = 0;
    int64_t len = ft_list_len(list);
    for (int64_t i = 0; i < len; i++) {
        ft_object *item = ftb_list_get(list, i);
        sum += lengths ? ft_str_len(item) : ftb_int_value(item);
        ft_decref(item);
    }
    return sum;
}

// s = sum(doc["scores"]) + len(doc["name"]) + sum(len(t) for t in doc["tags"])
static int64_t
walk_doc(const doc_keys *k, ft_object *doc)
{
    ft_object *scores = ftb_get(doc, k->scores);
    ft_object *tags = ftb_get(doc, k->tags);
    ft_object *name = ftb_get(doc, k->name);
    int64_t sum = sum_list(scores, false) + sum_list(tags, true) + ft_str_len(name);
    ft_decref(name);
    ft_decref(tags);
    ft_decref(scores);
    return sum;
}

static int64_t
doc_id(const doc_keys *k, ft_object *doc)
{
    ft_object *id = ftb_get(doc, k->id);
    int64_t j = ftb_int_value(id);
    ft_decref(id);
    return j;
}

// ------------------------------------------------------------ object_graph
#define GRAPH_BATCH 64

// for doc in docs: doc["total"] = walk(doc); acc += doc["total"]
static int64_t
walk_batch(const doc_keys *k, ft_object *docs)
{
    int64_t acc = 0;
    int64_t len = ft_list_len(docs);
    for (int64_t i = 0; i < len; i++) {
        ft_object *doc = ftb_list_get(docs, i);
        int64_t sum = walk_doc(k, doc);
        int64_t j = doc_id(k, doc);
        FTB_CHECK(sum == doc_expected(j), "doc %lld walks to %lld, expected %lld", (long long)j,
                  (long long)sum, (long long)doc_expected(j));
        set_steal(doc, k->total, ftb_int(sum));
        ft_object *total = ftb_get(doc, k->total);
        acc += ftb_int_value(total);
        ft_decref(total);
        ft_decref(doc);
        ft_safepoint();
    }
    return acc;
}

static int
object_graph_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    doc_keys k;
    keys_make(&k);
    ft_object *docs = ftb_list();
    for (int64_t i = 0; i < st->n; i++) {
        append_steal(docs, make_doc(&k, i));
        out->count++;
        if (ft_list_len(docs) == GRAPH_BATCH || i == st->n - 1) {
            out->value += walk_batch(&k, docs);
            ft_decref(docs);
            docs = ftb_list();
        }
        ft_safepoint();
    }
    ft_decref(docs);
    keys_drop(&k);
    return 0;
}

static int
object_graph_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    (void)extras;
    int64_t expected = 0;
    for (int64_t j = 0; j < st->n; j++) {
        expected += doc_expected(j);
    }
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].count == st->n && results[t].value == expected,
                  "thread %d: %lld docs summing to %lld, expected %lld summing to %lld", t,
                  (long long)results[t].count, (long long)results[t].value, (long long)st->n,
                  (long long)expected);
    }
    return 0;
}

// ------------------------------------------------------------ object_graph_shared
#define SHARED_DOCS 256

typedef struct graph_data {
    doc_keys keys;    // immutable after setup
    ft_object *docs;  // immutable after setup (the docs inside are updated)
} graph_data;

static int
graph_shared_setup(ftb_state *st)
{
    graph_data *gd = calloc(1, sizeof(*gd));
    FTB_CHECK(gd != NULL, "out of memory");
    keys_make(&gd->keys);
    gd->docs = ftb_list();
    for (int64_t j = 0; j < SHARED_DOCS; j++) {
        ft_object *doc = make_doc(&gd->keys, j);
        set_steal(doc, gd->keys.hits, ftb_int(0));
        append_steal(gd->docs, doc);
    }
    st->data = gd;
    return 0;
}

static void
graph_shared_teardown(ftb_state *st)
{
    graph_data *gd = st->data;
    ft_decref(gd->docs);
    keys_drop(&gd->keys);
    free(gd);
    st->data = NULL;
}

// doc["hits"] += 1; doc["last"] = i, atomically with respect to the other
// threads (the safepoint is outside, as in counter_locked).
static void
touch_doc(const doc_keys *k, ft_object *doc, int64_t i)
{
    FT_CS_BEGIN(doc);
    ft_object *hits = ftb_get(doc, k->hits);
    set_steal(doc, k->hits, ftb_int(ftb_int_value(hits) + 1));
    ft_decref(hits);
    set_steal(doc, k->last, ftb_int(1000 + i));
    FT_CS_END();
}

static int
graph_shared_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)nthreads;
    ftb_state *st = shared;
    graph_data *gd = st->data;
    for (int64_t i = 0; i < st->n; i++) {
        int64_t j = (i * 31 + thread_index * 7) % SHARED_DOCS;
        ft_object *doc = ftb_list_get(gd->docs, j);
        int64_t sum = walk_doc(&gd->keys, doc);
        FTB_CHECK(sum == doc_expected(j), "doc %lld walks to %lld, expected %lld", (long long)j,
                  (long long)sum, (long long)doc_expected(j));
        touch_doc(&gd->keys, doc, i);
        ft_decref(doc);
        out->value += sum;
        out->count++;
        ft_safepoint();
    }
    return 0;
}

static int
graph_shared_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    graph_data *gd = st->data;
    int64_t expected_hits = 0, hits = 0;
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].count == st->n, "thread %d walked %lld docs, expected %lld", t,
                  (long long)results[t].count, (long long)st->n);
        expected_hits += results[t].count;
    }
    for (int64_t j = 0; j < SHARED_DOCS; j++) {
        ft_object *doc = ftb_list_get(gd->docs, j);
        ft_object *h = ftb_get(doc, gd->keys.hits);
        hits += ftb_int_value(h);
        ft_decref(h);
        ft_decref(doc);
    }
    FTB_CHECK(hits == expected_hits, "docs record %lld hits, expected %lld (updates lost)",
              (long long)hits, (long long)expected_hits);
    ftb_extra(extras, "hits", hits);
    return 0;
}

const ftb_workload ftb_graph_workloads[] = {
    {
        .name = "object_graph",
        .description = "builds, walks and updates JSON-shaped dicts of lists, per thread",
        .shared = false,
        .unit = 120000,
        .smoke_unit = 300,
        .run = object_graph_run,
        .verify = object_graph_verify,
    },
    {
        .name = "object_graph_shared",
        .description = "walks and updates 256 shared JSON-shaped docs (sections)",
        .shared = true,
        .unit = 300000,
        .smoke_unit = 1000,
        .setup = graph_shared_setup,
        .run = graph_shared_run,
        .verify = graph_shared_verify,
        .teardown = graph_shared_teardown,
    },
};
const int ftb_graph_workload_count =
    (int)(sizeof(ftb_graph_workloads) / sizeof(ftb_graph_workloads[0]));
