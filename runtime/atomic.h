// runtime/atomic.h: the only file that touches <stdatomic.h>.
//
// Every atomic operation in ftrt is ft_atomic_<op>_<order>_<type>: the memory
// order is part of the name, never a parameter, so `grep _seq_cst` lists the
// expensive ones and a reviewer checks each ordered call against the partner
// its `// pairs:` comment names (STYLE.md rules 5 and 6).
//
// Integer types get typed inline functions; pointers get macros over the
// type-generic <stdatomic.h> operations so that fields keep their pointee type
// (`_Atomic(ft_object *)`) without casts.
#ifndef FT_RUNTIME_ATOMIC_H
#define FT_RUNTIME_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/config.h"

#define FT_MO_relaxed memory_order_relaxed
#define FT_MO_acquire memory_order_acquire
#define FT_MO_release memory_order_release
#define FT_MO_acq_rel memory_order_acq_rel
#define FT_MO_seq_cst memory_order_seq_cst

// Failure order of a CAS: C11 forbids release/acq_rel there.
#define FT_MO_FAIL_relaxed memory_order_relaxed
#define FT_MO_FAIL_acquire memory_order_acquire
#define FT_MO_FAIL_release memory_order_relaxed
#define FT_MO_FAIL_acq_rel memory_order_acquire
#define FT_MO_FAIL_seq_cst memory_order_seq_cst

#define FT_ATOMIC_LOAD(name, T, order)                                         \
    static inline T ft_atomic_load_##order##_##name(const _Atomic(T) *p)      \
    {                                                                          \
        return atomic_load_explicit((_Atomic(T) *)p, FT_MO_##order);           \
    }
#define FT_ATOMIC_STORE(name, T, order)                                        \
    static inline void ft_atomic_store_##order##_##name(_Atomic(T) *p, T v)   \
    {                                                                          \
        atomic_store_explicit(p, v, FT_MO_##order);                            \
    }
#define FT_ATOMIC_RMW(op, name, T, order)                                      \
    static inline T ft_atomic_##op##_##order##_##name(_Atomic(T) *p, T v)     \
    {                                                                          \
        return atomic_fetch_##op##_explicit(p, v, FT_MO_##order);              \
    }
#define FT_ATOMIC_XCHG(name, T, order)                                         \
    static inline T ft_atomic_exchange_##order##_##name(_Atomic(T) *p, T v)   \
    {                                                                          \
        return atomic_exchange_explicit(p, v, FT_MO_##order);                  \
    }
// Strong CAS; on failure *expected receives the current value.
#define FT_ATOMIC_CAS(name, T, order)                                          \
    static inline bool ft_atomic_cas_##order##_##name(_Atomic(T) *p,          \
                                                      T *expected, T desired)  \
    {                                                                          \
        return atomic_compare_exchange_strong_explicit(                        \
            p, expected, desired, FT_MO_##order, FT_MO_FAIL_##order);          \
    }

#define FT_ATOMIC_ALL_ORDERS(X, ...)                                           \
    X(__VA_ARGS__, relaxed)                                                    \
    X(__VA_ARGS__, acquire) X(__VA_ARGS__, release)                            \
    X(__VA_ARGS__, acq_rel) X(__VA_ARGS__, seq_cst)

#define FT_ATOMIC_INTEGER_TYPE(name, T)                                        \
    FT_ATOMIC_LOAD(name, T, relaxed)                                           \
    FT_ATOMIC_LOAD(name, T, acquire)                                           \
    FT_ATOMIC_LOAD(name, T, seq_cst)                                           \
    FT_ATOMIC_STORE(name, T, relaxed)                                          \
    FT_ATOMIC_STORE(name, T, release)                                          \
    FT_ATOMIC_STORE(name, T, seq_cst)                                          \
    FT_ATOMIC_ALL_ORDERS(FT_ATOMIC_RMW, add, name, T)                          \
    FT_ATOMIC_ALL_ORDERS(FT_ATOMIC_RMW, sub, name, T)                          \
    FT_ATOMIC_ALL_ORDERS(FT_ATOMIC_RMW, or, name, T)                           \
    FT_ATOMIC_ALL_ORDERS(FT_ATOMIC_RMW, and, name, T)                          \
    FT_ATOMIC_ALL_ORDERS(FT_ATOMIC_XCHG, name, T)                              \
    FT_ATOMIC_ALL_ORDERS(FT_ATOMIC_CAS, name, T)

FT_ATOMIC_INTEGER_TYPE(u8, uint8_t)
FT_ATOMIC_INTEGER_TYPE(u16, uint16_t)
FT_ATOMIC_INTEGER_TYPE(u32, uint32_t)
FT_ATOMIC_INTEGER_TYPE(u64, uint64_t)
FT_ATOMIC_INTEGER_TYPE(i32, int32_t)
FT_ATOMIC_INTEGER_TYPE(i64, int64_t)
FT_ATOMIC_INTEGER_TYPE(int, int)
FT_ATOMIC_INTEGER_TYPE(intptr, intptr_t)
FT_ATOMIC_INTEGER_TYPE(uintptr, uintptr_t)
FT_ATOMIC_INTEGER_TYPE(size, size_t)

// Pointers: p is `_Atomic(T *) *`.
#define ft_atomic_load_relaxed_ptr(p) atomic_load_explicit((p), memory_order_relaxed)
#define ft_atomic_load_acquire_ptr(p) atomic_load_explicit((p), memory_order_acquire)
#define ft_atomic_store_relaxed_ptr(p, v)                                      \
    atomic_store_explicit((p), (v), memory_order_relaxed)
#define ft_atomic_store_release_ptr(p, v)                                      \
    atomic_store_explicit((p), (v), memory_order_release)
#define ft_atomic_exchange_acq_rel_ptr(p, v)                                   \
    atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#define ft_atomic_cas_acq_rel_ptr(p, expected, desired)                        \
    atomic_compare_exchange_strong_explicit((p), (expected), (desired),        \
                                            memory_order_acq_rel,              \
                                            memory_order_acquire)
#define ft_atomic_cas_release_ptr(p, expected, desired)                        \
    atomic_compare_exchange_strong_explicit((p), (expected), (desired),        \
                                            memory_order_release,              \
                                            memory_order_relaxed)
#define ft_atomic_cas_relaxed_ptr(p, expected, desired)                        \
    atomic_compare_exchange_strong_explicit((p), (expected), (desired),        \
                                            memory_order_relaxed,              \
                                            memory_order_relaxed)

// Sequentially consistent fence. TSan does not model fences (and gcc warns
// about them under -fsanitize=thread), so under TSan it is a seq_cst RMW on
// one global word, which TSan does model; DESIGN.md §5 rule 4 allows it in
// exactly two places (ft_qsbr_online() and the QSBR poll).
#if FT_TSAN
extern _Atomic(uint64_t) ft_atomic_fence_word;
static inline void
ft_atomic_fence_seq_cst(void)
{
    atomic_fetch_add_explicit(&ft_atomic_fence_word, 0, memory_order_seq_cst);
}
#else
static inline void
ft_atomic_fence_seq_cst(void)
{
    atomic_thread_fence(memory_order_seq_cst);
}
#endif

// Compiler-only barrier for benchmark loops (keeps a value alive); not a
// memory-ordering tool.
#define FT_OPT_BARRIER(x) __asm__ volatile("" : "+r"(x) : : "memory")

static inline void
ft_cpu_relax(void)
{
    __builtin_ia32_pause();
}

#endif
