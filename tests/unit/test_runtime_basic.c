// Runtime lifecycle, errors, build info and misuse answered with RuntimeError.
#include <pthread.h>

#include "harness.h"

FT_TEST_RAW(init_fini_repeat)
{
    for (int i = 0; i < 3; i++) {
        FT_REQUIRE(ft_init() == 0, "ft_init failed: %s", ft_err_message());
        FT_EXPECT(ft_init() == -1, "second ft_init must fail");
        FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_RUNTIME, "double init error kind");
        ft_err_clear();
        ft_fini();
        FT_EXPECT_EQ(ft_err_occurred(), 0, "ft_fini failed");
    }
    ft_fini();
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_RUNTIME, "ft_fini without ft_init");
    ft_err_clear();
}

FT_TEST(errors_are_per_thread_and_overwrite)
{
    FT_EXPECT_EQ(ft_err_occurred(), 0, "fresh state");
    ft_err_set(FT_ERR_INDEX, "index %d out of range", 7);
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_INDEX, "kind");
    FT_EXPECT(strcmp(ft_err_message(), "index 7 out of range") == 0, "message: %s",
              ft_err_message());
    ft_err_no_memory();
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_MEMORY, "overwritten kind");
    FT_EXPECT(strstr(ft_err_message(), "out of memory") != NULL, "message");
    FT_EXPECT(strcmp(ft_err_kind_name(FT_ERR_KEY), "KeyError") == 0, "kind name");
    ft_err_clear();
    FT_EXPECT_EQ(ft_err_occurred(), 0, "cleared");
}

FT_TEST(build_info_names_the_build)
{
    const char *info = ft_build_info();
    FT_EXPECT(strncmp(info, "ftrt ", 5) == 0, "prefix: %s", info);
#if FT_GIL
    FT_EXPECT(strstr(info, "build=gil") != NULL, "%s", info);
    FT_EXPECT(ft_gil_is_enabled(), "GIL build without a GIL");
#else
    FT_EXPECT(strstr(info, "build=ft") != NULL, "%s", info);
#endif
    FT_EXPECT(strstr(info, "refcount=") != NULL, "%s", info);
}

static void *
no_state_thread(void *arg)
{
    int *results = arg;
    // No thread state: every API call reports RuntimeError.
    ft_thread *t = ft_thread_start((void (*)(void *))abort, NULL);
    results[0] = t == NULL && ft_err_occurred() == FT_ERR_RUNTIME;
    ft_err_clear();
    results[1] = ft_gc_collect() == -1 && ft_err_occurred() == FT_ERR_RUNTIME;
    ft_err_clear();
    ft_attach();
    results[2] = ft_err_occurred() == FT_ERR_RUNTIME;
    ft_err_clear();
    // A foreign thread may register, use the API, and unregister.
    results[3] = ft_thread_register() == 0 && ft_gc_collect() >= 0;
    ft_thread_unregister();
    results[4] = ft_err_occurred() == 0;
    return NULL;
}

FT_TEST(api_without_thread_state)
{
    int results[5] = {0};
    pthread_t th;
    FT_BEGIN_ALLOW_THREADS
    pthread_create(&th, NULL, no_state_thread, results);
    pthread_join(th, NULL);
    FT_END_ALLOW_THREADS
    FT_EXPECT(results[0], "ft_thread_start without state");
    FT_EXPECT(results[1], "ft_gc_collect without state");
    FT_EXPECT(results[2], "ft_attach without state");
    FT_EXPECT(results[3], "ft_thread_register");
    FT_EXPECT(results[4], "ft_thread_unregister");
}

static _Atomic(int) release_worker;
static _Atomic(int) worker_ran;

static void
wait_for_release(void *arg)
{
    (void)arg;
    atomic_store_explicit(&worker_ran, 1, memory_order_release);   // pairs: acquire in ft_test_wait_flag()
    ft_test_wait_flag(&release_worker, 60);
}

FT_TEST(fini_refuses_with_running_threads)
{
    atomic_store(&release_worker, 0);
    atomic_store(&worker_ran, 0);
    ft_thread *t = ft_thread_start(wait_for_release, NULL);
    FT_REQUIRE(t != NULL, "start: %s", ft_err_message());
    FT_EXPECT(ft_test_wait_flag(&worker_ran, 60), "worker never ran");
    ft_fini();
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_RUNTIME, "ft_fini with a running thread");
    ft_err_clear();
    // Still initialized and usable.
    FT_EXPECT(ft_gc_collect() >= 0, "runtime unusable after refused ft_fini");
    atomic_store_explicit(&release_worker, 1, memory_order_release);   // pairs: acquire in ft_test_wait_flag()
    FT_EXPECT_EQ(ft_thread_join(t), 0, "join");
    // Started but not joined also refuses.
    atomic_store(&release_worker, 1);
    t = ft_thread_start(wait_for_release, NULL);
    FT_REQUIRE(t != NULL, "start");
    FT_EXPECT(ft_test_wait_flag(&worker_ran, 60), "worker never ran");
    FT_EXPECT_EQ(ft_thread_join(t), 0, "join");
    FT_EXPECT_EQ(ft_thread_join(NULL), -1, "join NULL");
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "join NULL kind");
    ft_err_clear();
}

static void
detach_twice(void *arg)
{
    (void)arg;
    ft_init();
    ft_detach();
    ft_detach();
}

static void
attach_twice(void *arg)
{
    (void)arg;
    ft_init();
    ft_attach();
}

FT_TEST_RAW(attach_detach_misuse_is_fatal)
{
    FT_EXPECT(ft_test_expect_death(detach_twice, NULL, "detach while detached"),
              "double detach");
    FT_EXPECT(ft_test_expect_death(attach_twice, NULL, "attach while attached"),
              "double attach");
}

static void
count_calls(void *arg)
{
    _Atomic(int) *calls = arg;
    atomic_fetch_add_explicit(calls, 1, memory_order_relaxed);   // relaxed: read after join
}

FT_TEST(threads_start_and_join)
{
    _Atomic(int) calls = 0;
    ft_thread *threads[16];
    for (int i = 0; i < 16; i++) {
        threads[i] = ft_thread_start(count_calls, &calls);
        FT_REQUIRE(threads[i] != NULL, "start %d", i);
    }
    for (int i = 0; i < 16; i++) {
        FT_EXPECT_EQ(ft_thread_join(threads[i]), 0, "join");
    }
    FT_EXPECT_EQ(atomic_load(&calls), 16, "each thread ran once");
}
