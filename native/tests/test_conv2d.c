/*
 * test_conv2d.c -- conv2d against a naive implementation of scipy.signal.convolve2d's definition
 * (its _firfilter.cc loop: valid-mode swap, the "same" centring, zero fill multiplied by the
 * taps, symmetric reflection by repeated mirroring) and against literal scipy outputs: every
 * mode x boundary, odd and even kernels, kernels larger than the image, 1x1 images, batches,
 * FP32 and FP64, NaN and infinities, 1 to 4 parts (also on two threads), the AVX2+FMA and the
 * portable interior loops, refusals and cancellation.
 *
 * Empty inputs: H, W, kh or kw of 0 are refused (scipy returns zero arrays of odd shapes with
 * "fill" and dies of SIGFPE with "symm"); a batch of N = 0 images gives an empty [0,oh,ow].
 */
#include <float.h>
#include <math.h>

#include "check.h"
#include "cpu.h"

/*
 * Literal scipy 1.17.1 results, produced once with python3 by this script (each array is printed
 * with "%g", exact since all values are small integers):
 *
 *   import numpy as np, scipy.signal as s
 *   img = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3], [5, 8, 9, 7, 9], [3, 2, 3, 8, 4]], float)
 *   ker = np.array([[1, -2, 3], [4, 0, -1]], float)
 *   small = np.array([[2, -1, 3], [0, 4, 1]], float)
 *   big = np.array([[1, 2, 0, -1], [3, -2, 1, 2], [0, 1, 5, -3]], float)
 *   def emit(name, a):
 *       vals = ", ".join("%g" % v for v in a.ravel())
 *       print("static const double %s[%d] = {%s};" % (name, a.size, vals))  # and the shape as a comment
 *   for m in ["full", "same", "valid"]:
 *       for b in ["fill", "symm"]:
 *           emit("lit_%s_%s" % (m, b), s.convolve2d(img, ker, m, b))
 *   for m in ["full", "same", "valid"]:
 *       for b in ["fill", "symm"]:
 *           emit("big_%s_%s" % (m, b), s.convolve2d(small, big, m, b))
 */
static const double lit_full_fill[35] = {3,  -5, 11, -4, 15, -7, 15, 21, -12, 42, 2,  27,
                                         8,  4,  41, 6,  23, 31, 28, -2, 24,  23, 28, 39,
                                         28, 24, 9,  3,  12, 8,  9,  30, 13,  -8, -4}; /* 5x7 */
static const double lit_full_symm[35] = {11, 5,  24, -1, 31, 17, 5,  8,  12, 42, 2,  27,
                                         31, 7,  53, 12, 23, 31, 28, 19, 33, 15, 32, 39,
                                         28, 24, 49, 31, 13, 10, 17, 38, 10, 28, 40}; /* 5x7 */
static const double lit_same_fill[20] = {-5, 11, -4, 15, -7, -12, 42, 2,  27, 8,
                                         6,  23, 31, 28, -2, 28,  39, 28, 24, 9}; /* 4x5 */
static const double lit_same_symm[20] = {5,  24, -1, 31, 17, 12, 42, 2,  27, 31,
                                         12, 23, 31, 28, 19, 32, 39, 28, 24, 49}; /* 4x5 */
static const double lit_valid_fill[9] = {42, 2, 27, 23, 31, 28, 39, 28, 24};      /* 3x3 */
static const double lit_valid_symm[9] = {42, 2, 27, 23, 31, 28, 39, 28, 24};      /* 3x3 */
static const double big_full_fill[24] = {2, 3,  1, 4,  1,  -3, 6, -3, 22, -1, -3, 5,
                                         0, 14, 4, -6, 27, -7, 0, 0,  4,  21, -7, -3}; /* 4x6 */
static const double big_full_symm[24] = {27, -15, 20, 34, -8, 20, -6, 8,  29, 1,  15, 29,
                                         -7, 35,  7,  0,  42, 7,  26, 12, -2, 33, 19, -2}; /* 4x6 */
static const double big_same_fill[6] = {-3, 22, -1, 14, 4, -6};                            /* 2x3 */
static const double big_same_symm[6] = {8, 29, 1, 35, 7, 0};                               /* 2x3 */
static const double big_valid_fill[4] = {22, -1, 4, -6};                                   /* 2x2 */
static const double big_valid_symm[4] = {22, -1, 4, -6};                                   /* 2x2 */

static const double lit_image[20] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4};
static const double lit_kernel[6] = {1, -2, 3, 4, 0, -1};
static const double lit_small[6] = {2, -1, 3, 0, 4, 1};
static const double lit_big[12] = {1, 2, 0, -1, 3, -2, 1, 2, 0, 1, 5, -3};

static const char *const modes[3] = {"full", "same", "valid"};
static const char *const boundaries[2] = {"fill", "symm"};

/* ---- running the kernel ------------------------------------------------------------------ */

typedef struct conv_result {
    int status;
    char message[512];
    int nparts;
    int rank;
    int64_t dims[3];
    uint64_t progress;
    double *out; /* widened to double, malloc'ed */
} conv_result;

/* Copies n doubles into a new buffer of dtype. */
static ncs_handle buffer_of(const double *values, int64_t n, int dtype)
{
    ncs_handle h;
    CHECK_OK(ncs_buffer_alloc((uint64_t)n * ncs_dtype_size(dtype), &h));
    if (n > 0) {
        void *mem = buffer_memory(h);
        for (int64_t i = 0; i < n; i++) {
            if (dtype == NCS_DTYPE_FP64)
                ((double *)mem)[i] = values[i];
            else
                ((float *)mem)[i] = (float)values[i];
        }
    }
    return h;
}

/* Runs conv2d; image_rank 2 ([h,w], n must be 1) or 3 ([n,h,w]). mode/boundary NULL: default. */
static conv_result conv2d(const double *image, int image_rank, int64_t n, int64_t h, int64_t w,
                          const double *kernel, int64_t kh, int64_t kw, int dtype, const char *mode,
                          const char *boundary, int max_parts, int threads)
{
    conv_result r = {.status = NCS_OK};
    ncs_handle hi = buffer_of(image, n * h * w, dtype), hk = buffer_of(kernel, kh * kw, dtype);
    ncs_call *call;
    CHECK_OK(ncs_call_create("conv2d", &call));
    int64_t image_shape[3] = {n, h, w}, kernel_shape[2] = {kh, kw};
    CHECK_OK(ncs_call_set_input(call, 0, dtype, image_rank,
                                image_rank == 3 ? image_shape : image_shape + 1, hi));
    CHECK_OK(ncs_call_set_input(call, 1, dtype, 2, kernel_shape, hk));
    CHECK_OK(ncs_buffer_release(hi));
    CHECK_OK(ncs_buffer_release(hk));
    if (mode)
        CHECK_OK(ncs_call_set_param(call, "mode", mode));
    if (boundary)
        CHECK_OK(ncs_call_set_param(call, "boundary", boundary));
    r.status = prepare_and_run(call, max_parts, threads, &r.nparts, r.message, sizeof r.message);
    if (r.status != NCS_OK)
        return r;
    r.progress = ncs_call_progress(call);
    int out_dtype;
    CHECK_OK(ncs_call_output_info(call, 0, &out_dtype, &r.rank, r.dims));
    CHECK(out_dtype == dtype && r.rank == image_rank);
    int64_t count = 1;
    for (int i = 0; i < r.rank; i++)
        count *= r.dims[i];
    ncs_handle out;
    CHECK_OK(ncs_call_take_output(call, 0, &out));
    uint64_t leaked = 1;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    r.out = malloc((size_t)(count ? count : 1) * sizeof(double));
    CHECK(r.out != NULL);
    const void *mem = count ? buffer_memory(out) : NULL;
    for (int64_t i = 0; i < count; i++)
        r.out[i] = dtype == NCS_DTYPE_FP64 ? ((const double *)mem)[i]
                                           : (double)((const float *)mem)[i];
    CHECK_OK(ncs_buffer_release(out));
    return r;
}

/* ---- the reference: scipy's definition, spelled out ------------------------------------------ */

/* Maps an index outside [0, m) into it by mirroring at the edges (edge repeated), as often as needed. */
static int64_t mirror(int64_t i, int64_t m)
{
    while (i < 0 || i >= m)
        i = i < 0 ? -1 - i : 2 * m - 1 - i;
    return i;
}

/* One image's convolution; returns 0 where scipy raises (valid mode, mixed sizes). *oh, *ow receive
   the output's size; out (and scale, the sum of |terms|) get oh*ow values when not NULL. Values are
   rounded to dtype first, as the kernel sees them. */
static int reference(const double *image, int64_t h, int64_t w, const double *kernel, int64_t kh,
                     int64_t kw, int mode, int symm, int dtype, int64_t *oh, int64_t *ow,
                     double *out, double *scale)
{
    const double *in1 = image, *in2 = kernel;
    int64_t m0 = h, m1 = w, n0 = kh, n1 = kw;
    if (mode == 2) {
        int ok1 = h >= kh && w >= kw, ok2 = kh >= h && kw >= w;
        if (!ok1 && !ok2)
            return 0;
        if (!ok1) { /* scipy's _inputs_swap_needed */
            in1 = kernel;
            in2 = image;
            m0 = kh;
            m1 = kw;
            n0 = h;
            n1 = w;
        }
    }
    *oh = mode == 0 ? m0 + n0 - 1 : mode == 1 ? m0 : m0 - n0 + 1;
    *ow = mode == 0 ? m1 + n1 - 1 : mode == 1 ? m1 : m1 - n1 + 1;
    if (out == NULL)
        return 1;
    for (int64_t m = 0; m < *oh; m++) {
        int64_t new_m = mode == 0 ? m : mode == 1 ? m + (n0 - 1) / 2 : m + n0 - 1;
        for (int64_t n = 0; n < *ow; n++) {
            int64_t new_n = mode == 0 ? n : mode == 1 ? n + (n1 - 1) / 2 : n + n1 - 1;
            double sum = 0, abs_sum = 0;
            for (int64_t j = 0; j < n0; j++) {
                for (int64_t k = 0; k < n1; k++) {
                    double tap = in2[j * n1 + k], value = 0;
                    int64_t i0 = new_m - j, i1 = new_n - k;
                    if (dtype == NCS_DTYPE_FP32)
                        tap = (float)tap;
                    if (symm || (i0 >= 0 && i0 < m0 && i1 >= 0 && i1 < m1)) {
                        value = in1[mirror(i0, m0) * m1 + mirror(i1, m1)];
                        if (dtype == NCS_DTYPE_FP32)
                            value = (float)value;
                    }
                    sum += tap * value; /* the fill value is multiplied too: inf * 0 is NaN */
                    abs_sum += fabs(tap * value);
                }
            }
            out[m * *ow + n] = sum;
            scale[m * *ow + n] = abs_sum;
        }
    }
    return 1;
}

/* Compares got with the reference within rounding; NaN and infinities must match exactly. */
static void check_close(const double *got, const double *want, const double *scale, int64_t count,
                        int64_t taps, int dtype, const char *what)
{
    double eps = dtype == NCS_DTYPE_FP64 ? DBL_EPSILON : FLT_EPSILON;
    for (int64_t i = 0; i < count; i++) {
        int ok;
        if (isnan(want[i]))
            ok = isnan(got[i]);
        else if (isinf(want[i]))
            ok = got[i] == want[i];
        else
            ok = fabs(got[i] - want[i]) <= 2 * (double)(taps + 1) * eps * scale[i] + 1e-300;
        if (!ok) {
            fprintf(stderr, "%s: element %lld is %.17g, expected %.17g (scale %g)\n", what,
                    (long long)i, got[i], want[i], scale[i]);
            exit(1);
        }
    }
}

/* Runs the kernel on a batch and compares every image with the reference. */
static void check_against_reference(const double *image, int image_rank, int64_t n, int64_t h,
                                    int64_t w, const double *kernel, int64_t kh, int64_t kw,
                                    int dtype, int mode, int symm, int max_parts, int threads)
{
    char what[160];
    snprintf(what, sizeof what, "%s %s %s image %lldx%lldx%lld kernel %lldx%lld parts<=%d",
             modes[mode], boundaries[symm], dtype == NCS_DTYPE_FP64 ? "FP64" : "FP32", (long long)n,
             (long long)h, (long long)w, (long long)kh, (long long)kw, max_parts);
    int64_t oh, ow;
    conv_result r = conv2d(image, image_rank, n, h, w, kernel, kh, kw, dtype, modes[mode],
                           boundaries[symm], max_parts, threads);
    if (!reference(image, h, w, kernel, kh, kw, mode, symm, dtype, &oh, &ow, NULL, NULL)) {
        if (r.status != NCS_E_INVALID_ARGUMENT) {
            fprintf(stderr, "%s: scipy raises but the kernel returned %d\n", what, r.status);
            exit(1);
        }
        CHECK_CONTAINS(
            r.message,
            "For 'valid' mode, one must be at least as large as the other in every dimension");
        return;
    }
    if (r.status != NCS_OK) {
        fprintf(stderr, "%s: %s\n", what, r.message);
        exit(1);
    }
    CHECK(r.dims[image_rank - 2] == oh && r.dims[image_rank - 1] == ow);
    if (image_rank == 3)
        CHECK(r.dims[0] == n);
    CHECK(r.progress == (uint64_t)(n * oh));
    double *want = malloc((size_t)(oh * ow) * sizeof(double)),
           *scale = malloc((size_t)(oh * ow) * sizeof(double));
    CHECK(want && scale);
    for (int64_t i = 0; i < n; i++) {
        reference(image + i * h * w, h, w, kernel, kh, kw, mode, symm, dtype, &oh, &ow, want,
                  scale);
        check_close(r.out + i * oh * ow, want, scale, oh * ow, kh * kw, dtype, what);
    }
    free(want);
    free(scale);
    free(r.out);
}

static void random_values(double *v, int64_t n, uint64_t *seed)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = 2 * test_random(seed) - 1;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void check_literal(const double *image, int64_t h, int64_t w, const double *kernel,
                          int64_t kh, int64_t kw, int mode, int symm, const double *want,
                          int64_t oh, int64_t ow)
{
    for (int dtype = NCS_DTYPE_FP32; dtype <= NCS_DTYPE_FP64; dtype++) {
        for (int portable = 0; portable <= 1; portable++) {
            CHECK_OK(ncs_cpu_test_limit(portable ? NCS_CPU_LEVEL_PORTABLE : NCS_CPU_LEVEL_BEST));
            conv_result r = conv2d(image, 2, 1, h, w, kernel, kh, kw, dtype, modes[mode],
                                   boundaries[symm], 2, 0);
            if (r.status != NCS_OK) {
                fprintf(stderr, "%s %s: %s\n", modes[mode], boundaries[symm], r.message);
                exit(1);
            }
            CHECK(r.dims[0] == oh && r.dims[1] == ow);
            for (int64_t i = 0; i < oh * ow; i++) {
                if (r.out[i] != want[i]) {
                    fprintf(stderr, "%s %s: element %lld is %g, scipy says %g\n", modes[mode],
                            boundaries[symm], (long long)i, r.out[i], want[i]);
                    exit(1);
                }
            }
            free(r.out);
        }
    }
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
    /* the reference agrees with scipy too */
    double out[64], scale[64];
    int64_t rh, rw;
    CHECK(reference(image, h, w, kernel, kh, kw, mode, symm, NCS_DTYPE_FP64, &rh, &rw, out, scale));
    CHECK(rh == oh && rw == ow && memcmp(out, want, (size_t)(oh * ow) * sizeof(double)) == 0);
}

static void test_literals(void)
{
    const double *lit[3][2] = {{lit_full_fill, lit_full_symm},
                               {lit_same_fill, lit_same_symm},
                               {lit_valid_fill, lit_valid_symm}};
    const double *big[3][2] = {{big_full_fill, big_full_symm},
                               {big_same_fill, big_same_symm},
                               {big_valid_fill, big_valid_symm}};
    const int64_t lit_dims[3][2] = {{5, 7}, {4, 5}, {3, 3}},
                  big_dims[3][2] = {{4, 6}, {2, 3}, {2, 2}};
    for (int mode = 0; mode < 3; mode++) {
        for (int symm = 0; symm < 2; symm++) {
            check_literal(lit_image, 4, 5, lit_kernel, 2, 3, mode, symm, lit[mode][symm],
                          lit_dims[mode][0], lit_dims[mode][1]);
            check_literal(lit_small, 2, 3, lit_big, 3, 4, mode, symm, big[mode][symm],
                          big_dims[mode][0], big_dims[mode][1]);
        }
    }
    /* defaults: mode "same", boundary "fill" */
    conv_result r = conv2d(lit_image, 2, 1, 4, 5, lit_kernel, 2, 3, NCS_DTYPE_FP64, NULL, NULL, 1,
                           0);
    CHECK_OK(r.status);
    CHECK(r.dims[0] == 4 && r.dims[1] == 5 &&
          memcmp(r.out, lit_same_fill, sizeof lit_same_fill) == 0);
    free(r.out);
}

static void test_random_against_reference(void)
{
    static const int64_t images[][2] = {{1, 1}, {1, 7},   {5, 1},   {4, 5}, {7, 3},
                                        {2, 3}, {13, 17}, {31, 40}, {9, 70}};
    static const int64_t kernels[][2] = {{1, 1}, {2, 2}, {3, 3}, {2, 5}, {5, 5}, {4, 7}, {6, 1}};
    uint64_t seed = 2024;
    int round = 0;
    double *image = malloc(70 * 40 * sizeof(double)), kernel[49];
    CHECK(image != NULL);
    for (int portable = 0; portable <= 1; portable++) {
        CHECK_OK(ncs_cpu_test_limit(portable ? NCS_CPU_LEVEL_PORTABLE : NCS_CPU_LEVEL_BEST));
        for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
            for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
                int64_t h = images[i][0], w = images[i][1], kh = kernels[k][0], kw = kernels[k][1];
                random_values(image, h * w, &seed);
                random_values(kernel, kh * kw, &seed);
                for (int mode = 0; mode < 3; mode++) {
                    for (int symm = 0; symm < 2; symm++) {
                        int dtype = round % 2 ? NCS_DTYPE_FP64 : NCS_DTYPE_FP32;
                        check_against_reference(image, 2, 1, h, w, kernel, kh, kw, dtype, mode,
                                                symm, 1 + round % 4, 0);
                        round++;
                    }
                }
            }
        }
    }
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
    free(image);
}

/* A batch of three images, and an empty batch. */
static void test_batch(void)
{
    uint64_t seed = 7;
    double image[3 * 11 * 37], kernel[4 * 3];
    random_values(image, 3 * 11 * 37, &seed);
    random_values(kernel, 12, &seed);
    for (int mode = 0; mode < 3; mode++) {
        for (int symm = 0; symm < 2; symm++) {
            for (int dtype = NCS_DTYPE_FP32; dtype <= NCS_DTYPE_FP64; dtype++) {
                check_against_reference(image, 3, 3, 11, 37, kernel, 4, 3, dtype, mode, symm, 3, 0);
                /* batch of images smaller than the kernel: valid swaps per image */
                check_against_reference(image, 3, 3, 2, 3, kernel, 4, 3, dtype, mode, symm, 2, 0);
            }
        }
    }
    conv_result r = conv2d(image, 3, 0, 11, 37, kernel, 4, 3, NCS_DTYPE_FP64, "full", "symm", 2, 0);
    CHECK_OK(r.status);
    CHECK(r.rank == 3 && r.dims[0] == 0 && r.dims[1] == 14 && r.dims[2] == 39 && r.progress == 0);
    free(r.out);
}

/* NaN and infinities in the image and the kernel, in every mode and boundary. */
static void test_nan_inf(void)
{
    uint64_t seed = 11;
    double image[9 * 41], kernel[3 * 4];
    for (int variant = 0; variant < 4; variant++) {
        random_values(image, 9 * 41, &seed);
        random_values(kernel, 12, &seed);
        if (variant == 0)
            image[4 * 41 + 20] = NAN;
        if (variant == 1)
            image[0] = INFINITY; /* corner: reflected copies of it appear in "symm" */
        if (variant == 2)
            kernel[5] = INFINITY; /* "fill" outputs that reach outside become NaN (inf * 0) */
        if (variant == 3) {
            kernel[0] = NAN;
            image[8 * 41 + 40] = -INFINITY;
        }
        for (int mode = 0; mode < 3; mode++) {
            for (int symm = 0; symm < 2; symm++) {
                for (int portable = 0; portable <= 1; portable++) {
                    CHECK_OK(
                        ncs_cpu_test_limit(portable ? NCS_CPU_LEVEL_PORTABLE : NCS_CPU_LEVEL_BEST));
                    for (int dtype = NCS_DTYPE_FP32; dtype <= NCS_DTYPE_FP64; dtype++)
                        check_against_reference(image, 2, 1, 9, 41, kernel, 3, 4, dtype, mode, symm,
                                                2, 0);
                }
            }
        }
    }
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
}

/* A large image split in parts, sequentially and on two threads. */
static void test_parts(void)
{
    const int64_t h = 203, w = 517;
    uint64_t seed = 3;
    double *image = malloc((size_t)(h * w) * sizeof(double)), kernel[25];
    CHECK(image != NULL);
    random_values(image, h * w, &seed);
    random_values(kernel, 25, &seed);
    for (int dtype = NCS_DTYPE_FP32; dtype <= NCS_DTYPE_FP64; dtype++) {
        conv_result one = conv2d(image, 2, 1, h, w, kernel, 5, 5, dtype, "same", "symm", 1, 0);
        CHECK_OK(one.status);
        for (int threads = 0; threads <= 1; threads++) {
            conv_result many = conv2d(image, 2, 1, h, w, kernel, 5, 5, dtype, "same", "symm", 2,
                                      threads);
            CHECK_OK(many.status);
            CHECK(many.nparts == 2);
            CHECK(memcmp(one.out, many.out, (size_t)(h * w) * sizeof(double)) == 0);
            free(many.out);
        }
        free(one.out);
        check_against_reference(image, 2, 1, h, w, kernel, 5, 5, dtype, 0, 0, 4, 1);
    }
    free(image);
}

/* A kernel large enough that rows are computed in several column chunks (cancellation checks). */
static void test_large_kernel(void)
{
    const int64_t h = 3, w = 450, kh = 400, kw = 100; /* 100 columns per chunk */
    uint64_t seed = 17;
    double *image = malloc((size_t)(h * w) * sizeof(double)),
           *kernel = malloc((size_t)(kh * kw) * sizeof(double));
    CHECK(image && kernel);
    random_values(image, h * w, &seed);
    random_values(kernel, kh * kw, &seed);
    check_against_reference(image, 2, 1, h, w, kernel, kh, kw, NCS_DTYPE_FP64, 1, 0, 2, 0);
    check_against_reference(image, 2, 1, h, w, kernel, kh, kw, NCS_DTYPE_FP32, 1, 1, 2, 0);
    free(image);
    free(kernel);
}

/*
 * A filter taller than CONV_STACK_ROWS (64) keeps each part's row tables in its own slice of the
 * workspace: CONV_PAD (256) bytes, then per filter row two pointers and one value, rounded up to
 * 64 bytes; one more CONV_PAD after the last. ncs_call_bytes_needed counts it, so a budget of
 * exactly that figure runs the parts at once, and one byte less refuses the call at prepare.
 */
typedef struct conv_inputs {
    ncs_handle image, kernel;
    int64_t image_shape[2], kernel_shape[2];
} conv_inputs;

static ncs_call *make_conv(void *arg)
{
    const conv_inputs *in = arg;
    ncs_call *call;
    CHECK_OK(ncs_call_create("conv2d", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, in->image_shape, in->image));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, in->kernel_shape, in->kernel));
    return call;
}

static void test_large_kernel_budget(void)
{
    const int64_t h = 3, w = 450, kh = 400, kw = 100;
    double *ones = malloc((size_t)(kh * kw) * sizeof(double));
    CHECK(ones != NULL);
    for (int64_t i = 0; i < kh * kw; i++)
        ones[i] = 1;
    conv_inputs in = {buffer_of(ones, h * w, NCS_DTYPE_FP64),
                      buffer_of(ones, kh * kw, NCS_DTYPE_FP64),
                      {h, w},
                      {kh, kw}};
    uint64_t tables = (uint64_t)kh *
                      (2 * sizeof(void *) + sizeof(double)); /* 9600, a multiple of 64 */
    uint64_t needed = (uint64_t)(h * w + kh * kw + h * w) * sizeof(double) + 2 * (256 + tables) +
                      256;
    int nparts;
    ncs_call *call = run_at_budget_edge(make_conv, &in, needed, 2, &nparts);
    CHECK(nparts == 2);
    ncs_handle out;
    CHECK_OK(ncs_call_take_output(call, 0, &out));
    const double *got = buffer_memory(out); /* ones: every tap over the image adds 1 */
    CHECK(got[0] == 3 * 50 && got[w + w / 2] == 3 * 100);
    CHECK_OK(ncs_buffer_release(out));
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(in.image));
    CHECK_OK(ncs_buffer_release(in.kernel));
    free(ones);
}

static void expect_refusal(const double *image, int rank, const int64_t *image_shape,
                           const double *kernel, int kernel_rank, const int64_t *kernel_shape,
                           int image_dtype, int kernel_dtype, const char *mode,
                           const char *boundary, const char *message)
{
    int64_t ni = 1, nk = 1;
    for (int i = 0; i < rank; i++)
        ni *= image_shape[i];
    for (int i = 0; i < kernel_rank; i++)
        nk *= kernel_shape[i];
    ncs_handle hi = buffer_of(image, ni, image_dtype), hk = buffer_of(kernel, nk, kernel_dtype);
    ncs_call *call;
    CHECK_OK(ncs_call_create("conv2d", &call));
    int status = ncs_call_set_input(call, 0, image_dtype, rank, image_shape, hi);
    if (status == NCS_OK)
        status = ncs_call_set_input(call, 1, kernel_dtype, kernel_rank, kernel_shape, hk);
    CHECK_OK(ncs_buffer_release(hi));
    CHECK_OK(ncs_buffer_release(hk));
    if (status == NCS_OK && mode)
        status = ncs_call_set_param(call, "mode", mode);
    if (status == NCS_OK && boundary)
        status = ncs_call_set_param(call, "boundary", boundary);
    int nparts;
    if (status == NCS_OK)
        status = ncs_call_prepare(call, 2, &nparts);
    CHECK_STATUS(status, NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), message);
    ncs_call_destroy(call, NULL, NULL);
}

static void test_refusals(void)
{
    double v[64];
    for (int i = 0; i < 64; i++)
        v[i] = i;
    const int64_t s44[2] = {4, 4}, s33[2] = {3, 3}, s25[2] = {2, 5}, s52[2] = {5, 2}, s8[1] = {8};
    const int64_t s2222[4] = {2, 2, 2, 2}, s222[3] = {2, 2, 2}, s04[2] = {0, 4}, s40[2] = {4, 0};
    const int64_t s104[3] = {1, 0, 4};
    expect_refusal(v, 2, s44, v, 2, s33, NCS_DTYPE_FP64, NCS_DTYPE_FP64, "middle", NULL,
                   "parameter 'mode' is \"middle\"");
    expect_refusal(v, 2, s44, v, 2, s33, NCS_DTYPE_FP64, NCS_DTYPE_FP64, NULL, "wrap",
                   "parameter 'boundary' is \"wrap\"");
    expect_refusal(v, 2, s44, v, 2, s33, NCS_DTYPE_FP64, NCS_DTYPE_FP64, NULL, "",
                   "parameter 'boundary' is \"\"");
    expect_refusal(
        v, 2, s25, v, 2, s52, NCS_DTYPE_FP32, NCS_DTYPE_FP32, "valid", "symm",
        "For 'valid' mode, one must be at least as large as the other in every dimension");
    expect_refusal(v, 1, s8, v, 2, s33, NCS_DTYPE_FP64, NCS_DTYPE_FP64, NULL, NULL,
                   "input 'image' has rank 1");
    expect_refusal(v, 4, s2222, v, 2, s33, NCS_DTYPE_FP64, NCS_DTYPE_FP64, NULL, NULL,
                   "input 'image' has rank 4");
    expect_refusal(v, 2, s44, v, 3, s222, NCS_DTYPE_FP64, NCS_DTYPE_FP64, NULL, NULL,
                   "input 'kernel' has rank 3"); /* refused when bound */
    expect_refusal(v, 2, s44, v, 2, s33, NCS_DTYPE_FP32, NCS_DTYPE_FP64, NULL, NULL,
                   "input 'kernel' is FP64 but input 'image' is FP32");
    expect_refusal(v, 2, s04, v, 2, s33, NCS_DTYPE_FP64, NCS_DTYPE_FP64, "full", NULL,
                   "empty image dimension");
    expect_refusal(v, 3, s104, v, 2, s33, NCS_DTYPE_FP64, NCS_DTYPE_FP64, "full", "symm",
                   "empty image dimension");
    expect_refusal(v, 2, s44, v, 2, s40, NCS_DTYPE_FP64, NCS_DTYPE_FP64, "same", NULL,
                   "input 'kernel' is empty");
}

/* Cancels a long single-part call once it has reported progress: the part stops early. */
static void test_cancel_while_running(void)
{
    const int64_t h = 600, w = 600;
    uint64_t seed = 23;
    double *image = malloc((size_t)(h * w) * sizeof(double)), kernel[31 * 31];
    CHECK(image != NULL);
    random_values(image, h * w, &seed);
    random_values(kernel, 31 * 31, &seed);
    ncs_handle hi = buffer_of(image, h * w, NCS_DTYPE_FP64),
               hk = buffer_of(kernel, 31 * 31, NCS_DTYPE_FP64);
    const int64_t shape[2] = {h, w}, kshape[2] = {31, 31};
    ncs_call *call;
    CHECK_OK(ncs_call_create("conv2d", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, hi));
    CHECK_OK(ncs_call_set_input(call, 1, NCS_DTYPE_FP64, 2, kshape, hk));
    CHECK_OK(ncs_buffer_release(hi));
    CHECK_OK(ncs_buffer_release(hk));
    CHECK(cancel_once_progressing(call) < (uint64_t)h);
    free(image);
}

int main(void)
{
    RUN_TEST(test_literals);
    RUN_TEST(test_random_against_reference);
    RUN_TEST(test_batch);
    RUN_TEST(test_nan_inf);
    RUN_TEST(test_parts);
    RUN_TEST(test_large_kernel);
    RUN_TEST(test_large_kernel_budget);
    RUN_TEST(test_refusals);
    RUN_TEST(test_cancel_while_running);
    return 0;
}
