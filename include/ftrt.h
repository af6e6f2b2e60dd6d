// ftrt.h: the public API of the ftrt free-threaded object runtime.
//
// Build switches come from the generated ftrt_config.h (via runtime/config.h),
// so a consumer of the installed library never repeats them. The API contract
// is DESIGN.md §6: unless stated, a function needs an attached thread, does
// not steal references, returns new references, and on failure sets the
// thread's error and returns NULL or -1.
#ifndef FTRT_H
#define FTRT_H

#include "ftrt_config.h"
#include "runtime/config.h"
#include "runtime/atomic.h"
#include "runtime/runtime.h"
#include "locking/locking.h"
#include "refcount/refcount.h"
#include "objects/objects.h"
#include "gc/gc.h"

#endif
