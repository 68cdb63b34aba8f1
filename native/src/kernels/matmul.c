/*
 * matmul.c -- the "matmul" kernel: c = a b for FP64 or FP32 matrices.
 *
 * Parts are blocks of rows of a and c (whole micro-tiles of MATMUL_MR rows), each with at least
 * MATMUL_MIN_PART_FLOP of work. Each part runs a packed, cache-blocked GEMM (gemm_impl.h) with
 * an AVX2+FMA micro-kernel when the CPU has both, chosen at run time, and a portable one
 * otherwise. The library itself is built for baseline x86-64.
 */
#include <immintrin.h>
#include <stdatomic.h>

#include "kernels.h"

#define MATMUL_MR 6 /* rows of a micro-tile, both types */
#define MATMUL_MIN_PART_FLOP 2e6

static atomic_int force_portable;

void ncs_matmul_force_portable(int on)
{
    atomic_store(&force_portable, on);
}

static int use_avx2_fma(void)
{
    return !atomic_load_explicit(&force_portable, memory_order_relaxed) &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* ---- AVX2+FMA micro-kernels ------------------------------------------------------------ */

/* 6 x 8 doubles: 12 accumulators, 2 B vectors, 1 broadcast A value = 15 of 16 registers. */
__attribute__((target("avx2,fma"))) static void ukr_avx2_f64(int64_t kc, const double *restrict a,
                                                              const double *restrict b,
                                                              double *restrict c, int64_t ldc,
                                                              int accumulate, int mr, int nr)
{
    __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
    __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
    __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
    __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
    __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
    __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        __m256d b0 = _mm256_load_pd(b), b1 = _mm256_load_pd(b + 4);
        __m256d ai = _mm256_broadcast_sd(a);
        c00 = _mm256_fmadd_pd(ai, b0, c00);
        c01 = _mm256_fmadd_pd(ai, b1, c01);
        ai = _mm256_broadcast_sd(a + 1);
        c10 = _mm256_fmadd_pd(ai, b0, c10);
        c11 = _mm256_fmadd_pd(ai, b1, c11);
        ai = _mm256_broadcast_sd(a + 2);
        c20 = _mm256_fmadd_pd(ai, b0, c20);
        c21 = _mm256_fmadd_pd(ai, b1, c21);
        ai = _mm256_broadcast_sd(a + 3);
        c30 = _mm256_fmadd_pd(ai, b0, c30);
        c31 = _mm256_fmadd_pd(ai, b1, c31);
        ai = _mm256_broadcast_sd(a + 4);
        c40 = _mm256_fmadd_pd(ai, b0, c40);
        c41 = _mm256_fmadd_pd(ai, b1, c41);
        ai = _mm256_broadcast_sd(a + 5);
        c50 = _mm256_fmadd_pd(ai, b0, c50);
        c51 = _mm256_fmadd_pd(ai, b1, c51);
        a += 6;
        b += 8;
    }
    __m256d rows[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    if (mr == 6 && nr == 8) {
        for (int i = 0; i < 6; i++) {
            double *ci = c + i * ldc;
            if (accumulate) {
                rows[i][0] = _mm256_add_pd(_mm256_loadu_pd(ci), rows[i][0]);
                rows[i][1] = _mm256_add_pd(_mm256_loadu_pd(ci + 4), rows[i][1]);
            }
            _mm256_storeu_pd(ci, rows[i][0]);
            _mm256_storeu_pd(ci + 4, rows[i][1]);
        }
        return;
    }
    double tile[6][8];
    for (int i = 0; i < 6; i++) {
        _mm256_storeu_pd(tile[i], rows[i][0]);
        _mm256_storeu_pd(tile[i] + 4, rows[i][1]);
    }
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
    }
}

/* 6 x 16 floats, same register budget as the double kernel. */
__attribute__((target("avx2,fma"))) static void ukr_avx2_f32(int64_t kc, const float *restrict a,
                                                              const float *restrict b,
                                                              float *restrict c, int64_t ldc,
                                                              int accumulate, int mr, int nr)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 ai = _mm256_broadcast_ss(a);
        c00 = _mm256_fmadd_ps(ai, b0, c00);
        c01 = _mm256_fmadd_ps(ai, b1, c01);
        ai = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(ai, b0, c10);
        c11 = _mm256_fmadd_ps(ai, b1, c11);
        ai = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(ai, b0, c20);
        c21 = _mm256_fmadd_ps(ai, b1, c21);
        ai = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(ai, b0, c30);
        c31 = _mm256_fmadd_ps(ai, b1, c31);
        ai = _mm256_broadcast_ss(a + 4);
        c40 = _mm256_fmadd_ps(ai, b0, c40);
        c41 = _mm256_fmadd_ps(ai, b1, c41);
        ai = _mm256_broadcast_ss(a + 5);
        c50 = _mm256_fmadd_ps(ai, b0, c50);
        c51 = _mm256_fmadd_ps(ai, b1, c51);
        a += 6;
        b += 16;
    }
    __m256 rows[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    if (mr == 6 && nr == 16) {
        for (int i = 0; i < 6; i++) {
            float *ci = c + i * ldc;
            if (accumulate) {
                rows[i][0] = _mm256_add_ps(_mm256_loadu_ps(ci), rows[i][0]);
                rows[i][1] = _mm256_add_ps(_mm256_loadu_ps(ci + 8), rows[i][1]);
            }
            _mm256_storeu_ps(ci, rows[i][0]);
            _mm256_storeu_ps(ci + 8, rows[i][1]);
        }
        return;
    }
    float tile[6][16];
    for (int i = 0; i < 6; i++) {
        _mm256_storeu_ps(tile[i], rows[i][0]);
        _mm256_storeu_ps(tile[i] + 8, rows[i][1]);
    }
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
    }
}

/* ---- the two instantiations of the driver ---------------------------------------------- */

#define GEMM_T double
#define GEMM_NAME(x) x##_f64
#define GEMM_MR MATMUL_MR
#define GEMM_NR 8
#define GEMM_KC 256
#define GEMM_MC 120
#define GEMM_NC 2048
#define GEMM_UKR_AVX2 ukr_avx2_f64
#include "gemm_impl.h"
#undef GEMM_T
#undef GEMM_NAME
#undef GEMM_MR
#undef GEMM_NR
#undef GEMM_KC
#undef GEMM_MC
#undef GEMM_NC
#undef GEMM_UKR_AVX2

#define GEMM_T float
#define GEMM_NAME(x) x##_f32
#define GEMM_MR MATMUL_MR
#define GEMM_NR 16
#define GEMM_KC 256
#define GEMM_MC 120
#define GEMM_NC 4096
#define GEMM_UKR_AVX2 ukr_avx2_f32
#include "gemm_impl.h"

/* ---- the kernel ------------------------------------------------------------------------ */

static int matmul_inputs(ncs_ctx *ctx, ncs_tensor_view *a, ncs_tensor_view *b)
{
    const ncs_host_api *api = ctx->api;
    int status = api->input(ctx, 0, a);
    if (status == NCS_OK)
        status = api->input(ctx, 1, b);
    return status;
}

static int matmul_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view a, b;
    int status = matmul_inputs(ctx, &a, &b);
    if (status != NCS_OK)
        return status;
    if (a.rank != 2 || b.rank != 2)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input '%s' has rank %d: matmul needs a [m,k] and b [k,n] matrices",
                         a.rank != 2 ? "a" : "b", a.rank != 2 ? a.rank : b.rank);
    if (a.dtype != NCS_DTYPE_FP64 && a.dtype != NCS_DTYPE_FP32)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT, "input 'a' is %s: matmul supports FP64 and FP32",
                         ncs_kernel_dtype_text(a.dtype));
    if (b.dtype != a.dtype)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'b' is %s but input 'a' is %s: matmul needs both inputs of the same datatype",
                         ncs_kernel_dtype_text(b.dtype), ncs_kernel_dtype_text(a.dtype));
    if (b.dims[0] != a.dims[1])
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'b' has %lld rows but input 'a' has %lld columns: matmul needs a [m,k] and b [k,n]",
                         (long long)b.dims[0], (long long)a.dims[1]);
    int64_t m = a.dims[0], k = a.dims[1], n = b.dims[1];
    int64_t c_dims[2] = {m, n};
    status = api->set_output(ctx, 0, a.dtype, 2, c_dims);
    if (status != NCS_OK)
        return status;
    double by_work = 2.0 * (double)m * (double)n * (double)k / MATMUL_MIN_PART_FLOP;
    int64_t tiles = (m + MATMUL_MR - 1) / MATMUL_MR;
    int64_t parts = max_parts;
    if (by_work < (double)parts)
        parts = (int64_t)by_work;
    if (tiles < parts)
        parts = tiles;
    return api->set_parts(ctx, parts < 1 ? 1 : (int)parts);
}

static int matmul_run(ncs_ctx *ctx, int part, int nparts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view a, b, c;
    int status = matmul_inputs(ctx, &a, &b);
    if (status == NCS_OK)
        status = api->output(ctx, 0, &c);
    if (status != NCS_OK)
        return status;
    int64_t m = a.dims[0], k = a.dims[1], n = b.dims[1];
    int64_t tiles = (m + MATMUL_MR - 1) / MATMUL_MR, t0, t1;
    ncs_kernel_part_range(tiles, part, nparts, &t0, &t1);
    int64_t m0 = t0 * MATMUL_MR, m1 = t1 * MATMUL_MR < m ? t1 * MATMUL_MR : m;
    int vector = use_avx2_fma();
    if (a.dtype == NCS_DTYPE_FP64)
        return gemm_rows_f64(ctx, a.data, b.data, c.data, m0, m1, n, k, vector);
    return gemm_rows_f32(ctx, a.data, b.data, c.data, m0, m1, n, k, vector);
}

static const ncs_tensor_desc matmul_inputs_desc[] = {
    {.name = "a",
     .doc = "left matrix [m,k]",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = 2,
     .dims = {NCS_DIM_ANY, NCS_DIM_ANY}},
    {.name = "b",
     .doc = "right matrix [k,n], same datatype as a",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = 2,
     .dims = {NCS_DIM_ANY, NCS_DIM_ANY}},
};

static const ncs_tensor_desc matmul_outputs_desc[] = {
    {.name = "c",
     .doc = "product a b [m,n], datatype of the inputs; all zeros when k is 0",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = 2,
     .dims = {NCS_DIM_ANY, NCS_DIM_ANY}},
};

const ncs_kernel_desc ncs_matmul_kernel = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "matmul",
    .doc = "Matrix product c = a b of two FP64 or two FP32 matrices (packed, cache-blocked GEMM "
           "with AVX2+FMA when available), split into row blocks of a and c.",
    .flags = NCS_KERNEL_THREAD_SAFE,
    .n_inputs = 2,
    .inputs = matmul_inputs_desc,
    .n_outputs = 1,
    .outputs = matmul_outputs_desc,
    .n_params = 0,
    .params = NULL,
    .prepare = matmul_prepare,
    .run = matmul_run,
    .finish = NULL,
};
