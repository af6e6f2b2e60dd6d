// objects/objects.h: types with slots and the built-in object types.
//
// Built-in types: None/True/False (immortal), int (int64; -5..256 cached and
// immortal), float, str (UTF-8 bytes, hash cached at creation), tuple
// (immutable), list (growable), dict (open addressing, insertion-ordered).
// Every list and dict mutation runs in a critical section on that object in
// the FT build; two-object operations use FT_CS_BEGIN2. ft_list_len and
// ft_dict_len are one load; with FT_OPTIMISTIC_READS, ft_list_get_ref and
// ft_dict_get_ref take no lock (DESIGN.md §4.9) and fall back to the section
// only when a concurrent write gets in their way, or on a thread's first
// read of a container it does not own. Each returns a value the container
// held at some moment during the call.
//
// Error contract (DESIGN.md §4.11): NULL or wrong type -> TypeError naming the
// type; bad index -> IndexError; missing key on delete -> KeyError;
// unhashable key -> TypeError; allocation failure -> MemoryError; not
// attached -> RuntimeError. Failing calls return NULL / -1 and leave every
// object as it was.
#ifndef FT_OBJECTS_OBJECTS_H
#define FT_OBJECTS_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

#include "refcount/refcount.h"
#include "runtime/config.h"

// Visits one reference; returns non-zero to stop the traversal.
typedef int (*ft_visit_fn)(ft_object *obj, void *arg);

// Type flags.
#define FT_TPFLAGS_GC (1u << 0)              // has the GC prefix, may be tracked
// FT_TPFLAGS_IMMUTABLE_EQ: equality by immutable inline contents. Lock-free
// dict readers call such a tp_eq on a stored key they hold no reference to
// (it may have died meanwhile; its memory stays allocated, DESIGN.md §4.9),
// so it must read only immutable fields of the object's own block, and never
// block, allocate or touch reference counts.
#define FT_TPFLAGS_IMMUTABLE_EQ (1u << 1)
#define FT_TPFLAGS_HAS_ITEMS (1u << 2)       // variable size: basicsize + n * itemsize

// A static type. Types are immortal objects themselves. Type authors fill
// the slots and obey DESIGN.md G3 (tp_dealloc untracks before anything that
// can reach a safepoint) and G5 (tp_traverse neither locks nor allocates).
struct ft_type {
    ft_object ob_base;
    const char *tp_name;
    size_t tp_basicsize;
    size_t tp_itemsize;
    uint32_t tp_flags;
    void (*tp_dealloc)(ft_object *obj);
    int (*tp_traverse)(ft_object *obj, ft_visit_fn visit, void *arg);
    void (*tp_clear)(ft_object *obj);       // drops references (cycle breaking)
    int64_t (*tp_hash)(ft_object *obj);     // -1 with the error set: unhashable
    int (*tp_eq)(ft_object *a, ft_object *b);   // 1 equal, 0 not, -1 error
};

FT_API extern ft_type ft_type_type, ft_none_type, ft_bool_type, ft_int_type,
    ft_float_type, ft_str_type, ft_tuple_type, ft_list_type, ft_dict_type;

// Generic objects.
FT_API ft_object *ft_object_new(const ft_type *type);   // zeroed body, count 1
FT_API const char *ft_type_name(ft_object *obj);        // "NULL" for NULL
FT_API int64_t ft_object_hash(ft_object *obj);          // -1 + error if unhashable
FT_API int ft_object_eq(ft_object *a, ft_object *b);    // 1, 0, or -1 + error
// Raw allocation for type authors: the object, plus the GC prefix for
// FT_TPFLAGS_GC types; ft_object_free releases what ft_object_alloc took.
FT_API ft_object *ft_object_alloc(const ft_type *type, size_t nitems);
FT_API void ft_object_free(ft_object *obj);
// Called by ft_ref_dealloc: runs tp_dealloc.
FT_API void ft_object_dealloc(ft_object *obj);

// Singletons (immortal; the result is a borrowed-but-immortal reference that
// callers may still incref/decref freely).
FT_API ft_object *ft_none(void);
FT_API ft_object *ft_true(void);
FT_API ft_object *ft_false(void);
FT_API ft_object *ft_bool(int value);

FT_API ft_object *ft_int_new(int64_t value);
FT_API int64_t ft_int_value(ft_object *obj);   // -1 + TypeError for a non-int
FT_API ft_object *ft_float_new(double value);
FT_API double ft_float_value(ft_object *obj);  // -1.0 + TypeError for a non-float
FT_API ft_object *ft_str_new(const char *s, size_t n);   // copies
FT_API ft_object *ft_str_from_cstr(const char *s);
FT_API const char *ft_str_data(ft_object *str);          // NUL-terminated
FT_API int64_t ft_str_len(ft_object *str);

FT_API ft_object *ft_tuple_new(size_t n, ft_object *const *items);
FT_API int64_t ft_tuple_size(ft_object *tuple);
FT_API ft_object *ft_tuple_get_ref(ft_object *tuple, int64_t i);

FT_API ft_object *ft_list_new(void);
FT_API int ft_list_append(ft_object *list, ft_object *item);
FT_API int64_t ft_list_len(ft_object *list);
FT_API ft_object *ft_list_get_ref(ft_object *list, int64_t i);
FT_API int ft_list_set(ft_object *list, int64_t i, ft_object *item);
FT_API ft_object *ft_list_pop(ft_object *list);
FT_API int ft_list_extend(ft_object *list, ft_object *other);

FT_API ft_object *ft_dict_new(void);
FT_API int ft_dict_set(ft_object *dict, ft_object *key, ft_object *value);
FT_API int ft_dict_get_ref(ft_object *dict, ft_object *key, ft_object **out);
FT_API int ft_dict_del(ft_object *dict, ft_object *key);
FT_API int64_t ft_dict_len(ft_object *dict);
FT_API int ft_dict_update(ft_object *dict, ft_object *other);

#endif
