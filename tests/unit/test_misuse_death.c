// Misuse detection (debug builds): each misuse aborts with a message naming
// it and, where an object is involved, its type. Error-level misuses
// (RuntimeError) are tested in test_runtime_basic.c.
#include "harness.h"

static void
double_decref(void *arg)
{
    (void)arg;
    ft_init();
    ft_object *list = ft_list_new();
    ft_incref(list);
    ft_decref(list);
    ft_decref(list);   // frees it
    ft_decref(list);   // the misuse
}

static void
decref_foreign_twice(void *arg)
{
    (void)arg;
    ft_init();
    ft_object *d = ft_dict_new();
    ft_decref(d);
    ft_decref(d);   // decref of a freed dict
}

static void
unlock_not_held(void *arg)
{
    (void)arg;
    ft_init();
    static ft_mutex m = FT_MUTEX_INIT;
    ft_mutex_unlock(&m);
}

static void
end_not_innermost(void *arg)
{
    (void)arg;
    ft_init();
    ft_object *a = ft_list_new();
    ft_object *b = ft_list_new();
    ft_cs outer, inner;
    ft_cs_begin(&outer, a);
    ft_cs_begin(&inner, b);
    ft_cs_end(&outer);   // the misuse: the inner section is still open
}

static void
detach_twice(void *arg)
{
    (void)arg;
    ft_init();
    ft_detach();
    ft_detach();
}

FT_TEST_RAW(misuse_aborts_with_a_clear_message)
{
    FT_EXPECT(ft_test_expect_death(unlock_not_held, NULL,
                                   "unlocking an ft_mutex that is not locked"),
              "unlock of a free mutex (every build)");
    FT_EXPECT(ft_test_expect_death(detach_twice, NULL, "detach while detached"),
              "double detach (every build)");
#if FT_ASAN || FT_TSAN
    // The sanitizer sees the freed block first (and libc malloc may have
    // reused it): it is the reliable detector there (DESIGN.md §4.11).
    const char *freed = "heap-use-after-free";
    const char *freed_list = "heap-use-after-free";
#else
    const char *freed = "type dict";
    const char *freed_list = "type list";
#endif
#if FT_DEBUG
    FT_EXPECT(ft_test_expect_death(double_decref, NULL, freed_list),
              "double decref names the type");
    FT_EXPECT(ft_test_expect_death(decref_foreign_twice, NULL, freed),
              "decref of a freed object names the type");
#  if FT_CS_ENABLED
    FT_EXPECT(ft_test_expect_death(end_not_innermost, NULL, "reverse order"),
              "ending a section that is not the innermost");
#  else
    (void)end_not_innermost;
#  endif
#else
    (void)freed;
    (void)freed_list;
    (void)double_decref;
    (void)decref_foreign_twice;
    (void)end_not_innermost;
    printf("  release build: refcount and section checks are debug-only\n");
#endif
}
