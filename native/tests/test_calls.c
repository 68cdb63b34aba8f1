/*
 * test_calls.c -- the call life cycle, input and parameter validation, the host API a kernel
 * sees (including misuse), cancellation and kernel-side leak accounting. Test-only kernels are
 * registered through the internal library registrar as library "test".
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "check.h"
#include "internal.h"

/* ---- test kernels ---------------------------------------------------------------------- */

static const ncs_tensor_desc one_int64_output[] = {
    {.name = "y", .doc = "", .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_INT64), .rank = 1, .dims = {1}},
};

static int declare_y(ncs_ctx *ctx, int max_parts)
{
    (void)max_parts;
    const int64_t one[1] = {1};
    return ctx->api->set_output(ctx, 0, NCS_DTYPE_INT64, 1, one);
}

/* Allocates two scratch buffers per run and releases only one. */
static int leak_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)part;
    (void)nparts;
    ncs_handle kept, dropped;
    void *memory;
    int status = ctx->api->alloc(ctx, 16, &kept, &memory);
    if (status == NCS_OK)
        status = ctx->api->alloc(ctx, 32, &dropped, NULL);
    if (status == NCS_OK)
        status = ctx->api->release(ctx, dropped);
    return status;
}

/* Waits for cancellation. */
static atomic_int wait_started;

static int wait_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)part;
    (void)nparts;
    atomic_store(&wait_started, 1);
    while (!ctx->api->cancelled(ctx))
        sched_yield();
    return NCS_E_CANCELLED;
}

static int no_output_prepare(ncs_ctx *ctx, int max_parts)
{
    (void)ctx;
    (void)max_parts;
    return NCS_OK;
}

static int bad_status_prepare(ncs_ctx *ctx, int max_parts)
{
    (void)ctx;
    (void)max_parts;
    return 42;
}

/* Allocates in prepare, then fails without releasing. */
static int prepare_leak_prepare(ncs_ctx *ctx, int max_parts)
{
    (void)max_parts;
    ncs_handle h;
    int status = ctx->api->alloc(ctx, 64, &h, NULL);
    if (status != NCS_OK)
        return status;
    return ctx->api->fail(ctx, NCS_E_INVALID_ARGUMENT, "prepare refuses (%d)", 7);
}

static int noop_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)ctx;
    (void)part;
    (void)nparts;
    return NCS_OK;
}

/* The abuse kernel misuses every host service and counts the answers it did not expect. */
static atomic_int abuse_errors;
static atomic_int abuse_checks;

#define EXPECT(cond)                                                                     \
    do {                                                                                 \
        atomic_fetch_add(&abuse_checks, 1);                                              \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: kernel-side expectation failed: %s\n", __FILE__,     \
                    __LINE__, #cond);                                                    \
            atomic_fetch_add(&abuse_errors, 1);                                          \
        }                                                                                \
    } while (0)

static int abuse_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view v;
    int64_t dims[2] = {5, 0};
    EXPECT(api->struct_size == sizeof(ncs_host_api));
    EXPECT(api->input(NULL, 0, &v) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->input(ctx, 0, NULL) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->input(ctx, 1, &v) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->input(ctx, -1, &v) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->input(ctx, 0, &v) == NCS_OK && v.dtype == NCS_DTYPE_FP64 && v.rank == 2 &&
           v.count == 6 && v.nbytes == 48 && v.data != NULL);
    EXPECT(api->output(ctx, 0, &v) == NCS_E_INTERNAL);
    EXPECT(api->workspace(ctx) == NULL);
    EXPECT(api->set_output(ctx, 1, NCS_DTYPE_FP64, 1, dims) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_output(ctx, 0, NCS_DTYPE_INT32, 1, dims) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_output(ctx, 0, 77, 1, dims) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_output(ctx, 0, NCS_DTYPE_FP64, 2, dims) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_output(ctx, 0, NCS_DTYPE_FP64, 1, NULL) == NCS_E_INVALID_ARGUMENT);
    dims[0] = -1;
    EXPECT(api->set_output(ctx, 0, NCS_DTYPE_FP64, 1, dims) == NCS_E_INVALID_ARGUMENT);
    dims[0] = INT64_MAX / 2; /* count fits, bytes do not */
    EXPECT(api->set_output(ctx, 0, NCS_DTYPE_FP64, 1, dims) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_output(NULL, 0, NCS_DTYPE_FP64, 1, dims) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_parts(ctx, 0) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_parts(ctx, max_parts + 1) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_parts(NULL, 1) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_workspace(NULL, 8) == NCS_E_INVALID_ARGUMENT);

    int64_t n = 0;
    double r = 0;
    int b = 0;
    const char *s = NULL;
    EXPECT(api->param_int(ctx, "n", &n) == NCS_OK && n == -42); /* set by the test */
    EXPECT(api->param_double(ctx, "r", &r) == NCS_OK && r != r);  /* default "nan" */
    EXPECT(api->param_bool(ctx, "b", &b) == NCS_OK && b == 1);    /* default "true" */
    EXPECT(api->param_string(ctx, "s", &s) == NCS_OK && strcmp(s, "hello world") == 0);
    EXPECT(api->param_int(ctx, "b", &n) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_bool(ctx, "missing", &b) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_bool(ctx, NULL, &b) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_bool(ctx, "b", NULL) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_double(NULL, "r", &r) == NCS_E_INVALID_ARGUMENT);

    ncs_handle h;
    EXPECT(api->alloc(NULL, 8, &h, NULL) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->alloc(ctx, 8, NULL, NULL) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->release(ctx, 12345) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->release(NULL, 12345) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->fail(NULL, NCS_E_UNSUPPORTED, "x") == NCS_E_UNSUPPORTED);
    EXPECT(api->cancelled(NULL) != 0);
    EXPECT(api->cancelled(ctx) == 0);
    api->progress(NULL, 5);

    dims[0] = 3;
    EXPECT(api->set_output(ctx, 0, NCS_DTYPE_FP64, 1, dims) == NCS_OK);
    EXPECT(api->set_workspace(ctx, 24) == NCS_OK);
    EXPECT(api->set_parts(ctx, 2 <= max_parts ? 2 : 1) == NCS_OK);
    return NCS_OK;
}

static int abuse_run(ncs_ctx *ctx, int part, int nparts)
{
    const ncs_host_api *api = ctx->api;
    int64_t dims[1] = {3};
    ncs_tensor_view v;
    EXPECT(api->set_output(ctx, 0, NCS_DTYPE_FP64, 1, dims) == NCS_E_INTERNAL);
    EXPECT(api->set_workspace(ctx, 8) == NCS_E_INTERNAL);
    EXPECT(api->set_parts(ctx, 1) == NCS_E_INTERNAL);
    EXPECT(api->output(ctx, 0, &v) == NCS_OK && v.count == 3 && v.nbytes == 24 && v.data != NULL);
    EXPECT(api->output(ctx, 1, &v) == NCS_E_INVALID_ARGUMENT);
    double *ws = api->workspace(ctx);
    EXPECT(ws != NULL && ((uintptr_t)ws % 64) == 0);
    EXPECT(nparts == 2);
    double *y = v.data;
    for (int i = part; i < 3; i += nparts)
        y[i] = 10.0 * i;
    api->progress(ctx, 1);
    return NCS_OK;
}

static int abuse_finish(ncs_ctx *ctx)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view v;
    EXPECT(api->set_parts(ctx, 1) == NCS_E_INTERNAL);
    EXPECT(api->output(ctx, 0, &v) == NCS_OK);
    EXPECT(api->input(ctx, 0, &v) == NCS_OK);
    return NCS_OK;
}

static const ncs_tensor_desc abuse_inputs[] = {
    {.name = "x", .doc = "", .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64), .rank = NCS_RANK_ANY},
};
static const ncs_tensor_desc abuse_outputs[] = {
    {.name = "y", .doc = "", .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64), .rank = 1, .dims = {NCS_DIM_ANY}},
};
static const ncs_param_desc abuse_params[] = {
    {.name = "n", .type = NCS_PARAM_INT, .default_value = "3", .doc = ""},
    {.name = "r", .type = NCS_PARAM_DOUBLE, .default_value = "nan", .doc = ""},
    {.name = "b", .type = NCS_PARAM_BOOL, .default_value = "true", .doc = ""},
    {.name = "s", .type = NCS_PARAM_STRING, .default_value = "hi", .doc = ""},
};

#define TEST_KERNEL(NAME, PREPARE, RUN)                                                          \
    {.struct_size = sizeof(ncs_kernel_desc), .name = NAME, .doc = "test", .n_outputs = 1,       \
     .outputs = one_int64_output, .prepare = PREPARE, .run = RUN}

static const ncs_kernel_desc test_kernels[] = {
    TEST_KERNEL("test_leak", declare_y, leak_run),
    TEST_KERNEL("test_wait", declare_y, wait_run),
    TEST_KERNEL("test_no_output", no_output_prepare, noop_run),
    TEST_KERNEL("test_bad_status", bad_status_prepare, noop_run),
    TEST_KERNEL("test_prepare_leak", prepare_leak_prepare, noop_run),
    {.struct_size = sizeof(ncs_kernel_desc),
     .name = "test_abuse",
     .doc = "misuses the host API",
     .n_inputs = 1,
     .inputs = abuse_inputs,
     .n_outputs = 1,
     .outputs = abuse_outputs,
     .n_params = 4,
     .params = abuse_params,
     .prepare = abuse_prepare,
     .run = abuse_run,
     .finish = abuse_finish},
};

static int register_test_kernels(ncs_registrar *registrar)
{
    for (size_t i = 0; i < sizeof test_kernels / sizeof test_kernels[0]; i++) {
        int status = NCS_ADD_KERNEL(registrar, &test_kernels[i]);
        if (status != NCS_OK)
            return status;
    }
    return NCS_OK;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_create(void)
{
    ncs_call *call = NULL;
    CHECK_STATUS(ncs_call_create("nope", &call), NCS_E_NOT_FOUND);
    CHECK_STATUS(ncs_call_create(NULL, &call), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_create("matmul", NULL), NCS_E_INVALID_ARGUMENT);
    CHECK(call == NULL);
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK(ncs_call_output_count(call) == 1);
    CHECK(strcmp(ncs_call_error(call), "") == 0);
    CHECK(ncs_call_progress(call) == 0);
    ncs_call_destroy(call, NULL);
    ncs_call_destroy(NULL, NULL);
    CHECK(ncs_call_output_count(NULL) == 0);
    CHECK(strcmp(ncs_call_error(NULL), "") == 0);
    CHECK(ncs_call_progress(NULL) == 0);
    ncs_call_cancel(NULL);
}

static void test_set_input_validation(void)
{
    double values[16] = {0};
    ncs_handle buffer = buffer_from(values, sizeof values), small = buffer_from(values, 64);
    ncs_call *call;
    CHECK_OK(ncs_call_create("matmul", &call));
    int64_t shape[3] = {4, 4, 1};

    CHECK_STATUS(ncs_call_set_input(call, 2, NCS_DTYPE_FP64, 2, shape, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input index 2 is out of range: kernel 'matmul' has 2 inputs");
    CHECK_STATUS(ncs_call_set_input(call, -1, NCS_DTYPE_FP64, 2, shape, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_input(call, 0, 99, 2, shape, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "99 is not a datatype");
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_INT32, 2, shape, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input 'a' is INT32 but kernel 'matmul' accepts FP32, FP64");
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 3, shape, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input 'a' has rank 3 but kernel 'matmul' needs rank 2");
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 9, shape, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, NULL, buffer), NCS_E_INVALID_ARGUMENT);
    int64_t negative[2] = {4, -1};
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, negative, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input 'a' has dimension -1 at axis 1: dimensions cannot be negative");
    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, huge, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "more elements than fit in 64 bits");
    int64_t many_bytes[2] = {INT64_C(1) << 61, 1};
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, many_bytes, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "more bytes than fit in 64 bits");
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, small), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input 'a' (FP64 [4,4]) needs 128 bytes but its buffer has 64");
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, 0), NCS_E_INVALID_ARGUMENT);

    ncs_handle freed = buffer_from(values, 128);
    CHECK_OK(ncs_buffer_release(freed));
    uint64_t stale = stat_value(NCS_STAT_STALE_HANDLE_USES);
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, freed), NCS_E_STALE_HANDLE);
    CHECK_CONTAINS(ncs_call_error(call), "was already freed (stale handle)");
    CHECK(stat_value(NCS_STAT_STALE_HANDLE_USES) == stale + 1);

    /* No failed call retained anything. */
    uint32_t count;
    CHECK_OK(ncs_buffer_refcount(buffer, &count));
    CHECK(count == 1);
    CHECK_OK(ncs_buffer_refcount(small, &count));
    CHECK(count == 1);

    /* Success retains; setting the same input again swaps the reference. */
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK(strcmp(ncs_call_error(call), "") == 0);
    CHECK_OK(ncs_buffer_refcount(buffer, &count));
    CHECK(count == 2);
    int64_t two_by_four[2] = {2, 4};
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, two_by_four, small));
    CHECK_OK(ncs_buffer_refcount(buffer, &count));
    CHECK(count == 1);
    CHECK_OK(ncs_buffer_refcount(small, &count));
    CHECK(count == 2);
    ncs_call_destroy(call, NULL);
    CHECK_OK(ncs_buffer_refcount(small, &count));
    CHECK(count == 1);
    CHECK_OK(ncs_buffer_release(buffer));
    CHECK_OK(ncs_buffer_release(small));
}

static void test_params(void)
{
    ncs_call *call;
    CHECK_OK(ncs_call_create("test_abuse", &call));
    CHECK_STATUS(ncs_call_set_param(call, "nope", "1"), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "kernel 'test_abuse' has no parameter 'nope'");
    CHECK_STATUS(ncs_call_set_param(call, NULL, "1"), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_param(call, "n", NULL), NCS_E_INVALID_ARGUMENT);
    const char *bad_bools[] = {"yes", "TRUE", "", "2", "true "};
    for (size_t i = 0; i < sizeof bad_bools / sizeof bad_bools[0]; i++)
        CHECK_STATUS(ncs_call_set_param(call, "b", bad_bools[i]), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "parameter 'b' is bool: expected true, false, 1 or 0, got 'true '");
    const char *bad_ints[] = {"12x", "", " 5", "1.5", "99999999999999999999", "0x10", "-"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++)
        CHECK_STATUS(ncs_call_set_param(call, "n", bad_ints[i]), NCS_E_INVALID_ARGUMENT);
    const char *bad_doubles[] = {"abc", "1e999", "", "1.5.2", " 1"};
    for (size_t i = 0; i < sizeof bad_doubles / sizeof bad_doubles[0]; i++)
        CHECK_STATUS(ncs_call_set_param(call, "r", bad_doubles[i]), NCS_E_INVALID_ARGUMENT);
    const char *good_doubles[] = {"2.5", "-1e-300", "inf", "-inf", "nan", "7"};
    for (size_t i = 0; i < sizeof good_doubles / sizeof good_doubles[0]; i++)
        CHECK_OK(ncs_call_set_param(call, "r", good_doubles[i]));
    CHECK_OK(ncs_call_set_param(call, "n", "9223372036854775807"));
    CHECK_OK(ncs_call_set_param(call, "b", "0"));
    CHECK_OK(ncs_call_set_param(call, "s", "anything at all"));
    ncs_call_destroy(call, NULL);
}

static void test_host_api_misuse(void)
{
    double x[6] = {1, 2, 3, 4, 5, 6};
    ncs_handle xb = buffer_from(x, sizeof x);
    ncs_call *call;
    CHECK_OK(ncs_call_create("test_abuse", &call));
    int64_t shape[2] = {2, 3};
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, xb));
    CHECK_OK(ncs_call_set_param(call, "n", "-42"));
    CHECK_OK(ncs_call_set_param(call, "s", "hello world"));
    CHECK_OK(ncs_call_set_param(call, "r", "1.5"));
    CHECK_OK(ncs_call_set_param(call, "r", "nan")); /* the last value wins */
    int nparts = 0;
    CHECK_OK(ncs_call_prepare(call, 4, &nparts));
    CHECK(nparts == 2);
    int dtype, rank;
    int64_t dims[NCS_MAX_RANK];
    CHECK_OK(ncs_call_output_info(call, 0, &dtype, &rank, dims));
    CHECK(dtype == NCS_DTYPE_FP64 && rank == 1 && dims[0] == 3);
    CHECK_STATUS(ncs_call_output_info(call, 1, &dtype, &rank, dims), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_output_info(call, 0, NULL, &rank, dims), NCS_E_INVALID_ARGUMENT);
    CHECK_OK(run_parts_and_finish(call, nparts));
    CHECK(ncs_call_progress(call) == 2);
    ncs_handle y;
    CHECK_OK(ncs_call_take_output(call, 0, &y));
    const double *yv = buffer_memory(y);
    CHECK(yv[0] == 0 && yv[1] == 10 && yv[2] == 20);
    uint64_t leaked = 99;
    ncs_call_destroy(call, &leaked);
    CHECK(leaked == 0);
    CHECK(atomic_load(&abuse_checks) > 50);
    CHECK(atomic_load(&abuse_errors) == 0);
    CHECK_OK(ncs_buffer_release(y));
    CHECK_OK(ncs_buffer_release(xb));
}

static void test_sequence_errors(void)
{
    double values[4] = {1, 2, 3, 4};
    ncs_handle buffer = buffer_from(values, sizeof values);
    int64_t shape[2] = {2, 2};
    ncs_call *call;
    int nparts;
    ncs_handle out = 0;

    /* prepare before the inputs are set */
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input 'b' of kernel 'matmul' is not set");
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INVALID_ARGUMENT); /* only destroy remains */
    CHECK_STATUS(ncs_call_run_part(call, 0), NCS_E_INVALID_ARGUMENT);
    ncs_call_destroy(call, NULL);

    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_STATUS(ncs_call_prepare(call, 0, &nparts), NCS_E_INVALID_ARGUMENT);
    ncs_call_destroy(call, NULL);

    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_STATUS(ncs_call_take_output(call, 0, &out), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_finish(call), NCS_E_INVALID_ARGUMENT);
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    CHECK(nparts == 1);
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_take_output(call, 0, &out), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "only after finish succeeded");
    CHECK_STATUS(ncs_call_finish(call), NCS_E_INVALID_ARGUMENT); /* part 0 has not run */
    CHECK_STATUS(ncs_call_run_part(call, 1), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_run_part(call, -1), NCS_E_INVALID_ARGUMENT);
    CHECK_OK(ncs_call_run_part(call, 0));
    CHECK_STATUS(ncs_call_run_part(call, 0), NCS_E_INVALID_ARGUMENT); /* once per part */
    CHECK(ncs_call_progress(call) == 2);
    CHECK_OK(ncs_call_finish(call));
    CHECK_STATUS(ncs_call_finish(call), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_take_output(call, 1, &out), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_take_output(call, 0, NULL), NCS_E_INVALID_ARGUMENT);
    CHECK(out == 0);
    CHECK_OK(ncs_call_take_output(call, 0, &out));
    ncs_handle again = 0;
    CHECK_STATUS(ncs_call_take_output(call, 0, &again), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "output 'c' was already taken");
    ncs_call_destroy(call, NULL);
    const double *c = buffer_memory(out); /* [[1,2],[3,4]]^2 */
    CHECK(c[0] == 7 && c[1] == 10 && c[2] == 15 && c[3] == 22);
    CHECK_OK(ncs_buffer_release(out));

    /* Outputs not taken are released by destroy. */
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 2);
    ncs_call_destroy(call, NULL);
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 1);
    CHECK_OK(ncs_buffer_release(buffer));
}

static void test_kernel_messages(void)
{
    double values[20] = {0};
    ncs_handle buffer = buffer_from(values, sizeof values);
    ncs_call *call;
    int nparts;
    int64_t a_shape[2] = {2, 4}, b_shape[2] = {3, 5};
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, a_shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, b_shape, buffer));
    CHECK_STATUS(ncs_call_prepare(call, 2, &nparts), NCS_E_INVALID_ARGUMENT);
    CHECK(strcmp(ncs_call_error(call),
                 "input 'b' has 3 rows but input 'a' has 4 columns: matmul needs a [m,k] and b [k,n]") == 0);
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 1);
    ncs_call_destroy(call, NULL);

    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, a_shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP32, 2, b_shape, buffer));
    CHECK_STATUS(ncs_call_prepare(call, 2, &nparts), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input 'b' is FP32 but input 'a' is FP64");
    ncs_call_destroy(call, NULL);

    /* A kernel that forgets an output, or returns a status outside the enum, is a bug. */
    CHECK_OK(ncs_call_create("test_no_output", &call));
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INTERNAL);
    CHECK_CONTAINS(ncs_call_error(call), "kernel 'test_no_output' did not declare output 'y'");
    ncs_call_destroy(call, NULL);
    CHECK_OK(ncs_call_create("test_bad_status", &call));
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INTERNAL);
    CHECK_CONTAINS(ncs_call_error(call), "kernel 'test_bad_status' failed in prepare");
    ncs_call_destroy(call, NULL);
    CHECK_OK(ncs_buffer_release(buffer));
}

static void test_memory_budget_in_prepare(void)
{
    double values[4] = {1, 2, 3, 4};
    ncs_handle buffer = buffer_from(values, sizeof values);
    int64_t a_shape[2] = {4, 1}, b_shape[2] = {1, 4};
    ncs_call *call;
    int nparts = -5;
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, a_shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, b_shape, buffer));
    ncs_set_memory_limit(stat_value(NCS_STAT_LIVE_BYTES) + 100); /* c needs 128 */
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_OUT_OF_MEMORY);
    CHECK(nparts == -5);
    CHECK_CONTAINS(ncs_call_error(call), "output 'c' needs 128 bytes");
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 1);
    ncs_set_memory_limit(0);
    ncs_call_destroy(call, NULL);
    CHECK_OK(ncs_buffer_release(buffer));
}

static void test_cancel_before_run(void)
{
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("test_leak", &call));
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    ncs_call_cancel(call);
    CHECK_STATUS(ncs_call_run_part(call, 0), NCS_E_CANCELLED);
    CHECK_CONTAINS(ncs_call_error(call), "cancelled");
    CHECK_STATUS(ncs_call_finish(call), NCS_E_INVALID_ARGUMENT);
    uint64_t leaked = 99;
    ncs_call_destroy(call, &leaked);
    CHECK(leaked == 0); /* the kernel never ran */
}

static void *run_part_zero(void *arg)
{
    return (void *)(intptr_t)ncs_call_run_part(arg, 0);
}

static void test_cancel_while_running(void)
{
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("test_wait", &call));
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    pthread_t thread;
    atomic_store(&wait_started, 0);
    CHECK(pthread_create(&thread, NULL, run_part_zero, call) == 0);
    while (!atomic_load(&wait_started))
        sched_yield();
    ncs_call_cancel(call);
    void *result;
    CHECK(pthread_join(thread, &result) == 0);
    CHECK((int)(intptr_t)result == NCS_E_CANCELLED);
    CHECK_CONTAINS(ncs_call_error(call), "kernel 'test_wait' failed in run: cancelled");
    ncs_call_destroy(call, NULL);
}

static void test_cancel_matmul(void)
{
    enum { N = 64 };
    static double values[N * N];
    ncs_handle buffer = buffer_from(values, sizeof values);
    int64_t shape[2] = {N, N};
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    ncs_call_cancel(call);
    CHECK_STATUS(ncs_call_run_part(call, 0), NCS_E_CANCELLED);
    ncs_call_destroy(call, NULL);
    CHECK_OK(ncs_buffer_release(buffer));
}

static void test_kernel_leak_counted(void)
{
    uint64_t leaks = stat_value(NCS_STAT_KERNEL_LEAKS);
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("test_leak", &call));
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    CHECK_OK(run_parts_and_finish(call, nparts));
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 2); /* output + leaked scratch */
    uint64_t leaked = 0;
    ncs_call_destroy(call, &leaked);
    CHECK(leaked == 1);
    CHECK(stat_value(NCS_STAT_KERNEL_LEAKS) == leaks + 1);

    /* A prepare that fails after allocating: the scratch is reclaimed and counted too. */
    CHECK_OK(ncs_call_create("test_prepare_leak", &call));
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INVALID_ARGUMENT);
    CHECK(strcmp(ncs_call_error(call), "prepare refuses (7)") == 0);
    ncs_call_destroy(call, &leaked);
    CHECK(leaked == 1);
    CHECK(stat_value(NCS_STAT_KERNEL_LEAKS) == leaks + 2);
}

int main(void)
{
    CHECK_OK(ncs_catalog_register_library("test", register_test_kernels));
    RUN_TEST(test_create);
    RUN_TEST(test_set_input_validation);
    RUN_TEST(test_params);
    RUN_TEST(test_host_api_misuse);
    RUN_TEST(test_sequence_errors);
    RUN_TEST(test_kernel_messages);
    RUN_TEST(test_memory_budget_in_prepare);
    RUN_TEST(test_cancel_before_run);
    RUN_TEST(test_cancel_while_running);
    RUN_TEST(test_cancel_matmul);
    RUN_TEST(test_kernel_leak_counted);
    return 0;
}
