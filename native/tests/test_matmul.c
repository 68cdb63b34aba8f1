/*
 * test_matmul.c -- matmul against a naive triple loop, for both dtypes, edge, odd and prime
 * sizes, sizes crossing every cache block, several part counts (sequential and concurrent
 * parts), with every micro-kernel this CPU runs (portable, AVX2+FMA, AVX-512), cancellation, and
 * the memory budget: the call's whole peak, packing scratch of every part included, is known and
 * reserved at prepare, also when the parts run at the same time.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>

#include "check.h"
#include "internal.h"
#include "kernels/kernels.h"
#include "cpu.h"

typedef struct matrices {
    int64_t m, k, n;
    int dtype;
    ncs_handle a, b;
    double *ref;     /* exact-ish product, computed in double */
    double *abs_ref; /* sum of |a||b| per element: the scale of the rounding error */
} matrices;

static double element(const void *data, int dtype, int64_t i)
{
    return dtype == NCS_DTYPE_FP64 ? ((const double *)data)[i] : (double)((const float *)data)[i];
}

static ncs_handle random_matrix(int64_t count, int dtype, uint64_t *seed)
{
    size_t size = dtype == NCS_DTYPE_FP64 ? 8 : 4;
    ncs_handle h;
    CHECK_OK(ncs_buffer_alloc((uint64_t)count * size, &h));
    void *data = count ? buffer_memory(h) : NULL;
    for (int64_t i = 0; i < count; i++) {
        double v = 2 * test_random(seed) - 1;
        if (dtype == NCS_DTYPE_FP64)
            ((double *)data)[i] = v;
        else
            ((float *)data)[i] = (float)v;
    }
    return h;
}

static matrices make_matrices(int64_t m, int64_t k, int64_t n, int dtype)
{
    uint64_t seed = (uint64_t)(m * 1000003 + k * 1009 + n) | 1;
    matrices x = {.m = m, .k = k, .n = n, .dtype = dtype};
    x.a = random_matrix(m * k, dtype, &seed);
    x.b = random_matrix(k * n, dtype, &seed);
    x.ref = calloc((size_t)(m * n) + 1, sizeof(double));
    x.abs_ref = calloc((size_t)(m * n) + 1, sizeof(double));
    CHECK(x.ref && x.abs_ref);
    const void *a = m * k != 0 ? buffer_memory(x.a) : NULL,
               *b = k * n != 0 ? buffer_memory(x.b) : NULL;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t p = 0; p < k; p++) {
            double aip = element(a, dtype, i * k + p);
            for (int64_t j = 0; j < n; j++) {
                double bpj = element(b, dtype, p * n + j);
                x.ref[i * n + j] += aip * bpj;
                x.abs_ref[i * n + j] += fabs(aip * bpj);
            }
        }
    }
    return x;
}

static void free_matrices(matrices *x)
{
    CHECK_OK(ncs_buffer_release(x->a));
    CHECK_OK(ncs_buffer_release(x->b));
    free(x->ref);
    free(x->abs_ref);
}

/* Checks output c of a call of x's matrices split into nparts parts against the reference. */
static void check_against_reference(const matrices *x, ncs_handle c, int nparts)
{
    uint64_t addr, size;
    CHECK_OK(ncs_buffer_data(c, &addr, &size));
    CHECK(size == (uint64_t)(x->m * x->n) * (x->dtype == NCS_DTYPE_FP64 ? 8 : 4));
    double eps = x->dtype == NCS_DTYPE_FP64 ? DBL_EPSILON : FLT_EPSILON;
    for (int64_t i = 0; i < x->m * x->n; i++) {
        double got = element((const void *)(uintptr_t)addr, x->dtype, i);
        double tolerance = (double)(x->k + 2) * eps * x->abs_ref[i];
        if (!(fabs(got - x->ref[i]) <= tolerance)) {
            fprintf(stderr, "matmul %lldx%lldx%lld %s parts %d: c[%lld] = %.17g, expected %.17g\n",
                    (long long)x->m, (long long)x->k, (long long)x->n, ncs_dtype_name(x->dtype),
                    nparts, (long long)i, got, x->ref[i]);
            exit(1);
        }
    }
}

/* A call of kernel `kernel` on x's matrices, inputs set. */
static ncs_call *matmul_call(const char *kernel, const matrices *x)
{
    ncs_call *call;
    int64_t a_shape[2] = {x->m, x->k}, b_shape[2] = {x->k, x->n};
    CHECK_OK(ncs_call_create(kernel, &call));
    CHECK_OK(ncs_call_set_input(call, 0, x->dtype, 2, a_shape, x->a));
    CHECK_OK(ncs_call_set_input(call, 1, x->dtype, 2, b_shape, x->b));
    return call;
}

static void check_product(const matrices *x, int max_parts, int concurrent)
{
    ncs_call *call = matmul_call("matmul", x);
    int nparts = 0;
    CHECK_OK(ncs_call_prepare(call, max_parts, &nparts));
    CHECK(nparts >= 1 && nparts <= max_parts);
    int dtype, rank;
    int64_t dims[NCS_MAX_RANK];
    CHECK_OK(ncs_call_output_info(call, 0, &dtype, &rank, dims));
    CHECK(dtype == x->dtype && rank == 2 && dims[0] == x->m && dims[1] == x->n);
    CHECK_OK(concurrent ? run_parts_concurrently(call, nparts)
                        : run_parts_and_finish(call, nparts));
    CHECK(ncs_call_progress(call) == (uint64_t)(x->n ? x->m : 0));
    ncs_handle c;
    CHECK_OK(ncs_call_take_output(call, 0, &c));
    ncs_call_destroy(call, NULL, NULL);
    check_against_reference(x, c, nparts);
    CHECK_OK(ncs_buffer_release(c));
}

/* Every dispatch level; those the CPU lacks are refused and skipped. */
static const int levels[] = {NCS_CPU_LEVEL_BEST, NCS_CPU_LEVEL_PORTABLE, NCS_CPU_LEVEL_AVX2};

static void check_sizes(int64_t m, int64_t k, int64_t n)
{
    const int dtypes[] = {NCS_DTYPE_FP64, NCS_DTYPE_FP32};
    const int part_limits[] = {1, 3, 8};
    for (int d = 0; d < 2; d++) {
        matrices x = make_matrices(m, k, n, dtypes[d]);
        for (int p = 0; p < 3; p++) {
            int status = ncs_cpu_test_limit(levels[p]);
            CHECK(status == NCS_OK || status == NCS_E_UNSUPPORTED);
            if (status != NCS_OK)
                continue;
            for (int l = 0; l < 3; l++)
                check_product(&x, part_limits[l], part_limits[l] == 8);
        }
        CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
        free_matrices(&x);
    }
}

static void test_small_sizes(void)
{
    check_sizes(1, 1, 1);
    check_sizes(7, 13, 5);
    check_sizes(65, 1, 130);
    check_sizes(6, 256, 8);
    check_sizes(13, 600, 17);
    check_sizes(12, 16, 32); /* whole micro-tiles of every path */
    check_sizes(37, 41, 43); /* primes */
    check_sizes(2, 3, 97);
}

static void test_empty_sizes(void)
{
    check_sizes(0, 5, 3);
    check_sizes(4, 0, 3); /* k = 0: all zeros */
    check_sizes(4, 5, 0);
    check_sizes(0, 0, 0);
}

static void test_blocked_sizes(void)
{
    check_sizes(300, 257, 129);
    check_sizes(130, 400, 2100); /* crosses MC, KC (256 and 384) and (for FP64) NC */
    check_sizes(149, 521, 131);  /* primes, two KC slices and a remainder */
    check_sizes(7, 3, 4133);     /* crosses NC for FP32 too */
}

/* The dispatch switch refuses unknown levels; the portable path and the best one agree. */
static void test_paths(void)
{
    CHECK_STATUS(ncs_cpu_test_limit(-1), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST + 1), NCS_E_INVALID_ARGUMENT);
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_PORTABLE));
    CHECK(!ncs_cpu_has(NCS_CPU_AVX2) && !ncs_cpu_has(NCS_CPU_AVX512F) &&
          !ncs_cpu_has(NCS_CPU_SHA_NI));
    matrices x = make_matrices(9, 11, 10, NCS_DTYPE_FP64);
    check_product(&x, 2, 0);
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
    CHECK(ncs_cpu_has(NCS_CPU_AVX512F) == ncs_cpu_detected(NCS_CPU_AVX512F));
    check_product(&x, 2, 1);
    free_matrices(&x);
}

/* More parts allowed than the work deserves: the kernel asks for fewer. */
static void test_part_choice(void)
{
    ncs_call *call;
    matrices big = make_matrices(600, 100, 100, NCS_DTYPE_FP64); /* 12 MFLOP, 100 micro-tiles */
    int64_t a_shape[2] = {600, 100}, b_shape[2] = {100, 100};
    int nparts;
    CHECK_OK(ncs_call_create("matmul", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, a_shape, big.a));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, b_shape, big.b));
    CHECK_OK(ncs_call_prepare(call, 64, &nparts));
    CHECK(nparts == 6); /* >= 2 MFLOP per part */
    ncs_call_destroy(call, NULL, NULL);
    free_matrices(&big);
}

/* ---- the memory budget ---------------------------------------------------------------- */

/*
 * "matmul_gated" is matmul with its parts forced to overlap: its run hands matmul's run a context
 * of its own whose cancelled() makes each part wait for the other the first time it is polled,
 * which is after the part has packed its first block of B into its slice of the workspace and
 * before it packs A and multiplies. So both parts are inside the GEMM at once, whatever the
 * scheduler does. The other services matmul's run uses pass straight through to the host.
 */
typedef struct gated_ctx {
    ncs_ctx ctx; /* first member: a kernel's ncs_ctx * is a gated_ctx * */
    ncs_ctx *host;
    int waited;
} gated_ctx;

static pthread_barrier_t both_parts;

static ncs_ctx *host_ctx(ncs_ctx *ctx)
{
    return ((gated_ctx *)(void *)ctx)->host;
}

static int gated_input(ncs_ctx *ctx, int index, ncs_tensor_view *view)
{
    ncs_ctx *host = host_ctx(ctx);
    return host->api->input(host, index, view);
}

static int gated_output(ncs_ctx *ctx, int index, ncs_tensor_view *view)
{
    ncs_ctx *host = host_ctx(ctx);
    return host->api->output(host, index, view);
}

static void *gated_workspace(ncs_ctx *ctx)
{
    ncs_ctx *host = host_ctx(ctx);
    return host->api->workspace(host);
}

static int gated_cancelled(ncs_ctx *ctx)
{
    gated_ctx *gated = (gated_ctx *)(void *)ctx;
    if (!gated->waited) {
        gated->waited = 1;
        pthread_barrier_wait(&both_parts);
    }
    return gated->host->api->cancelled(gated->host);
}

static void gated_progress(ncs_ctx *ctx, uint64_t units)
{
    ncs_ctx *host = host_ctx(ctx);
    host->api->progress(host, units);
}

__attribute__((format(printf, 3, 4))) static int gated_fail(ncs_ctx *ctx, int status,
                                                            const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ncs_ctx *host = host_ctx(ctx);
    return host->api->fail(host, status, "%s", text);
}

/* Only the services matmul's run calls. */
static const ncs_host_api gated_api = {
    .struct_size = sizeof(ncs_host_api),
    .input = gated_input,
    .output = gated_output,
    .workspace = gated_workspace,
    .cancelled = gated_cancelled,
    .progress = gated_progress,
    .fail = gated_fail,
};

static int gated_run(ncs_ctx *ctx, int part, int nparts)
{
    gated_ctx gated = {.ctx.api = &gated_api, .host = ctx, .waited = 0};
    return ncs_matmul_kernel.run(&gated.ctx, part, nparts);
}

static ncs_kernel_desc gated_matmul;

static int register_gated_matmul(ncs_registrar *registrar)
{
    return NCS_ADD_KERNEL(registrar, &gated_matmul);
}

/*
 * matmul's peak for C [m,n] = A [m,k] B [k,n] in `nparts` parts, by the rule of matmul.c: a, b and
 * c, and for every part a packed block of B (k x n) and one of A (the largest part's rows x k).
 * Valid where no path's blocks cut or pad the problem: k <= 256 (every KC), at most 120 rows per
 * part (every MC) in whole 6-row tiles, n a multiple of 128 bytes (every NR), so the figure is the
 * same on every CPU.
 */
static uint64_t matmul_peak(int64_t m, int64_t k, int64_t n, int dtype, int nparts)
{
    uint64_t size = dtype == NCS_DTYPE_FP64 ? 8 : 4;
    int64_t tiles = m / 6, rows = (tiles + nparts - 1) / nparts * 6;
    CHECK(k <= 256 && rows <= 120 && m % 6 == 0 && (uint64_t)n * size % 128 == 0);
    uint64_t data = (uint64_t)(m * k + k * n + m * n) * size;
    uint64_t slice = (uint64_t)(k * n + rows * k) * size;
    return data + (uint64_t)nparts * slice;
}

/*
 * The call's true peak is what ncs_call_bytes_needed says, from prepare on: a budget one byte
 * short refuses the call at prepare (NCS_E_OUT_OF_MEMORY, bytes_needed over the budget, nothing
 * left allocated), and a budget of exactly that much runs it with both parts inside the GEMM at
 * once, allocating nothing more, with correct results.
 */
static void test_budget_covers_overlapping_parts(void)
{
    gated_matmul = ncs_matmul_kernel;
    gated_matmul.name = "matmul_gated";
    gated_matmul.run = gated_run;
    CHECK_OK(ncs_catalog_register_library("test_matmul", register_gated_matmul));
    const int dtypes[] = {NCS_DTYPE_FP64, NCS_DTYPE_FP32};
    for (int d = 0; d < 2; d++) {
        matrices x = make_matrices(120, 160, 160, dtypes[d]); /* 6.1 MFLOP: 2 parts of 60 rows */
        uint64_t inputs = stat_value(NCS_STAT_LIVE_BYTES);
        int nparts;

        /* One part: its slice holds blocks for all 120 rows. */
        ncs_call *call = matmul_call("matmul_gated", &x);
        CHECK_OK(ncs_call_prepare(call, 1, &nparts));
        CHECK(nparts == 1 && ncs_call_bytes_needed(call) == matmul_peak(120, 160, 160, x.dtype, 1));
        ncs_call_destroy(call, NULL, NULL);

        /* Two parts, each its own blocks. */
        uint64_t peak = matmul_peak(120, 160, 160, x.dtype, 2);
        call = matmul_call("matmul_gated", &x);
        CHECK_OK(ncs_call_prepare(call, 2, &nparts));
        CHECK(nparts == 2 && ncs_call_bytes_needed(call) == peak);
        CHECK(stat_value(NCS_STAT_LIVE_BYTES) == peak); /* reserved at prepare */
        ncs_call_destroy(call, NULL, NULL);

        ncs_set_memory_limit(peak - 1);
        call = matmul_call("matmul_gated", &x);
        CHECK_STATUS(ncs_call_prepare(call, 2, &nparts), NCS_E_OUT_OF_MEMORY);
        CHECK_CONTAINS(ncs_call_error(call), "bytes of workspace");
        CHECK(ncs_call_bytes_needed(call) == peak && ncs_call_bytes_needed(call) > peak - 1);
        CHECK(stat_value(NCS_STAT_LIVE_BYTES) == inputs);
        ncs_call_destroy(call, NULL, NULL);

        ncs_set_memory_limit(peak);
        CHECK(pthread_barrier_init(&both_parts, NULL, 2) == 0);
        call = matmul_call("matmul_gated", &x);
        CHECK_OK(ncs_call_prepare(call, 2, &nparts));
        CHECK(nparts == 2);
        uint64_t failed = stat_value(NCS_STAT_FAILED_ALLOCATIONS);
        CHECK_OK(run_parts_concurrently(call, nparts));
        CHECK(stat_value(NCS_STAT_FAILED_ALLOCATIONS) == failed);
        CHECK(stat_value(NCS_STAT_LIVE_BYTES) == peak);
        ncs_handle c;
        CHECK_OK(ncs_call_take_output(call, 0, &c));
        ncs_call_destroy(call, NULL, NULL);
        CHECK(pthread_barrier_destroy(&both_parts) == 0);
        check_against_reference(&x, c, nparts);
        CHECK_OK(ncs_buffer_release(c));
        ncs_set_memory_limit(0);
        free_matrices(&x);
    }
}

int main(void)
{
    RUN_TEST(test_small_sizes);
    RUN_TEST(test_empty_sizes);
    RUN_TEST(test_blocked_sizes);
    RUN_TEST(test_part_choice);
    RUN_TEST(test_paths);
    RUN_TEST(test_budget_covers_overlapping_parts);
    return 0;
}
