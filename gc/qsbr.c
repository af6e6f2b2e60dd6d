// gc/qsbr.c: quiescent-state-based reclamation hooks (DESIGN.md §4.8).
//
// Nothing is deferred yet: list and dict readers take the container's lock,
// so storage and objects are freed at once and there is no grace period to
// wait for. The lock-free reader issue fills these hooks in; the thread
// lifecycle and the collector already call them at the right points.
#include "gc/gc_internal.h"

void
ft_qsbr_thread_register(ft_thread *thread)
{
    // relaxed: not yet visible to other threads
    ft_atomic_store_relaxed_u64(&thread->qsbr_seq, 0);
}

void
ft_qsbr_thread_unregister(ft_thread *thread)
{
    (void)thread;
}

void
ft_qsbr_online(ft_thread *thread)
{
    (void)thread;
}

void
ft_qsbr_offline(ft_thread *thread)
{
    (void)thread;
}

void
ft_qsbr_safepoint(void)
{
    // relaxed: we clear our own request bit
    ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_QSBR);
}

void
ft_qsbr_collect_in_pause(void)
{
}
