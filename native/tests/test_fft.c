/*
 * test_fft.c -- the "fft" kernel against a naive O(n^2) DFT in long double (every bin for n up
 * to 4096, batched too; random bins for long transforms), closed forms (impulse, constant),
 * round trips, Parseval, NaN/Inf propagation, FP32 and FP64, the AVX2 and portable butterflies,
 * several part counts (also on two threads), invalid shapes and parameters, cancellation.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>

#include "check.h"
#include "cpu.h"

#define TWO_PI_L 6.283185307179586476925286766559005768L

/* ---- running the kernel ------------------------------------------------------------------ */

typedef struct fft_shape {
    int rank;
    int64_t dims[NCS_MAX_RANK];
} fft_shape;

static fft_shape shape_of(int64_t batch_a, int64_t batch_b, int64_t n)
{
    fft_shape s = {0, {0}};
    if (batch_a > 0)
        s.dims[s.rank++] = batch_a;
    if (batch_b > 0)
        s.dims[s.rank++] = batch_b;
    s.dims[s.rank++] = n;
    s.dims[s.rank++] = 2;
    return s;
}

static int64_t shape_count(const fft_shape *s)
{
    int64_t c = 1;
    for (int r = 0; r < s->rank; r++)
        c *= s->dims[r];
    return c;
}

/*
 * fft of x (count doubles, stored as `dtype`) with shape s; inverse < 0 leaves the parameter at
 * its default. Checks the output's metadata and the progress; returns the output as doubles
 * (caller frees) and the number of parts in *nparts_out.
 */
static double *run_fft(int dtype, const fft_shape *s, const double *x, int inverse, int max_parts,
                       int concurrent, int *nparts_out)
{
    int64_t count = shape_count(s);
    size_t size = ncs_dtype_size(dtype);
    void *raw = malloc((size_t)count * size + 1);
    CHECK(raw != NULL);
    for (int64_t i = 0; i < count; i++) {
        if (dtype == NCS_DTYPE_FP64)
            ((double *)raw)[i] = x[i];
        else
            ((float *)raw)[i] = (float)x[i];
    }
    ncs_handle h = buffer_from(raw, (size_t)count * size);
    free(raw);
    ncs_call *call;
    CHECK_OK(ncs_call_create("fft", &call));
    CHECK_OK(ncs_call_set_input(call, 0, dtype, s->rank, s->dims, h));
    if (inverse >= 0)
        CHECK_OK(ncs_call_set_param(call, "inverse", inverse ? "true" : "false"));
    int nparts = 0;
    CHECK_OK(ncs_call_prepare(call, max_parts, &nparts));
    CHECK(nparts >= 1 && nparts <= max_parts);
    int out_dtype, out_rank;
    int64_t out_dims[NCS_MAX_RANK];
    CHECK_OK(ncs_call_output_info(call, 0, &out_dtype, &out_rank, out_dims));
    CHECK(out_dtype == dtype && out_rank == s->rank);
    for (int r = 0; r < s->rank; r++)
        CHECK(out_dims[r] == s->dims[r]);
    CHECK_OK(concurrent ? run_parts_concurrently(call, nparts)
                        : run_parts_and_finish(call, nparts));
    CHECK(ncs_call_progress(call) == (uint64_t)(count / 2));
    ncs_handle y;
    CHECK_OK(ncs_call_take_output(call, 0, &y));
    uint64_t leaked = 99;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    double *out = malloc((size_t)count * sizeof(double) + 1);
    CHECK(out != NULL);
    if (count > 0) {
        const void *mem = buffer_memory(y);
        for (int64_t i = 0; i < count; i++)
            out[i] = dtype == NCS_DTYPE_FP64 ? ((const double *)mem)[i] : ((const float *)mem)[i];
    }
    CHECK_OK(ncs_buffer_release(y));
    CHECK_OK(ncs_buffer_release(h));
    if (nparts_out)
        *nparts_out = nparts;
    return out;
}

/* ---- references -------------------------------------------------------------------------- */

/* Random values in [-1, 1), rounded to FP32 when the test runs in FP32 (so the reference sees
   the kernel's exact input). */
static double *random_values(int64_t count, uint64_t seed, int dtype)
{
    double *x = malloc((size_t)count * sizeof(double) + 1);
    CHECK(x != NULL);
    seed = seed * 2654435761u + 17;
    for (int64_t i = 0; i < count; i++) {
        x[i] = 2.0 * test_random(&seed) - 1.0;
        if (dtype == NCS_DTYPE_FP32)
            x[i] = (float)x[i];
    }
    return x;
}

/* roots[t] = exp(-2 pi i t / n) in long double. */
static long double *roots_table(int64_t n)
{
    long double *w = malloc((size_t)n * 2 * sizeof(long double));
    CHECK(w != NULL);
    for (int64_t t = 0; t < n; t++) {
        long double a = TWO_PI_L * (long double)t / (long double)n;
        w[2 * t] = cosl(a);
        w[2 * t + 1] = -sinl(a);
    }
    return w;
}

/* Bin k of the DFT of x[0..n) (complex), in long double; inverse uses +i and divides by n. */
static void naive_bin(const double *x, int64_t n, int64_t k, int inverse, const long double *w,
                      long double *re, long double *im)
{
    long double sr = 0, si = 0;
    int64_t t = 0;
    for (int64_t j = 0; j < n; j++) {
        long double wr = w[2 * t], wi = inverse ? -w[2 * t + 1] : w[2 * t + 1];
        sr += x[2 * j] * wr - x[2 * j + 1] * wi;
        si += x[2 * j] * wi + x[2 * j + 1] * wr;
        t += k;
        if (t >= n)
            t -= n;
    }
    if (inverse) {
        sr /= (long double)n;
        si /= (long double)n;
    }
    *re = sr;
    *im = si;
}

static double tolerance(int dtype, int64_t n)
{
    double logn = log2((double)n) + 1.0;
    return dtype == NCS_DTYPE_FP64 ? 4e-16 * logn : 4e-7;
}

/* The reference transform of x at the bins listed (all when bins == NULL), and in *scale the
   magnitude errors are measured against: the largest reference value, at least ||x||
   (/ n for inverse), which is about |y_k| for random inputs. */
static long double *reference(const double *x, int64_t n, int inverse, const long double *w,
                              const int64_t *bins, int64_t nbins, long double *scale)
{
    int64_t count = bins ? nbins : n;
    long double *ref = malloc((size_t)count * 2 * sizeof(long double) + 1);
    CHECK(ref != NULL);
    long double biggest = 0, norm_x = 0;
    for (int64_t j = 0; j < n; j++)
        norm_x += (long double)x[2 * j] * x[2 * j] + (long double)x[2 * j + 1] * x[2 * j + 1];
    for (int64_t i = 0; i < count; i++) {
        naive_bin(x, n, bins ? bins[i] : i, inverse, w, &ref[2 * i], &ref[2 * i + 1]);
        long double mag = sqrtl(ref[2 * i] * ref[2 * i] + ref[2 * i + 1] * ref[2 * i + 1]);
        if (mag > biggest)
            biggest = mag;
    }
    *scale = sqrtl(norm_x) / (inverse ? (long double)n : 1.0L);
    if (biggest > *scale)
        *scale = biggest;
    return ref;
}

/* Every listed bin of y within tol * scale of the reference. */
static void compare(const char *what, const double *y, int64_t n, int inverse,
                    const long double *ref, long double scale, const int64_t *bins, int64_t nbins,
                    double tol)
{
    int64_t count = bins ? nbins : n;
    for (int64_t i = 0; i < count; i++) {
        int64_t k = bins ? bins[i] : i;
        long double er = (long double)y[2 * k] - ref[2 * i],
                    ei = (long double)y[2 * k + 1] - ref[2 * i + 1];
        long double err = sqrtl(er * er + ei * ei);
        if (!(err <= tol * scale + 1e-300L)) {
            fprintf(stderr,
                    "%s n=%lld inverse=%d: bin %lld = (%.17g, %.17g), expected (%.17Lg, %.17Lg), "
                    "error %.3Lg > %.3g * %.3Lg\n",
                    what, (long long)n, inverse, (long long)k, y[2 * k], y[2 * k + 1], ref[2 * i],
                    ref[2 * i + 1], err, tol, scale);
            exit(1);
        }
    }
}

/* Compares transform y of x with the naive DFT at the bins listed (all when bins == NULL). */
static void check_bins(const char *what, const double *x, const double *y, int64_t n, int inverse,
                       const long double *w, const int64_t *bins, int64_t nbins, double tol)
{
    long double scale;
    long double *ref = reference(x, n, inverse, w, bins, nbins, &scale);
    compare(what, y, n, inverse, ref, scale, bins, nbins, tol);
    free(ref);
}

/* ---- accuracy against the naive DFT -------------------------------------------------------- */

static const int64_t naive_sizes[] = {1,  2,  3,   4,   5,   7,   8,    12,   16,
                                      17, 97, 100, 127, 128, 243, 1000, 1009, 4096};

/* Every bin of every transform of shape [a?, b?, n, 2], both dtypes, both directions, both
   butterfly implementations, one and three parts. */
static void check_against_naive(int64_t a, int64_t b, int64_t n, uint64_t seed)
{
    fft_shape s = shape_of(a, b, n);
    int64_t count = shape_count(&s), batch = count / (2 * n);
    CHECK(batch <= 4);
    long double *w = roots_table(n);
    const int dtypes[] = {NCS_DTYPE_FP64, NCS_DTYPE_FP32};
    for (int d = 0; d < 2; d++) {
        double *x = random_values(count, seed + (uint64_t)d, dtypes[d]);
        for (int inverse = -1; inverse <= 1; inverse++) {
            if (inverse == 0 && n > 128)
                continue; /* explicit "false" equals the default; checked on short lengths */
            long double *refs[4], scales[4];
            for (int64_t t = 0; t < batch; t++)
                refs[t] = reference(x + 2 * n * t, n, inverse > 0, w, NULL, 0, &scales[t]);
            for (int portable = 0; portable <= 1; portable++) {
                CHECK_OK(
                    ncs_cpu_test_limit(portable ? NCS_CPU_LEVEL_PORTABLE : NCS_CPU_LEVEL_BEST));
                for (int max_parts = 1; max_parts <= 3; max_parts += 2) {
                    double *y = run_fft(dtypes[d], &s, x, inverse, max_parts, 0, NULL);
                    for (int64_t t = 0; t < batch; t++)
                        compare(dtypes[d] == NCS_DTYPE_FP64 ? "FP64" : "FP32", y + 2 * n * t, n,
                                inverse > 0, refs[t], scales[t], NULL, 0, tolerance(dtypes[d], n));
                    free(y);
                }
            }
            CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
            for (int64_t t = 0; t < batch; t++)
                free(refs[t]);
        }
        free(x);
    }
    free(w);
}

static void test_naive_single(void)
{
    for (size_t i = 0; i < sizeof naive_sizes / sizeof naive_sizes[0]; i++)
        check_against_naive(0, 0, naive_sizes[i], 100 + i);
}

static void test_naive_batched(void)
{
    for (size_t i = 0; i < sizeof naive_sizes / sizeof naive_sizes[0]; i++) {
        check_against_naive(3, 0, naive_sizes[i], 200 + i);
        check_against_naive(2, 2, naive_sizes[i], 300 + i);
    }
}

/* ---- long transforms: random bins, round trips, Parseval ---------------------------------- */

static double sum_squares(const double *v, int64_t count)
{
    long double s = 0;
    for (int64_t i = 0; i < count; i++)
        s += (long double)v[i] * v[i];
    return (double)s;
}

/* check_long's roots table, kept while the length repeats; freed by main. */
static long double *long_roots;
static int64_t long_roots_n;

/* Checks y = fft(x) (one transform of length n) at 24 bins, Parseval, and that
   ifft(y) gives back x; `max_parts`, `concurrent` and the dtype as given. */
static void check_long(int dtype, int64_t n, int max_parts, int concurrent, int expect_parts,
                       uint64_t seed)
{
    fft_shape s = shape_of(0, 0, n);
    double *x = random_values(2 * n, seed, dtype);
    int nparts;
    double *y = run_fft(dtype, &s, x, -1, max_parts, concurrent, &nparts);
    if (expect_parts > 0 && nparts != expect_parts) {
        fprintf(stderr, "n=%lld max_parts=%d: %d parts, expected %d\n", (long long)n, max_parts,
                nparts, expect_parts);
        exit(1);
    }
    int64_t bins[24] = {0, 1, 2, n - 1, n / 2, n / 3};
    uint64_t state = seed + 5;
    for (int i = 6; i < 24; i++)
        bins[i] = (int64_t)(test_random(&state) * (double)n);
    if (long_roots_n != n) {
        free(long_roots);
        long_roots = roots_table(n);
        long_roots_n = n;
    }
    check_bins("long", x, y, n, 0, long_roots, bins, 24, tolerance(dtype, n) * 2);
    double px = sum_squares(x, 2 * n) * (double)n, py = sum_squares(y, 2 * n);
    CHECK(fabs(px - py) <= (dtype == NCS_DTYPE_FP64 ? 1e-12 : 1e-6) * px);
    double *back = run_fft(dtype, &s, y, 1, max_parts, concurrent, NULL);
    double tol = dtype == NCS_DTYPE_FP64 ? 1e-13 : 3e-6;
    for (int64_t i = 0; i < 2 * n; i++) {
        if (!(fabs(back[i] - x[i]) <= tol)) {
            fprintf(stderr, "round trip n=%lld parts=%d: value %lld = %.17g, expected %.17g\n",
                    (long long)n, nparts, (long long)i, back[i], x[i]);
            exit(1);
        }
    }
    free(back);
    free(y);
    free(x);
}

static void test_long_transforms(void)
{
    /* four-step with radix 4/2, 5, 3, and generic 7, 11, 13 passes */
    check_long(NCS_DTYPE_FP64, 10000, 1, 0, 1, 1);
    check_long(NCS_DTYPE_FP64, 19683, 1, 0, 1, 2);
    check_long(NCS_DTYPE_FP64, 16 * 7 * 11 * 13, 1, 0, 1, 3);
    check_long(NCS_DTYPE_FP32, 10000, 1, 0, 1, 4);
    /* Bluestein with a four-step convolution (m = 2^18), one part */
    check_long(NCS_DTYPE_FP64, 100003, 1, 0, 1, 5);
    /* one transform split two ways: smooth, and Bluestein (65537 is prime; finish combines) */
    check_long(NCS_DTYPE_FP64, 1 << 16, 2, 0, 2, 6);
    check_long(NCS_DTYPE_FP64, 65537, 2, 0, 2, 7);
    check_long(NCS_DTYPE_FP32, 65537, 2, 1, 2, 8);
    /* split three and four ways */
    check_long(NCS_DTYPE_FP64, 3 * 5 * 8192, 3, 0, 3, 9);
    check_long(NCS_DTYPE_FP64, 65537, 4, 0, 4, 10);
    /* odd lengths split more ways than parts: 3^11 three ways and 5^7 five ways over 2 parts */
    check_long(NCS_DTYPE_FP64, 177147, 2, 1, 2, 13);
    check_long(NCS_DTYPE_FP32, 78125, 2, 0, 2, 14);
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_PORTABLE));
    check_long(NCS_DTYPE_FP64, 1 << 16, 2, 1, 2, 11);
    check_long(NCS_DTYPE_FP64, 65537, 2, 1, 2, 12);
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
}

/* 2^20 points: one part, and both parts (sequentially and on two threads), against the bins,
   Parseval and the inverse round trip; the part counts agree to rounding. */
static void test_two_to_the_20(void)
{
    const int64_t n = 1 << 20;
    check_long(NCS_DTYPE_FP64, n, 1, 0, 1, 21);
    check_long(NCS_DTYPE_FP64, n, 2, 1, 2, 23);
    check_long(NCS_DTYPE_FP32, n, 2, 1, 2, 24);
    fft_shape s = shape_of(0, 0, n);
    double *x = random_values(2 * n, 25, NCS_DTYPE_FP64);
    double *one = run_fft(NCS_DTYPE_FP64, &s, x, -1, 1, 0, NULL);
    double *two = run_fft(NCS_DTYPE_FP64, &s, x, -1, 2, 1, NULL);
    double scale = sqrt(sum_squares(x, 2 * n));
    for (int64_t i = 0; i < 2 * n; i++)
        CHECK(fabs(one[i] - two[i]) <= 1e-13 * scale);
    free(one);
    free(two);
    free(x);
}

/* Several transforms split across parts: batches that do not divide evenly are split by
   residue too (3 transforms, 2 parts: 6 units). */
static void test_batched_parts(void)
{
    const int64_t lengths[] = {1 << 16, 40009, 4096};
    for (int l = 0; l < 3; l++) {
        int64_t n = lengths[l];
        fft_shape s = shape_of(3, 0, n);
        double *x = random_values(6 * n, 30 + (uint64_t)l, NCS_DTYPE_FP64);
        long double *w = roots_table(n);
        int64_t bins[8] = {0, 1, n - 1, n / 2, 7, n / 5, n / 3 + 1, 2 * n / 3};
        for (int max_parts = 1; max_parts <= 4; max_parts++) {
            int nparts;
            double *y = run_fft(NCS_DTYPE_FP64, &s, x, max_parts % 2, max_parts, max_parts == 2,
                                &nparts);
            CHECK(nparts >= 1 && nparts <= max_parts);
            for (int t = 0; t < 3; t++)
                check_bins("batched parts", x + 2 * n * t, y + 2 * n * t, n, max_parts % 2, w, bins,
                           8, tolerance(NCS_DTYPE_FP64, n) * 2);
            free(y);
        }
        free(w);
        free(x);
    }
    /* many short transforms over several parts */
    fft_shape s = shape_of(1000, 0, 60);
    double *x = random_values(2 * 1000 * 60, 40, NCS_DTYPE_FP64);
    long double *w = roots_table(60);
    int nparts;
    double *y = run_fft(NCS_DTYPE_FP64, &s, x, -1, 3, 1, &nparts);
    CHECK(nparts == 1); /* 60000 points: less than two parts' worth (2^15 points each) */
    free(y);
    fft_shape big = shape_of(2000, 0, 60);
    double *xb = random_values(2 * 2000 * 60, 41, NCS_DTYPE_FP64);
    y = run_fft(NCS_DTYPE_FP64, &big, xb, -1, 3, 1, &nparts);
    CHECK(nparts == 3);
    for (int t = 0; t < 2000; t += 37)
        check_bins("many", xb + 120 * t, y + 120 * t, 60, 0, w, NULL, 0,
                   tolerance(NCS_DTYPE_FP64, 60));
    free(y);
    free(xb);
    free(w);
    free(x);
}

static void test_round_trips(void)
{
    const int64_t lengths[] = {1, 6, 13, 64, 210, 1023, 1024, 2310, 8191, 8192, 8193, 12288, 30030};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        int64_t n = lengths[l];
        fft_shape s = shape_of(2, 0, n);
        for (int d = 0; d < 2; d++) {
            int dtype = d ? NCS_DTYPE_FP32 : NCS_DTYPE_FP64;
            double *x = random_values(4 * n, 50 + l, dtype);
            double *y = run_fft(dtype, &s, x, 0, 2, 0, NULL);
            double *back = run_fft(dtype, &s, y, 1, 2, 0, NULL);
            double tol = d ? 3e-6 : 1e-13;
            for (int64_t i = 0; i < 4 * n; i++)
                CHECK(fabs(back[i] - x[i]) <= tol);
            /* Parseval per transform */
            for (int t = 0; t < 2; t++) {
                double px = sum_squares(x + 2 * n * t, 2 * n) * (double)n,
                       py = sum_squares(y + 2 * n * t, 2 * n);
                CHECK(fabs(px - py) <= (d ? 1e-6 : 1e-12) * px);
            }
            free(back);
            free(y);
            free(x);
        }
    }
}

/* ---- closed forms ------------------------------------------------------------------------ */

static void test_closed_forms(void)
{
    const int64_t lengths[] = {1, 2, 5, 8, 17, 100, 1009, 4096, 10000, 100003};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        int64_t n = lengths[l];
        fft_shape s = shape_of(0, 0, n);
        double *x = calloc((size_t)(2 * n), sizeof(double));
        CHECK(x != NULL);
        /* impulse at 0: all ones; constant c: n c at bin 0, zeros elsewhere */
        x[0] = 1.0;
        double *y = run_fft(NCS_DTYPE_FP64, &s, x, -1, 2, 0, NULL);
        for (int64_t k = 0; k < n; k++)
            CHECK(fabs(y[2 * k] - 1.0) <= 1e-13 && fabs(y[2 * k + 1]) <= 1e-13);
        free(y);
        for (int64_t j = 0; j < n; j++) {
            x[2 * j] = 0.75;
            x[2 * j + 1] = -0.5;
        }
        y = run_fft(NCS_DTYPE_FP64, &s, x, -1, 2, 0, NULL);
        double tol = 1e-15 * (double)n * (log2((double)n) + 1) + 1e-15;
        CHECK(fabs(y[0] - 0.75 * (double)n) <= tol && fabs(y[1] + 0.5 * (double)n) <= tol);
        for (int64_t k = 1; k < n; k++)
            CHECK(fabs(y[2 * k]) <= tol && fabs(y[2 * k + 1]) <= tol);
        free(y);
        /* inverse of a constant: c at 0 only... inverse of all ones is an impulse at 0 */
        for (int64_t j = 0; j < n; j++) {
            x[2 * j] = 1.0;
            x[2 * j + 1] = 0.0;
        }
        y = run_fft(NCS_DTYPE_FP32, &s, x, 1, 2, 0, NULL);
        CHECK(fabs(y[0] - 1.0) <= 1e-6 && fabs(y[1]) <= 1e-6);
        for (int64_t k = 1; k < n; k++)
            CHECK(fabs(y[2 * k]) <= 1e-6 && fabs(y[2 * k + 1]) <= 1e-6);
        free(y);
        /* impulse at j0: exp(-2 pi i j0 k / n) */
        memset(x, 0, (size_t)(2 * n) * sizeof(double));
        int64_t j0 = n / 3;
        x[2 * j0] = 1.0;
        y = run_fft(NCS_DTYPE_FP64, &s, x, -1, 1, 0, NULL);
        for (int64_t k = 0; k < n; k++) {
            long double a = TWO_PI_L * (long double)((j0 * k) % n) / (long double)n;
            CHECK(fabsl(y[2 * k] - cosl(a)) <= 1e-13L && fabsl(y[2 * k + 1] + sinl(a)) <= 1e-13L);
        }
        free(y);
        free(x);
    }
}

/* ---- NaN and infinities ------------------------------------------------------------------- */

/* In a batch of 3, transform 1 gets `bad` at one position: all its outputs have a non-finite
   component (a NaN one for NaN input), transforms 0 and 2 stay finite. */
static void check_special(int dtype, int64_t n, double bad, int max_parts)
{
    fft_shape s = shape_of(3, 0, n);
    double *x = random_values(6 * n, 60, dtype);
    x[2 * n + 2 * (n / 2)] = bad;
    for (int inverse = 0; inverse <= 1; inverse++) {
        double *y = run_fft(dtype, &s, x, inverse, max_parts, 0, NULL);
        for (int64_t k = 0; k < n; k++) {
            const double *v = y + 2 * n + 2 * k;
            if (isnan(bad) ? !(isnan(v[0]) || isnan(v[1])) : (isfinite(v[0]) && isfinite(v[1]))) {
                fprintf(stderr, "special %g n=%lld inverse=%d: bin %lld = (%g, %g)\n", bad,
                        (long long)n, inverse, (long long)k, v[0], v[1]);
                exit(1);
            }
            CHECK(isfinite(y[2 * k]) && isfinite(y[2 * k + 1]));
            CHECK(isfinite(y[4 * n + 2 * k]) && isfinite(y[4 * n + 2 * k + 1]));
        }
        free(y);
    }
    free(x);
}

static void test_nan_inf(void)
{
    const int64_t lengths[] = {1, 2, 8, 17, 100, 1009, 10000, 65537, 1 << 16};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        for (int portable = 0; portable <= (lengths[l] <= 10000); portable++) {
            CHECK_OK(ncs_cpu_test_limit(portable ? NCS_CPU_LEVEL_PORTABLE : NCS_CPU_LEVEL_BEST));
            check_special(NCS_DTYPE_FP64, lengths[l], NAN, 2);
            check_special(NCS_DTYPE_FP64, lengths[l], INFINITY, 2);
            check_special(NCS_DTYPE_FP32, lengths[l], -INFINITY, 1);
            check_special(NCS_DTYPE_FP32, lengths[l], NAN, 3);
        }
        CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
    }
    /* one transform split across parts */
    const int64_t n = 1 << 17;
    fft_shape s = shape_of(0, 0, n);
    double *x = random_values(2 * n, 61, NCS_DTYPE_FP64);
    x[12345] = NAN;
    double *y = run_fft(NCS_DTYPE_FP64, &s, x, -1, 2, 1, NULL);
    for (int64_t k = 0; k < n; k++)
        CHECK(isnan(y[2 * k]) || isnan(y[2 * k + 1]));
    free(y);
    free(x);
}

/* ---- empty batches and rejects ---------------------------------------------------------- */

static void test_empty_batch(void)
{
    fft_shape s = shape_of(0, 0, 4);
    s.rank = 3;
    s.dims[0] = 0;
    s.dims[1] = 4;
    s.dims[2] = 2;
    double dummy = 0;
    double *y = run_fft(NCS_DTYPE_FP64, &s, &dummy, 1, 4, 0, NULL);
    free(y);
}

/* prepare fails with NCS_E_INVALID_ARGUMENT and a message containing `part`. */
static void check_rejected(int rank, const int64_t *dims, const char *part)
{
    double data[16] = {0};
    ncs_handle h = buffer_from(data, sizeof data);
    ncs_call *call;
    int nparts = 0;
    CHECK_OK(ncs_call_create("fft", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, rank, dims, h));
    CHECK_STATUS(ncs_call_prepare(call, 2, &nparts), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), part);
    CHECK_CONTAINS(ncs_call_error(call), "'x'");
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(h));
}

static void test_rejects(void)
{
    const int64_t vec[1] = {8};
    check_rejected(1, vec, "rank 1");
    check_rejected(0, vec, "rank 0");
    const int64_t three[2] = {4, 3};
    check_rejected(2, three, "last dimension 3");
    const int64_t one[2] = {8, 1};
    check_rejected(2, one, "last dimension 1");
    const int64_t empty[2] = {0, 2};
    check_rejected(2, empty, "n = 0");
    const int64_t empty3[3] = {4, 0, 2};
    check_rejected(3, empty3, "n >= 1");

    double data[8] = {0};
    ncs_handle h = buffer_from(data, sizeof data);
    ncs_call *call;
    int64_t dims[2] = {4, 2};
    CHECK_OK(ncs_call_create("fft", &call));
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_INT32, 2, dims, h), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_param(call, "inverse", "maybe"), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_param(call, "inverse", ""), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_param(call, "norm", "ortho"), NCS_E_INVALID_ARGUMENT);
    CHECK_OK(ncs_call_set_param(call, "inverse", "1"));
    int nparts;
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INVALID_ARGUMENT); /* no input set */
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(h));
}

int main(void)
{
    RUN_TEST(test_rejects);
    RUN_TEST(test_empty_batch);
    RUN_TEST(test_closed_forms);
    RUN_TEST(test_naive_single);
    RUN_TEST(test_naive_batched);
    RUN_TEST(test_round_trips);
    RUN_TEST(test_nan_inf);
    RUN_TEST(test_long_transforms);
    RUN_TEST(test_batched_parts);
    RUN_TEST(test_two_to_the_20);
    free(long_roots);
    return 0;
}
