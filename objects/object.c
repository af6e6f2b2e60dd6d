// objects/object.c: allocation of objects (with the GC prefix for
// FT_TPFLAGS_GC types), deallocation through tp_dealloc, and the generic
// slots: names, hashing, equality.
//
// Invariant: ft_live_objects() == objects allocated here - objects freed
// here. Every heap object comes from ft_object_alloc() and goes back through
// ft_object_free(), exactly once; immortal statics never pass through either,
// so they are never counted. The memory of a SHARED object is released
// through QSBR (DESIGN.md §4.8, §4.9), after it is counted freed.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gc/gc_internal.h"
#include "objects/objects_internal.h"

// Bytes in front of the header: the GC prefix for GC types (DESIGN.md §4.1).
static size_t
prefix_size(const ft_type *type)
{
    return (type->tp_flags & FT_TPFLAGS_GC) ? sizeof(ft_gc_head) : 0;
}

// Body past the header is left uninitialized: constructors write every field
// themselves (atomics with relaxed stores while the object is private).
ft_object *
ft_object_alloc(const ft_type *type, size_t nitems)
{
    size_t body = type->tp_basicsize;
    if (nitems != 0) {
        if (type->tp_itemsize != 0 && nitems > (SIZE_MAX / 2 - body) / type->tp_itemsize) {
            ft_err_no_memory();
            return NULL;
        }
        body += nitems * type->tp_itemsize;
    }
    size_t prefix = prefix_size(type);
    char *raw = ft_mem_alloc(prefix + body);
    if (raw == NULL) {
        ft_err_no_memory();
        return NULL;
    }
    if (prefix != 0) {
        // Untracked: only this thread knows the object yet.
        ft_gc_head *gc = (ft_gc_head *)raw;
        gc->next = 0;
        gc->prev_bits = 0;
    }
    ft_object *obj = (ft_object *)(raw + prefix);
    ft_ref_init_new(obj, type);
    FT_COUNT_INC(objects_allocated);
    return obj;
}

// Counted as freed now, so ft_live_objects() stays exact. A SHARED object
// may still be loaded by a lock-free reader (a slot of a retired array, an
// entry of a retired table, a dict key compared by contents): its block goes
// through QSBR (O3). Its header is already dead (MERGED|0, or count 0 with
// atomic counting), so a reader's ft_ref_try_incref() fails, and the body
// stays readable until every reader online now has passed a quiescent point.
void
ft_object_free(ft_object *obj)
{
    char *raw = (char *)obj - prefix_size(obj->ob_type);
    FT_COUNT_INC(objects_freed);
#if FT_OPTIMISTIC_READS
    if (ft_obj_is_shared(obj)) {
        ft_qsbr_defer(raw, ft_mem_usable_size(raw), ft_mem_free);
        return;
    }
#endif
    ft_mem_free(raw);
}

// The dealloc of types that leave tp_dealloc NULL (G3: untrack first).
static void
default_dealloc(ft_object *obj)
{
    if (obj->ob_type->tp_flags & FT_TPFLAGS_GC) {
        ft_gc_untrack(obj);
    }
    ft_object_free(obj);
}

void
ft_object_dealloc(ft_object *obj)
{
    void (*dealloc)(ft_object *) = obj->ob_type->tp_dealloc;
    if (dealloc != NULL) {
        dealloc(obj);
    } else {
        default_dealloc(obj);
    }
}

ft_object *
ft_object_new(const ft_type *type)
{
    if (!ft_objects_check_attached("ft_object_new")) {
        return NULL;
    }
    if (type == NULL) {
        ft_err_set(FT_ERR_TYPE, "ft_object_new: type is NULL");
        return NULL;
    }
    if (type->tp_basicsize < sizeof(ft_object)) {
        ft_err_set(FT_ERR_TYPE, "ft_object_new: type '%s' is smaller than an object header",
                   type->tp_name);
        return NULL;
    }
    // Variable-size objects need their items written (a zeroed str has no
    // terminator), and singleton types have immortal instances only.
    if ((type->tp_flags & FT_TPFLAGS_HAS_ITEMS) || type == &ft_none_type || type == &ft_bool_type ||
        type == &ft_type_type) {
        ft_err_set(FT_ERR_TYPE, "ft_object_new: cannot create '%s' objects; use its constructor",
                   type->tp_name);
        return NULL;
    }
    ft_object *obj = ft_object_alloc(type, 0);
    if (obj == NULL) {
        return NULL;
    }
    // A zeroed body is the documented starting state; the object is still
    // private, so plain stores are fine.
    memset((char *)obj + sizeof(ft_object), 0, type->tp_basicsize - sizeof(ft_object));
    // Tracked only when the collector can traverse it; a zeroed body holds no
    // references, so it may be tracked before the caller fills it in.
    if ((type->tp_flags & FT_TPFLAGS_GC) && type->tp_traverse != NULL) {
        ft_gc_track(obj);
    }
    return obj;
}

// Reads only the immutable type pointer, so it needs no attached thread and
// is safe inside error messages.
const char *
ft_type_name(ft_object *obj)
{
    if (obj == NULL) {
        return "NULL";
    }
    return obj->ob_type->tp_name;
}

void
ft_objects_type_error(const char *function, const char *expected, ft_object *obj)
{
    ft_err_set(FT_ERR_TYPE, "%s: expected %s, got %s", function, expected, ft_type_name(obj));
}

int64_t
ft_object_identity_hash(ft_object *obj)
{
    return ft_hash_mix64((uint64_t)(uintptr_t)obj);
}

int
ft_object_identity_eq(ft_object *a, ft_object *b)
{
    return a == b;
}

int64_t
ft_object_unhashable(ft_object *obj)
{
    ft_err_set(FT_ERR_TYPE, "unhashable type: '%s'", ft_type_name(obj));
    return -1;
}

// Python's rules: a type with neither slot hashes by identity; a type that
// defines equality but no hash is unhashable.
int64_t
ft_object_hash(ft_object *obj)
{
    if (!ft_objects_check_attached("ft_object_hash") ||
        !ft_objects_check_not_null(obj, "ft_object_hash", "object")) {
        return -1;
    }
    const ft_type *type = obj->ob_type;
    if (type->tp_hash != NULL) {
        return type->tp_hash(obj);
    }
    if (type->tp_eq == NULL) {
        return ft_object_identity_hash(obj);
    }
    return ft_object_unhashable(obj);
}

// Type-strict (1 != 1.0, True != 1); identity implies equality, as in
// container lookups.
int
ft_object_eq(ft_object *a, ft_object *b)
{
    if (!ft_objects_check_attached("ft_object_eq") ||
        !ft_objects_check_not_null(a, "ft_object_eq", "first operand") ||
        !ft_objects_check_not_null(b, "ft_object_eq", "second operand")) {
        return -1;
    }
    if (a == b) {
        return 1;
    }
    if (a->ob_type != b->ob_type || a->ob_type->tp_eq == NULL) {
        return 0;
    }
    return a->ob_type->tp_eq(a, b);
}

void
ft_object_describe(ft_object *obj, char *buf, size_t size)
{
    if (obj == NULL) {
        snprintf(buf, size, "NULL");
    } else if (obj->ob_type == &ft_none_type) {
        snprintf(buf, size, "None");
    } else if (obj->ob_type == &ft_bool_type) {
        snprintf(buf, size, "%s", ((ft_int_object *)obj)->value ? "True" : "False");
    } else if (obj->ob_type == &ft_int_type) {
        snprintf(buf, size, "%" PRId64, ((ft_int_object *)obj)->value);
    } else if (obj->ob_type == &ft_float_type) {
        snprintf(buf, size, "%g", ((ft_float_object *)obj)->value);
    } else if (obj->ob_type == &ft_str_type) {
        ft_str_object *str = (ft_str_object *)obj;
        snprintf(buf, size, "'%.*s'", str->length > 40 ? 40 : (int)str->length, ft_str_bytes(str));
    } else {
        snprintf(buf, size, "<%s object>", obj->ob_type->tp_name);
    }
}
