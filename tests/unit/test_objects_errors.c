// The error contract of the objects API (DESIGN.md §4.11): NULL and wrong
// types give TypeError naming the types, and a thread with no thread state
// gets RuntimeError and NULL / -1 from every call.
#include <pthread.h>

#include "harness.h"

// Every call below must fail with `kind`; returns how many did not.
typedef struct probe_objects {
    ft_object *list, *dict, *tuple, *integer, *str, *flt;
} probe_objects;

#define CHECK_FAILS(call, failed_value, kind, bad)                                                \
    do {                                                                                          \
        ft_err_clear();                                                                           \
        if ((call) != (failed_value) || ft_err_occurred() != (kind)) {                            \
            fprintf(stderr, "  call did not fail with %d: %s (got %d: %s)\n", (int)(kind), #call, \
                    ft_err_occurred(), ft_err_message());                                         \
            (bad)++;                                                                              \
        }                                                                                         \
        ft_err_clear();                                                                           \
    } while (0)

// Calls every API function with arguments that must be refused with
// `kind`: NULLs and wrong types (kind TypeError, attached), or valid
// arguments (kind RuntimeError, detached: then `o` holds valid objects).
static int
probe_all(probe_objects *o, ft_object *wrong, int kind)
{
    int bad = 0;
    ft_object *out = NULL;
    ft_object *one = o->integer;
    ft_object *list = kind == FT_ERR_RUNTIME ? o->list : wrong;
    ft_object *dict = kind == FT_ERR_RUNTIME ? o->dict : wrong;
    ft_object *tuple = kind == FT_ERR_RUNTIME ? o->tuple : wrong;
    ft_object *integer = kind == FT_ERR_RUNTIME ? o->integer : wrong;
    ft_object *str = kind == FT_ERR_RUNTIME ? o->str : wrong;
    ft_object *flt = kind == FT_ERR_RUNTIME ? o->flt : wrong;
    CHECK_FAILS(ft_int_value(integer), -1, kind, bad);
    CHECK_FAILS(ft_float_value(flt), -1.0, kind, bad);
    CHECK_FAILS(ft_str_data(str), NULL, kind, bad);
    CHECK_FAILS(ft_str_len(str), -1, kind, bad);
    CHECK_FAILS(ft_tuple_size(tuple), -1, kind, bad);
    CHECK_FAILS(ft_tuple_get_ref(tuple, 0), NULL, kind, bad);
    CHECK_FAILS(ft_list_append(list, one), -1, kind, bad);
    CHECK_FAILS(ft_list_len(list), -1, kind, bad);
    CHECK_FAILS(ft_list_get_ref(list, 0), NULL, kind, bad);
    CHECK_FAILS(ft_list_set(list, 0, one), -1, kind, bad);
    CHECK_FAILS(ft_list_pop(list), NULL, kind, bad);
    CHECK_FAILS(ft_list_extend(list, o->list), -1, kind, bad);
    CHECK_FAILS(ft_dict_set(dict, one, one), -1, kind, bad);
    CHECK_FAILS(ft_dict_get_ref(dict, one, &out), -1, kind, bad);
    CHECK_FAILS(ft_dict_del(dict, one), -1, kind, bad);
    CHECK_FAILS(ft_dict_len(dict), -1, kind, bad);
    CHECK_FAILS(ft_dict_update(dict, o->dict), -1, kind, bad);
    if (kind == FT_ERR_RUNTIME) {
        // Constructors and generic slots need a thread state too.
        CHECK_FAILS(ft_int_new(1000), NULL, kind, bad);
        CHECK_FAILS(ft_int_new(1), NULL, kind, bad);
        CHECK_FAILS(ft_float_new(1.0), NULL, kind, bad);
        CHECK_FAILS(ft_str_new("abc", 3), NULL, kind, bad);
        CHECK_FAILS(ft_str_from_cstr("abc"), NULL, kind, bad);
        CHECK_FAILS(ft_tuple_new(1, &one), NULL, kind, bad);
        CHECK_FAILS(ft_list_new(), NULL, kind, bad);
        CHECK_FAILS(ft_dict_new(), NULL, kind, bad);
        CHECK_FAILS(ft_object_new(&ft_list_type), NULL, kind, bad);
        CHECK_FAILS(ft_object_hash(one), -1, kind, bad);
        CHECK_FAILS(ft_object_eq(one, one), -1, kind, bad);
    }
    return bad;
}

FT_TEST(null_arguments_give_type_error)
{
    probe_objects o = {ft_list_new(), ft_dict_new(), NULL, ft_int_new(1000), NULL, NULL};
    FT_EXPECT_EQ(probe_all(&o, NULL, FT_ERR_TYPE), 0, "NULL receivers");
    ft_object *one = o.integer;
    ft_object *out = NULL;
    int bad = 0;
    CHECK_FAILS(ft_list_append(o.list, NULL), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_list_set(o.list, 0, NULL), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_list_extend(o.list, NULL), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_dict_set(o.dict, NULL, one), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_dict_set(o.dict, one, NULL), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_dict_get_ref(o.dict, NULL, &out), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_dict_get_ref(o.dict, one, NULL), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_dict_del(o.dict, NULL), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_dict_update(o.dict, NULL), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_str_new(NULL, 1), NULL, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_str_from_cstr(NULL), NULL, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_tuple_new(1, NULL), NULL, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_object_new(NULL), NULL, FT_ERR_TYPE, bad);
    // Types whose objects ft_object_new cannot make valid.
    CHECK_FAILS(ft_object_new(&ft_str_type), NULL, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_object_new(&ft_tuple_type), NULL, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_object_new(&ft_none_type), NULL, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_object_new(&ft_bool_type), NULL, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_object_new(&ft_type_type), NULL, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_object_hash(NULL), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_object_eq(NULL, one), -1, FT_ERR_TYPE, bad);
    CHECK_FAILS(ft_object_eq(one, NULL), -1, FT_ERR_TYPE, bad);
    FT_EXPECT_EQ(bad, 0, "NULL arguments");
    FT_EXPECT_EQ(ft_list_len(o.list), 0, "list unchanged");
    FT_EXPECT_EQ(ft_dict_len(o.dict), 0, "dict unchanged");
    ft_decref(o.list);
    ft_decref(o.dict);
    ft_decref(o.integer);
}

static ft_type plain_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "plain",
    .tp_basicsize = sizeof(ft_object),
};

FT_TEST(wrong_types_give_type_error_naming_both)
{
    // Objects of types no API function expects, as every receiver.
    ft_object *wrongs[] = {ft_none(), ft_true(), ft_object_new(&plain_type)};
    probe_objects o = {ft_list_new(), ft_dict_new(), NULL, ft_int_new(1000), NULL, NULL};
    for (size_t i = 0; i < sizeof(wrongs) / sizeof(wrongs[0]); i++) {
        FT_EXPECT_EQ(probe_all(&o, wrongs[i], FT_ERR_TYPE), 0, ft_type_name(wrongs[i]));
    }
    // Built-in types swapped for each other; messages in full:
    // "<function>: expected <type>, got <type>".
    ft_object *f = ft_float_new(1.5);
    FT_EXPECT_EQ(ft_int_value(o.list), -1, "int of a list");
    FT_EXPECT(strcmp(ft_err_message(), "ft_int_value: expected int, got list") == 0, "message: %s",
              ft_err_message());
    FT_EXPECT_EQ(ft_dict_len(ft_true()), -1, "len of a bool");
    FT_EXPECT(strcmp(ft_err_message(), "ft_dict_len: expected dict, got bool") == 0, "message: %s",
              ft_err_message());
    FT_EXPECT(ft_list_get_ref(ft_none(), 0) == NULL, "get of None");
    FT_EXPECT(strcmp(ft_err_message(), "ft_list_get_ref: expected list, got NoneType") == 0,
              "message: %s", ft_err_message());
    FT_EXPECT_EQ(ft_tuple_size(f), -1, "size of a float");
    FT_EXPECT(strcmp(ft_err_message(), "ft_tuple_size: expected tuple, got float") == 0,
              "message: %s", ft_err_message());
    FT_EXPECT_EQ(ft_list_append(o.dict, f), -1, "append to a dict");
    FT_EXPECT(strcmp(ft_err_message(), "ft_list_append: expected list, got dict") == 0,
              "message: %s", ft_err_message());
    FT_EXPECT_EQ(ft_dict_update(o.dict, o.list), -1, "update with a list");
    FT_EXPECT(strcmp(ft_err_message(), "ft_dict_update: expected dict, got list") == 0,
              "message: %s", ft_err_message());
    FT_EXPECT(ft_str_data(o.integer) == NULL, "data of an int");
    FT_EXPECT(strcmp(ft_err_message(), "ft_str_data: expected str, got int") == 0, "message: %s",
              ft_err_message());
    FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_TYPE, "all TypeError");
    ft_err_clear();
    FT_EXPECT_EQ(ft_list_len(o.list), 0, "list unchanged");
    FT_EXPECT_EQ(ft_dict_len(o.dict), 0, "dict unchanged");
    ft_decref(f);
    ft_decref(wrongs[2]);
    ft_decref(o.list);
    ft_decref(o.dict);
    ft_decref(o.integer);
}

typedef struct no_state_args {
    probe_objects objects;
    int failures;
    int singletons_ok;
} no_state_args;

static void *
no_state_thread(void *arg)
{
    no_state_args *a = arg;
    a->failures = probe_all(&a->objects, NULL, FT_ERR_RUNTIME);
    // The singletons are constants and stay available.
    a->singletons_ok = ft_none() != NULL && ft_true() != NULL && ft_false() != NULL &&
                       strcmp(ft_type_name(ft_none()), "NoneType") == 0;
    return NULL;
}

FT_TEST(no_thread_state_gives_runtime_error)
{
    ft_object *one = ft_int_new(1000);
    ft_object *s = ft_str_from_cstr("abc");
    ft_object *f = ft_float_new(2.0);
    ft_object *t = ft_tuple_new(1, &one);
    no_state_args a = {{ft_list_new(), ft_dict_new(), t, one, s, f}, -1, 0};
    ft_list_append(a.objects.list, one);
    ft_dict_set(a.objects.dict, one, s);
    int64_t live = ft_live_objects();
    pthread_t th;
    FT_BEGIN_ALLOW_THREADS
    pthread_create(&th, NULL, no_state_thread, &a);
    pthread_join(th, NULL);
    FT_END_ALLOW_THREADS
    FT_EXPECT_EQ(a.failures, 0, "calls without a thread state");
    FT_EXPECT(a.singletons_ok, "singletons without a thread state");
    FT_EXPECT_EQ(ft_live_objects(), live, "nothing allocated or freed");
    FT_EXPECT_EQ(ft_list_len(a.objects.list), 1, "list unchanged");
    FT_EXPECT_EQ(ft_dict_len(a.objects.dict), 1, "dict unchanged");
    ft_decref(a.objects.list);
    ft_decref(a.objects.dict);
    ft_decref(t);
    ft_decref(one);
    ft_decref(s);
    ft_decref(f);
}
