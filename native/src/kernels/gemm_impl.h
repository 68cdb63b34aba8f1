/*
 * gemm_impl.h -- cache-blocked, packed GEMM driver, instantiated by matmul.c once per element
 * type and micro-kernel. Before including it, define:
 *   GEMM_T          element type (double, float)
 *   GEMM_NAME(x)    x with a suffix naming the instantiation (x##_f64_avx2)
 *   GEMM_MR, GEMM_NR  micro-tile rows and columns
 *   GEMM_KC, GEMM_MC, GEMM_NC  block sizes (MC a multiple of MR, NC of NR)
 *   GEMM_UKR        the micro-kernel (signature of GEMM_NAME(ukr_fn) below); when it is not
 *                   defined, the portable C micro-kernel below is used
 * and undefine them before the next instantiation.
 *
 * The loops follow the Goto/BLIS layering: for each NC-wide column block of B and KC-deep
 * slice, B is packed into NR-wide panels (kept in L2/L3); for each MC-high row block of A the
 * slice is packed into MR-high panels (kept in L2); the micro-kernel then multiplies one A
 * panel by one B panel (the B panel stays in L1 while the A panels of the block stream past)
 * into an MR x NR tile of C held in registers. Panels are zero-padded, so edge tiles run the
 * same micro-kernel and only store their valid part.
 */

/* Micro-kernel: c[0..mr) x [0..nr) (row stride ldc) = (accumulate ? c : 0) + a_panel * b_panel,
   where a is kc x MR (MR values per k) and b is kc x NR (NR values per k), both 64-byte
   aligned. */
typedef void (*GEMM_NAME(ukr_fn))(int64_t kc, const GEMM_T *a, const GEMM_T *b, GEMM_T *c,
                                  int64_t ldc, int accumulate, int mr, int nr);

#ifndef GEMM_PACK_B_AHEAD
#define GEMM_PACK_B_AHEAD 4 /* rows of B fetched ahead while packing */
#endif

#ifndef GEMM_UKR
static void GEMM_NAME(ukr_portable)(int64_t kc, const GEMM_T *restrict a, const GEMM_T *restrict b,
                                    GEMM_T *restrict c, int64_t ldc, int accumulate, int mr, int nr)
{
    GEMM_T acc[GEMM_MR][GEMM_NR] = {{0}};
    for (int64_t p = 0; p < kc; p++) {
        for (int i = 0; i < GEMM_MR; i++) {
            GEMM_T ai = a[p * GEMM_MR + i];
            for (int j = 0; j < GEMM_NR; j++)
                acc[i][j] += ai * b[p * GEMM_NR + j];
        }
    }
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
    }
}
#define GEMM_UKR GEMM_NAME(ukr_portable)
#define GEMM_UKR_DEFAULTED
#endif

enum { GEMM_NAME(line) = 64 / sizeof(GEMM_T) }; /* elements per cache line */

/* Packs rows [0, mc) x columns [0, kc) of A (row stride lda) into MR-high panels, fetching the
   next panel's rows while it packs this one: each row is only kc elements long, too short for
   the hardware prefetcher to get ahead (measured on Zen 4, FP64 n = 2048: 2% faster overall). */
static void GEMM_NAME(pack_a)(int64_t mc, int64_t kc, const GEMM_T *restrict a, int64_t lda,
                              GEMM_T *restrict packed)
{
    for (int64_t i0 = 0; i0 < mc; i0 += GEMM_MR) {
        int64_t rows = mc - i0 < GEMM_MR ? mc - i0 : GEMM_MR;
        int64_t next_rows = mc - i0 - rows < GEMM_MR ? mc - i0 - rows : GEMM_MR;
        const GEMM_T *src = a + i0 * lda;
        if (rows == GEMM_MR) {
            for (int64_t p = 0; p < kc; p++) {
                if (p % GEMM_NAME(line) == 0) {
                    for (int64_t i = 0; i < next_rows; i++)
                        _mm_prefetch((const char *)(src + (GEMM_MR + i) * lda + p), _MM_HINT_T0);
                }
                for (int i = 0; i < GEMM_MR; i++)
                    packed[p * GEMM_MR + i] = src[i * lda + p];
            }
        } else {
            for (int64_t p = 0; p < kc; p++) {
                for (int i = 0; i < GEMM_MR; i++)
                    packed[p * GEMM_MR + i] = i < rows ? src[i * lda + p] : 0;
            }
        }
        packed += GEMM_MR * kc;
    }
}

/* Packs rows [0, kc) x columns [0, nc) of B (row stride ldb) into NR-wide panels, reading B
   row by row and fetching the row GEMM_PACK_B_AHEAD further on as it goes (about 40% less time
   packing for n = 2048 on Zen 4). */
static void GEMM_NAME(pack_b)(int64_t kc, int64_t nc, const GEMM_T *restrict b, int64_t ldb,
                              GEMM_T *restrict packed)
{
    int64_t full = nc / GEMM_NR * GEMM_NR;
    for (int64_t p = 0; p < kc; p++) {
        const GEMM_T *src = b + p * ldb;
        const GEMM_T *ahead = p + GEMM_PACK_B_AHEAD < kc ? src + GEMM_PACK_B_AHEAD * ldb : NULL;
        GEMM_T *dst = packed + p * GEMM_NR;
        for (int64_t j0 = 0; j0 < full; j0 += GEMM_NR) {
            if (ahead != NULL) {
                for (int j = 0; j < GEMM_NR; j += GEMM_NAME(line))
                    _mm_prefetch((const char *)(ahead + j0 + j), _MM_HINT_T0);
            }
            for (int j = 0; j < GEMM_NR; j++)
                dst[j] = src[j0 + j];
            dst += GEMM_NR * kc;
        }
        if (full < nc) {
            for (int j = 0; j < GEMM_NR; j++)
                dst[j] = full + j < nc ? src[full + j] : 0;
        }
    }
}

/* Bytes of the packed block of B: min(k, KC) rows by n rounded up to whole NR-wide panels (at most
   NC), rounded up to 64 bytes. */
static uint64_t GEMM_NAME(b_block_bytes)(int64_t n, int64_t k)
{
    int64_t kc = k < GEMM_KC ? k : GEMM_KC;
    int64_t nc = n < GEMM_NC ? (n + GEMM_NR - 1) / GEMM_NR * GEMM_NR : GEMM_NC;
    return ((uint64_t)(kc * nc) * sizeof(GEMM_T) + 63) / 64 * 64;
}

/* Bytes of the packed block of A for `rows` rows: rows rounded up to whole MR-high panels (at most
   MC) by min(k, KC), rounded up to 64 bytes. */
static uint64_t GEMM_NAME(a_block_bytes)(int64_t rows, int64_t k)
{
    int64_t kc = k < GEMM_KC ? k : GEMM_KC;
    int64_t mc = rows < GEMM_MC ? (rows + GEMM_MR - 1) / GEMM_MR * GEMM_MR : GEMM_MC;
    return ((uint64_t)(mc * kc) * sizeof(GEMM_T) + 63) / 64 * 64;
}

/* Packing scratch gemm_rows needs for at most `rows` rows of C [., n] with inner dimension k
   (all > 0): the block of B, then the block of A. */
static uint64_t GEMM_NAME(scratch_bytes)(int64_t rows, int64_t n, int64_t k)
{
    return GEMM_NAME(b_block_bytes)(n, k) + GEMM_NAME(a_block_bytes)(rows, k);
}

/*
 * C[m0..m1) = A[m0..m1) * B for row-major A [m,k], B [k,n], C [m,n] (k, n > 0). `scratch` is
 * 64-byte aligned, at least scratch_bytes(m1 - m0, n, k) bytes, and this caller's alone (it is
 * borrowed: the packed blocks of B and A live there). Cancellation is polled once per MC x KC x NC
 * block and progress is reported in finished rows.
 */
static int GEMM_NAME(gemm_rows)(ncs_ctx *ctx, const GEMM_T *a, const GEMM_T *b, GEMM_T *c,
                                int64_t m0, int64_t m1, int64_t n, int64_t k, void *scratch)
{
    const ncs_host_api *api = ctx->api;
    GEMM_NAME(ukr_fn) ukr = GEMM_UKR;
    GEMM_T *b_packed = scratch;
    GEMM_T *a_packed = (GEMM_T *)(void *)((unsigned char *)scratch +
                                          GEMM_NAME(b_block_bytes)(n, k));
    int status = NCS_OK;
    for (int64_t jc = 0; jc < n && status == NCS_OK; jc += GEMM_NC) {
        int64_t nc = n - jc < GEMM_NC ? n - jc : GEMM_NC;
        for (int64_t pc = 0; pc < k && status == NCS_OK; pc += GEMM_KC) {
            int64_t kc = k - pc < GEMM_KC ? k - pc : GEMM_KC;
            int last_slice = jc + nc == n && pc + kc == k;
            GEMM_NAME(pack_b)(kc, nc, b + pc * n + jc, n, b_packed);
            for (int64_t ic = m0; ic < m1; ic += GEMM_MC) {
                if (api->cancelled(ctx)) {
                    status = NCS_E_CANCELLED;
                    break;
                }
                int64_t mc = m1 - ic < GEMM_MC ? m1 - ic : GEMM_MC;
                GEMM_NAME(pack_a)(mc, kc, a + ic * k + pc, k, a_packed);
                for (int64_t jr = 0; jr < nc; jr += GEMM_NR) {
                    int nr = nc - jr < GEMM_NR ? (int)(nc - jr) : GEMM_NR;
                    for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
                        int mr = mc - ir < GEMM_MR ? (int)(mc - ir) : GEMM_MR;
                        ukr(kc, a_packed + ir * kc, b_packed + jr * kc, c + (ic + ir) * n + jc + jr,
                            n, pc > 0, mr, nr);
                    }
                }
                if (last_slice)
                    api->progress(ctx, (uint64_t)mc);
            }
        }
    }
    return status;
}

#ifdef GEMM_UKR_DEFAULTED
#undef GEMM_UKR
#undef GEMM_UKR_DEFAULTED
#endif
