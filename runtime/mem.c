// runtime/mem.c: every allocation of the runtime, fault injection, and the
// chunked object stack.
//
// Release and debug builds use stock mimalloc 2.0 (Debian libmimalloc);
// sanitizer builds use libc malloc, which the sanitizers intercept (ASan
// cannot see use-after-free inside mimalloc blocks, and under TSan a page
// that mimalloc re-carves for another size class produced race reports that
// per-block annotations cannot order; see CMakeLists.txt). Should TSan be
// built over mimalloc again, a block freed by thread A and reused by B is
// ordered inside uninstrumented mimalloc: the __tsan_release(p) before the
// free and __tsan_acquire(p) after the allocation tell TSan so.
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_internal.h"

#if FT_ALLOC_MIMALLOC
#  include <mimalloc.h>
#  define RAW_MALLOC(n) mi_malloc(n)
#  define RAW_CALLOC(c, n) mi_calloc((c), (n))
#  define RAW_REALLOC(p, n) mi_realloc((p), (n))
#  define RAW_FREE(p) mi_free(p)
#  define RAW_USABLE(p) mi_usable_size(p)
#  define RAW_ALIGNED(a, n) mi_malloc_aligned((n), (a))
#else
#  include <malloc.h>
#  define RAW_MALLOC(n) malloc(n)
#  define RAW_CALLOC(c, n) calloc((c), (n))
#  define RAW_REALLOC(p, n) realloc((p), (n))
#  define RAW_FREE(p) free(p)
#  define RAW_USABLE(p) malloc_usable_size((void *)(p))
#  define RAW_ALIGNED(a, n) aligned_alloc((a), (((n) + (a)-1) / (a)) * (a))
#endif

#if FT_TSAN && FT_ALLOC_MIMALLOC
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#  define TSAN_ACQUIRE(p) __tsan_acquire(p)
#  define TSAN_RELEASE(p) __tsan_release(p)
#else
#  define TSAN_ACQUIRE(p) ((void)0)
#  define TSAN_RELEASE(p) ((void)0)
#endif

// ------------------------------------------------------------ fault injection
// Modes: fail the k-th allocation from the arming point, every k-th, or each
// with probability p from a seeded generator. Debug builds only.
#if FT_DEBUG
enum { FAIL_OFF, FAIL_NTH, FAIL_EVERY, FAIL_RANDOM };
static _Atomic(int) fail_mode;             // atomic: arming thread / allocators (relaxed: test setup)
static _Atomic(int64_t) fail_countdown;    // atomic: allocators decrement (relaxed: a count)
static int64_t fail_every;                 // immutable while armed
static _Atomic(uint64_t) fail_random_state;    // atomic: allocators (relaxed: a PRNG)
static uint32_t fail_random_threshold;     // immutable while armed
static _Atomic(uint64_t) fail_injected;    // atomic: statistics only

#endif
#if FT_DEBUG
// The distinct callers (return addresses into the runtime) whose allocation
// injection failed: how many allocation sites a fault walk reached.
#  define FAULT_SITES_MAX 512
static _Atomic(uintptr_t) fault_sites[FAULT_SITES_MAX];   // atomic: CAS-inserted (relaxed: a set)

static void
record_site(uintptr_t pc)
{
    for (size_t i = 0; i < FAULT_SITES_MAX; i++) {
        // relaxed: a set of addresses; no data hangs off an entry
        uintptr_t seen = ft_atomic_load_relaxed_uintptr(&fault_sites[i]);
        if (seen == pc) {
            return;
        }
        if (seen == 0 && ft_atomic_cas_relaxed_uintptr(&fault_sites[i], &seen, pc)) {
            return;
        }
        if (seen == pc) {
            return;
        }
    }
}
#endif

int
ft_mem_fault_sites_hit(void)
{
    int n = 0;
#if FT_DEBUG
    for (size_t i = 0; i < FAULT_SITES_MAX; i++) {
        // relaxed: a set of addresses
        n += ft_atomic_load_relaxed_uintptr(&fault_sites[i]) != 0;
    }
#endif
    return n;
}

static bool
fail_now(void *caller)
{
#if FT_DEBUG
    // relaxed: arming happens before the test's allocations on the same thread
    int mode = ft_atomic_load_relaxed_int(&fail_mode);
    if (FT_LIKELY(mode == FAIL_OFF)) {
        return false;
    }
    bool fail = false;
    if (mode == FAIL_NTH) {
        // relaxed: a countdown; exactly one caller sees it reach zero
        fail = ft_atomic_sub_relaxed_i64(&fail_countdown, 1) == 1;
    } else if (mode == FAIL_EVERY) {
        // relaxed: a countdown
        fail = ft_atomic_add_relaxed_i64(&fail_countdown, 1) % fail_every ==
               fail_every - 1;
    } else {
        // relaxed: a PRNG step; collisions between threads only repeat a value
        uint64_t x = ft_atomic_add_relaxed_u64(&fail_random_state,
                                                0x9e3779b97f4a7c15ULL);
        x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ULL;
        fail = (uint32_t)(x >> 32) < fail_random_threshold;
    }
    if (fail) {
        // relaxed: statistics only
        ft_atomic_add_relaxed_u64(&fail_injected, 1);
        record_site((uintptr_t)caller);
    }
    return fail;
#else
    (void)caller;
    return false;
#endif
}

int
ft_mem_fail_after(int64_t k)
{
#if FT_DEBUG
    // relaxed: test setup, ordered by program order on the arming thread
    ft_atomic_store_relaxed_i64(&fail_countdown, k);
    ft_atomic_store_relaxed_int(&fail_mode, k > 0 ? FAIL_NTH : FAIL_OFF);
    return 0;
#else
    (void)k;
    return -1;
#endif
}

uint64_t
ft_mem_failures_injected(void)
{
#if FT_DEBUG
    // relaxed: statistics only
    return ft_atomic_load_relaxed_u64(&fail_injected);
#else
    return 0;
#endif
}

// Parses FT_FAIL_ALLOC at ft_init: <k> | every:<k> | random:<p>:<seed>.
void
ft_mem_configure_from_env(void)
{
#if FT_DEBUG
    const char *spec = getenv("FT_FAIL_ALLOC");
    if (spec == NULL || *spec == '\0') {
        return;
    }
    if (strncmp(spec, "every:", 6) == 0) {
        fail_every = strtoll(spec + 6, NULL, 0);
        if (fail_every > 0) {
            // relaxed: set up before any other thread exists
            ft_atomic_store_relaxed_i64(&fail_countdown, 0);
            ft_atomic_store_relaxed_int(&fail_mode, FAIL_EVERY);
        }
    } else if (strncmp(spec, "random:", 7) == 0) {
        char *end = NULL;
        double p = strtod(spec + 7, &end);
        uint64_t seed = (end && *end == ':') ? strtoull(end + 1, NULL, 0) : 1;
        fail_random_threshold = (uint32_t)(p * 4294967295.0);
        // relaxed: set up before any other thread exists
        ft_atomic_store_relaxed_u64(&fail_random_state, seed);
        ft_atomic_store_relaxed_int(&fail_mode, FAIL_RANDOM);
    } else {
        ft_mem_fail_after(strtoll(spec, NULL, 0));
    }
    fprintf(stderr, "ftrt: FT_FAIL_ALLOC=%s armed\n", spec);
#endif
}

#if FT_TSAN
// The word the seq_cst fence wrapper RMWs under TSan (runtime/atomic.h).
_Atomic(uint64_t) ft_atomic_fence_word;
#endif

// ------------------------------------------------------------ allocation
void *
ft_mem_alloc(size_t size)
{
    if (fail_now(__builtin_return_address(0))) {
        return NULL;
    }
    void *p = RAW_MALLOC(size ? size : 1);
    if (p != NULL) {
        TSAN_ACQUIRE(p);
    }
    return p;
}

void *
ft_mem_calloc(size_t count, size_t size)
{
    if (fail_now(__builtin_return_address(0))) {
        return NULL;
    }
    void *p = RAW_CALLOC(count ? count : 1, size ? size : 1);
    if (p != NULL) {
        TSAN_ACQUIRE(p);
    }
    return p;
}

void *
ft_mem_realloc(void *old, size_t size)
{
    if (fail_now(__builtin_return_address(0))) {
        return NULL;   // old stays valid, as with realloc
    }
    if (old != NULL) {
        TSAN_RELEASE(old);
    }
    void *p = RAW_REALLOC(old, size ? size : 1);
    if (p != NULL) {
        TSAN_ACQUIRE(p);
    }
    return p;
}

void
ft_mem_free(void *p)
{
    if (p != NULL) {
        TSAN_RELEASE(p);
        RAW_FREE(p);
    }
}

size_t
ft_mem_usable_size(const void *p)
{
    return p ? RAW_USABLE(p) : 0;
}

// Cache-line aligned, zeroed; never fails by injection (thread records are
// allocated where ft_thread_start reports MemoryError itself).
void *
ft_mem_alloc_aligned_zeroed(size_t align, size_t size)
{
    if (fail_now(__builtin_return_address(0))) {
        return NULL;
    }
    void *p = RAW_ALIGNED(align, size);
    if (p != NULL) {
        TSAN_ACQUIRE(p);
        memset(p, 0, size);
    }
    return p;
}

// ------------------------------------------------------------ object stack
#define CHUNK_ITEMS 254
struct ft_object_chunk {
    ft_object_chunk *prev;
    size_t count;
    struct ft_object *items[CHUNK_ITEMS];
};

int
ft_object_stack_push(ft_object_stack *stack, struct ft_object *obj)
{
    ft_object_chunk *head = stack->head;
    if (head == NULL || head->count == CHUNK_ITEMS) {
        ft_object_chunk *chunk = stack->spare;
        if (chunk != NULL) {
            stack->spare = NULL;
        } else {
            chunk = ft_mem_alloc(sizeof(*chunk));
            if (chunk == NULL) {
                return -1;
            }
        }
        chunk->prev = head;
        chunk->count = 0;
        stack->head = head = chunk;
    }
    head->items[head->count++] = obj;
    stack->size++;
    return 0;
}

struct ft_object *
ft_object_stack_pop(ft_object_stack *stack)
{
    ft_object_chunk *head = stack->head;
    if (head == NULL) {
        return NULL;
    }
    struct ft_object *obj = head->items[--head->count];
    stack->size--;
    if (head->count == 0) {
        stack->head = head->prev;
        if (stack->spare == NULL) {
            stack->spare = head;
        } else {
            ft_mem_free(head);
        }
    }
    return obj;
}

// Moves every item of src onto dst (dst must be empty); src keeps its spare.
void
ft_object_stack_take_all(ft_object_stack *dst, ft_object_stack *src)
{
    FT_ASSERT(dst->head == NULL, "take_all into a non-empty stack");
    dst->head = src->head;
    dst->size = src->size;
    src->head = NULL;
    src->size = 0;
}

void
ft_object_stack_fini(ft_object_stack *stack)
{
    while (stack->head != NULL) {
        ft_object_chunk *prev = stack->head->prev;
        ft_mem_free(stack->head);
        stack->head = prev;
    }
    ft_mem_free(stack->spare);
    stack->spare = NULL;
    stack->size = 0;
}
