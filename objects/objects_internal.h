// objects/objects_internal.h: the layouts of the built-in objects and the
// argument checks their public functions share. Private to the runtime.
//
// Layouts follow DESIGN.md §4.9 so that the lock-free readers of the QSBR
// issue can be added without changing them: every field a future lock-free
// reader loads is _Atomic and written with a release store of a fully built
// value. Until then every list and dict access, read or write, runs in a
// critical section on the container, so readers may use relaxed loads.
#ifndef FT_OBJECTS_OBJECTS_INTERNAL_H
#define FT_OBJECTS_OBJECTS_INTERNAL_H

#ifndef FT_BUILD_CORE
#    error "objects_internal.h is private to the ftrt runtime"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objects/objects.h"
#include "refcount/refcount.h"
#include "runtime/atomic.h"
#include "runtime/runtime.h"
#include "runtime/runtime_internal.h"

// ------------------------------------------------------------ layouts

// int and bool (bool reuses the layout so that its hash is its value).
typedef struct ft_int_object {
    ft_object ob_base;
    int64_t value;  // immutable after construction
} ft_int_object;

typedef struct ft_float_object {
    ft_object ob_base;
    double value;  // immutable after construction
} ft_float_object;

// str: the bytes follow the struct (length + 1 of them, NUL-terminated).
typedef struct ft_str_object {
    ft_object ob_base;
    int64_t hash;    // immutable after construction (computed once, never -1)
    int64_t length;  // immutable after construction
} ft_str_object;
static_assert(sizeof(ft_str_object) % 8 == 0, "str bytes follow the struct");

// tuple: the item pointers follow the struct.
typedef struct ft_tuple_object {
    ft_object ob_base;
    int64_t size;           // immutable after construction
    _Atomic(int64_t) hash;  // atomic: any reader caches it (relaxed: the
                            // value is a pure function of immutable items);
                            // -1 until first computed
} ft_tuple_object;
static_assert(sizeof(ft_tuple_object) % _Alignof(ft_object *) == 0,
              "tuple items follow the struct");

static inline ft_object **
ft_tuple_items(ft_tuple_object *tuple)
{
    return (ft_object **)(tuple + 1);
}

static inline char *
ft_str_bytes(ft_str_object *str)
{
    return (char *)(str + 1);
}

// list storage: capacity travels with the array, so a reader holding a stale
// array still knows its bound (§4.9).
typedef struct ft_list_array {
    int64_t capacity;             // immutable after allocation
    _Atomic(ft_object *) slot[];  // atomic: writers under the list's section
                                  // (release) / readers (section now; acquire
                                  // for the optimistic readers, QSBR issue)
} ft_list_array;

typedef struct ft_list_object {
    ft_object ob_base;
    _Atomic(int64_t) size;           // atomic: writers under the section (release) / readers
    _Atomic(ft_list_array *) items;  // atomic: writers under the section (release) / readers;
                                     // NULL until the first append
} ft_list_object;

// dict storage. The index holds entry numbers, FT_DICT_EMPTY or
// FT_DICT_DELETED; entries are append-only and follow the index.
#define FT_DICT_EMPTY ((int32_t)-1)
#define FT_DICT_DELETED ((int32_t)-2)
#define FT_DICT_LOG2_MIN 3

typedef struct ft_dict_entry {
    _Atomic(int64_t) hash;       // atomic: written once before the index is published
    _Atomic(ft_object *) key;    // atomic: section writers (release) / readers; NULL = deleted
    _Atomic(ft_object *) value;  // atomic: section writers (release) / readers
} ft_dict_entry;

typedef struct ft_dict_keys {
    uint8_t log2_size;         // immutable after allocation
    int64_t usable;            // guarded by: the dict's section (entries left to append)
    int64_t nentries;          // guarded by: the dict's section (entries appended)
    _Atomic(int32_t) index[];  // atomic: section writers (release) / readers;
                               // followed by the entry array
} ft_dict_keys;
static_assert(offsetof(ft_dict_keys, index) % 8 == 0, "index starts 8-aligned");

typedef struct ft_dict_object {
    ft_object ob_base;
    _Atomic(int64_t) used;         // atomic: section writers (release) / readers
    _Atomic(ft_dict_keys *) keys;  // atomic: section writers (release) / readers;
                                   // NULL until the first insertion
    uint64_t version;              // guarded by: the dict's section; bumped by
                                   // every mutation so a lookup that called a
                                   // blocking tp_eq can tell its table changed
} ft_dict_object;

// ------------------------------------------------------------ statics
// The small-int cache, -5 ... 256 (immortal, static).
#define FT_SMALL_INT_MIN (-5)
#define FT_SMALL_INT_MAX 256
extern ft_int_object ft_small_ints[FT_SMALL_INT_MAX - FT_SMALL_INT_MIN + 1];
ft_object *ft_empty_tuple(void);  // immortal, no reference taken
ft_object *ft_empty_str(void);    // immortal, no reference taken

// ------------------------------------------------------------ argument checks

// Every public function starts with this. The inline part reads the TLS
// flag the attach path maintains; the call sets RuntimeError (or, if the
// flag was stale, agrees that the thread is attached).
static inline bool
ft_objects_check_attached(const char *function)
{
    if (FT_LIKELY(ft_tls.attached)) {
        return true;
    }
    return ft_thread_check_attached(function);
}

// Sets TypeError "<function>: expected <expected>, got <actual>" (actual is
// "NULL" for a NULL object).
void ft_objects_type_error(const char *function, const char *expected, ft_object *obj);

// Attached and of exactly this type (no subtyping in v1); else the error.
static inline bool
ft_objects_check(ft_object *obj, const ft_type *type, const char *function)
{
    if (FT_UNLIKELY(!ft_objects_check_attached(function))) {
        return false;
    }
    if (FT_LIKELY(obj != NULL && obj->ob_type == type)) {
        return true;
    }
    ft_objects_type_error(function, type->tp_name, obj);
    return false;
}

// Sets TypeError when obj is NULL.
static inline bool
ft_objects_check_not_null(ft_object *obj, const char *function, const char *what)
{
    if (FT_LIKELY(obj != NULL)) {
        return true;
    }
    ft_err_set(FT_ERR_TYPE, "%s: %s is NULL", function, what);
    return false;
}

// Hash helpers shared by the types. Never returns -1 (the error value).
static inline int64_t
ft_hash_mix64(uint64_t x)
{
    // splitmix64's finalizer: every input bit reaches every output bit.
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    int64_t h = (int64_t)x;
    return h == -1 ? -2 : h;
}

// Identity hash (types, None, objects of types without tp_hash and tp_eq).
int64_t ft_object_identity_hash(ft_object *obj);
// Identity equality (tp_eq of the singletons).
int ft_object_identity_eq(ft_object *a, ft_object *b);
// tp_hash of unhashable types (list, dict): TypeError.
int64_t ft_object_unhashable(ft_object *obj);
// A short description for error messages: 5, 'abc', <list object>.
void ft_object_describe(ft_object *obj, char *buf, size_t size);

#endif
