/*
 * conv2d.c -- the "conv2d" kernel: 2-D convolution of an image (or a batch of images) with a
 * kernel, with the semantics and output shapes of scipy.signal.convolve2d(image, kernel, mode,
 * boundary) (fill value 0).
 *
 * Definition (scipy's _firfilter.cc): with kh x kw the kernel's size and H x W the image's,
 *   out[m][n] = sum_{j<kh, k<kw} kernel[j][k] * ext(image)[m + r0 - j][n + c0 - k]
 * where (r0, c0) is (0, 0) for "full", ((kh-1)/2, (kw-1)/2) rounded down for "same" and
 * (kh-1, kw-1) for "valid"; ext() extends the image by zeros ("fill": the kernel tap is still
 * multiplied by the 0, so an infinite or NaN tap makes every output that reaches outside the
 * image NaN, as in scipy) or by symmetric reflection with the edge repeated ("symm": ... c b a |
 * a b c ... , periodically, so kernels larger than the image work). For "valid" scipy requires
 * one input to be at least as large as the other in every dimension and swaps them when the
 * kernel is the larger one (convolution commutes); the kernel does the same and refuses the
 * mixed case with scipy's message.
 *
 * Implementation: with the kernel flipped the sum is a correlation over source rows
 * m + top + a and columns n + left + b. Each output row is split into an interior (every tap's
 * column inside the source) and a border. The interior runs an AVX2+FMA loop over output
 * columns (4 x 8 floats or 4 x 4 doubles of accumulators, taps broadcast, source rows gathered
 * once per output row into a pointer table so out-of-image rows are skipped ("fill") or
 * reflected ("symm") without per-tap checks), or a portable loop when the CPU lacks AVX2/FMA or
 * the test hook asks for it. The border evaluates the definition tap by tap. Accumulation is in
 * the data's precision like scipy's; the order (and FMA rounding) differs, so results agree
 * with scipy to rounding, not bit for bit.
 *
 * Parts are contiguous ranges of the N * out_rows output rows (images one after the other),
 * each with at least CONV_MIN_PART_WORK multiply-adds. Parts poll cancellation every output row
 * and every CONV_POLL_WORK multiply-adds within a row (large kernels), and report progress in
 * output rows.
 */
#include <immintrin.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"

#define CONV_MIN_PART_WORK 1e6 /* multiply-adds */
#define CONV_POLL_WORK 4e6     /* multiply-adds between cancellation checks (a few ms) */
#define CONV_STACK_ROWS \
    64               /* filters with up to this many rows keep their row tables on the stack */
#define CONV_PAD 256 /* bytes around each part's row tables in the workspace */

enum conv_mode { CONV_FULL, CONV_SAME, CONV_VALID };
enum conv_boundary { CONV_FILL, CONV_SYMM };

/* scipy's reflect_symm_index: maps any j to [0, m) by reflection about the edges with the edge
   element repeated (period 2m). */
static int64_t reflect_index(int64_t j, int64_t m)
{
    int64_t k = j >= 0 ? j % (2 * m) : (-(j + 1)) % (2 * m);
    return k >= m ? 2 * m - k - 1 : k;
}

/* Everything a part needs to compute output rows; filled by conv_plan(). */
typedef struct conv_plan {
    int dtype;
    int boundary;
    int swap;       /* valid mode with the kernel larger: the image is the filter */
    int64_t n;      /* images */
    int64_t h, w;   /* image */
    int64_t kh, kw; /* kernel */
    int64_t sh, sw; /* source: the image, or the kernel when swapped */
    int64_t fh, fw; /* filter: the kernel, or the image when swapped */
    int64_t oh, ow; /* one output image */
    int64_t top,
        left; /* source row / column of tap (0, 0) of the flipped filter at output (0, 0) */
} conv_plan;

/* Parses the parameters and the shapes; on failure returns the status after api->fail. */
static int conv_plan_make(ncs_ctx *ctx, const ncs_tensor_view *image, const ncs_tensor_view *kernel,
                          conv_plan *p)
{
    const ncs_host_api *api = ctx->api;
    const char *mode_text, *boundary_text;
    int status = api->param_string(ctx, "mode", &mode_text);
    if (status == NCS_OK)
        status = api->param_string(ctx, "boundary", &boundary_text);
    if (status != NCS_OK)
        return status;
    int mode;
    if (strcmp(mode_text, "full") == 0)
        mode = CONV_FULL;
    else if (strcmp(mode_text, "same") == 0)
        mode = CONV_SAME;
    else if (strcmp(mode_text, "valid") == 0)
        mode = CONV_VALID;
    else
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "parameter 'mode' is \"%.64s\": conv2d accepts \"full\", \"same\" or \"valid\"",
            mode_text);
    if (strcmp(boundary_text, "fill") == 0)
        p->boundary = CONV_FILL;
    else if (strcmp(boundary_text, "symm") == 0)
        p->boundary = CONV_SYMM;
    else
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "parameter 'boundary' is \"%.64s\": conv2d accepts \"fill\" (zeros) or \"symm\" "
            "(symmetric reflection)",
            boundary_text);

    if (image->dtype != NCS_DTYPE_FP64 && image->dtype != NCS_DTYPE_FP32)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'image' is %s: conv2d supports FP64 and FP32",
                         ncs_dtype_text(image->dtype));
    if (kernel->dtype != image->dtype)
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "input 'kernel' is %s but input 'image' is %s: conv2d needs both of the same datatype",
            ncs_dtype_text(kernel->dtype), ncs_dtype_text(image->dtype));
    if (image->rank != 2 && image->rank != 3)
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "input 'image' has rank %d: conv2d needs an image [H,W] or a batch of images [N,H,W]",
            image->rank);
    if (kernel->rank != 2)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'kernel' has rank %d: conv2d needs a kernel [kh,kw]", kernel->rank);
    p->dtype = image->dtype;
    p->n = image->rank == 3 ? image->dims[0] : 1;
    p->h = image->dims[image->rank - 2];
    p->w = image->dims[image->rank - 1];
    p->kh = kernel->dims[0];
    p->kw = kernel->dims[1];
    if (p->h == 0 || p->w == 0)
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "input 'image' has an empty image dimension (H=%lld, W=%lld): conv2d needs H >= 1 and "
            "W >= 1 (scipy returns zeros of odd shapes or crashes there); only N may be 0",
            (long long)p->h, (long long)p->w);
    if (p->kh == 0 || p->kw == 0)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'kernel' is empty ([%lld,%lld]): conv2d needs kh >= 1 and kw >= 1",
                         (long long)p->kh, (long long)p->kw);

    p->swap = 0;
    if (mode == CONV_VALID) {
        int image_larger = p->h >= p->kh && p->w >= p->kw;
        int kernel_larger = p->kh >= p->h && p->kw >= p->w;
        if (!image_larger && !kernel_larger)
            return api->fail(
                ctx, NCS_E_INVALID_ARGUMENT,
                "For 'valid' mode, one must be at least as large as the other in every dimension "
                "(image %lldx%lld, kernel %lldx%lld), as scipy.signal.convolve2d requires",
                (long long)p->h, (long long)p->w, (long long)p->kh, (long long)p->kw);
        p->swap = !image_larger;
    }
    p->sh = p->swap ? p->kh : p->h;
    p->sw = p->swap ? p->kw : p->w;
    p->fh = p->swap ? p->h : p->kh;
    p->fw = p->swap ? p->w : p->kw;
    switch (mode) {
    case CONV_FULL:
        p->oh = p->h + p->kh - 1;
        p->ow = p->w + p->kw - 1;
        p->top = -(p->kh - 1);
        p->left = -(p->kw - 1);
        break;
    case CONV_SAME:
        p->oh = p->h;
        p->ow = p->w;
        p->top = -(p->kh / 2);
        p->left = -(p->kw / 2);
        break;
    default: /* valid: every tap inside the source */
        p->oh = p->sh - p->fh + 1;
        p->ow = p->sw - p->fw + 1;
        p->top = 0;
        p->left = 0;
        break;
    }
    return NCS_OK;
}

/*
 * Per output row a part rewrites a table of the source row and filter row of every tap row, and
 * the fill products. Each part keeps it in memory no other part writes near: on its own stack for
 * filters of up to CONV_STACK_ROWS rows, else in its own slice of the workspace, CONV_PAD bytes
 * after the previous one (with the parts' tables in neighbouring cache lines, two parts ran no
 * faster than one on the 2-core AMD EPYC used for the benchmarks).
 */
static uint64_t conv_table_bytes(const conv_plan *p)
{
    size_t tsize = p->dtype == NCS_DTYPE_FP64 ? sizeof(double) : sizeof(float);
    return (uint64_t)p->fh * (2 * sizeof(void *) + tsize);
}

/* One part's slice of the workspace: CONV_PAD bytes, then its tables, rounded up to 64 bytes. The
   workspace is `parts` slices and CONV_PAD bytes more, so the last table is padded too. */
static uint64_t conv_slice_bytes(const conv_plan *p)
{
    return CONV_PAD + (conv_table_bytes(p) + 63) / 64 * 64;
}

static int conv_inputs(ncs_ctx *ctx, ncs_tensor_view *image, ncs_tensor_view *kernel)
{
    int status = ctx->api->input(ctx, 0, image);
    if (status == NCS_OK)
        status = ctx->api->input(ctx, 1, kernel);
    return status;
}

static int conv2d_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view image, kernel;
    conv_plan p;
    int status = conv_inputs(ctx, &image, &kernel);
    if (status == NCS_OK)
        status = conv_plan_make(ctx, &image, &kernel, &p);
    if (status != NCS_OK)
        return status;
    int64_t dims[3] = {p.n, p.oh, p.ow};
    int rank = image.rank;
    status = api->set_output(ctx, 0, p.dtype, rank, rank == 3 ? dims : dims + 1);
    if (status != NCS_OK)
        return status;
    double rows = (double)p.n * (double)p.oh;
    double work = rows * (double)p.ow * (double)p.fh * (double)p.fw;
    double by_work = work / CONV_MIN_PART_WORK;
    if (by_work > rows)
        by_work = rows;
    if (by_work > max_parts)
        by_work = max_parts;
    int parts = by_work < 1 ? 1 : (int)by_work;
    status = api->set_parts(ctx, parts);
    if (status == NCS_OK && p.fh > CONV_STACK_ROWS)
        status = api->set_workspace(ctx, (uint64_t)parts * conv_slice_bytes(&p) + CONV_PAD);
    return status;
}

/* ---- interior: AVX2 + FMA ---------------------------------------------------------------- */
/*
 * out[c] = zsum + sum_i sum_b wrows[i][fw-1-b] * srows[i][c + left + b] for c in [c0, c1), where
 * every column c + left + b lies inside the source row. zsum is 0, or NaN when a skipped "fill"
 * row holds a non-finite tap.
 */
__attribute__((target("avx2,fma"))) static void
interior_avx2_f32(float *restrict out, int64_t c0, int64_t c1, const float *const *srows,
                  const float *const *wrows, int64_t nrows, int64_t fw, int64_t left, float zsum)
{
    int64_t c = c0;
    for (; c + 32 <= c1; c += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (int64_t i = 0; i < nrows; i++) {
            const float *s = srows[i] + (c + left);
            const float *w = wrows[i] + (fw - 1);
            for (int64_t b = 0; b < fw; b++) {
                __m256 wb = _mm256_broadcast_ss(w - b);
                a0 = _mm256_fmadd_ps(wb, _mm256_loadu_ps(s + b), a0);
                a1 = _mm256_fmadd_ps(wb, _mm256_loadu_ps(s + b + 8), a1);
                a2 = _mm256_fmadd_ps(wb, _mm256_loadu_ps(s + b + 16), a2);
                a3 = _mm256_fmadd_ps(wb, _mm256_loadu_ps(s + b + 24), a3);
            }
        }
        if (zsum != 0) {
            __m256 z = _mm256_set1_ps(zsum);
            a0 = _mm256_add_ps(a0, z);
            a1 = _mm256_add_ps(a1, z);
            a2 = _mm256_add_ps(a2, z);
            a3 = _mm256_add_ps(a3, z);
        }
        _mm256_storeu_ps(out + c, a0);
        _mm256_storeu_ps(out + c + 8, a1);
        _mm256_storeu_ps(out + c + 16, a2);
        _mm256_storeu_ps(out + c + 24, a3);
    }
    for (; c + 8 <= c1; c += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int64_t i = 0; i < nrows; i++) {
            const float *s = srows[i] + (c + left);
            const float *w = wrows[i] + (fw - 1);
            for (int64_t b = 0; b < fw; b++)
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w - b), _mm256_loadu_ps(s + b), a0);
        }
        if (zsum != 0)
            a0 = _mm256_add_ps(a0, _mm256_set1_ps(zsum));
        _mm256_storeu_ps(out + c, a0);
    }
    for (; c < c1; c++) {
        float acc = 0;
        for (int64_t i = 0; i < nrows; i++) {
            const float *s = srows[i] + (c + left);
            const float *w = wrows[i] + (fw - 1);
            for (int64_t b = 0; b < fw; b++)
                acc += w[-b] * s[b];
        }
        out[c] = zsum != 0 ? acc + zsum : acc;
    }
}

__attribute__((target("avx2,fma"))) static void
interior_avx2_f64(double *restrict out, int64_t c0, int64_t c1, const double *const *srows,
                  const double *const *wrows, int64_t nrows, int64_t fw, int64_t left, double zsum)
{
    int64_t c = c0;
    for (; c + 16 <= c1; c += 16) {
        __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
        __m256d a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
        for (int64_t i = 0; i < nrows; i++) {
            const double *s = srows[i] + (c + left);
            const double *w = wrows[i] + (fw - 1);
            for (int64_t b = 0; b < fw; b++) {
                __m256d wb = _mm256_broadcast_sd(w - b);
                a0 = _mm256_fmadd_pd(wb, _mm256_loadu_pd(s + b), a0);
                a1 = _mm256_fmadd_pd(wb, _mm256_loadu_pd(s + b + 4), a1);
                a2 = _mm256_fmadd_pd(wb, _mm256_loadu_pd(s + b + 8), a2);
                a3 = _mm256_fmadd_pd(wb, _mm256_loadu_pd(s + b + 12), a3);
            }
        }
        if (zsum != 0) {
            __m256d z = _mm256_set1_pd(zsum);
            a0 = _mm256_add_pd(a0, z);
            a1 = _mm256_add_pd(a1, z);
            a2 = _mm256_add_pd(a2, z);
            a3 = _mm256_add_pd(a3, z);
        }
        _mm256_storeu_pd(out + c, a0);
        _mm256_storeu_pd(out + c + 4, a1);
        _mm256_storeu_pd(out + c + 8, a2);
        _mm256_storeu_pd(out + c + 12, a3);
    }
    for (; c + 4 <= c1; c += 4) {
        __m256d a0 = _mm256_setzero_pd();
        for (int64_t i = 0; i < nrows; i++) {
            const double *s = srows[i] + (c + left);
            const double *w = wrows[i] + (fw - 1);
            for (int64_t b = 0; b < fw; b++)
                a0 = _mm256_fmadd_pd(_mm256_broadcast_sd(w - b), _mm256_loadu_pd(s + b), a0);
        }
        if (zsum != 0)
            a0 = _mm256_add_pd(a0, _mm256_set1_pd(zsum));
        _mm256_storeu_pd(out + c, a0);
    }
    for (; c < c1; c++) {
        double acc = 0;
        for (int64_t i = 0; i < nrows; i++) {
            const double *s = srows[i] + (c + left);
            const double *w = wrows[i] + (fw - 1);
            for (int64_t b = 0; b < fw; b++)
                acc += w[-b] * s[b];
        }
        out[c] = zsum != 0 ? acc + zsum : acc;
    }
}

/* ---- portable interior, border, and the row driver, for both types ---------------------- */

#define DEFINE_CONV(T, SUFFIX)                                                                    \
    /* The interior like interior_avx2_*, accumulating tap by tap into the output row. */         \
    static void interior_portable_##SUFFIX(T *restrict out, int64_t c0, int64_t c1,               \
                                           const T *const *srows, const T *const *wrows,          \
                                           int64_t nrows, int64_t fw, int64_t left, T zsum)       \
    {                                                                                             \
        for (int64_t c = c0; c < c1; c++)                                                         \
            out[c] = 0;                                                                           \
        for (int64_t i = 0; i < nrows; i++) {                                                     \
            const T *restrict s = srows[i];                                                       \
            const T *w = wrows[i];                                                                \
            for (int64_t b = 0; b < fw; b++) {                                                    \
                T wb = w[fw - 1 - b];                                                             \
                int64_t off = left + b;                                                           \
                for (int64_t c = c0; c < c1; c++)                                                 \
                    out[c] += wb * s[c + off];                                                    \
            }                                                                                     \
        }                                                                                         \
        if (zsum != 0) {                                                                          \
            for (int64_t c = c0; c < c1; c++)                                                     \
                out[c] += zsum;                                                                   \
        }                                                                                         \
    }                                                                                             \
                                                                                                  \
    /* Output column c of output row m by the definition, every tap checked. */                   \
    static T border_##SUFFIX(const conv_plan *p, const T *src, const T *filt, int64_t m,          \
                             int64_t c)                                                           \
    {                                                                                             \
        T sum = 0;                                                                                \
        for (int64_t a = 0; a < p->fh; a++) {                                                     \
            int64_t r = m + p->top + a;                                                           \
            int row_in = r >= 0 && r < p->sh;                                                     \
            if (!row_in && p->boundary == CONV_SYMM)                                              \
                r = reflect_index(r, p->sh);                                                      \
            const T *wrow = filt + (p->fh - 1 - a) * p->fw;                                       \
            for (int64_t b = 0; b < p->fw; b++) {                                                 \
                T w = wrow[p->fw - 1 - b];                                                        \
                int64_t col = c + p->left + b;                                                    \
                int col_in = col >= 0 && col < p->sw;                                             \
                if (p->boundary == CONV_FILL && (!row_in || !col_in)) {                           \
                    sum += w * (T)0; /* scipy multiplies by the fill value: inf * 0 is NaN */     \
                } else {                                                                          \
                    if (!col_in)                                                                  \
                        col = reflect_index(col, p->sw);                                          \
                    sum += w * src[r * p->sw + col];                                              \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        return sum;                                                                               \
    }                                                                                             \
                                                                                                  \
    /* Output rows [r0, r1) of the N * oh rows; srows, wrows and zrow have fh entries. */         \
    static int rows_##SUFFIX(ncs_ctx *ctx, const conv_plan *p, const T *image, const T *kernel,   \
                             T *out, int64_t r0, int64_t r1, const T **srows, const T **wrows,    \
                             T *zrow, int vector)                                                 \
    {                                                                                             \
        /* Interior columns: every tap's column c + left + b inside [0, sw). */                   \
        int64_t c_lo = -p->left > 0 ? -p->left : 0;                                               \
        int64_t c_hi = p->sw - p->fw - p->left + 1;                                               \
        if (c_hi > p->ow)                                                                         \
            c_hi = p->ow;                                                                         \
        if (c_lo > p->ow)                                                                         \
            c_lo = p->ow;                                                                         \
        if (c_hi < c_lo)                                                                          \
            c_hi = c_lo;                                                                          \
        /* Columns between cancellation checks: about CONV_POLL_WORK multiply-adds. */            \
        int64_t chunk = (int64_t)(CONV_POLL_WORK / ((double)p->fh * (double)p->fw));              \
        if (chunk < 32)                                                                           \
            chunk = 32;                                                                           \
        if (!p->swap) { /* the kernel's rows times the fill value, for skipped rows */            \
            for (int64_t a = 0; a < p->fh; a++) {                                                 \
                T z = 0;                                                                          \
                for (int64_t b = 0; b < p->fw; b++)                                               \
                    z += kernel[(p->fh - 1 - a) * p->fw + b] * (T)0;                              \
                zrow[a] = z;                                                                      \
            }                                                                                     \
        }                                                                                         \
        for (int64_t row = r0; row < r1; row++) {                                                 \
            if (ctx->api->cancelled(ctx))                                                         \
                return NCS_E_CANCELLED;                                                           \
            int64_t img = row / p->oh, m = row % p->oh;                                           \
            const T *one = image + img * p->h * p->w;                                             \
            const T *src = p->swap ? kernel : one;                                                \
            const T *filt = p->swap ? one : kernel;                                               \
            T *orow = out + row * p->ow;                                                          \
            int64_t nrows = 0;                                                                    \
            T zsum = 0;                                                                           \
            for (int64_t a = 0; a < p->fh; a++) {                                                 \
                int64_t r = m + p->top + a;                                                       \
                if (r < 0 || r >= p->sh) {                                                        \
                    if (p->boundary == CONV_FILL) {                                               \
                        zsum += zrow[a];                                                          \
                        continue;                                                                 \
                    }                                                                             \
                    r = reflect_index(r, p->sh);                                                  \
                }                                                                                 \
                srows[nrows] = src + r * p->sw;                                                   \
                wrows[nrows] = filt + (p->fh - 1 - a) * p->fw;                                    \
                nrows++;                                                                          \
            }                                                                                     \
            for (int64_t c = c_lo; c < c_hi; c += chunk) {                                        \
                int64_t end = c_hi - c < chunk ? c_hi : c + chunk;                                \
                if (c > c_lo && ctx->api->cancelled(ctx))                                         \
                    return NCS_E_CANCELLED;                                                       \
                if (vector)                                                                       \
                    interior_avx2_##SUFFIX(orow, c, end, srows, wrows, nrows, p->fw, p->left,     \
                                           zsum);                                                 \
                else                                                                              \
                    interior_portable_##SUFFIX(orow, c, end, srows, wrows, nrows, p->fw, p->left, \
                                               zsum);                                             \
            }                                                                                     \
            for (int64_t c = 0; c < p->ow; c++) {                                                 \
                if (c == c_lo)                                                                    \
                    c = c_hi; /* skip the interior */                                             \
                if (c >= p->ow)                                                                   \
                    break;                                                                        \
                if (c % chunk == chunk - 1 && ctx->api->cancelled(ctx))                           \
                    return NCS_E_CANCELLED;                                                       \
                orow[c] = border_##SUFFIX(p, src, filt, m, c);                                    \
            }                                                                                     \
            ctx->api->progress(ctx, 1);                                                           \
        }                                                                                         \
        return NCS_OK;                                                                            \
    }

DEFINE_CONV(float, f32)
DEFINE_CONV(double, f64)

static int conv2d_run(ncs_ctx *ctx, int part, int nparts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view image, kernel, out;
    conv_plan p;
    int status = conv_inputs(ctx, &image, &kernel);
    if (status == NCS_OK)
        status = conv_plan_make(ctx, &image, &kernel, &p);
    if (status == NCS_OK)
        status = api->output(ctx, 0, &out);
    if (status != NCS_OK)
        return status;
    if (out.count != p.n * p.oh * p.ow)
        return api->fail(ctx, NCS_E_INTERNAL, "conv2d: output has %lld elements, expected %lld",
                         (long long)out.count, (long long)(p.n * p.oh * p.ow));
    int64_t r0, r1;
    ncs_part_range(p.n * p.oh, part, nparts, &r0, &r1);
    if (r0 == r1)
        return NCS_OK;
    _Alignas(64) unsigned char local[CONV_STACK_ROWS * (2 * sizeof(void *) + sizeof(double))];
    void *mem = local;
    if (p.fh > CONV_STACK_ROWS) {
        unsigned char *workspace = api->workspace(ctx);
        if (workspace == NULL)
            return api->fail(ctx, NCS_E_INTERNAL, "conv2d has no workspace for a %lld-row filter",
                             (long long)p.fh);
        mem = workspace + (uint64_t)part * conv_slice_bytes(&p) + CONV_PAD;
    }
    int vector = ncs_cpu_has(NCS_CPU_AVX2_FMA);
    if (p.dtype == NCS_DTYPE_FP64) {
        const double **srows = mem, **wrows = srows + p.fh;
        double *zrow = (double *)(wrows + p.fh);
        status = rows_f64(ctx, &p, image.data, kernel.data, out.data, r0, r1, srows, wrows, zrow,
                          vector);
    } else {
        const float **srows = mem, **wrows = srows + p.fh;
        float *zrow = (float *)(wrows + p.fh);
        status = rows_f32(ctx, &p, image.data, kernel.data, out.data, r0, r1, srows, wrows, zrow,
                          vector);
    }
    return status;
}

static const ncs_tensor_desc conv2d_inputs[] = {
    {.name = "image",
     .doc =
         "image [H,W], or a batch of images [N,H,W] each convolved with the same kernel; H, W >= 1",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = NCS_RANK_ANY},
    {.name = "kernel",
     .doc =
         "kernel [kh,kw], kh, kw >= 1, same datatype as image; applied flipped (true convolution)",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = 2,
     .dims = {NCS_DIM_ANY, NCS_DIM_ANY}},
};

static const ncs_tensor_desc conv2d_outputs[] = {
    {.name = "out",
     .doc =
         "convolution, datatype of the inputs, [oh,ow] or [N,oh,ow]: full (H+kh-1, W+kw-1), same "
         "(H, W), valid (|H-kh|+1, |W-kw|+1)",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = NCS_RANK_ANY},
};

static const ncs_param_desc conv2d_params[] = {
    {.name = "mode",
     .type = NCS_PARAM_STRING,
     .default_value = "same",
     .doc = "\"full\", \"same\" (centred like scipy: output (m, n) is full-output (m + (kh-1)/2, "
            "n + (kw-1)/2), rounded down) or \"valid\" (one input must be at least as large as the "
            "other in every "
            "dimension; a larger kernel swaps the roles, like scipy)"},
    {.name = "boundary",
     .type = NCS_PARAM_STRING,
     .default_value = "fill",
     .doc = "\"fill\" (zeros outside the image; non-finite kernel taps still make NaN there, like "
            "scipy) or \"symm\" (symmetric reflection with the edge repeated: d c b a | a b c d | "
            "d c b a)"},
};

const ncs_kernel_desc ncs_conv2d_kernel = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "conv2d",
    .doc =
        "2-D convolution of an FP64 or FP32 image [H,W] (or batch [N,H,W]) with a kernel [kh,kw], "
        "with the semantics and output shapes of scipy.signal.convolve2d(image, kernel, mode, "
        "boundary) and fill value 0; NaN and infinities propagate as in scipy. Empty H, W, kh or "
        "kw are refused (scipy gives zero arrays of odd shapes or crashes); N may be 0. "
        "Accumulates in the data's precision (AVX2+FMA when available); parts are ranges of "
        "output rows.",
    .flags = NCS_KERNEL_THREAD_SAFE | NCS_KERNEL_SHARED_INPUTS,
    .n_inputs = 2,
    .inputs = conv2d_inputs,
    .n_outputs = 1,
    .outputs = conv2d_outputs,
    .n_params = 2,
    .params = conv2d_params,
    .prepare = conv2d_prepare,
    .run = conv2d_run,
    .finish = NULL,
};
