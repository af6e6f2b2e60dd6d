// fork: a multi-threaded parent forks; the child re-initialises the thread
// table and locks and can create threads and objects. TSan kills a child
// after a multi-threaded fork unless die_after_fork=0, which this test sets
// for itself through __tsan_default_options below.
#include <sys/wait.h>

#include "harness.h"

#if FT_TSAN
const char *__tsan_default_options(void);
const char *
__tsan_default_options(void)
{
    return "die_after_fork=0:halt_on_error=1";
}
#endif

static _Atomic(int) stop_spinners;
static _Atomic(int) spinners_running;

static void
spinner(void *arg)
{
    (void)arg;
    // pairs: acquire loads in fork_child_is_usable()
    atomic_fetch_add_explicit(&spinners_running, 1, memory_order_release);
    while (!atomic_load_explicit(&stop_spinners, memory_order_acquire)) {   // pairs: release store in the test
        ft_safepoint();
        FT_BEGIN_ALLOW_THREADS
        usleep(50);
        FT_END_ALLOW_THREADS
    }
}

#if !FT_TSAN
static void
child_worker(void *arg)
{
    _Atomic(int) *ran = arg;
    ft_object *list = ft_list_new();
    if (list != NULL && ft_list_append(list, ft_none()) == 0 && ft_list_len(list) == 1) {
        atomic_store_explicit(ran, 1, memory_order_release);   // pairs: acquire after join
    }
    ft_xdecref(list);
}
#endif

static int
child_main(void)
{
#if FT_TSAN
    // Under TSan the child creates no thread: glibc hands the child the dead
    // parent threads' cached stacks, so a new thread gets a pthread id TSan
    // still records as live and its runtime CHECK-fails ("dup thread with
    // used id"), a limitation of TSan after a multi-threaded fork, not a
    // race. The child still re-initialised its tables and uses objects; the
    // other presets also start a thread here.
    ft_object *l = ft_list_new();
    if (l == NULL || ft_list_append(l, ft_none()) != 0 || ft_list_len(l) != 1) {
        return 2;
    }
    ft_decref(l);
#else
    _Atomic(int) ran = 0;
    ft_thread *t = ft_thread_start(child_worker, &ran);
    if (t == NULL || ft_thread_join(t) != 0) {
        return 2;
    }
    if (!atomic_load_explicit(&ran, memory_order_acquire)) {   // pairs: release in child_worker()
        return 3;
    }
#endif
    ft_object *d = ft_dict_new();
    if (d == NULL) {
        return 4;
    }
    ft_decref(d);
    ft_fini();
    return ft_err_occurred() ? 5 : 0;
}

FT_TEST(fork_child_is_usable)
{
    atomic_store(&stop_spinners, 0);
    atomic_store(&spinners_running, 0);
    ft_thread *spinners[3];
    for (int i = 0; i < 3; i++) {
        spinners[i] = ft_thread_start(spinner, NULL);
        FT_REQUIRE(spinners[i] != NULL, "start");
    }
    // Fork only once every spinner runs its loop, which allocates nothing: a
    // thread still starting up allocates (glibc's TLS, the sanitizer's
    // thread state), and an allocator lock held at fork time stays locked in
    // the child forever (seen under ASan, whose allocator has no fork
    // handlers in gcc 12's libasan: the child's first calloc hung).
    // pairs: release fetch_add in spinner()
    while (atomic_load_explicit(&spinners_running, memory_order_acquire) < 3) {
        FT_BEGIN_ALLOW_THREADS
        usleep(100);
        FT_END_ALLOW_THREADS
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        _exit(child_main());
    }
    FT_REQUIRE(pid > 0, "fork failed");
    int status = 0;
    FT_BEGIN_ALLOW_THREADS
    waitpid(pid, &status, 0);
    FT_END_ALLOW_THREADS
    FT_EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    atomic_store_explicit(&stop_spinners, 1, memory_order_release);   // pairs: acquire in spinner()
    for (int i = 0; i < 3; i++) {
        FT_EXPECT_EQ(ft_thread_join(spinners[i]), 0, "join");
    }
}

FT_TEST_RAW(fork_without_runtime)
{
    pid_t pid = fork();
    if (pid == 0) {
        _exit(ft_init() == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    FT_EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child could not ft_init");
}
