// runtime/error.c: the per-thread error state and fatal errors.
//
// Errors live in TLS as a kind plus a fixed 256-byte message, formatted with
// vsnprintf: setting one never allocates, so MemoryError can always be set.
// A new error overwrites the old one (DESIGN.md §4.11).
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_internal.h"

typedef struct ft_error_state {
    int kind;            // owner only
    char message[256];   // owner only
} ft_error_state;

static __thread ft_error_state error_state;

static const char *const kind_names[] = {
    [FT_ERR_NONE] = "NoError",         [FT_ERR_TYPE] = "TypeError",
    [FT_ERR_INDEX] = "IndexError",     [FT_ERR_KEY] = "KeyError",
    [FT_ERR_MEMORY] = "MemoryError",   [FT_ERR_VALUE] = "ValueError",
    [FT_ERR_RUNTIME] = "RuntimeError",
};

const char *
ft_err_kind_name(int kind)
{
    if (kind < 0 || kind > FT_ERR_RUNTIME) {
        return "UnknownError";
    }
    return kind_names[kind];
}

int
ft_err_occurred(void)
{
    return error_state.kind;
}

const char *
ft_err_message(void)
{
    return error_state.kind ? error_state.message : "";
}

void
ft_err_clear(void)
{
    error_state.kind = FT_ERR_NONE;
    error_state.message[0] = '\0';
}

void
ft_err_set(int kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_state.kind = kind;
    vsnprintf(error_state.message, sizeof(error_state.message), fmt, ap);
    va_end(ap);
}

void
ft_err_no_memory(void)
{
    ft_err_set(FT_ERR_MEMORY, "out of memory");
}

void
ft_fatal(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    // One write so that a death test reads the whole line.
    fprintf(stderr, "ftrt fatal: %s\n", buf);
    fflush(stderr);
    abort();
}
