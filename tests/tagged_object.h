// tests/tagged_object.h: a test type for the container read tests (include
// after harness.h). Each object carries a unique id and the index or key it
// was made for; its tp_dealloc marks it dead, in the object (memory a SHARED
// object keeps until QSBR frees it) and in a table indexed by id, so a reader
// holding a reference can check that the object was not freed under it.
#ifndef FT_TESTS_TAGGED_OBJECT_H
#define FT_TESTS_TAGGED_OBJECT_H

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

typedef struct tagged_object {
    ft_object ob_base;
    int64_t id;         // immutable after creation (published by the container store)
    int64_t where;      // immutable after creation: index or key slot it was made for
    _Atomic(int) dead;  // atomic: tp_dealloc (release) / readers (acquire)
} tagged_object;

// One byte per id, set by tp_dealloc; sized by tagged_table_init().
static _Atomic(uint8_t) *tagged_dead;    // atomic: tp_dealloc (release) / readers, main
static int64_t tagged_capacity;          // written by main before the workers start
static _Atomic(int64_t) tagged_created;  // atomic: makers (relaxed: a count)
static _Atomic(int64_t) tagged_freed;    // atomic: deallocators (relaxed: a count)

static void
tagged_dealloc(ft_object *obj)
{
    tagged_object *t = (tagged_object *)obj;
    // pairs: acquire loads in tagged_is_dead()
    ft_atomic_store_release_int(&t->dead, 1);
    // pairs: acquire loads in tagged_is_dead()
    ft_atomic_store_release_u8(&tagged_dead[t->id], 1);
    // relaxed: a count main reads after the joins
    ft_atomic_add_relaxed_i64(&tagged_freed, 1);
    ft_object_free(obj);
}

static const ft_type tagged_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "tagged",
    .tp_basicsize = sizeof(tagged_object),
    .tp_dealloc = tagged_dealloc,
};

static inline bool
tagged_table_init(int64_t capacity)
{
    tagged_dead = calloc((size_t)capacity, sizeof(*tagged_dead));
    tagged_capacity = capacity;
    // relaxed: no worker runs yet
    ft_atomic_store_relaxed_i64(&tagged_created, 0);
    ft_atomic_store_relaxed_i64(&tagged_freed, 0);  // relaxed: as above
    return tagged_dead != NULL;
}

static inline void
tagged_table_fini(void)
{
    free(tagged_dead);
    tagged_dead = NULL;
}

static inline ft_object *
tagged_new(int64_t id, int64_t where)
{
    ft_object *obj = ft_object_new(&tagged_type);
    if (obj != NULL) {
        tagged_object *t = (tagged_object *)obj;
        t->id = id;  // private until a container store publishes it
        t->where = where;
        // relaxed: a count
        ft_atomic_add_relaxed_i64(&tagged_created, 1);
    }
    return obj;
}

static inline bool
tagged_is_dead(ft_object *obj)
{
    tagged_object *t = (tagged_object *)obj;
    // pairs: release store in tagged_dealloc()
    bool dead = ft_atomic_load_acquire_int(&t->dead) != 0;
    // pairs: release store in tagged_dealloc()
    return dead || ft_atomic_load_acquire_u8(&tagged_dead[t->id]) != 0;
}

#endif
