// bench/ftbench/util.c: checked wrappers over the public API, shared by the
// workload files. Each fails loudly (ftb_fail) instead of returning an error,
// so the workloads read like the interpreter code they imitate.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ftbench/ftbench.h"

void
ftb_fail(const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    int kind = ft_err_occurred();
    fflush(stdout);
    fprintf(stderr, "ftbench: FAIL %s %s=%d: %s", ftb_current_name ? ftb_current_name : "-",
            ftb_current_mode, ftb_current_threads, message);
    if (kind != 0) {
        fprintf(stderr, " [%s: %s]", ft_err_kind_name(kind), ft_err_message());
    }
    fprintf(stderr, "\n");
    fflush(stderr);
    _exit(1);
}

ft_object *
ftb_int(int64_t value)
{
    ft_object *obj = ft_int_new(value);
    FTB_CHECK(obj != NULL, "ft_int_new(%lld) failed", (long long)value);
    return obj;
}

int64_t
ftb_int_value(ft_object *obj)
{
    int64_t value = ft_int_value(obj);
    FTB_CHECK(value != -1 || ft_err_occurred() == 0, "ft_int_value on a %s", ft_type_name(obj));
    return value;
}

ft_object *
ftb_str(const char *s)
{
    ft_object *obj = ft_str_new(s, strlen(s));
    FTB_CHECK(obj != NULL, "ft_str_new(\"%s\") failed", s);
    return obj;
}

ft_object *
ftb_list(void)
{
    ft_object *obj = ft_list_new();
    FTB_CHECK(obj != NULL, "ft_list_new failed");
    return obj;
}

ft_object *
ftb_dict(void)
{
    ft_object *obj = ft_dict_new();
    FTB_CHECK(obj != NULL, "ft_dict_new failed");
    return obj;
}

void
ftb_append(ft_object *list, ft_object *item)
{
    FTB_CHECK(ft_list_append(list, item) == 0, "ft_list_append failed");
}

void
ftb_set(ft_object *dict, ft_object *key, ft_object *value)
{
    FTB_CHECK(ft_dict_set(dict, key, value) == 0, "ft_dict_set failed");
}

ft_object *
ftb_get(ft_object *dict, ft_object *key)
{
    ft_object *value = NULL;
    int found = ft_dict_get_ref(dict, key, &value);
    FTB_CHECK(found == 1 && value != NULL, "ft_dict_get_ref returned %d", found);
    return value;
}

ft_object *
ftb_list_get(ft_object *list, int64_t i)
{
    ft_object *item = ft_list_get_ref(list, i);
    FTB_CHECK(item != NULL, "ft_list_get_ref(%lld) failed", (long long)i);
    return item;
}

void
ftb_sleep_detached(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    FT_BEGIN_ALLOW_THREADS
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    FT_END_ALLOW_THREADS
}

void
ftb_extra(ftb_extras *extras, const char *name, int64_t value)
{
    if (extras->count < FTB_MAX_EXTRAS) {
        extras->name[extras->count] = name;
        extras->value[extras->count] = value;
        extras->count++;
    }
}
