// tests/fuzz/fuzz_api.c: libFuzzer target for the object API (issue 7).
//
// Invariant: after every call, the runtime's objects agree with a reference
// model kept here in plain C, every failing call sets exactly the error kind
// the contract names (DESIGN.md §4.11, §6) and changes nothing, and when the
// input's objects are dropped ft_live_objects() is back at its baseline.
// Any disagreement is a __builtin_trap(), so libFuzzer saves the input.
//
// How: the input is a byte program. Each step takes an opcode byte and its
// operand bytes (running past the end reads zeros). Every object a step
// creates goes into a table of records that holds one reference to it until
// the input ends, so a pointer is never reused within an input and a
// record's pointer identifies its object: list items, tuple items and dict
// entries are modelled as record numbers and checked by identity. Operands
// name records (or NULL), usually of the kind the call wants, sometimes any
// kind, so wrong types, NULLs, out-of-range indices and missing keys are
// all reached. Dict keys match as the runtime's lookup does: the same
// object, or the same type with equal contents (1 != 1.0, True != 1,
// NaN != NaN unless identical, 0.0 == -0.0). An opcode arms allocation
// fault injection (ft_mem_fail_after, FT_DEBUG) for the next call: it must
// then succeed or fail with MemoryError from the injected fault and leave
// its container as it was. Another opcode runs ft_gc_collect(), which must
// free nothing (every object has the table's reference). At the end every
// container is compared in full, lists and dicts are emptied through the API
// (or, when the input collected, their cycles are left to the collector),
// the table's references are dropped, and the live count is checked.
//
// Opcodes: byte % 20 picks a step (see `steps`); 0xfe k arms fault injection
// for the next step, 0xfd collects. FT_FUZZ_TRACE=1 prints each step and
// each expected error, to read a reproducer:
//     FT_FUZZ_TRACE=1 build/fuzz/fuzz_api crash-<sha1>
//
// Build: the `fuzz` preset (clang, ASan + UBSan + libFuzzer, cmake/fuzz.cmake).
// Seeds: tests/fuzz/corpus/ (tests/fuzz/make_corpus.py writes them).
#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftrt.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 160     // objects an input may create (each held to the end)
#define MAX_SEQUENCE 2048   // items a modelled list or dict may reach
#define MAX_STEPS 400       // calls one input may make
#define FULL_CHECK 48       // containers up to this size are compared item by item
#define MAX_COLLECTIONS 2   // collect steps one input may run

enum kind { K_NULL, K_NONE, K_BOOL, K_INT, K_FLOAT, K_STR, K_TUPLE, K_LIST, K_DICT, K_COUNT };

static const char *const kind_names[K_COUNT] = {
    "NULL", "NoneType", "bool", "int", "float", "str", "tuple", "list", "dict",
};

// Record numbers: tuple or list items, dict keys (and values in `values`).
typedef struct sequence {
    int *at;
    size_t n;
    size_t capacity;
} sequence;

typedef struct record {
    ft_object *obj;     // one reference, held until the input ends
    enum kind kind;
    int64_t ivalue;     // int, bool
    double fvalue;      // float
    char *bytes;        // str (malloc'd copy)
    size_t length;
    sequence items;     // tuple and list items; dict keys in insertion order
    sequence values;    // dict values, parallel to items
    bool hashed;        // hash below was computed once: it must never change
    int64_t hash;
} record;

typedef struct input {
    const uint8_t *data;
    size_t size;
    size_t pos;
} input;

static record records[MAX_RECORDS];
static int nrecords;
static bool fault_armed;
static uint64_t injected_before;
static int64_t live_at_init;
static int collections;   // ft_gc_collect() calls by this input
static bool trace;   // FT_FUZZ_TRACE=1: print each step (to read a reproducer)

// ------------------------------------------------------------ failure

static void
mismatch(int line, const char *what)
{
    fprintf(stderr, "fuzz_api.c:%d: model mismatch: %s (error %d: %s)\n", line, what,
            ft_err_occurred(), ft_err_occurred() ? ft_err_message() : "none");
    __builtin_trap();
}

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            mismatch(__LINE__, #cond);                                         \
        }                                                                      \
    } while (0)

// ------------------------------------------------------------ input bytes

static uint8_t
take(input *in)
{
    return in->pos < in->size ? in->data[in->pos++] : 0;
}

static uint64_t
take_u64(input *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | take(in);
    }
    return v;
}

// Mostly -2 ... n + 1 around the valid range [0, n), sometimes an extreme.
static int64_t
take_index(input *in, size_t n)
{
    static const int64_t extremes[8] = {
        INT64_MIN, INT64_MAX, -1, INT64_MIN + 1, INT32_MAX, INT32_MIN, (int64_t)1 << 32, 1 << 20,
    };
    uint8_t b = take(in);
    if (b >= 0xf8) {
        return extremes[b - 0xf8];
    }
    return (int64_t)(b % (n + 4)) - 2;
}

// ------------------------------------------------------------ the model

static void
sequence_push(sequence *s, int value)
{
    if (s->n == s->capacity) {
        s->capacity = s->capacity ? s->capacity * 2 : 8;
        s->at = realloc(s->at, s->capacity * sizeof(int));
        CHECK(s->at != NULL);
    }
    s->at[s->n++] = value;
}

static ft_object *
obj_of(int r)
{
    return r < 0 ? NULL : records[r].obj;
}

static enum kind
kind_of(int r)
{
    return r < 0 ? K_NULL : records[r].kind;
}

static int
find_record(ft_object *obj)
{
    for (int r = 0; r < nrecords; r++) {
        if (records[r].obj == obj) {
            return r;
        }
    }
    return -1;
}

// Python's rule for built-ins, as the runtime's lookup applies it: the same
// object, or the same type with equal contents; lists and dicts by identity.
static bool
model_eq(int a, int b)
{
    const record *x = &records[a];
    const record *y = &records[b];
    if (a == b || x->obj == y->obj) {
        return true;
    }
    if (x->kind != y->kind) {
        return false;
    }
    switch (x->kind) {
    case K_INT:
        return x->ivalue == y->ivalue;
    case K_FLOAT:
        return x->fvalue == y->fvalue;
    case K_STR:
        return x->length == y->length && memcmp(x->bytes, y->bytes, x->length) == 0;
    case K_TUPLE:
        if (x->items.n != y->items.n) {
            return false;
        }
        for (size_t i = 0; i < x->items.n; i++) {
            if (!model_eq(x->items.at[i], y->items.at[i])) {
                return false;
            }
        }
        return true;
    default:
        return false;   // singletons, lists, dicts: identity only
    }
}

static bool
model_hashable(int r)
{
    const record *x = &records[r];
    if (x->kind == K_LIST || x->kind == K_DICT) {
        return false;
    }
    for (size_t i = 0; x->kind == K_TUPLE && i < x->items.n; i++) {
        if (!model_hashable(x->items.at[i])) {
            return false;
        }
    }
    return true;
}

// The position of a key equal to `key` in dict record d, or -1.
static int
model_dict_find(int d, int key)
{
    const record *x = &records[d];
    for (size_t j = 0; j < x->items.n; j++) {
        if (model_eq(x->items.at[j], key)) {
            return (int)j;
        }
    }
    return -1;
}

static void
model_dict_set(int d, int key, int value)
{
    int j = model_dict_find(d, key);
    if (j >= 0) {
        records[d].values.at[j] = value;   // the first key object stays
        return;
    }
    sequence_push(&records[d].items, key);
    sequence_push(&records[d].values, value);
}

static void
model_dict_del(int d, int j)
{
    sequence *keys = &records[d].items;
    sequence *values = &records[d].values;
    memmove(&keys->at[j], &keys->at[j + 1], (keys->n - (size_t)j - 1) * sizeof(int));
    memmove(&values->at[j], &values->at[j + 1], (values->n - (size_t)j - 1) * sizeof(int));
    keys->n--;
    values->n--;
}

// ------------------------------------------------------------ records

// Takes ownership of a new reference the API returned for a model object
// `proto`. A pointer already in the table must be that same value (the
// immortal small ints, empty tuple and empty string are shared); the spare
// reference goes back. Returns the record, or -1 when the table is full (the
// object is dropped again).
static int
adopt(ft_object *obj, record *proto)
{
    CHECK(strcmp(ft_type_name(obj), kind_names[proto->kind]) == 0);
    int r = find_record(obj);
    if (r >= 0) {
        // Only the immortals may be handed out again: None, the bools, the
        // small ints, the empty tuple and the empty string.
        CHECK(records[r].kind == proto->kind);
        CHECK(proto->kind == K_NONE || proto->kind == K_BOOL
              || (proto->kind == K_INT && proto->ivalue >= -5 && proto->ivalue <= 256)
              || (proto->kind == K_TUPLE && proto->items.n == 0)
              || (proto->kind == K_STR && proto->length == 0));
        int scratch = MAX_RECORDS - 1;   // never a record: the table stops before it
        records[scratch] = *proto;
        records[scratch].obj = obj;
        CHECK(model_eq(r, scratch));
        memset(&records[scratch], 0, sizeof(record));
        free(proto->bytes);
        free(proto->items.at);
        ft_decref(obj);
        return r;
    }
    if (nrecords >= MAX_RECORDS - 1) {
        free(proto->bytes);
        free(proto->items.at);
        ft_decref(obj);
        return -1;
    }
    proto->obj = obj;
    records[nrecords] = *proto;
    return nrecords++;
}

static void
release_records(void)
{
    for (int r = nrecords - 1; r >= 0; r--) {
        ft_decref(records[r].obj);
        free(records[r].bytes);
        free(records[r].items.at);
        free(records[r].values.at);
    }
    memset(records, 0, sizeof(records));
    nrecords = 0;
}

// An operand byte: 0xff is NULL; 0xc0 ... 0xfe name a record by number
// (any kind); below that, the nth record of kind `want` when there is one
// (K_NULL: any kind).
static int
pick(input *in, enum kind want)
{
    uint8_t b = take(in);
    if (b == 0xff || nrecords == 0) {
        return -1;
    }
    if (b >= 0xc0) {
        return (b - 0xc0) % nrecords;
    }
    int count = 0;
    for (int r = 0; want != K_NULL && r < nrecords; r++) {
        count += records[r].kind == want;
    }
    if (count == 0) {
        return b % nrecords;
    }
    int nth = b % count;
    for (int r = 0;; r++) {
        if (records[r].kind == want && nth-- == 0) {
            return r;
        }
    }
}

// ------------------------------------------------------------ call outcomes

static void
begin_call(void)
{
    ft_err_clear();
    injected_before = ft_mem_failures_injected();
}

// A call the model expected to succeed returned its failure value: only an
// injected allocation failure, reported as MemoryError, excuses that.
static void
expect_injected_failure(void)
{
    if (trace) {
        fprintf(stderr, "    -> injected failure (%s)\n", ft_err_message());
    }
    CHECK(ft_err_occurred() == FT_ERR_MEMORY);
    CHECK(fault_armed && ft_mem_failures_injected() > injected_before);
    CHECK(strstr(ft_err_message(), "out of memory") != NULL);
    ft_err_clear();
}

static void
expect_error(int kind)
{
    if (trace) {
        fprintf(stderr, "    -> %s (%s)\n", ft_err_kind_name(kind), ft_err_message());
    }
    CHECK(ft_err_occurred() == kind);
    ft_err_clear();
}

static void
expect_no_error(void)
{
    CHECK(ft_err_occurred() == 0);
}

// The returned new reference must be the modelled object itself.
static void
expect_same(ft_object *got, int r)
{
    CHECK(got != NULL && got == records[r].obj);
    ft_decref(got);
}

// ------------------------------------------------------------ container checks

static void
verify_list(int r, bool full)
{
    const record *x = &records[r];
    begin_call();
    CHECK(ft_list_len(x->obj) == (int64_t)x->items.n);
    for (size_t i = 0; full && i < x->items.n; i++) {
        expect_same(ft_list_get_ref(x->obj, (int64_t)i), x->items.at[i]);
    }
    expect_no_error();
}

static void
verify_dict(int r, bool full)
{
    const record *x = &records[r];
    begin_call();
    CHECK(ft_dict_len(x->obj) == (int64_t)x->items.n);
    for (size_t j = 0; full && j < x->items.n; j++) {
        ft_object *value = NULL;
        CHECK(ft_dict_get_ref(x->obj, obj_of(x->items.at[j]), &value) == 1);
        expect_same(value, x->values.at[j]);
    }
    expect_no_error();
}

static void
verify_tuple(int r)
{
    const record *x = &records[r];
    begin_call();
    CHECK(ft_tuple_size(x->obj) == (int64_t)x->items.n);
    for (size_t i = 0; i < x->items.n; i++) {
        expect_same(ft_tuple_get_ref(x->obj, (int64_t)i), x->items.at[i]);
    }
    expect_no_error();
}

// Compares a record's object with the model: item by item when small or
// when `full`, else by length.
static void
verify(int r, bool full)
{
    if (r < 0) {
        return;
    }
    full = full || records[r].items.n <= FULL_CHECK;
    if (records[r].kind == K_LIST) {
        verify_list(r, full);
    } else if (records[r].kind == K_DICT) {
        verify_dict(r, full);
    } else if (records[r].kind == K_TUPLE && full) {
        verify_tuple(r);
    }
}

// ------------------------------------------------------------ constructors

static void
make_int(input *in)
{
    static const int64_t edges[8] = {
        INT64_MIN, INT64_MAX, -6, -5, 256, 257, -1, 0,
    };
    uint8_t mode = take(in);
    int64_t v;
    if (mode % 4 == 0) {
        v = (int64_t)(take(in) % 262) - 5;   // the immortal cache
    } else if (mode % 4 == 1) {
        v = (int8_t)take(in) * 1000;
    } else if (mode % 4 == 2) {
        v = (int64_t)take_u64(in);
    } else {
        v = edges[take(in) % 8];
    }
    begin_call();
    ft_object *obj = ft_int_new(v);
    if (obj == NULL) {
        expect_injected_failure();
        return;
    }
    expect_no_error();
    adopt(obj, &(record){.kind = K_INT, .ivalue = v});
}

static void
make_float(input *in)
{
    static const double specials[8] = {0.0, -0.0, 1.0, -1.5, 1e300, 5e-324, INFINITY, NAN};
    uint8_t mode = take(in);
    double v;
    if (mode % 2 == 0) {
        v = specials[take(in) % 8];
    } else {
        uint64_t bits = take_u64(in);
        memcpy(&v, &bits, sizeof(v));
    }
    begin_call();
    ft_object *obj = ft_float_new(v);
    if (obj == NULL) {
        expect_injected_failure();
        return;
    }
    expect_no_error();
    adopt(obj, &(record){.kind = K_FLOAT, .fvalue = v});
}

// (bytes, n) through ft_str_new, (NULL, n) too ("" for n == 0, else
// TypeError), or the bytes up to the first NUL through ft_str_from_cstr.
static void
make_str(input *in)
{
    uint8_t mode = take(in);
    size_t n = mode % 9;
    char buf[9];
    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)take(in);
    }
    buf[n] = '\0';
    bool null_bytes = mode >= 0xf0;
    bool cstr = !null_bytes && mode >= 0x80;
    begin_call();
    ft_object *obj = cstr ? ft_str_from_cstr(buf) : ft_str_new(null_bytes ? NULL : buf, n);
    if (null_bytes && n > 0) {
        CHECK(obj == NULL);
        expect_error(FT_ERR_TYPE);
        return;
    }
    if (obj == NULL) {
        expect_injected_failure();
        return;
    }
    expect_no_error();
    n = cstr ? strlen(buf) : n;
    char *copy = malloc(n + 1);
    CHECK(copy != NULL);
    memcpy(copy, buf, n);
    adopt(obj, &(record){.kind = K_STR, .bytes = copy, .length = n});
}

static void
make_singleton(input *in)
{
    uint8_t which = take(in) % 3;
    ft_object *obj = which == 0 ? ft_none() : which == 1 ? ft_true() : ft_false();
    CHECK(which == 0 || obj == ft_bool(which == 1 ? 7 : 0));
    ft_incref(obj);   // immortal, but the table owns one reference like any other
    record proto = {.kind = which == 0 ? K_NONE : K_BOOL, .ivalue = which == 1};
    adopt(obj, &proto);
}

static void
make_container(input *in, enum kind kind)
{
    (void)in;
    begin_call();
    ft_object *obj = kind == K_LIST ? ft_list_new() : ft_dict_new();
    if (obj == NULL) {
        expect_injected_failure();
        return;
    }
    expect_no_error();
    adopt(obj, &(record){.kind = kind});
}

static void
make_tuple(input *in)
{
    uint8_t mode = take(in);
    size_t n = mode % 5;
    int items[4];
    ft_object *objs[4];
    bool has_null = false;
    for (size_t i = 0; i < n; i++) {
        items[i] = pick(in, K_NULL);
        objs[i] = obj_of(items[i]);
        has_null |= items[i] < 0;
    }
    bool null_array = mode >= 0xf0;
    begin_call();
    ft_object *obj = ft_tuple_new(n, null_array ? NULL : objs);
    if (n > 0 && (null_array || has_null)) {
        CHECK(obj == NULL);
        expect_error(FT_ERR_TYPE);
        return;
    }
    if (obj == NULL) {
        expect_injected_failure();
        return;
    }
    expect_no_error();
    record proto = {.kind = K_TUPLE};
    for (size_t i = 0; i < n; i++) {
        sequence_push(&proto.items, items[i]);
    }
    int r = adopt(obj, &proto);
    if (r >= 0) {
        verify_tuple(r);
    }
}

// ------------------------------------------------------------ list calls

static void
list_append(input *in)
{
    int l = pick(in, K_LIST);
    int x = pick(in, K_NULL);
    if (kind_of(l) == K_LIST && records[l].items.n >= MAX_SEQUENCE) {
        return;
    }
    begin_call();
    int rc = ft_list_append(obj_of(l), obj_of(x));
    if (kind_of(l) != K_LIST || x < 0) {
        CHECK(rc == -1);
        expect_error(FT_ERR_TYPE);
    } else if (rc < 0) {
        expect_injected_failure();
    } else {
        CHECK(rc == 0);
        expect_no_error();
        sequence_push(&records[l].items, x);
    }
    verify(l, false);
}

static void
list_set(input *in)
{
    int l = pick(in, K_LIST);
    size_t n = kind_of(l) == K_LIST ? records[l].items.n : 0;
    int64_t i = take_index(in, n);
    int x = pick(in, K_NULL);
    begin_call();
    int rc = ft_list_set(obj_of(l), i, obj_of(x));
    if (kind_of(l) != K_LIST || x < 0) {
        CHECK(rc == -1);
        expect_error(FT_ERR_TYPE);
    } else if (i < 0 || i >= (int64_t)n) {
        CHECK(rc == -1);
        expect_error(FT_ERR_INDEX);
    } else {
        CHECK(rc == 0);
        expect_no_error();
        records[l].items.at[i] = x;
    }
    verify(l, false);
}

static void
list_get(input *in)
{
    int l = pick(in, K_LIST);
    size_t n = kind_of(l) == K_LIST ? records[l].items.n : 0;
    int64_t i = take_index(in, n);
    begin_call();
    ft_object *got = ft_list_get_ref(obj_of(l), i);
    if (kind_of(l) != K_LIST) {
        CHECK(got == NULL);
        expect_error(FT_ERR_TYPE);
    } else if (i < 0 || i >= (int64_t)n) {
        CHECK(got == NULL);
        expect_error(FT_ERR_INDEX);
    } else {
        expect_no_error();
        expect_same(got, records[l].items.at[i]);
    }
}

static void
list_pop(input *in)
{
    int l = pick(in, K_LIST);
    begin_call();
    ft_object *got = ft_list_pop(obj_of(l));
    if (kind_of(l) != K_LIST) {
        CHECK(got == NULL);
        expect_error(FT_ERR_TYPE);
    } else if (records[l].items.n == 0) {
        CHECK(got == NULL);
        expect_error(FT_ERR_INDEX);
    } else {
        // A failed shrink is best effort, never an error (list.c).
        expect_no_error();
        sequence *items = &records[l].items;
        expect_same(got, items->at[--items->n]);
    }
    verify(l, false);
}

static void
list_extend(input *in)
{
    int l = pick(in, K_LIST);
    int other = pick(in, take(in) % 2 ? K_TUPLE : K_LIST);
    if (take(in) % 4 == 0) {
        other = l;   // extending a list with itself
    }
    enum kind ok = kind_of(other);
    size_t m = ok == K_LIST || ok == K_TUPLE ? records[other].items.n : 0;
    if (kind_of(l) == K_LIST && records[l].items.n + m > MAX_SEQUENCE) {
        return;
    }
    begin_call();
    int rc = ft_list_extend(obj_of(l), obj_of(other));
    if (kind_of(l) != K_LIST || (ok != K_LIST && ok != K_TUPLE)) {
        CHECK(rc == -1);
        expect_error(FT_ERR_TYPE);
    } else if (rc < 0) {
        expect_injected_failure();
    } else {
        CHECK(rc == 0);
        expect_no_error();
        for (size_t j = 0; j < m; j++) {   // m was read first: other may be l
            sequence_push(&records[l].items, records[other].items.at[j]);
        }
    }
    verify(l, false);
}

// ------------------------------------------------------------ dict calls

// Whether the (dict, key) arguments are refused with TypeError, as
// check_dict_key() does before anything else.
static bool
dict_key_refused(int d, int key)
{
    return kind_of(d) != K_DICT || key < 0 || !model_hashable(key);
}

static void
dict_set(input *in)
{
    int d = pick(in, K_DICT);
    int key = pick(in, take(in) % 8);
    int value = pick(in, K_NULL);
    if (kind_of(d) == K_DICT && records[d].items.n >= MAX_SEQUENCE) {
        return;
    }
    begin_call();
    int rc = ft_dict_set(obj_of(d), obj_of(key), obj_of(value));
    if (dict_key_refused(d, key) || value < 0) {
        CHECK(rc == -1);
        expect_error(FT_ERR_TYPE);
    } else if (rc < 0) {
        expect_injected_failure();
    } else {
        CHECK(rc == 0);
        expect_no_error();
        model_dict_set(d, key, value);
    }
    verify(d, false);
}

static void
dict_get(input *in)
{
    int d = pick(in, K_DICT);
    int key = pick(in, take(in) % 8);
    bool null_out = take(in) == 0xee;
    ft_object *out = (ft_object *)&out;   // must be overwritten with NULL or a reference
    begin_call();
    int rc = ft_dict_get_ref(obj_of(d), obj_of(key), null_out ? NULL : &out);
    int j = dict_key_refused(d, key) ? -1 : model_dict_find(d, key);
    if (dict_key_refused(d, key) || null_out) {
        CHECK(rc == -1);
        expect_error(FT_ERR_TYPE);
        CHECK(null_out || out == NULL);
    } else if (j < 0) {
        CHECK(rc == 0 && out == NULL);
        expect_no_error();
    } else {
        CHECK(rc == 1);
        expect_no_error();
        expect_same(out, records[d].values.at[j]);
    }
}

static void
dict_del(input *in)
{
    int d = pick(in, K_DICT);
    int key = pick(in, take(in) % 8);
    begin_call();
    int rc = ft_dict_del(obj_of(d), obj_of(key));
    int j = dict_key_refused(d, key) ? -1 : model_dict_find(d, key);
    if (dict_key_refused(d, key)) {
        CHECK(rc == -1);
        expect_error(FT_ERR_TYPE);
    } else if (j < 0) {
        CHECK(rc == -1);
        expect_error(FT_ERR_KEY);
    } else {
        CHECK(rc == 0);
        expect_no_error();
        model_dict_del(d, j);
    }
    verify(d, false);
}

static void
dict_update(input *in)
{
    int d = pick(in, K_DICT);
    int other = pick(in, K_DICT);
    if (take(in) % 8 == 0) {
        other = d;   // a no-op by contract
    }
    if (kind_of(d) == K_DICT && kind_of(other) == K_DICT
        && records[d].items.n + records[other].items.n > MAX_SEQUENCE) {
        return;
    }
    begin_call();
    int rc = ft_dict_update(obj_of(d), obj_of(other));
    if (kind_of(d) != K_DICT || kind_of(other) != K_DICT) {
        CHECK(rc == -1);
        expect_error(FT_ERR_TYPE);
    } else if (rc < 0) {
        expect_injected_failure();
    } else {
        CHECK(rc == 0);
        expect_no_error();
        size_t m = records[other].items.n;   // read first: other may be d
        for (size_t j = 0; j < m && other != d; j++) {
            model_dict_set(d, records[other].items.at[j], records[other].values.at[j]);
        }
    }
    verify(d, false);
    verify(other, false);
}

// ------------------------------------------------------------ tuples, lengths, values

static void
tuple_get(input *in)
{
    int t = pick(in, K_TUPLE);
    size_t n = kind_of(t) == K_TUPLE ? records[t].items.n : 0;
    int64_t i = take_index(in, n);
    begin_call();
    ft_object *got = ft_tuple_get_ref(obj_of(t), i);
    if (kind_of(t) != K_TUPLE) {
        CHECK(got == NULL);
        expect_error(FT_ERR_TYPE);
    } else if (i < 0 || i >= (int64_t)n) {
        CHECK(got == NULL);
        expect_error(FT_ERR_INDEX);
    } else {
        expect_no_error();
        expect_same(got, records[t].items.at[i]);
    }
}

// One of the four length functions on any operand: -1 + TypeError unless
// the operand has that function's type.
static void
length(input *in)
{
    static const enum kind kinds[4] = {K_LIST, K_DICT, K_TUPLE, K_STR};
    enum kind want = kinds[take(in) % 4];
    int r = pick(in, want);
    begin_call();
    int64_t n;
    if (want == K_LIST) {
        n = ft_list_len(obj_of(r));
    } else if (want == K_DICT) {
        n = ft_dict_len(obj_of(r));
    } else if (want == K_TUPLE) {
        n = ft_tuple_size(obj_of(r));
    } else {
        n = ft_str_len(obj_of(r));
    }
    if (kind_of(r) != want) {
        CHECK(n == -1);
        expect_error(FT_ERR_TYPE);
    } else {
        expect_no_error();
        CHECK(n == (int64_t)(want == K_STR ? records[r].length : records[r].items.n));
    }
}

static void
check_hash(int r)
{
    begin_call();
    int64_t h = ft_object_hash(obj_of(r));
    if (r < 0 || !model_hashable(r)) {
        CHECK(h == -1);
        expect_error(FT_ERR_TYPE);
        return;
    }
    expect_no_error();
    CHECK(h != -1);
    if (records[r].hashed) {
        CHECK(records[r].hash == h);   // immutable objects hash the same forever
    }
    records[r].hashed = true;
    records[r].hash = h;
}

static void
hash_eq(input *in)
{
    int a = pick(in, take(in) % K_COUNT);
    int b = pick(in, kind_of(a));
    check_hash(a);
    check_hash(b);
    begin_call();
    int eq = ft_object_eq(obj_of(a), obj_of(b));
    if (a < 0 || b < 0) {
        CHECK(eq == -1);
        expect_error(FT_ERR_TYPE);
        return;
    }
    expect_no_error();
    CHECK(eq == (int)model_eq(a, b));
    if (eq == 1 && records[a].hashed && records[b].hashed) {
        CHECK(records[a].hash == records[b].hash);   // equal keys must collide
    }
}

static void
values(input *in)
{
    int r = pick(in, take(in) % K_COUNT);
    const record *x = r < 0 ? NULL : &records[r];
    enum kind k = kind_of(r);
    begin_call();
    CHECK(strcmp(ft_type_name(obj_of(r)), kind_names[k]) == 0);
    int64_t i = ft_int_value(obj_of(r));
    if (k == K_INT) {
        expect_no_error();
        CHECK(i == x->ivalue);
    } else {
        CHECK(i == -1);
        expect_error(FT_ERR_TYPE);
    }
    double f = ft_float_value(obj_of(r));
    if (k == K_FLOAT) {
        expect_no_error();
        CHECK(memcmp(&f, &x->fvalue, sizeof(f)) == 0);
    } else {
        CHECK(f == -1.0);
        expect_error(FT_ERR_TYPE);
    }
    const char *s = ft_str_data(obj_of(r));
    if (k == K_STR) {
        expect_no_error();
        CHECK(s != NULL && memcmp(s, x->bytes, x->length) == 0 && s[x->length] == '\0');
    } else {
        CHECK(s == NULL);
        expect_error(FT_ERR_TYPE);
    }
}

// Nothing the table holds is garbage, so a collection frees nothing (or
// fails cleanly under fault injection). Each collection walks all 4096 GC
// slots, several times the cost of the rest of an input under coverage
// instrumentation, so it has its own opcode and runs at most twice per input.
static void
collect(input *in)
{
    (void)in;
    if (collections == MAX_COLLECTIONS) {
        return;
    }
    collections++;
    int64_t live = ft_live_objects();
    begin_call();
    int64_t freed = ft_gc_collect();
    if (freed < 0) {
        expect_injected_failure();
    } else {
        expect_no_error();
        CHECK(freed == 0);
    }
    CHECK(ft_live_objects() == live);
}

// ------------------------------------------------------------ the program

typedef void (*step_fn)(input *in);

static void
make_list(input *in)
{
    make_container(in, K_LIST);
}

static void
make_dict(input *in)
{
    make_container(in, K_DICT);
}

static const char *const step_names[] = {
    "int", "float", "str", "singleton", "list", "dict", "tuple",
    "append", "set", "get", "pop", "extend",
    "dset", "dget", "ddel", "dupdate",
    "tget", "len", "hash_eq", "values",
};
static const step_fn steps[] = {
    make_int, make_float, make_str, make_singleton, make_list, make_dict, make_tuple,
    list_append, list_set, list_get, list_pop, list_extend,
    dict_set, dict_get, dict_del, dict_update,
    tuple_get, length, hash_eq, values,
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))
#define STEP_FAULT 0xfe     // opcode: arm fault injection for the next step
#define STEP_COLLECT 0xfd   // opcode: ft_gc_collect()
static_assert(sizeof(step_names) / sizeof(step_names[0]) == NSTEPS, "one name per step");

static void
run_one(input *in, uint8_t op)
{
    if (trace) {
        fprintf(stderr, "%s%s (records %d)\n", fault_armed ? "fault " : "",
                op == STEP_COLLECT ? "collect" : step_names[op % NSTEPS], nrecords);
    }
    if (op == STEP_COLLECT) {
        collect(in);
    } else {
        steps[op % NSTEPS](in);
    }
}

static void
run_step(input *in)
{
    uint8_t op = take(in);
    if (op == STEP_FAULT) {
        int64_t k = take(in) % 4 + 1;   // fail the k-th allocation of the next call
        op = take(in);
        if (op == STEP_FAULT || ft_mem_fail_after(k) < 0) {
            return;   // no nesting; fault injection compiled out
        }
        fault_armed = true;
        run_one(in, op);
        ft_mem_fail_after(0);
        fault_armed = false;
        return;
    }
    run_one(in, op);
}

// Breaks every cycle through the API, popping each list and deleting each
// dict's keys, so the input ends without a collection. Inputs that already
// collected leave their cycles to the collector instead (its tp_clear path).
static void
empty_containers(void)
{
    for (int r = 0; r < nrecords; r++) {
        sequence *items = &records[r].items;
        begin_call();
        if (records[r].kind == K_LIST) {
            while (items->n > 0) {
                expect_same(ft_list_pop(records[r].obj), items->at[--items->n]);
            }
            CHECK(ft_list_len(records[r].obj) == 0);
        } else if (records[r].kind == K_DICT) {
            while (items->n > 0) {
                CHECK(ft_dict_del(records[r].obj, obj_of(items->at[0])) == 0);
                model_dict_del(r, 0);
            }
            CHECK(ft_dict_len(records[r].obj) == 0);
        }
        expect_no_error();
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *env = getenv("FT_FUZZ_TRACE");
    trace = env != NULL && *env != '\0' && *env != '0';
    if (ft_init() != 0) {
        fprintf(stderr, "fuzz_api: ft_init failed: %s\n", ft_err_message());
        abort();
    }
    ft_gc_collect();
    live_at_init = ft_live_objects();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {.data = data, .size = size, .pos = 0};
    CHECK(ft_live_objects() == live_at_init);
    collections = 0;
    for (int n = 0; n < MAX_STEPS && in.pos < in.size; n++) {
        run_step(&in);
    }
    for (int r = 0; r < nrecords; r++) {
        verify(r, true);
    }
    if (collections == 0) {
        empty_containers();
    }
    release_records();
    // Lists and dicts left full may hold themselves or each other: cycles
    // only the collector frees. It frees no object with a reference from
    // outside, so skipping it when the count is already back hides no leak.
    if (ft_live_objects() != live_at_init) {
        begin_call();
        CHECK(ft_gc_collect() >= 0);
        expect_no_error();
    }
    CHECK(ft_live_objects() == live_at_init);
    return 0;
}
