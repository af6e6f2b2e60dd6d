// gc/gc.h: the cycle collector and QSBR reclamation (public part).
#ifndef FT_GC_GC_H
#define FT_GC_GC_H

#include <stdint.h>

#include "runtime/config.h"

// Collects cyclic garbage; returns the number of unreachable tracked objects
// freed, or -1 with the error set. Also drains pending reference-count merge
// queues, so ft_live_objects() is exact afterwards.
FT_API int64_t ft_gc_collect(void);
FT_API void ft_gc_enable(void);
FT_API void ft_gc_disable(void);
FT_API int ft_gc_is_enabled(void);
FT_API void ft_gc_set_threshold(int64_t threshold);

#endif
