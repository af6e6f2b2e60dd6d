// Debug builds abort, naming the type, on a reference-count underflow and on
// a decref of an object already freed (DESIGN.md §4.11).
#include "harness.h"
#include "refcount_probe.h"

static const ft_type kept_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "death_probe",
    .tp_basicsize = sizeof(probe_object),
    .tp_dealloc = probe_dealloc,
};

// The block stays allocated after the first free, so the second decref reads
// a dead header rather than reused memory (ASan would report that first).
static ft_object *
kept_new(void)
{
    ft_object *obj = ft_object_new(&kept_type);
    if (obj != NULL) {
        ((probe_object *)obj)->keep_memory = 1;
    }
    return obj;
}

static void
owner_double_decref(void *arg)
{
    (void)arg;
    ft_object *obj = kept_new();
    ft_decref(obj);
    ft_decref(obj);   // aborts
}

static void
foreign_over_decref(void *arg)
{
    ft_object *obj = arg;   // created by the parent's other thread: foreign here
    ft_decref(obj);         // frees it (count 1)
    ft_decref(obj);         // aborts
}

typedef struct create_job {
    ft_object *obj;
} create_job;

static void
create_kept(void *arg)
{
    create_job *job = arg;
    job->obj = kept_new();
    if (job->obj != NULL) {
        ft_incref(job->obj);   // keeps the orphan merge from freeing at once
    }
}

FT_TEST(double_decref_by_the_owner_aborts)
{
    FT_SKIP_IF(!FT_DEBUG, "underflow checks are debug-only");
    FT_EXPECT(ft_test_expect_death(owner_double_decref, NULL, "reference count underflow"),
              "no underflow report");
    FT_EXPECT(ft_test_expect_death(owner_double_decref, NULL, "death_probe"),
              "the report does not name the type");
}

FT_TEST(over_decref_of_a_foreign_object_aborts)
{
    FT_SKIP_IF(!FT_DEBUG, "underflow checks are debug-only");
    create_job job = {0};
    ft_thread *t = ft_thread_start(create_kept, &job);
    FT_REQUIRE(t != NULL, "ft_thread_start");
    ft_thread_join(t);
    FT_REQUIRE(job.obj != NULL, "worker could not create");
    ft_decref(job.obj);   // orphan merge: one reference left, ours
    FT_EXPECT(ft_test_expect_death(foreign_over_decref, job.obj, "reference count underflow"),
              "no underflow report for a foreign over-decref");
    // The child freed it; in the parent it is still alive.
    ft_decref(job.obj);
    ft_object_free(job.obj);
}
