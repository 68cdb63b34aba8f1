/*
 * matmul.c -- the "matmul" kernel: c = a b for FP64 or FP32 matrices.
 *
 * Parts are blocks of rows of a and c (whole micro-tiles of MATMUL_ROWS rows), each with at
 * least MATMUL_MIN_PART_FLOP of work. Each part runs a packed, cache-blocked GEMM (gemm_impl.h)
 * with the best micro-kernel the CPU runs, chosen at run time: AVX-512F (6 x 16 doubles or
 * 6 x 32 floats), else AVX2+FMA (6 x 8 / 6 x 16), else portable C. Every micro-kernel
 * prefetches its C tile while it computes (on Zen 4 that alone is worth about 15%). The library
 * itself is built for baseline x86-64; ncs_cpu_test_limit (cpu.h) lets the tests run each path.
 *
 * Each part packs the blocks of A and B it needs itself, into its own slice of the workspace. The
 * slices are sized in prepare (see matmul_slice_bytes), so the call's whole peak -- inputs, output
 * and every part's packing buffers -- is reserved against the memory budget before any part runs,
 * and ncs_call_bytes_needed reports it whether the parts later overlap or not. The workspace
 * comes from the same allocator as every buffer: from 4 MiB up (B blocks of wide matrices) it is
 * mapped on huge pages and, with the buffer cache on, reuses the previous call's memory instead
 * of touching fresh pages.
 *
 * Sharing one packed copy of B through the workspace would save the parts' duplicate packing (a
 * few percent with two parts) but costs a fresh k x n buffer per call, whose first touch costs
 * more than the packing on the machines measured (about 0.6 ms per MiB of 4 KiB pages), and the
 * parts cannot wait for each other.
 */
#include <immintrin.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"

/* The AVX-512 micro-tile is MATMUL_MR512 rows high (6, like the others: measured on Zen 4, 6 x 16
   doubles runs as fast as 8 x 16 or 12 x 16 and packs less). Its block sizes keep the 144 x 384
   A block (432 KiB) in L2 and the 384 x 2048 B block (6 MiB, on huge pages) in L3; the 384-deep
   B micro-panel (48 KiB) streams from L2. Measured on Zen 4 against 256 x 1024 B blocks (FP64
   n = 2048, alternating runs): deeper slices mean fewer read-modify-write passes over C, and a
   B block as wide as the matrix means each part packs its rows of A once, not twice; 2-4%
   faster on one and two threads. */
#define MATMUL_MR512 6
#define MATMUL_KC512 384
#define MATMUL_MC512 144
#define MATMUL_NC512 2048
#define MATMUL_ROWS 6 /* parts split the rows in multiples of every micro-tile height */
#define MATMUL_MIN_PART_FLOP 2e6

/* Micro-kernel paths, in order of width. */
enum {
    NCS_MATMUL_PORTABLE = 1, /* plain C */
    NCS_MATMUL_AVX2 = 2,     /* AVX2 + FMA */
    NCS_MATMUL_AVX512 = 3    /* AVX-512F */
};

/* 1 when this CPU runs micro-kernel path `path` (NCS_MATMUL_PORTABLE .. NCS_MATMUL_AVX512), whatever
   the test switch allows: prepare sizes the scratch for every path a part could take. */
static int path_supported(int path)
{
    switch (path) {
    case NCS_MATMUL_AVX512: return ncs_cpu_detected(NCS_CPU_AVX512F);
    case NCS_MATMUL_AVX2: return ncs_cpu_detected(NCS_CPU_AVX2_FMA);
    default: return 1;
    }
}

/* The best micro-kernel path the CPU runs and the test switch (ncs_cpu_test_limit) allows. */
static int matmul_path(void)
{
    if (ncs_cpu_has(NCS_CPU_AVX512F))
        return NCS_MATMUL_AVX512;
    return ncs_cpu_has(NCS_CPU_AVX2_FMA) ? NCS_MATMUL_AVX2 : NCS_MATMUL_PORTABLE;
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
    for (int i = 0; i < mr; i++) { /* the C tile, needed at the end: fetch it meanwhile */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 7), _MM_HINT_T0);
    }
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
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
    }
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

/* ---- AVX-512 micro-kernels ------------------------------------------------------------- */

/* MATMUL_MR512 x 16 doubles: 2 * MATMUL_MR512 accumulators, 2 B vectors, one broadcast per row
   and k; the C tile is prefetched while the loop runs. */
__attribute__((target("avx512f"))) static void ukr_avx512_f64(int64_t kc, const double *restrict a,
                                                              const double *restrict b,
                                                              double *restrict c, int64_t ldc,
                                                              int accumulate, int mr, int nr)
{
    __m512d acc[MATMUL_MR512][2];
#pragma GCC unroll 16
    for (int i = 0; i < MATMUL_MR512; i++) {
        acc[i][0] = _mm512_setzero_pd();
        acc[i][1] = _mm512_setzero_pd();
    }
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
    }
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++) {
        __m512d b0 = _mm512_load_pd(b), b1 = _mm512_load_pd(b + 8);
#pragma GCC unroll 16
        for (int i = 0; i < MATMUL_MR512; i++) {
            __m512d ai = _mm512_set1_pd(a[i]);
            acc[i][0] = _mm512_fmadd_pd(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_pd(ai, b1, acc[i][1]);
        }
        a += MATMUL_MR512;
        b += 16;
    }
    if (mr == MATMUL_MR512 && nr == 16) {
#pragma GCC unroll 16
        for (int i = 0; i < MATMUL_MR512; i++) {
            double *ci = c + i * ldc;
            if (accumulate) {
                acc[i][0] = _mm512_add_pd(_mm512_loadu_pd(ci), acc[i][0]);
                acc[i][1] = _mm512_add_pd(_mm512_loadu_pd(ci + 8), acc[i][1]);
            }
            _mm512_storeu_pd(ci, acc[i][0]);
            _mm512_storeu_pd(ci + 8, acc[i][1]);
        }
        return;
    }
    double tile[MATMUL_MR512][16];
    for (int i = 0; i < MATMUL_MR512; i++) {
        _mm512_storeu_pd(tile[i], acc[i][0]);
        _mm512_storeu_pd(tile[i] + 8, acc[i][1]);
    }
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
    }
}

/* MATMUL_MR512 x 32 floats, same register budget as the double kernel. */
__attribute__((target("avx512f"))) static void ukr_avx512_f32(int64_t kc, const float *restrict a,
                                                              const float *restrict b,
                                                              float *restrict c, int64_t ldc,
                                                              int accumulate, int mr, int nr)
{
    __m512 acc[MATMUL_MR512][2];
#pragma GCC unroll 16
    for (int i = 0; i < MATMUL_MR512; i++) {
        acc[i][0] = _mm512_setzero_ps();
        acc[i][1] = _mm512_setzero_ps();
    }
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 31), _MM_HINT_T0);
    }
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
        for (int i = 0; i < MATMUL_MR512; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += MATMUL_MR512;
        b += 32;
    }
    if (mr == MATMUL_MR512 && nr == 32) {
#pragma GCC unroll 16
        for (int i = 0; i < MATMUL_MR512; i++) {
            float *ci = c + i * ldc;
            if (accumulate) {
                acc[i][0] = _mm512_add_ps(_mm512_loadu_ps(ci), acc[i][0]);
                acc[i][1] = _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc[i][1]);
            }
            _mm512_storeu_ps(ci, acc[i][0]);
            _mm512_storeu_ps(ci + 16, acc[i][1]);
        }
        return;
    }
    float tile[MATMUL_MR512][32];
    for (int i = 0; i < MATMUL_MR512; i++) {
        _mm512_storeu_ps(tile[i], acc[i][0]);
        _mm512_storeu_ps(tile[i] + 16, acc[i][1]);
    }
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
    }
}

/* ---- the instantiations of the driver -------------------------------------------------- */

#define GEMM_T double
#define GEMM_MR 6
#define GEMM_NR 8
#define GEMM_KC 256
#define GEMM_MC 120
#define GEMM_NC 2048
#define GEMM_NAME(x) x##_f64_portable
#include "gemm_impl.h"
#undef GEMM_NAME
#define GEMM_NAME(x) x##_f64_avx2
#define GEMM_UKR ukr_avx2_f64
#include "gemm_impl.h"
#undef GEMM_NAME
#undef GEMM_UKR
#undef GEMM_MR
#undef GEMM_NR
#undef GEMM_KC
#undef GEMM_MC
#undef GEMM_NC
#define GEMM_NAME(x) x##_f64_avx512
#define GEMM_UKR ukr_avx512_f64
#define GEMM_MR MATMUL_MR512
#define GEMM_NR 16
#define GEMM_KC MATMUL_KC512
#define GEMM_MC MATMUL_MC512
#define GEMM_NC MATMUL_NC512
#include "gemm_impl.h"
#undef GEMM_NAME
#undef GEMM_UKR
#undef GEMM_MR
#undef GEMM_NR
#undef GEMM_KC
#undef GEMM_MC
#undef GEMM_NC
#undef GEMM_T

#define GEMM_T float
#define GEMM_MR 6
#define GEMM_NR 16
#define GEMM_KC 256
#define GEMM_MC 120
#define GEMM_NC 4096
#define GEMM_NAME(x) x##_f32_portable
#include "gemm_impl.h"
#undef GEMM_NAME
#define GEMM_NAME(x) x##_f32_avx2
#define GEMM_UKR ukr_avx2_f32
#include "gemm_impl.h"
#undef GEMM_NAME
#undef GEMM_UKR
#undef GEMM_MR
#undef GEMM_NR
#undef GEMM_KC
#undef GEMM_MC
#undef GEMM_NC
#define GEMM_NAME(x) x##_f32_avx512
#define GEMM_UKR ukr_avx512_f32
#define GEMM_MR MATMUL_MR512
#define GEMM_NR 32
#define GEMM_KC MATMUL_KC512
#define GEMM_MC MATMUL_MC512
#define GEMM_NC (2 * MATMUL_NC512)
#include "gemm_impl.h"
#undef GEMM_NAME
#undef GEMM_UKR
#undef GEMM_MR
#undef GEMM_NR
#undef GEMM_KC
#undef GEMM_MC
#undef GEMM_NC
#undef GEMM_T

/* C[m0..m1) = A[m0..m1) B with micro-kernel `path`, packing into `scratch` (see gemm_rows). */
static int matmul_gemm_f64(ncs_ctx *ctx, int path, const double *a, const double *b, double *c,
                           int64_t m0, int64_t m1, int64_t n, int64_t k, void *scratch)
{
    switch (path) {
    case NCS_MATMUL_AVX512: return gemm_rows_f64_avx512(ctx, a, b, c, m0, m1, n, k, scratch);
    case NCS_MATMUL_AVX2: return gemm_rows_f64_avx2(ctx, a, b, c, m0, m1, n, k, scratch);
    default: return gemm_rows_f64_portable(ctx, a, b, c, m0, m1, n, k, scratch);
    }
}

static int matmul_gemm_f32(ncs_ctx *ctx, int path, const float *a, const float *b, float *c,
                           int64_t m0, int64_t m1, int64_t n, int64_t k, void *scratch)
{
    switch (path) {
    case NCS_MATMUL_AVX512: return gemm_rows_f32_avx512(ctx, a, b, c, m0, m1, n, k, scratch);
    case NCS_MATMUL_AVX2: return gemm_rows_f32_avx2(ctx, a, b, c, m0, m1, n, k, scratch);
    default: return gemm_rows_f32_portable(ctx, a, b, c, m0, m1, n, k, scratch);
    }
}

/* Packing scratch of micro-kernel path `path` for parts of at most `rows` rows. */
static uint64_t matmul_path_scratch(int path, int dtype, int64_t rows, int64_t n, int64_t k)
{
    if (dtype == NCS_DTYPE_FP64) {
        switch (path) {
        case NCS_MATMUL_AVX512: return scratch_bytes_f64_avx512(rows, n, k);
        case NCS_MATMUL_AVX2: return scratch_bytes_f64_avx2(rows, n, k);
        default: return scratch_bytes_f64_portable(rows, n, k);
        }
    }
    switch (path) {
    case NCS_MATMUL_AVX512: return scratch_bytes_f32_avx512(rows, n, k);
    case NCS_MATMUL_AVX2: return scratch_bytes_f32_avx2(rows, n, k);
    default: return scratch_bytes_f32_portable(rows, n, k);
    }
}

/*
 * Bytes of each part's slice of the workspace for C [m,n] = A [m,k] B [k,n] in `nparts` parts:
 * the packing scratch of the largest part (the first: ceil(tiles / nparts) micro-tiles of rows),
 * for whichever path the CPU runs needs the most, so a path forced by the test hook never needs
 * more than prepare reserved. A multiple of 64, so every slice stays aligned. 0 when there is
 * nothing to multiply.
 */
static uint64_t matmul_slice_bytes(int dtype, int64_t m, int64_t n, int64_t k, int nparts)
{
    if (m == 0 || n == 0 || k == 0)
        return 0;
    int64_t tiles = (m + MATMUL_ROWS - 1) / MATMUL_ROWS;
    int64_t rows = (tiles + nparts - 1) / nparts * MATMUL_ROWS;
    uint64_t most = 0;
    for (int path = NCS_MATMUL_PORTABLE; path <= NCS_MATMUL_AVX512; path++) {
        uint64_t bytes = path_supported(path) ? matmul_path_scratch(path, dtype, rows, n, k) : 0;
        most = bytes > most ? bytes : most;
    }
    return most;
}

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
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'a' is %s: matmul supports FP64 and FP32", ncs_dtype_text(a.dtype));
    if (b.dtype != a.dtype)
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "input 'b' is %s but input 'a' is %s: matmul needs both inputs of the same datatype",
            ncs_dtype_text(b.dtype), ncs_dtype_text(a.dtype));
    if (b.dims[0] != a.dims[1])
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'b' has %lld rows but input 'a' has %lld columns: matmul needs a "
                         "[m,k] and b [k,n]",
                         (long long)b.dims[0], (long long)a.dims[1]);
    int64_t m = a.dims[0], k = a.dims[1], n = b.dims[1];
    int64_t c_dims[2] = {m, n};
    status = api->set_output(ctx, 0, a.dtype, 2, c_dims);
    if (status != NCS_OK)
        return status;
    double by_work = 2.0 * (double)m * (double)n * (double)k / MATMUL_MIN_PART_FLOP;
    int64_t tiles = (m + MATMUL_ROWS - 1) / MATMUL_ROWS;
    int64_t parts = max_parts;
    if (by_work < (double)parts)
        parts = (int64_t)by_work;
    if (tiles < parts)
        parts = tiles;
    if (parts < 1)
        parts = 1;
    status = api->set_parts(ctx, (int)parts);
    uint64_t slice = matmul_slice_bytes(a.dtype, m, n, k, (int)parts);
    if (status == NCS_OK)
        status = api->set_workspace(ctx, (uint64_t)parts * slice);
    return status;
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
    int64_t tiles = (m + MATMUL_ROWS - 1) / MATMUL_ROWS, t0, t1;
    ncs_part_range(tiles, part, nparts, &t0, &t1);
    int64_t m0 = t0 * MATMUL_ROWS, m1 = t1 * MATMUL_ROWS < m ? t1 * MATMUL_ROWS : m;
    if (m0 >= m1 || n == 0)
        return NCS_OK;
    if (k == 0) { /* an empty sum */
        memset((unsigned char *)c.data + (size_t)(m0 * n) * (a.dtype == NCS_DTYPE_FP64 ? 8 : 4), 0,
               (size_t)((m1 - m0) * n) * (a.dtype == NCS_DTYPE_FP64 ? 8 : 4));
        api->progress(ctx, (uint64_t)(m1 - m0));
        return NCS_OK;
    }
    unsigned char *workspace = api->workspace(ctx);
    if (workspace == NULL)
        return api->fail(ctx, NCS_E_INTERNAL, "matmul has no workspace");
    void *scratch = workspace + (uint64_t)part * matmul_slice_bytes(a.dtype, m, n, k, nparts);
    int path = matmul_path();
    if (a.dtype == NCS_DTYPE_FP64)
        return matmul_gemm_f64(ctx, path, a.data, b.data, c.data, m0, m1, n, k, scratch);
    return matmul_gemm_f32(ctx, path, a.data, b.data, c.data, m0, m1, n, k, scratch);
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
           "with AVX-512 or AVX2+FMA micro-kernels when the CPU has them), split into row blocks "
           "of a and c.",
    .flags = NCS_KERNEL_THREAD_SAFE | NCS_KERNEL_SHARED_INPUTS,
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
