/*
 * test_calls.c -- the call life cycle, input and parameter validation (BYTES framing included),
 * the host API a kernel sees (including misuse), BYTES outputs and the host's check of their
 * framing, cancellation and kernel-side leak accounting. Test-only kernels are
 * registered through the internal library registrar as library "test".
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* Two parts, each doing what parameter "p0" / "p1" says: ok; probe (a host service refuses a
   misuse, then the part succeeds); fail (NCS_E_INVALID_ARGUMENT without a message); oom and
   cancel (api->fail with NCS_E_OUT_OF_MEMORY / NCS_E_CANCELLED and a message naming the part). */
static int script_prepare(ncs_ctx *ctx, int max_parts)
{
    int status = declare_y(ctx, max_parts);
    if (status == NCS_OK)
        status = ctx->api->set_parts(ctx, 2);
    return status;
}

static int script_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)nparts;
    const ncs_host_api *api = ctx->api;
    const char *what;
    int status = api->param_string(ctx, part == 0 ? "p0" : "p1", &what);
    if (status != NCS_OK)
        return status;
    if (strcmp(what, "probe") == 0)
        return api->set_parts(ctx, 1) == NCS_E_INTERNAL ? NCS_OK : NCS_E_UNSUPPORTED;
    if (strcmp(what, "fail") == 0)
        return NCS_E_INVALID_ARGUMENT;
    if (strcmp(what, "oom") == 0)
        return api->fail(ctx, NCS_E_OUT_OF_MEMORY, "part %d ran out of memory", part);
    if (strcmp(what, "cancel") == 0)
        return api->fail(ctx, NCS_E_CANCELLED, "part %d saw the cancellation", part);
    return NCS_OK;
}

/* Two parts on two threads: part 1 starts, waits for the cancellation flag and returns
   NCS_E_CANCELLED with a message of its own; part 0 waits until part 1 has started, then fails
   with NCS_E_OUT_OF_MEMORY. Waits are bounded so a missing flag fails the test, not hangs it. */
static atomic_int sibling_started;
static atomic_int sibling_errors;

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int sibling_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)nparts;
    const ncs_host_api *api = ctx->api;
    double deadline = seconds_now() + 10.0;
    if (part == 0) {
        while (!atomic_load(&sibling_started) && seconds_now() < deadline)
            sched_yield();
        return api->fail(ctx, NCS_E_OUT_OF_MEMORY, "part 0 could not get its %d bytes", 4096);
    }
    atomic_store(&sibling_started, 1);
    while (!api->cancelled(ctx)) {
        if (seconds_now() > deadline) {
            fprintf(stderr, "part 1 never saw the cancellation flag\n");
            atomic_fetch_add(&sibling_errors, 1);
            return api->fail(ctx, NCS_E_INTERNAL, "part 1 timed out");
        }
        sched_yield();
    }
    return api->fail(ctx, NCS_E_CANCELLED, "part 1 stopped: the call was cancelled");
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

/* test_bytes_out / test_bytes_finish declare a BYTES output y of shape [2] with
   set_output_bytes and write it in run / in finish, well framed or broken as parameter "mode"
   says: good, empty (two empty elements), past_end, cut (truncated length), short (one element
   where the shape says two), trailing (junk after the last element), set_output (declares the
   output with set_output instead, which is refused). */
static atomic_int bytes_errors;

#define BYTES_EXPECT(cond)                                                                     \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: kernel-side expectation failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                                    \
            atomic_fetch_add(&bytes_errors, 1);                                                \
        }                                                                                      \
    } while (0)

static uint64_t bytes_mode_size(const char *mode)
{
    if (strcmp(mode, "empty") == 0)
        return 8;
    if (strcmp(mode, "cut") == 0)
        return 8;
    if (strcmp(mode, "trailing") == 0)
        return 13;
    return 10; /* good: "ab" and "" */
}

static int bytes_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    const char *mode;
    int status = api->param_string(ctx, "mode", &mode);
    if (status != NCS_OK)
        return status;
    int64_t dims[2] = {2, 1};
    BYTES_EXPECT(api->struct_size >=
                 offsetof(ncs_host_api, set_output_bytes) + sizeof api->set_output_bytes);
    if (strcmp(mode, "set_output") == 0)
        return api->set_output(ctx, 0, NCS_DTYPE_BYTES, 1, dims);
    BYTES_EXPECT(api->set_output_bytes(NULL, 0, 1, dims, 10) == NCS_E_INVALID_ARGUMENT);
    BYTES_EXPECT(api->set_output_bytes(ctx, 1, 1, dims, 10) == NCS_E_INVALID_ARGUMENT);
    BYTES_EXPECT(api->set_output_bytes(ctx, -1, 1, dims, 10) == NCS_E_INVALID_ARGUMENT);
    BYTES_EXPECT(api->set_output_bytes(ctx, 0, 2, dims, 10) == NCS_E_INVALID_ARGUMENT); /* rank 1 */
    BYTES_EXPECT(api->set_output_bytes(ctx, 0, 1, NULL, 10) == NCS_E_INVALID_ARGUMENT);
    BYTES_EXPECT(api->set_output_bytes(ctx, 0, 1, dims, 7) == NCS_E_INVALID_ARGUMENT); /* < 2 * 4 */
    dims[0] = -2;
    BYTES_EXPECT(api->set_output_bytes(ctx, 0, 1, dims, 10) == NCS_E_INVALID_ARGUMENT);
    dims[0] = INT64_MAX; /* the length prefixes alone overflow 64 bits */
    BYTES_EXPECT(api->set_output_bytes(ctx, 0, 1, dims, UINT64_MAX) == NCS_E_INVALID_ARGUMENT);
    dims[0] = 2;
    BYTES_EXPECT(api->set_parts(ctx, max_parts) == NCS_OK);
    BYTES_EXPECT(api->set_parts(ctx, 1) == NCS_OK);
    return api->set_output_bytes(ctx, 0, 1, dims, bytes_mode_size(mode));
}

/* Writes output y as parameter "mode" says. */
static int bytes_write(ncs_ctx *ctx)
{
    const ncs_host_api *api = ctx->api;
    const char *mode;
    ncs_tensor_view y;
    int status = api->param_string(ctx, "mode", &mode);
    if (status == NCS_OK)
        status = api->output(ctx, 0, &y);
    if (status != NCS_OK)
        return status;
    BYTES_EXPECT(y.dtype == NCS_DTYPE_BYTES && y.rank == 1 && y.dims[0] == 2 && y.count == 2 &&
                 y.nbytes == bytes_mode_size(mode) && y.data != NULL);
    int64_t dims[1] = {2};
    BYTES_EXPECT(api->set_output_bytes(ctx, 0, 1, dims, 10) == NCS_E_INTERNAL);
    unsigned char *p = y.data;
    memset(p, 0xee, y.nbytes);
    if (strcmp(mode, "empty") == 0) {
        memcpy(p, "\0\0\0\0\0\0\0\0", 8);
    } else if (strcmp(mode, "past_end") == 0) {
        memcpy(p, "\x64\0\0\0ab", 6); /* 100 bytes declared, 6 remain */
    } else if (strcmp(mode, "cut") == 0) {
        memcpy(p, "\2\0\0\0ab\0\0", 8); /* element 1 has 2 of its 4 length bytes */
    } else if (strcmp(mode, "short") == 0) {
        memcpy(p, "\6\0\0\0abcdef", 10); /* one element fills all 10 bytes */
    } else {
        memcpy(p, "\2\0\0\0ab\0\0\0\0", 10); /* good, and trailing leaves 3 bytes of 0xee */
    }
    return NCS_OK;
}

static int bytes_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)part;
    (void)nparts;
    return bytes_write(ctx);
}

static int bytes_finish(ncs_ctx *ctx)
{
    return bytes_write(ctx);
}

/* The abuse kernel misuses every host service and counts the answers it did not expect. */
static atomic_int abuse_errors;
static atomic_int abuse_checks;

#define EXPECT(cond)                                                                           \
    do {                                                                                       \
        atomic_fetch_add(&abuse_checks, 1);                                                    \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: kernel-side expectation failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                                    \
            atomic_fetch_add(&abuse_errors, 1);                                                \
        }                                                                                      \
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
    dims[0] = 3;
    EXPECT(api->set_output(ctx, 0, NCS_DTYPE_BYTES, 1, dims) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_output_bytes(ctx, 0, 1, dims, 100) == NCS_E_INVALID_ARGUMENT); /* FP64 only */
    EXPECT(api->set_output_bytes(NULL, 0, 1, dims, 100) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_parts(ctx, 0) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_parts(ctx, max_parts + 1) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_parts(NULL, 1) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->set_workspace(NULL, 8) == NCS_E_INVALID_ARGUMENT);

    int64_t n = 0;
    double r = 0;
    int b = 0;
    const char *s = NULL;
    EXPECT(api->param_int(ctx, "n", &n) == NCS_OK && n == -42);  /* set by the test */
    EXPECT(api->param_double(ctx, "r", &r) == NCS_OK && r != r); /* default "nan" */
    EXPECT(api->param_bool(ctx, "b", &b) == NCS_OK && b == 1);   /* default "true" */
    EXPECT(api->param_string(ctx, "s", &s) == NCS_OK && strcmp(s, "hello world") == 0);
    EXPECT(api->param_int(ctx, "b", &n) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_bool(ctx, "missing", &b) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_bool(ctx, NULL, &b) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_bool(ctx, "b", NULL) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_double(NULL, "r", &r) == NCS_E_INVALID_ARGUMENT);
    int set = -1;
    EXPECT(api->param_is_set(ctx, "r", &set) == NCS_OK &&
           set == 1); /* set by the test, to its default */
    EXPECT(api->param_is_set(ctx, "b", &set) == NCS_OK && set == 0); /* its default applies */
    EXPECT(api->param_is_set(ctx, "missing", &set) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_is_set(ctx, NULL, &set) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_is_set(ctx, "n", NULL) == NCS_E_INVALID_ARGUMENT);
    EXPECT(api->param_is_set(NULL, "n", &set) == NCS_E_INVALID_ARGUMENT);

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
    EXPECT(api->set_output_bytes(ctx, 0, 1, dims, 100) == NCS_E_INTERNAL);
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
    {.name = "y",
     .doc = "",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64),
     .rank = 1,
     .dims = {NCS_DIM_ANY}},
};
static const ncs_param_desc abuse_params[] = {
    {.name = "n", .type = NCS_PARAM_INT, .default_value = "3", .doc = ""},
    {.name = "r", .type = NCS_PARAM_DOUBLE, .default_value = "nan", .doc = ""},
    {.name = "b", .type = NCS_PARAM_BOOL, .default_value = "true", .doc = ""},
    {.name = "s", .type = NCS_PARAM_STRING, .default_value = "hi", .doc = ""},
};

static const ncs_param_desc script_params[] = {
    {.name = "p0", .type = NCS_PARAM_STRING, .default_value = "ok", .doc = ""},
    {.name = "p1", .type = NCS_PARAM_STRING, .default_value = "ok", .doc = ""},
};

static const ncs_tensor_desc bytes_outputs[] = {
    {.name = "y",
     .doc = "",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_BYTES) | NCS_DTYPE_BIT(NCS_DTYPE_INT64),
     .rank = 1,
     .dims = {NCS_DIM_ANY}},
};
static const ncs_param_desc bytes_params[] = {
    {.name = "mode", .type = NCS_PARAM_STRING, .default_value = "good", .doc = ""},
};

#define TEST_KERNEL(NAME, PREPARE, RUN)                                                      \
    {                                                                                        \
        .struct_size = sizeof(ncs_kernel_desc), .name = NAME, .doc = "test", .n_outputs = 1, \
        .outputs = one_int64_output, .prepare = PREPARE, .run = RUN,                         \
        .flags = NCS_KERNEL_THREAD_SAFE /* test_siblings' parts wait for each other */       \
    }

static const ncs_kernel_desc test_kernels[] = {
    TEST_KERNEL("test_leak", declare_y, leak_run),
    TEST_KERNEL("test_wait", declare_y, wait_run),
    TEST_KERNEL("test_no_output", no_output_prepare, noop_run),
    TEST_KERNEL("test_bad_status", bad_status_prepare, noop_run),
    TEST_KERNEL("test_prepare_leak", prepare_leak_prepare, noop_run),
    TEST_KERNEL("test_siblings", script_prepare, sibling_run),
    {.struct_size = sizeof(ncs_kernel_desc),
     .name = "test_script",
     .doc = "two parts that do what p0 and p1 say",
     .n_outputs = 1,
     .outputs = one_int64_output,
     .n_params = 2,
     .params = script_params,
     .prepare = script_prepare,
     .run = script_run},
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
    {.struct_size = sizeof(ncs_kernel_desc),
     .name = "test_bytes_out",
     .doc = "writes a BYTES output in run",
     .n_outputs = 1,
     .outputs = bytes_outputs,
     .n_params = 1,
     .params = bytes_params,
     .prepare = bytes_prepare,
     .run = bytes_run},
    {.struct_size = sizeof(ncs_kernel_desc),
     .name = "test_bytes_finish",
     .doc = "writes a BYTES output in finish",
     .n_outputs = 1,
     .outputs = bytes_outputs,
     .n_params = 1,
     .params = bytes_params,
     .prepare = bytes_prepare,
     .run = noop_run,
     .finish = bytes_finish},
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
    ncs_call_destroy(call, NULL, NULL);
    ncs_call_destroy(NULL, NULL, NULL);
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

    CHECK_STATUS(ncs_call_set_input(call, 2, NCS_DTYPE_FP64, 2, shape, buffer),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call),
                   "input index 2 is out of range: kernel 'matmul' has 2 inputs");
    CHECK_STATUS(ncs_call_set_input(call, -1, NCS_DTYPE_FP64, 2, shape, buffer),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_input(call, 0, 99, 2, shape, buffer), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "99 is not a datatype");
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_INT32, 2, shape, buffer),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call),
                   "input 'a' is INT32 but kernel 'matmul' accepts FP32, FP64");
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 3, shape, buffer),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input 'a' has rank 3 but kernel 'matmul' needs rank 2");
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 9, shape, buffer),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, NULL, buffer),
                 NCS_E_INVALID_ARGUMENT);
    int64_t negative[2] = {4, -1};
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, negative, buffer),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call),
                   "input 'a' has dimension -1 at axis 1: dimensions cannot be negative");
    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, huge, buffer),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "more elements than fit in 64 bits");
    int64_t many_bytes[2] = {INT64_C(1) << 61, 1};
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, many_bytes, buffer),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "more bytes than fit in 64 bits");
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, small),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call),
                   "input 'a' (FP64 [4,4]) needs 128 bytes but its buffer has 64");
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
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_refcount(small, &count));
    CHECK(count == 1);
    CHECK_OK(ncs_buffer_release(buffer));
    CHECK_OK(ncs_buffer_release(small));
}

/* Appends a 4-byte little-endian length and `length` bytes of `text`; returns the new size. */
static size_t put_element(unsigned char *out, size_t at, uint32_t length, const char *text)
{
    out[at] = (unsigned char)(length & 0xff);
    out[at + 1] = (unsigned char)((length >> 8) & 0xff);
    out[at + 2] = (unsigned char)((length >> 16) & 0xff);
    out[at + 3] = (unsigned char)((length >> 24) & 0xff);
    if (text != NULL)
        memcpy(out + at + 4, text, length);
    return at + 4 + (text != NULL ? length : 0);
}

/* set_input of `size` bytes of `data` as a BYTES tensor of shape dims[0..rank-1] into identity:
   returns the status; on failure checks the message and that nothing was retained. */
static int set_bytes_input(const void *data, size_t size, int rank, const int64_t *dims,
                           const char *message)
{
    ncs_handle buffer = buffer_from(data, size);
    ncs_call *call;
    CHECK_OK(ncs_call_create("identity", &call));
    int status = ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, rank, dims, buffer);
    uint32_t count;
    CHECK_OK(ncs_buffer_refcount(buffer, &count));
    if (status == NCS_OK) {
        CHECK(count == 2);
        CHECK(strcmp(ncs_call_error(call), "") == 0);
    } else {
        CHECK(count == 1);
        CHECK(strcmp(ncs_call_error(call), message) == 0);
    }
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(buffer));
    return status;
}

static void test_set_input_bytes(void)
{
    unsigned char data[64];
    const int64_t three[1] = {3}, one_by_three[2] = {1, 3};
    /* ["ab", "", "xyz"]: 4+2 + 4+0 + 4+3 = 17 bytes */
    size_t good = put_element(data, 0, 2, "ab");
    good = put_element(data, good, 0, "");
    good = put_element(data, good, 3, "xyz");
    CHECK(good == 17);
    CHECK_OK(set_bytes_input(data, good, 1, three, NULL));
    CHECK_OK(set_bytes_input(data, good, 2, one_by_three, NULL));

    /* Empty tensors have no bytes; one with bytes is refused. */
    const int64_t zero[1] = {0}, two_by_zero[2] = {2, 0};
    CHECK_OK(set_bytes_input(data, 0, 1, zero, NULL));
    CHECK_OK(set_bytes_input(data, 0, 2, two_by_zero, NULL));
    CHECK_STATUS(set_bytes_input(data, 4, 1, zero,
                                 "input 'x': a BYTES tensor with no elements has 0 bytes, not 4"),
                 NCS_E_INVALID_ARGUMENT);

    /* Elements of length 0 are valid: [""], rank 0 [""] and ["", ""]. */
    const int64_t one[1] = {1}, two[1] = {2};
    unsigned char empties[8] = {0};
    CHECK_OK(set_bytes_input(empties, 4, 1, one, NULL));
    CHECK_OK(set_bytes_input(empties, 4, 0, NULL, NULL));
    CHECK_OK(set_bytes_input(empties, 8, 1, two, NULL));

    /* A truncated length prefix: two good elements, then 2 of element 2's 4 length bytes. */
    size_t cut = put_element(data, 0, 2, "ab");
    cut = put_element(data, cut, 0, "");
    CHECK_STATUS(set_bytes_input(
                     data, cut + 2, 1, three,
                     "input 'x': BYTES element 2's 4-byte length is cut off: only 2 bytes remain"),
                 NCS_E_INVALID_ARGUMENT);

    /* A length past the end: element 3 declares 100 bytes, 7 follow. */
    const int64_t four[1] = {4};
    size_t past = put_element(data, 0, 2, "ab");
    past = put_element(data, past, 0, "");
    past = put_element(data, past, 3, "xyz");
    past = put_element(data, past, 100, NULL);
    memcpy(data + past, "1234567", 7);
    CHECK_STATUS(set_bytes_input(data, past + 7, 1, four,
                                 "input 'x': BYTES element 3 declares 100 bytes but only 7 remain"),
                 NCS_E_INVALID_ARGUMENT);
    /* A length with the top bit set (no sign or 32-bit overflow games). */
    size_t top = put_element(data, 0, 0xffffffffu, NULL);
    CHECK_STATUS(
        set_bytes_input(data, top + 3, 1, one,
                        "input 'x': BYTES element 0 declares 4294967295 bytes but only 3 remain"),
        NCS_E_INVALID_ARGUMENT);

    /* Extra trailing bytes after the last element (also: more elements than the shape says). */
    good = put_element(data, 0, 2, "ab");
    good = put_element(data, good, 0, "");
    good = put_element(data, good, 3, "xyz");
    memcpy(data + good, "zzz", 3);
    CHECK_STATUS(
        set_bytes_input(
            data, good + 3, 1, three,
            "input 'x': BYTES element 2, the last, ends at byte 17 but 3 more bytes follow"),
        NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(
        set_bytes_input(
            data, good, 1, two,
            "input 'x': BYTES element 1, the last, ends at byte 10 but 7 more bytes follow"),
        NCS_E_INVALID_ARGUMENT);

    /* Fewer elements than the shape says: 3 elements for shape [5] and [2,2]. */
    const int64_t five[1] = {5}, two_by_two[2] = {2, 2};
    CHECK_STATUS(
        set_bytes_input(data, good, 1, five,
                        "input 'x': BYTES element 3 is missing: the 17 bytes hold 3 of the 5 "
                        "elements the shape needs"),
        NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(
        set_bytes_input(data, good, 2, two_by_two,
                        "input 'x': BYTES element 3 is missing: the 17 bytes hold 3 of the 4 "
                        "elements the shape needs"),
        NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(
        set_bytes_input(data, 0, 1, one,
                        "input 'x': BYTES element 0 is missing: the 0 bytes hold 0 of the 1 "
                        "elements the shape needs"),
        NCS_E_INVALID_ARGUMENT);
    /* A huge shape cannot make the check walk past the buffer. */
    const int64_t huge[2] = {INT64_C(1) << 31, INT64_C(1) << 31};
    CHECK_STATUS(set_bytes_input(empties, 8, 2, huge,
                                 "input 'x': BYTES element 2 is missing: the 8 bytes hold 2 of the "
                                 "4611686018427387904 elements the shape needs"),
                 NCS_E_INVALID_ARGUMENT);

    /* A refused BYTES input leaves a previously set one in place. */
    ncs_handle ok = buffer_from(empties, 8), bad = buffer_from(empties, 6);
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("identity", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 1, two, ok));
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 1, two, bad), NCS_E_INVALID_ARGUMENT);
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    uint64_t nbytes = 0;
    CHECK_OK(ncs_call_output_nbytes(call, 0, &nbytes));
    CHECK(nbytes == 8);
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(ok));
    CHECK_OK(ncs_buffer_release(bad));

    /* BYTES is refused by kernels that do not list it. */
    ncs_handle buffer = buffer_from(empties, 8);
    CHECK_OK(ncs_call_create("matmul", &call));
    const int64_t one_by_two[2] = {1, 2};
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 2, one_by_two, buffer),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call),
                   "input 'a' is BYTES but kernel 'matmul' accepts FP32, FP64");
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(buffer));
}

/* Runs test_bytes_out or test_bytes_finish with `mode`; expects `expected` from finish. */
static void run_bytes_kernel(const char *kernel, const char *mode, int expected,
                             const char *message)
{
    ncs_call *call;
    int nparts = 0;
    CHECK_OK(ncs_call_create(kernel, &call));
    CHECK_OK(ncs_call_set_param(call, "mode", mode));
    CHECK_OK(ncs_call_prepare(call, 4, &nparts));
    CHECK(nparts == 1);
    int dtype, rank;
    int64_t dims[NCS_MAX_RANK];
    uint64_t nbytes = 0;
    CHECK_OK(ncs_call_output_info(call, 0, &dtype, &rank, dims));
    CHECK(dtype == NCS_DTYPE_BYTES && rank == 1 && dims[0] == 2);
    CHECK_OK(ncs_call_output_nbytes(call, 0, &nbytes));
    CHECK(nbytes == bytes_mode_size(mode));
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 1);
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == nbytes); /* allocated with exactly nbytes */
    CHECK_STATUS(run_parts_and_finish(call, nparts), expected);
    ncs_handle y = 0;
    if (expected == NCS_OK) {
        CHECK_OK(ncs_call_take_output(call, 0, &y));
        uint64_t addr, size;
        CHECK_OK(ncs_buffer_data(y, &addr, &size));
        CHECK(size == nbytes);
        CHECK(memcmp((const void *)(uintptr_t)addr,
                     strcmp(mode, "empty") == 0 ? "\0\0\0\0\0\0\0\0" : "\2\0\0\0ab\0\0\0\0",
                     (size_t)size) == 0);
        CHECK_OK(ncs_buffer_release(y));
    } else {
        CHECK(strcmp(ncs_call_error(call), message) == 0);
        CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 0); /* freed at once, never handed out */
        CHECK_STATUS(ncs_call_take_output(call, 0, &y), NCS_E_INVALID_ARGUMENT);
        CHECK(y == 0);
        CHECK_STATUS(ncs_call_output_nbytes(call, 0, &nbytes), NCS_E_INVALID_ARGUMENT);
        CHECK_STATUS(ncs_call_output_info(call, 0, &dtype, &rank, dims), NCS_E_INVALID_ARGUMENT);
    }
    uint64_t leaked = 99;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
}

static void test_bytes_outputs(void)
{
    const char *kernels[] = {"test_bytes_out", "test_bytes_finish"};
    uint64_t kernel_leaks = stat_value(NCS_STAT_KERNEL_LEAKS);
    for (int k = 0; k < 2; k++) {
        char message[256];
        run_bytes_kernel(kernels[k], "good", NCS_OK, NULL);
        run_bytes_kernel(kernels[k], "empty", NCS_OK, NULL);
        snprintf(
            message, sizeof message,
            "kernel '%s' produced malformed BYTES output 'y': BYTES element 0 declares 100 bytes "
            "but only 6 remain",
            kernels[k]);
        run_bytes_kernel(kernels[k], "past_end", NCS_E_INTERNAL, message);
        snprintf(message, sizeof message,
                 "kernel '%s' produced malformed BYTES output 'y': BYTES element 1's 4-byte length "
                 "is cut off: only 2 bytes remain",
                 kernels[k]);
        run_bytes_kernel(kernels[k], "cut", NCS_E_INTERNAL, message);
        snprintf(
            message, sizeof message,
            "kernel '%s' produced malformed BYTES output 'y': BYTES element 1 is missing: the 10 "
            "bytes hold 1 of the 2 elements the shape needs",
            kernels[k]);
        run_bytes_kernel(kernels[k], "short", NCS_E_INTERNAL, message);
        snprintf(
            message, sizeof message,
            "kernel '%s' produced malformed BYTES output 'y': BYTES element 1, the last, ends at "
            "byte 10 but 3 more bytes follow",
            kernels[k]);
        run_bytes_kernel(kernels[k], "trailing", NCS_E_INTERNAL, message);
    }
    CHECK(stat_value(NCS_STAT_KERNEL_LEAKS) == kernel_leaks);
    CHECK(atomic_load(&bytes_errors) == 0);

    /* set_output with BYTES is refused, pointing at set_output_bytes. */
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("test_bytes_out", &call));
    CHECK_OK(ncs_call_set_param(call, "mode", "set_output"));
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INVALID_ARGUMENT);
    CHECK(
        strcmp(
            ncs_call_error(call),
            "kernel 'test_bytes_out' declared BYTES output 'y' with set_output: BYTES outputs have "
            "no element size, declare them with set_output_bytes") == 0);
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 0);
    ncs_call_destroy(call, NULL, NULL);

    /* A BYTES output counts against the memory budget like any other. */
    CHECK_OK(ncs_call_create("test_bytes_out", &call));
    ncs_set_memory_limit(stat_value(NCS_STAT_LIVE_BYTES) + 9);
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_OUT_OF_MEMORY);
    CHECK_CONTAINS(ncs_call_error(call), "output 'y' needs 10 bytes");
    ncs_set_memory_limit(0);
    ncs_call_destroy(call, NULL, NULL);
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
    CHECK_CONTAINS(ncs_call_error(call),
                   "parameter 'b' is bool: expected true, false, 1 or 0, got 'true '");
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
    ncs_call_destroy(call, NULL, NULL);
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
    CHECK(strcmp(ncs_call_error(call), "") == 0); /* the refused probes of a successful prepare */
    int dtype, rank;
    int64_t dims[NCS_MAX_RANK];
    CHECK_OK(ncs_call_output_info(call, 0, &dtype, &rank, dims));
    CHECK(dtype == NCS_DTYPE_FP64 && rank == 1 && dims[0] == 3);
    CHECK_STATUS(ncs_call_output_info(call, 1, &dtype, &rank, dims), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_output_info(call, 0, NULL, &rank, dims), NCS_E_INVALID_ARGUMENT);
    for (int p = 0; p < nparts; p++) {
        CHECK_OK(ncs_call_run_part(call, p));
        CHECK(strcmp(ncs_call_error(call), "") == 0); /* ... and of successful parts */
    }
    CHECK_OK(ncs_call_finish(call));
    CHECK(ncs_call_progress(call) == 2);
    ncs_handle y;
    CHECK_OK(ncs_call_take_output(call, 0, &y));
    const double *yv = buffer_memory(y);
    CHECK(yv[0] == 0 && yv[1] == 10 && yv[2] == 20);
    uint64_t leaked = 99;
    ncs_call_destroy(call, &leaked, NULL);
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
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts),
                 NCS_E_INVALID_ARGUMENT); /* only destroy remains */
    CHECK_STATUS(ncs_call_run_part(call, 0), NCS_E_INVALID_ARGUMENT);
    ncs_call_destroy(call, NULL, NULL);

    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_STATUS(ncs_call_prepare(call, 0, &nparts), NCS_E_INVALID_ARGUMENT);
    ncs_call_destroy(call, NULL, NULL);

    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_STATUS(ncs_call_take_output(call, 0, &out), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_finish(call), NCS_E_INVALID_ARGUMENT);
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    CHECK(nparts == 1);
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer),
                 NCS_E_INVALID_ARGUMENT);
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
    ncs_call_destroy(call, NULL, NULL);
    const double *c = buffer_memory(out); /* [[1,2],[3,4]]^2 */
    CHECK(c[0] == 7 && c[1] == 10 && c[2] == 15 && c[3] == 22);
    CHECK_OK(ncs_buffer_release(out));

    /* Outputs not taken, and the workspace (matmul's packing scratch), are released by destroy. */
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, shape, buffer));
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 3);
    ncs_call_destroy(call, NULL, NULL);
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
    CHECK(
        strcmp(
            ncs_call_error(call),
            "input 'b' has 3 rows but input 'a' has 4 columns: matmul needs a [m,k] and b [k,n]") ==
        0);
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 1);
    ncs_call_destroy(call, NULL, NULL);

    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, a_shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP32, 2, b_shape, buffer));
    CHECK_STATUS(ncs_call_prepare(call, 2, &nparts), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input 'b' is FP32 but input 'a' is FP64");
    ncs_call_destroy(call, NULL, NULL);

    /* A kernel that forgets an output, or returns a status outside the enum, is a bug. */
    CHECK_OK(ncs_call_create("test_no_output", &call));
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INTERNAL);
    CHECK_CONTAINS(ncs_call_error(call), "kernel 'test_no_output' did not declare output 'y'");
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_call_create("test_bad_status", &call));
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INTERNAL);
    CHECK_CONTAINS(ncs_call_error(call), "kernel 'test_bad_status' failed in prepare");
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(buffer));
}

static void test_memory_budget_in_prepare(void)
{
    double values[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    ncs_handle buffer = buffer_from(values, sizeof values);
    int64_t a_shape[2] = {4, 1}, b_shape[2] = {1, 16};
    ncs_call *call;
    int nparts = -5;
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, a_shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, b_shape, buffer));
    /* Another buffer holds part of the budget: the call would fit in the whole budget, but not now. */
    ncs_handle held;
    CHECK_OK(ncs_buffer_alloc(100, &held));
    ncs_set_memory_limit(stat_value(NCS_STAT_LIVE_BYTES) + 100);
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_OUT_OF_MEMORY);
    CHECK(nparts == -5);
    CHECK_CONTAINS(ncs_call_error(call), "output 'c' needs 512 bytes");
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 2);
    CHECK_OK(ncs_buffer_release(held));

    /* What the call needs at once is known after the refusal: the 128-byte input buffer, whole and
       once although a reads only 32 bytes of it; c's 512; and matmul's workspace for its one part,
       packed blocks of b (1 x 16 doubles, 128 bytes) and a (4 rows padded to a 6-row panel, 48
       bytes, rounded up to 64). Every micro-kernel path packs these alike. A call needing more
       than the whole budget fails the same way; the caller tells the two apart with
       ncs_call_bytes_needed. */
    CHECK(ncs_call_bytes_needed(call) == 128 + 512 + 128 + 64);
    CHECK(ncs_call_bytes_needed(NULL) == 0);
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK(ncs_call_bytes_needed(call) == 0);
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, a_shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, b_shape, buffer));
    ncs_set_memory_limit(831);
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_OUT_OF_MEMORY);
    CHECK_CONTAINS(ncs_call_error(call), "needs 192 bytes of workspace");
    CHECK(ncs_call_bytes_needed(call) == 832);
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 1);
    ncs_call_destroy(call, NULL, NULL);

    /* Exactly the figure is enough: the parts allocate nothing more. */
    ncs_set_memory_limit(832);
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, a_shape, buffer));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, b_shape, buffer));
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 832);
    CHECK_OK(run_parts_and_finish(call, nparts));
    ncs_handle c;
    CHECK_OK(ncs_call_take_output(call, 0, &c));
    ncs_call_destroy(call, NULL, NULL);
    const double *product = buffer_memory(c); /* c[i][j] = a[i] b[j] = (i + 1) (j + 1) */
    for (int i = 0; i < 64; i++)
        CHECK(product[i] == (double)((i / 16 + 1) * (i % 16 + 1)));
    CHECK_OK(ncs_buffer_release(c));
    ncs_set_memory_limit(0);
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
    ncs_call_destroy(call, &leaked, NULL);
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
    ncs_call_destroy(call, NULL, NULL);
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
    ncs_call_destroy(call, NULL, NULL);
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
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 1);
    CHECK(stat_value(NCS_STAT_KERNEL_LEAKS) == leaks + 1);

    /* A prepare that fails after allocating: the scratch is reclaimed and counted too. */
    CHECK_OK(ncs_call_create("test_prepare_leak", &call));
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INVALID_ARGUMENT);
    CHECK(strcmp(ncs_call_error(call), "prepare refuses (7)") == 0);
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 1);
    CHECK(stat_value(NCS_STAT_KERNEL_LEAKS) == leaks + 2);
}

/* ---- errors of concurrent parts -------------------------------------------------------- */

/* Runs test_script with p0 and p1 (prepared, nothing run yet). */
static ncs_call *script_call(const char *p0, const char *p1)
{
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("test_script", &call));
    CHECK_OK(ncs_call_set_param(call, "p0", p0));
    CHECK_OK(ncs_call_set_param(call, "p1", p1));
    CHECK_OK(ncs_call_prepare(call, 2, &nparts));
    CHECK(nparts == 2);
    return call;
}

static void test_part_errors_first_failure(void)
{
    /* A part's refused probe is no failure: the sibling that fails gets its own message. */
    ncs_call *call = script_call("probe", "fail");
    CHECK_OK(ncs_call_run_part(call, 0));
    CHECK(strcmp(ncs_call_error(call), "") == 0);
    CHECK_STATUS(ncs_call_run_part(call, 1), NCS_E_INVALID_ARGUMENT);
    const char *error = ncs_call_error(call);
    CHECK(strcmp(error, "kernel 'test_script' failed in run: invalid argument") == 0);
    /* A later failure (here: a part run twice) keeps the first message, at the same address. */
    CHECK_STATUS(ncs_call_run_part(call, 1), NCS_E_INVALID_ARGUMENT);
    CHECK(ncs_call_error(call) == error);
    CHECK(strcmp(error, "kernel 'test_script' failed in run: invalid argument") == 0);
    ncs_call_destroy(call, NULL, NULL);

    /* A real failure stops the siblings: the part not yet run is cancelled without running,
       and the message stays the real failure's. */
    call = script_call("oom", "ok");
    CHECK_STATUS(ncs_call_run_part(call, 0), NCS_E_OUT_OF_MEMORY);
    CHECK(strcmp(ncs_call_error(call), "part 0 ran out of memory") == 0);
    CHECK_STATUS(ncs_call_run_part(call, 1), NCS_E_CANCELLED);
    CHECK(strcmp(ncs_call_error(call), "part 0 ran out of memory") == 0);
    ncs_call_destroy(call, NULL, NULL);

    /* A cancellation recorded first gives way to the first real failure after it. */
    call = script_call("cancel", "oom");
    CHECK_STATUS(ncs_call_run_part(call, 0), NCS_E_CANCELLED);
    CHECK(strcmp(ncs_call_error(call), "part 0 saw the cancellation") == 0);
    CHECK_STATUS(ncs_call_run_part(call, 1), NCS_E_OUT_OF_MEMORY);
    CHECK(strcmp(ncs_call_error(call), "part 1 ran out of memory") == 0);
    /* The next single-threaded entry point starts afresh. */
    CHECK_STATUS(ncs_call_finish(call), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "part 0 of 2 has not completed successfully");
    ncs_call_destroy(call, NULL, NULL);
}

typedef struct part_thread {
    ncs_call *call;
    int part;
    int status;
    char error[512]; /* ncs_call_error as the part's thread read it right after its part */
} part_thread;

static void *run_one_part(void *arg)
{
    part_thread *t = arg;
    t->status = ncs_call_run_part(t->call, t->part);
    snprintf(t->error, sizeof t->error, "%s", ncs_call_error(t->call));
    return NULL;
}

static void test_concurrent_part_errors(void)
{
    const char *expected = "part 0 could not get its 4096 bytes";
    for (int round = 0; round < 200; round++) {
        ncs_call *call;
        int nparts;
        CHECK_OK(ncs_call_create("test_siblings", &call));
        CHECK_OK(ncs_call_prepare(call, 2, &nparts));
        CHECK(nparts == 2);
        atomic_store(&sibling_started, 0);
        part_thread threads[2] = {{.call = call, .part = 0}, {.call = call, .part = 1}};
        pthread_t ids[2];
        int first = round % 2; /* alternate which part's thread starts first */
        CHECK(pthread_create(&ids[first], NULL, run_one_part, &threads[first]) == 0);
        CHECK(pthread_create(&ids[1 - first], NULL, run_one_part, &threads[1 - first]) == 0);
        CHECK(pthread_join(ids[0], NULL) == 0);
        CHECK(pthread_join(ids[1], NULL) == 0);
        CHECK_STATUS(threads[0].status, NCS_E_OUT_OF_MEMORY);
        CHECK_STATUS(threads[1].status, NCS_E_CANCELLED);
        CHECK(strcmp(threads[0].error, expected) == 0);
        CHECK(strcmp(threads[1].error, expected) == 0);
        CHECK(strcmp(ncs_call_error(call), expected) == 0);
        ncs_call_destroy(call, NULL, NULL);
    }
    CHECK(atomic_load(&sibling_errors) == 0);
}

/* ---- destroy while a part runs ---------------------------------------------------------- */

/* ncs_call_destroy while a part still runs aborts the process (a host bug, like freeing memory
   in use) with a message on stderr, instead of freeing the call under the running part. */
static void test_destroy_while_running_aborts(void)
{
    int pipe_fds[2];
    CHECK(pipe(pipe_fds) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        alarm(30);
        dup2(pipe_fds[1], STDERR_FILENO);
        close(pipe_fds[0]);
        ncs_call *call;
        int nparts;
        if (ncs_call_create("test_wait", &call) != NCS_OK ||
            ncs_call_prepare(call, 1, &nparts) != NCS_OK)
            _exit(2);
        pthread_t thread;
        atomic_store(&wait_started, 0);
        if (pthread_create(&thread, NULL, run_part_zero, call) != 0)
            _exit(2);
        while (!atomic_load(&wait_started))
            sched_yield();
        ncs_call_destroy(call, NULL, NULL); /* must not return */
        _exit(3);
    }
    close(pipe_fds[1]);
    char text[1024];
    size_t used = 0;
    ssize_t got;
    while (used < sizeof text - 1 &&
           (got = read(pipe_fds[0], text + used, sizeof text - 1 - used)) > 0)
        used += (size_t)got;
    text[used] = '\0';
    close(pipe_fds[0]);
    int wstatus;
    CHECK(waitpid(child, &wstatus, 0) == child);
    if (!WIFSIGNALED(wstatus) || WTERMSIG(wstatus) != SIGABRT)
        fprintf(stderr, "child: %s %d; stderr: %s\n", WIFSIGNALED(wstatus) ? "signal" : "exit",
                WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus), text);
    CHECK(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGABRT);
    CHECK_CONTAINS(text, "ncs_call_destroy on a call of kernel 'test_wait' while 1 "
                         "ncs_call_run_part call(s) still run");
}

int main(void)
{
    CHECK_OK(ncs_catalog_register_library("test", register_test_kernels));
    RUN_TEST(test_create);
    RUN_TEST(test_set_input_validation);
    RUN_TEST(test_set_input_bytes);
    RUN_TEST(test_bytes_outputs);
    RUN_TEST(test_params);
    RUN_TEST(test_host_api_misuse);
    RUN_TEST(test_sequence_errors);
    RUN_TEST(test_kernel_messages);
    RUN_TEST(test_memory_budget_in_prepare);
    RUN_TEST(test_cancel_before_run);
    RUN_TEST(test_cancel_while_running);
    RUN_TEST(test_cancel_matmul);
    RUN_TEST(test_kernel_leak_counted);
    RUN_TEST(test_part_errors_first_failure);
    RUN_TEST(test_concurrent_part_errors);
    RUN_TEST(test_destroy_while_running_aborts);
    return 0;
}
