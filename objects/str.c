// objects/str.c: immutable byte strings (UTF-8 by convention; not
// validated), NUL-terminated, with the hash computed once at creation.
//
// Invariant: after ft_str_new() returns, nothing in the object changes until
// it is freed, so every read (data, length, hash) is lock-free and
// race-free: the object reaches other threads only through a release.
#include <string.h>

#include "objects/objects_internal.h"

// Word at a time, then the 64-bit mixer: strings differing anywhere differ
// in the hash with high probability. Not keyed (no hash-flooding defence in v1).
// The empty string hashes to 0, the value its static object carries.
static int64_t
hash_bytes(const char *s, size_t n)
{
    if (n == 0) {
        return 0;
    }
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, s, 8);
        h = (h ^ word) * 0x9fb21c651e98df25ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, s, n);
    h = (h ^ tail) * 0x9fb21c651e98df25ULL;
    return ft_hash_mix64(h);
}

static int64_t
str_hash(ft_object *obj)
{
    return ((ft_str_object *)obj)->hash;
}

static int
str_eq(ft_object *a, ft_object *b)
{
    ft_str_object *x = (ft_str_object *)a;
    ft_str_object *y = (ft_str_object *)b;
    return x->length == y->length && x->hash == y->hash &&
           memcmp(ft_str_bytes(x), ft_str_bytes(y), (size_t)x->length) == 0;
}

static void
str_dealloc(ft_object *obj)
{
    ft_object_free(obj);
}

ft_type ft_str_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "str",
    .tp_basicsize = sizeof(ft_str_object),
    .tp_itemsize = 1,
    .tp_flags = FT_TPFLAGS_IMMUTABLE_EQ | FT_TPFLAGS_HAS_ITEMS,
    .tp_dealloc = str_dealloc,
    .tp_hash = str_hash,
    .tp_eq = str_eq,
};

// The immortal empty string: the header and its one NUL byte, laid out as a
// heap string would be.
static struct {
    ft_str_object str;
    char nul[8];
} empty_str = {
    .str = {.ob_base = FT_OBJECT_HEAD_INIT(&ft_str_type), .hash = 0, .length = 0},
};

ft_object *
ft_empty_str(void)
{
    return &empty_str.str.ob_base;
}

ft_object *
ft_str_new(const char *s, size_t n)
{
    if (!ft_objects_check_attached("ft_str_new")) {
        return NULL;
    }
    if (s == NULL && n != 0) {
        ft_err_set(FT_ERR_TYPE, "ft_str_new: bytes are NULL (length %zu)", n);
        return NULL;
    }
    if (n == 0) {
        return ft_newref(ft_empty_str());
    }
    if (n > (size_t)INT64_MAX - 1) {
        ft_err_no_memory();
        return NULL;
    }
    ft_str_object *str = (ft_str_object *)ft_object_alloc(&ft_str_type, n + 1);
    if (str == NULL) {
        return NULL;
    }
    memcpy(ft_str_bytes(str), s, n);
    ft_str_bytes(str)[n] = '\0';
    str->length = (int64_t)n;
    str->hash = hash_bytes(s, n);
    return &str->ob_base;
}

ft_object *
ft_str_from_cstr(const char *s)
{
    if (!ft_objects_check_attached("ft_str_from_cstr")) {
        return NULL;
    }
    if (s == NULL) {
        ft_err_set(FT_ERR_TYPE, "ft_str_from_cstr: string is NULL");
        return NULL;
    }
    return ft_str_new(s, strlen(s));
}

const char *
ft_str_data(ft_object *str)
{
    if (!ft_objects_check(str, &ft_str_type, "ft_str_data")) {
        return NULL;
    }
    return ft_str_bytes((ft_str_object *)str);
}

int64_t
ft_str_len(ft_object *str)
{
    if (!ft_objects_check(str, &ft_str_type, "ft_str_len")) {
        return -1;
    }
    return ((ft_str_object *)str)->length;
}
