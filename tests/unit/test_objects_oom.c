// Allocation fault injection over a scripted container scenario: for every
// k, the k-th allocation fails. Each failing call must report MemoryError
// and leave its container exactly as it was; nothing may crash or leak.
#include "harness.h"

#define NKEYS 12
#define NOTHER 10
#define LIST_MAX 256

// What the containers must hold: the list's int values, and for each
// candidate key whether the dict has it and its int value.
typedef struct model {
    int64_t list[LIST_MAX];
    int64_t list_len;
    bool present[NKEYS + NOTHER];
    int64_t value[NKEYS + NOTHER];
} model;

typedef struct scenario {
    ft_object *list, *dict, *other;
    ft_object *keys[NKEYS + NOTHER];  // made before fault injection is armed
    model m;
    int failures;  // calls that failed with MemoryError
    int bad;       // contract violations
} scenario;

static bool
list_matches(scenario *s)
{
    if (ft_list_len(s->list) != s->m.list_len) {
        return false;
    }
    for (int64_t i = 0; i < s->m.list_len; i++) {
        ft_object *item = ft_list_get_ref(s->list, i);  // never allocates
        bool same = item != NULL && ft_int_value(item) == s->m.list[i];
        ft_xdecref(item);
        if (!same) {
            return false;
        }
    }
    return true;
}

static bool
dict_matches(scenario *s)
{
    int64_t len = 0;
    for (int k = 0; k < NKEYS + NOTHER; k++) {
        ft_object *v = NULL;
        int rc = ft_dict_get_ref(s->dict, s->keys[k], &v);  // never allocates
        if (rc != (s->m.present[k] ? 1 : 0)) {
            return false;
        }
        if (rc == 1) {
            bool same = ft_int_value(v) == s->m.value[k];
            ft_decref(v);
            if (!same) {
                return false;
            }
            len++;
        }
    }
    return ft_dict_len(s->dict) == len;
}

static void
verify(scenario *s, const char *what)
{
    if (!list_matches(s) || !dict_matches(s)) {
        fprintf(stderr, "  %s left the containers off their model\n", what);
        s->bad++;
    }
}

// Records the outcome of one call: a failure must be MemoryError from an
// injected fault and leave the containers as the model says they were.
// After a success the caller updates the model and calls verify().
static bool
outcome(scenario *s, int rc, uint64_t injected_before, const char *what)
{
    if (rc < 0) {
        if (ft_err_occurred() != FT_ERR_MEMORY || ft_mem_failures_injected() == injected_before) {
            fprintf(stderr, "  %s failed without an injected fault: %s\n", what, ft_err_message());
            s->bad++;
        }
        ft_err_clear();
        s->failures++;
        verify(s, what);
    }
    return rc == 0;
}

// Snapshots the injection count, then runs the call and checks its outcome.
#define STEP(s, call, what) \
    (injected = ft_mem_failures_injected(), outcome((s), (call), injected, (what)))

static int
append_new_int(scenario *s, int64_t v)
{
    ft_object *x = ft_int_new(v);
    if (x == NULL) {
        return -1;
    }
    int rc = ft_list_append(s->list, x);
    ft_decref(x);
    return rc;
}

static int
set_new_value(ft_object *dict, ft_object *key, int64_t v)
{
    ft_object *x = ft_int_new(v);
    if (x == NULL) {
        return -1;
    }
    int rc = ft_dict_set(dict, key, x);
    ft_decref(x);
    return rc;
}

static int
set_new_item(scenario *s, int64_t i, int64_t v)
{
    ft_object *x = ft_int_new(v);
    if (x == NULL) {
        return -1;
    }
    int rc = ft_list_set(s->list, i, x);
    ft_decref(x);
    return rc;
}

static void
run_scenario(scenario *s)
{
    uint64_t injected;
    for (int64_t i = 0; i < 40; i++) {
        if (STEP(s, append_new_int(s, 1000 + i), "append")) {
            s->m.list[s->m.list_len++] = 1000 + i;
        }
        verify(s, "append");
    }
    for (int k = 0; k < NKEYS; k++) {
        if (STEP(s, set_new_value(s->dict, s->keys[k], 2000 + k), "dict set")) {
            s->m.present[k] = true;
            s->m.value[k] = 2000 + k;
        }
        verify(s, "dict set");
    }
    for (int k = 0; k < NKEYS; k += 3) {
        if (STEP(s, set_new_value(s->dict, s->keys[k], 2100 + k), "dict overwrite")) {
            s->m.present[k] = true;
            s->m.value[k] = 2100 + k;
        }
        verify(s, "dict overwrite");
    }
    if (STEP(s, ft_list_extend(s->list, s->list), "self extend")) {
        for (int64_t i = 0, n = s->m.list_len; i < n; i++) {
            s->m.list[s->m.list_len++] = s->m.list[i];
        }
    }
    verify(s, "self extend");
    for (int64_t i = 0; i < 5; i++) {
        if (STEP(s, set_new_item(s, i * 3, -7000 - i), "list set")) {
            s->m.list[i * 3] = -7000 - i;
        }
        verify(s, "list set");
    }
    // Popping most of the list shrinks its array (best effort: a failed
    // shrink is not an error, so pop never fails here).
    for (int64_t i = 0; i < 70 && s->m.list_len > 5; i++) {
        ft_object *x = ft_list_pop(s->list);
        if (x == NULL) {
            fprintf(stderr, "  pop failed: %s\n", ft_err_message());
            s->bad++;
            ft_err_clear();
            continue;
        }
        s->m.list_len--;
        if (ft_int_value(x) != s->m.list[s->m.list_len] || !list_matches(s)) {
            s->bad++;
        }
        ft_decref(x);
    }
    // Deletions, then a merge that must pre-size the dict.
    for (int k = 1; k < NKEYS; k += 2) {
        if (!s->m.present[k]) {
            continue;  // its set failed: del would (rightly) raise KeyError
        }
        if (STEP(s, ft_dict_del(s->dict, s->keys[k]), "dict del")) {
            s->m.present[k] = false;
        }
        verify(s, "dict del");
    }
    bool other_ok = true;
    for (int k = NKEYS - 4; k < NKEYS + NOTHER && other_ok; k++) {
        other_ok = set_new_value(s->other, s->keys[k], 3000 + k) == 0;
    }
    if (!other_ok) {
        ft_err_clear();
        s->failures++;
    } else if (STEP(s, ft_dict_update(s->dict, s->other), "dict update")) {
        for (int k = NKEYS - 4; k < NKEYS + NOTHER; k++) {
            s->m.present[k] = true;
            s->m.value[k] = 3000 + k;
        }
    }
    verify(s, "dict update");
    // A tuple holding the containers, stored in the dict under a str key.
    ft_object *items[2] = {s->list, s->dict};
    ft_object *t = ft_tuple_new(2, items);
    ft_object *tk = ft_str_from_cstr("cycle");
    if (t != NULL && tk != NULL) {
        uint64_t before = ft_mem_failures_injected();
        int rc = ft_dict_set(s->dict, tk, t);  // not in the model: removed at once
        if (rc == 0) {
            rc = ft_dict_del(s->dict, tk);
            if (rc != 0) {
                s->bad++;
            }
        } else if (ft_err_occurred() != FT_ERR_MEMORY || ft_mem_failures_injected() == before) {
            s->bad++;
        }
        if (!dict_matches(s)) {
            s->bad++;
        }
    }
    ft_err_clear();
    ft_xdecref(t);
    ft_xdecref(tk);
}

FT_TEST(every_allocation_failure_is_clean)
{
    FT_SKIP_IF(ft_mem_fail_after(0) != 0, "fault injection is compiled out (release build)");
    ft_gc_collect();
    int64_t base = ft_live_objects();
    int64_t k;
    int total_failures = 0;
    for (k = 1; k < 100000; k++) {
        scenario s;
        memset(&s, 0, sizeof(s));
        char buf[32];
        for (int i = 0; i < NKEYS + NOTHER; i++) {
            if (i < NKEYS) {
                snprintf(buf, sizeof(buf), "key-%d", i);
                s.keys[i] = ft_str_from_cstr(buf);
            } else {
                s.keys[i] = ft_int_new(100000 + i);
            }
        }
        s.list = ft_list_new();
        s.dict = ft_dict_new();
        s.other = ft_dict_new();
        FT_REQUIRE(s.list && s.dict && s.other, "setup");
        uint64_t injected = ft_mem_failures_injected();
        ft_mem_fail_after(k);
        run_scenario(&s);
        ft_mem_fail_after(0);
        bool fault_hit = ft_mem_failures_injected() != injected;
        FT_EXPECT_EQ(s.bad, 0, "contract violations with allocation k failing");
        if (s.bad != 0) {
            fprintf(stderr, "  (k = %" PRId64 ")\n", k);
        }
        total_failures += s.failures;
        ft_decref(s.list);
        ft_decref(s.dict);
        ft_decref(s.other);
        for (int i = 0; i < NKEYS + NOTHER; i++) {
            ft_decref(s.keys[i]);
        }
        ft_gc_collect();
        FT_EXPECT_EQ(ft_live_objects(), base, "leak with allocation k failing");
        if (!fault_hit || s.bad != 0) {
            break;  // the scenario made fewer than k allocations: all covered
        }
    }
    printf("  scenario covered %" PRId64 " allocation points, %d failed calls\n", k - 1,
           total_failures);
    FT_EXPECT(k > 50, "the scenario allocates (%" PRId64 " points)", k - 1);
}
