/*
 * test_histogram.c -- histogram against numpy: literal numpy.histogram outputs, and a naive
 * reference that follows numpy's rules step by step (linspace edges in numpy's types, the
 * truncated index and its two edge corrections) on random data with values on edges, NaN and
 * infinities, FP32 and FP64, given and autodetected ranges, 1 to 4 parts (sequential and on two
 * threads), huge bin counts, the AVX2 and the portable counting loops, refusals, cancellation.
 */
#include <float.h>
#include <math.h>

#include "check.h"
#include "cpu.h"

/*
 * Literal numpy results, produced once with numpy 2.4.6 (python3) by this script:
 *
 *   import numpy as np
 *   def emit(name, x, bins, rng=None):
 *       c, e = np.histogram(x, bins, range=rng)
 *       ... print x, c and e as C arrays (repr of each float) ...
 *   emit("h_tenths", np.arange(11) / 10, 10)
 *   emit("h_on_edges", np.array([0, 1/3, 2/3, 1, 0.5, -0.1, 1.1, np.nan, np.inf]), 3, (0.0, 1.0))
 *   e7 = np.linspace(0.1, 0.9, 8)
 *   emit("h_next", np.concatenate([e7, np.nextafter(e7, 0), np.nextafter(e7, 1)]), 7, (0.1, 0.9))
 *   x32 = np.array([0.1, 0.7, 0.3, 0.18571427, 0.27142856, 0.35714284, 0.44285712, 0.5285714,
 *                   0.6142857, 0.35714287, 0.6142856], np.float32)
 *   emit("h_f32_auto", x32, 7)
 *   emit("h_f32_range", x32, 7, (0.1, 0.7))
 *   emit("h_same", np.array([5.0, 5.0, 5.0]), 4)
 *   emit("h_same32", np.array([1e6 + 1, 1e6 + 1], np.float32), 3)
 *   emit("h_negative", np.array([-3.5, -2, -1.25, -0.5, -4, -1, -4.5]), 6, (-4.0, -1.0))
 *   emit("h_lohi", np.array([2.0, 2.5, 1.5, 2.0]), 2, (2.0, 2.0))
 *   emit("h_empty64", np.array([], float), 4)
 *   emit("h_empty32", np.array([], np.float32), 3)
 *   emit("h_empty_range", np.array([], float), 2, (-1.0, 3.0))
 *   emit("h_bins1", np.array([0.25, 0.75, 1.0, 0.0]), 1)
 *
 * (The FP32 x values are listed as doubles; they are exactly representable in FP32.) numpy also
 * raised, and the kernel must refuse: np.histogram(np.array([1e7 + 1] * 2, np.float32), 3)
 * ("Too many bins for data range"), np.histogram([1.0, nan], 3) ("autodetected range of
 * [nan, nan] is not finite") and np.histogram([1.0, inf], 3) ("autodetected range of [1.0, inf]").
 */
/* h_tenths: numpy.histogram(float64 x, 10) */
static const double h_tenths_x[] = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
static const int64_t h_tenths_counts[] = {1, 1, 2, 0, 1, 2, 1, 0, 1, 2};
static const double h_tenths_edges[] = {
    0.0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6000000000000001, 0.7000000000000001,
    0.8, 0.9, 1.0};
/* h_on_edges: numpy.histogram(float64 x, 3, range=(0.0, 1.0)) */
static const double h_on_edges_x[] = {
    0.0, 0.3333333333333333, 0.6666666666666666, 1.0, 0.5, -0.1, 1.1, NAN, INFINITY};
static const int64_t h_on_edges_counts[] = {1, 2, 2};
static const double h_on_edges_edges[] = {0.0, 0.3333333333333333, 0.6666666666666666, 1.0};
/* h_next: numpy.histogram(float64 x, 7, range=(0.1, 0.9)) */
static const double h_next_x[] = {0.1,
                                  0.2142857142857143,
                                  0.3285714285714286,
                                  0.44285714285714284,
                                  0.5571428571428572,
                                  0.6714285714285715,
                                  0.7857142857142857,
                                  0.9,
                                  0.09999999999999999,
                                  0.21428571428571427,
                                  0.32857142857142857,
                                  0.4428571428571428,
                                  0.557142857142857,
                                  0.6714285714285714,
                                  0.7857142857142856,
                                  0.8999999999999999,
                                  0.10000000000000002,
                                  0.21428571428571433,
                                  0.3285714285714287,
                                  0.4428571428571429,
                                  0.5571428571428573,
                                  0.6714285714285716,
                                  0.7857142857142858,
                                  0.9000000000000001};
static const int64_t h_next_counts[] = {3, 3, 3, 3, 3, 3, 4};
static const double h_next_edges[] = {0.1,
                                      0.2142857142857143,
                                      0.3285714285714286,
                                      0.44285714285714284,
                                      0.5571428571428572,
                                      0.6714285714285715,
                                      0.7857142857142857,
                                      0.9};
/* h_f32_auto: numpy.histogram(float32 x, 7) */
static const double h_f32_auto_x[] = {0.10000000149011612, 0.699999988079071,   0.30000001192092896,
                                      0.18571427464485168, 0.27142855525016785, 0.357142835855484,
                                      0.44285711646080017, 0.5285714268684387,  0.6142857074737549,
                                      0.3571428656578064,  0.6142855882644653};
static const int64_t h_f32_auto_counts[] = {1, 1, 2, 2, 1, 2, 2};
static const double h_f32_auto_edges[] = {
    0.10000000149011612, 0.18571427464485168, 0.27142855525016785, 0.357142835855484,
    0.44285711646080017, 0.5285714268684387,  0.6142857074737549,  0.699999988079071};
/* h_f32_range: numpy.histogram(float32 x, 7, range=(0.1, 0.7)) */
static const double h_f32_range_x[] = {
    0.10000000149011612, 0.699999988079071,  0.30000001192092896, 0.18571427464485168,
    0.27142855525016785, 0.357142835855484,  0.44285711646080017, 0.5285714268684387,
    0.6142857074737549,  0.3571428656578064, 0.6142855882644653};
static const int64_t h_f32_range_counts[] = {2, 1, 2, 2, 0, 2, 2};
static const double h_f32_range_edges[] = {
    0.10000000149011612, 0.18571428954601288, 0.27142858505249023, 0.3571428656578064,
    0.44285714626312256, 0.5285714268684387,  0.6142857074737549,  0.699999988079071};
/* h_same: numpy.histogram(float64 x, 4) */
static const double h_same_x[] = {5.0, 5.0, 5.0};
static const int64_t h_same_counts[] = {0, 0, 3, 0};
static const double h_same_edges[] = {4.5, 4.75, 5.0, 5.25, 5.5};
/* h_same32: numpy.histogram(float32 x, 3) */
static const double h_same32_x[] = {1000001.0, 1000001.0};
static const int64_t h_same32_counts[] = {0, 2, 0};
static const double h_same32_edges[] = {1000000.5, 1000000.8125, 1000001.1875, 1000001.5};
/* h_negative: numpy.histogram(float64 x, 6, range=(-4.0, -1.0)) */
static const double h_negative_x[] = {-3.5, -2.0, -1.25, -0.5, -4.0, -1.0, -4.5};
static const int64_t h_negative_counts[] = {1, 1, 0, 0, 1, 2};
static const double h_negative_edges[] = {-4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0};
/* h_lohi: numpy.histogram(float64 x, 2, range=(2.0, 2.0)) */
static const double h_lohi_x[] = {2.0, 2.5, 1.5, 2.0};
static const int64_t h_lohi_counts[] = {1, 3};
static const double h_lohi_edges[] = {1.5, 2.0, 2.5};
/* h_empty64: numpy.histogram(float64 x, 4) */
static const double h_empty64_x[] = {0};
static const int64_t h_empty64_counts[] = {0, 0, 0, 0};
static const double h_empty64_edges[] = {0.0, 0.25, 0.5, 0.75, 1.0};
/* h_empty32: numpy.histogram(float32 x, 3) */
static const double h_empty32_x[] = {0};
static const int64_t h_empty32_counts[] = {0, 0, 0};
static const double h_empty32_edges[] = {0.0, 0.3333333432674408, 0.6666666865348816, 1.0};
/* h_empty_range: numpy.histogram(float64 x, 2, range=(-1.0, 3.0)) */
static const double h_empty_range_x[] = {0};
static const int64_t h_empty_range_counts[] = {0, 0};
static const double h_empty_range_edges[] = {-1.0, 1.0, 3.0};
/* h_bins1: numpy.histogram(float64 x, 1) */
static const double h_bins1_x[] = {0.25, 0.75, 1.0, 0.0};
static const int64_t h_bins1_counts[] = {4};
static const double h_bins1_edges[] = {0.0, 1.0};

typedef struct literal_case {
    const char *name;
    int dtype;
    const double *x;
    int64_t n;
    int64_t bins;
    int given;
    double lo, hi;
    const int64_t *counts;
    const double *edges;
} literal_case;

#define LIT(NAME, DTYPE, N, BINS, GIVEN, LO, HI)                                    \
    {                                                                               \
#NAME, DTYPE, NAME##_x, N, BINS, GIVEN, LO, HI, NAME##_counts, NAME##_edges \
    }

static const literal_case literals[] = {
    LIT(h_tenths, NCS_DTYPE_FP64, 11, 10, 0, 0, 0),
    LIT(h_on_edges, NCS_DTYPE_FP64, 9, 3, 1, 0.0, 1.0),
    LIT(h_next, NCS_DTYPE_FP64, 24, 7, 1, 0.1, 0.9),
    LIT(h_f32_auto, NCS_DTYPE_FP32, 11, 7, 0, 0, 0),
    LIT(h_f32_range, NCS_DTYPE_FP32, 11, 7, 1, 0.1, 0.7),
    LIT(h_same, NCS_DTYPE_FP64, 3, 4, 0, 0, 0),
    LIT(h_same32, NCS_DTYPE_FP32, 2, 3, 0, 0, 0),
    LIT(h_negative, NCS_DTYPE_FP64, 7, 6, 1, -4.0, -1.0),
    LIT(h_lohi, NCS_DTYPE_FP64, 4, 2, 1, 2.0, 2.0),
    LIT(h_empty64, NCS_DTYPE_FP64, 0, 4, 0, 0, 0),
    LIT(h_empty32, NCS_DTYPE_FP32, 0, 3, 0, 0, 0),
    LIT(h_empty_range, NCS_DTYPE_FP64, 0, 2, 1, -1.0, 3.0),
    LIT(h_bins1, NCS_DTYPE_FP64, 4, 1, 0, 0, 0),
};

/* ---- running the kernel ------------------------------------------------------------------ */

typedef struct hist_result {
    int status;        /* of the first failing step, or NCS_OK */
    char message[512]; /* ncs_call_error after a failure */
    int nparts;
    uint64_t progress;
    int64_t *counts; /* bins values, malloc'ed (NULL after a failure) */
    double *edges;   /* bins + 1 values */
} hist_result;

static void free_result(hist_result *r)
{
    free(r->counts);
    free(r->edges);
    r->counts = NULL;
    r->edges = NULL;
}

/* Runs histogram on x (n elements of dtype; rank 1, or [n/2, 2] when `matrix` and n is even).
   bins_text, lo_text, hi_text: NULL leaves the parameter unset. */
static hist_result histogram(const void *x, int dtype, int64_t n, const char *bins_text,
                             const char *lo_text, const char *hi_text, int max_parts, int threads)
{
    hist_result r = {.status = NCS_OK};
    size_t size = ncs_dtype_size(dtype);
    ncs_handle h = buffer_from(x, (size_t)n * size);
    ncs_call *call;
    CHECK_OK(ncs_call_create("histogram", &call));
    int64_t shape[2] = {n, 2};
    if (n % 2 == 0 && n > 0 && (n / 2) % 3 == 1) { /* some calls pass a matrix: any rank is fine */
        shape[0] = n / 2;
        CHECK_OK(ncs_call_set_input(call, 0, dtype, 2, shape, h));
    } else {
        CHECK_OK(ncs_call_set_input(call, 0, dtype, 1, shape, h));
    }
    CHECK_OK(ncs_buffer_release(h));
    if (bins_text)
        CHECK_OK(ncs_call_set_param(call, "bins", bins_text));
    if (lo_text)
        CHECK_OK(ncs_call_set_param(call, "lo", lo_text));
    if (hi_text)
        CHECK_OK(ncs_call_set_param(call, "hi", hi_text));
    r.status = prepare_and_run(call, max_parts, threads, &r.nparts, r.message, sizeof r.message);
    if (r.status != NCS_OK)
        return r;
    r.progress = ncs_call_progress(call);
    int out_dtype, rank;
    int64_t dims[NCS_MAX_RANK];
    CHECK_OK(ncs_call_output_info(call, 0, &out_dtype, &rank, dims));
    CHECK(out_dtype == NCS_DTYPE_INT64 && rank == 1);
    int64_t bins = dims[0];
    CHECK_OK(ncs_call_output_info(call, 1, &out_dtype, &rank, dims));
    CHECK(out_dtype == NCS_DTYPE_FP64 && rank == 1 && dims[0] == bins + 1);
    ncs_handle counts, edges;
    CHECK_OK(ncs_call_take_output(call, 0, &counts));
    CHECK_OK(ncs_call_take_output(call, 1, &edges));
    uint64_t leaked = 1;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    r.counts = malloc((size_t)bins * sizeof(int64_t));
    r.edges = malloc((size_t)(bins + 1) * sizeof(double));
    CHECK(r.counts && r.edges);
    memcpy(r.counts, buffer_memory(counts), (size_t)bins * sizeof(int64_t));
    memcpy(r.edges, buffer_memory(edges), (size_t)(bins + 1) * sizeof(double));
    CHECK_OK(ncs_buffer_release(counts));
    CHECK_OK(ncs_buffer_release(edges));
    return r;
}

/* ---- the reference: numpy's histogram, step by step ---------------------------------------- */

/* np.linspace(start, stop, bins + 1) computed in double. */
static void linspace64(double start, double stop, int64_t bins, double *y)
{
    double delta = stop - start, step = delta / (double)bins;
    for (int64_t i = 0; i <= bins; i++) {
        y[i] = (double)i;
        if (step == 0)
            y[i] = (y[i] / (double)bins) * delta;
        else
            y[i] = y[i] * step;
        y[i] += start;
    }
    y[bins] = stop;
}

/* The same computed in float (numpy's float32 scalars). */
static void linspace32(float start, float stop, int64_t bins, float *y)
{
    float delta = stop - start, step = delta / (float)bins;
    for (int64_t i = 0; i <= bins; i++) {
        y[i] = (float)i;
        if (step == 0)
            y[i] = (y[i] / (float)bins) * delta;
        else
            y[i] = y[i] * step;
        y[i] += start;
    }
    y[bins] = stop;
}

/* Fills counts[bins] and edges[bins+1] like numpy.histogram and returns 1, or returns 0 where numpy
   raises. x holds n values of dtype. */
static int reference(const void *x, int dtype, int64_t n, int64_t bins, int given, double lo,
                     double hi, int64_t *counts, double *edges)
{
    const double *x64 = x;
    const float *x32 = x;
    double *e64 = malloc((size_t)(bins + 1) * sizeof(double));
    float *e32 = malloc((size_t)(bins + 1) * sizeof(float));
    CHECK(e64 && e32);
    double first = 0, last = 1, denom = 1;
    float first32 = 0, last32 = 1, denom32 = 1;
    int float_math = 0; /* FP32 data with an autodetected range */
    if (given || n == 0) {
        if (given) {
            first = lo;
            last = hi;
        }
        if (first == last) {
            first -= 0.5;
            last += 0.5;
        }
        denom = last - first;
        linspace64(first, last, bins, e64);
        first32 = (float)first;
        last32 = (float)last;
        for (int64_t i = 0; i <= bins; i++)
            e32[i] = (float)e64[i];
    } else if (dtype == NCS_DTYPE_FP64) {
        first = last = x64[0];
        for (int64_t i = 0; i < n; i++) {
            if (isnan(x64[i]))
                first = last = NAN;
            if (x64[i] < first)
                first = x64[i];
            if (x64[i] > last)
                last = x64[i];
        }
        if (!isfinite(first) || !isfinite(last))
            goto raise;
        if (first == last) {
            first -= 0.5;
            last += 0.5;
        }
        denom = last - first;
        linspace64(first, last, bins, e64);
    } else {
        float_math = 1;
        first32 = last32 = x32[0];
        for (int64_t i = 0; i < n; i++) {
            if (isnan(x32[i]))
                first32 = last32 = NAN;
            if (x32[i] < first32)
                first32 = x32[i];
            if (x32[i] > last32)
                last32 = x32[i];
        }
        if (!isfinite(first32) || !isfinite(last32))
            goto raise;
        if (first32 == last32) {
            first32 -= 0.5f;
            last32 += 0.5f;
        }
        denom32 = last32 - first32;
        linspace32(first32, last32, bins, e32);
    }
    for (int64_t i = 0; i <= bins; i++)
        edges[i] = dtype == NCS_DTYPE_FP64 ? e64[i] : (double)e32[i];
    for (int64_t i = 0; i < bins; i++) {
        if (!(edges[i] < edges[i + 1]))
            goto raise; /* "Too many bins for data range" */
        counts[i] = 0;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t k;
        double v;
        if (dtype == NCS_DTYPE_FP64) {
            v = x64[i];
            if (!(v >= first && v <= last))
                continue;
            k = (int64_t)(((v - first) / denom) * (double)bins);
        } else if (!float_math) {
            float v32 = x32[i];
            if (!(v32 >= first32 && v32 <= last32))
                continue;
            float d = v32 - first32;
            k = (int64_t)(((double)d / denom) * (double)bins);
            v = v32;
        } else {
            float v32 = x32[i];
            if (!(v32 >= first32 && v32 <= last32))
                continue;
            k = (int64_t)(((v32 - first32) / denom32) * (float)bins);
            v = v32;
        }
        if (k == bins)
            k--;
        CHECK(k >= 0 && k < bins); /* numpy would fail with IndexError otherwise */
        if (v < edges[k])
            k--;
        if (v >= edges[k + 1] && k != bins - 1)
            k++;
        counts[k]++;
    }
    free(e64);
    free(e32);
    return 1;
raise:
    free(e64);
    free(e32);
    return 0;
}

/* ---- checks -------------------------------------------------------------------------------- */

static void text_of(double v, char *buf, size_t size)
{
    snprintf(buf, size, "%.17g", v);
}

/* Runs the kernel on x and compares with the reference (or with numpy's refusal). */
static void check_against_reference(const void *x, int dtype, int64_t n, int64_t bins, int given,
                                    double lo, double hi, int max_parts, int threads)
{
    char bins_text[32], lo_text[40], hi_text[40];
    snprintf(bins_text, sizeof bins_text, "%lld", (long long)bins);
    text_of(lo, lo_text, sizeof lo_text);
    text_of(hi, hi_text, sizeof hi_text);
    int64_t *counts = malloc((size_t)bins * sizeof(int64_t));
    double *edges = malloc((size_t)(bins + 1) * sizeof(double));
    CHECK(counts && edges);
    int ok = reference(x, dtype, n, bins, given, lo, hi, counts, edges);
    hist_result r = histogram(x, dtype, n, bins_text, given ? lo_text : NULL,
                              given ? hi_text : NULL, max_parts, threads);
    if (!ok) {
        if (r.status != NCS_E_INVALID_ARGUMENT) {
            fprintf(stderr, "numpy refuses n=%lld bins=%lld given=%d but the kernel returned %d\n",
                    (long long)n, (long long)bins, given, r.status);
            exit(1);
        }
    } else {
        if (r.status != NCS_OK) {
            fprintf(stderr, "n=%lld bins=%lld given=%d [%g, %g] failed: %s\n", (long long)n,
                    (long long)bins, given, lo, hi, r.message);
            exit(1);
        }
        CHECK(r.progress == (uint64_t)(given ? n : 2 * n));
        for (int64_t i = 0; i <= bins; i++) {
            if (!(r.edges[i] == edges[i])) {
                fprintf(stderr, "edge %lld: got %.17g, numpy %.17g (n=%lld bins=%lld)\n",
                        (long long)i, r.edges[i], edges[i], (long long)n, (long long)bins);
                exit(1);
            }
        }
        for (int64_t i = 0; i < bins; i++) {
            if (r.counts[i] != counts[i]) {
                fprintf(stderr,
                        "bin %lld: got %lld, numpy %lld (n=%lld bins=%lld given=%d %s parts %d)\n",
                        (long long)i, (long long)r.counts[i], (long long)counts[i], (long long)n,
                        (long long)bins, given, dtype == NCS_DTYPE_FP64 ? "FP64" : "FP32",
                        r.nparts);
                exit(1);
            }
        }
    }
    free_result(&r);
    free(counts);
    free(edges);
}

static void test_literals(void)
{
    for (size_t c = 0; c < sizeof literals / sizeof literals[0]; c++) {
        const literal_case *l = &literals[c];
        float x32[64];
        CHECK(l->n <= 64);
        for (int64_t i = 0; i < l->n; i++)
            x32[i] = (float)l->x[i];
        const void *x = l->dtype == NCS_DTYPE_FP64 ? (const void *)l->x : (const void *)x32;
        char bins[32], lo[40], hi[40];
        snprintf(bins, sizeof bins, "%lld", (long long)l->bins);
        text_of(l->lo, lo, sizeof lo);
        text_of(l->hi, hi, sizeof hi);
        for (int portable = 0; portable <= 1; portable++) {
            CHECK_OK(ncs_cpu_test_limit(portable ? NCS_CPU_LEVEL_PORTABLE : NCS_CPU_LEVEL_BEST));
            hist_result r = histogram(l->n ? x : NULL, l->dtype, l->n, bins, l->given ? lo : NULL,
                                      l->given ? hi : NULL, 4, 0);
            if (r.status != NCS_OK) {
                fprintf(stderr, "%s: %s\n", l->name, r.message);
                exit(1);
            }
            for (int64_t i = 0; i < l->bins; i++) {
                if (r.counts[i] != l->counts[i]) {
                    fprintf(stderr, "%s: bin %lld holds %lld, numpy says %lld\n", l->name,
                            (long long)i, (long long)r.counts[i], (long long)l->counts[i]);
                    exit(1);
                }
            }
            for (int64_t i = 0; i <= l->bins; i++) {
                if (r.edges[i] != l->edges[i]) {
                    fprintf(stderr, "%s: edge %lld is %.17g, numpy says %.17g\n", l->name,
                            (long long)i, r.edges[i], l->edges[i]);
                    exit(1);
                }
            }
            /* the reference agrees with numpy too */
            int64_t counts[16];
            double edges[17];
            CHECK(reference(x, l->dtype, l->n, l->bins, l->given, l->lo, l->hi, counts, edges));
            CHECK(memcmp(counts, l->counts, (size_t)l->bins * sizeof(int64_t)) == 0);
            CHECK(memcmp(edges, l->edges, (size_t)(l->bins + 1) * sizeof(double)) == 0);
            free_result(&r);
        }
    }
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
}

/* Random data in [-2, 3) with some values exactly on (or next to) the edges of [lo, hi] split in
   `bins`, some NaN and infinities (`specials`). */
static void *random_data(int dtype, int64_t n, int64_t bins, double lo, double hi, int specials,
                         uint64_t *seed)
{
    void *x = malloc((size_t)(n ? n : 1) * ncs_dtype_size(dtype));
    CHECK(x != NULL);
    double *e = malloc((size_t)(bins + 1) * sizeof(double));
    CHECK(e != NULL);
    linspace64(lo, hi, bins, e);
    for (int64_t i = 0; i < n; i++) {
        double u = test_random(seed), v;
        if (u < 0.2) {
            v = e[(int64_t)(test_random(seed) * (double)(bins + 1))];
            if (u < 0.05)
                v = nextafter(v, -INFINITY);
            else if (u < 0.1)
                v = nextafter(v, INFINITY);
        } else if (specials && u < 0.23) {
            v = u < 0.21 ? NAN : (u < 0.22 ? INFINITY : -INFINITY);
        } else {
            v = 5 * test_random(seed) - 2;
        }
        if (dtype == NCS_DTYPE_FP64)
            ((double *)x)[i] = v;
        else
            ((float *)x)[i] = (float)v;
    }
    free(e);
    return x;
}

static void test_random_against_reference(void)
{
    static const int64_t sizes[] = {0, 1, 2, 7, 8, 9, 31, 1009, 300007, (1 << 20) + 3};
    static const int64_t bin_counts[] = {1, 2, 3, 7, 10, 64, 1000, 4099};
    static const double ranges[][2] = {{0, 1},     {-1.5, 2.25}, {0.1, 0.7},
                                       {-3, -0.5}, {1, 1},       {-2, 3}};
    uint64_t seed = 12345;
    int round = 0;
    for (int portable = 0; portable <= 1; portable++) {
        CHECK_OK(ncs_cpu_test_limit(portable ? NCS_CPU_LEVEL_PORTABLE : NCS_CPU_LEVEL_BEST));
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            for (size_t b = 0; b < sizeof bin_counts / sizeof bin_counts[0]; b++) {
                if (sizes[s] > 100000 && b % 3 != 0)
                    continue; /* keep the run short */
                int64_t n = sizes[s], bins = bin_counts[b];
                for (int dtype = NCS_DTYPE_FP32; dtype <= NCS_DTYPE_FP64; dtype++) {
                    const double *range = ranges[round % 6];
                    int given = round % 3 != 2;
                    int max_parts = 1 + round % 4;
                    void *x = random_data(dtype, n, bins, range[0], range[1], given, &seed);
                    check_against_reference(x, dtype, n, bins, given, range[0], range[1], max_parts,
                                            0);
                    free(x);
                    round++;
                }
            }
        }
    }
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
}

/* Many parts must give the same result as one; also with the parts on two threads at once. */
static void test_parts(void)
{
    const int64_t n = 3 * (1 << 18) + 11;
    uint64_t seed = 99;
    for (int dtype = NCS_DTYPE_FP32; dtype <= NCS_DTYPE_FP64; dtype++) {
        void *x = random_data(dtype, n, 10, -1, 2, 1, &seed);
        hist_result one = histogram(x, dtype, n, "10", "-1", "2", 1, 0);
        CHECK(one.status == NCS_OK && one.nparts == 1);
        for (int parts = 2; parts <= 4; parts++) {
            for (int threads = 0; threads <= 1; threads++) {
                hist_result many = histogram(x, dtype, n, "10", "-1", "2", parts, threads);
                CHECK(many.status == NCS_OK && many.nparts == (parts < 3 ? parts : 3));
                CHECK(memcmp(many.counts, one.counts, 10 * sizeof(int64_t)) == 0);
                CHECK(memcmp(many.edges, one.edges, 11 * sizeof(double)) == 0);
                free_result(&many);
            }
        }
        free_result(&one);
        /* autodetected range: the parts find min and max, finish counts */
        for (int64_t i = 0; i < n; i++) { /* no NaN or infinities this time */
            if (dtype == NCS_DTYPE_FP64 && !isfinite(((double *)x)[i]))
                ((double *)x)[i] = 0.5;
            if (dtype == NCS_DTYPE_FP32 && !isfinite(((float *)x)[i]))
                ((float *)x)[i] = 0.5f;
        }
        if (dtype == NCS_DTYPE_FP64)
            ((double *)x)[n - 1] = 7.25;
        else
            ((float *)x)[n - 1] = 7.25f;
        check_against_reference(x, dtype, n, 13, 0, 0, 0, 3, 1);
        check_against_reference(x, dtype, n, 13, 0, 0, 0, 4, 0);
        free(x);
    }
}

/* More bins than elements, bins above the interleaved-histogram limit, and a million bins. */
static void test_huge_bins(void)
{
    uint64_t seed = 5;
    static const int64_t bins[] = {2048, 2049, 100003, 1000003};
    for (size_t b = 0; b < sizeof bins / sizeof bins[0]; b++) {
        for (int dtype = NCS_DTYPE_FP32; dtype <= NCS_DTYPE_FP64; dtype++) {
            void *x = random_data(dtype, 5000, bins[b], -0.5, 1.5, 0, &seed);
            check_against_reference(x, dtype, 5000, bins[b], 1, -0.5, 1.5, 2, 0);
            check_against_reference(x, dtype, 5000, bins[b], 0, 0, 0, 2, 0);
            free(x);
        }
    }
    /* FP32 with float arithmetic and many bins: the truncated index is off, the edges correct it */
    float x32[4096];
    for (int i = 0; i < 4096; i++)
        x32[i] = (float)(test_random(&seed) * 3 - 1);
    check_against_reference(x32, NCS_DTYPE_FP32, 4096, 1000003, 0, 0, 0, 1, 0);
}

/* Refusals where numpy raises, and parameter errors. */
static void expect_refusal(const void *x, int dtype, int64_t n, const char *bins, const char *lo,
                           const char *hi, const char *message)
{
    hist_result r = histogram(x, dtype, n, bins, lo, hi, 2, 0);
    CHECK_STATUS(r.status, NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(r.message, message);
    free_result(&r);
}

static void test_refusals(void)
{
    double x[4] = {1, 2, 3, 4};
    expect_refusal(x, NCS_DTYPE_FP64, 4, "0", NULL, NULL, "parameter 'bins' is 0");
    expect_refusal(x, NCS_DTYPE_FP64, 4, "-3", NULL, NULL, "1 <= bins");
    expect_refusal(x, NCS_DTYPE_FP64, 4, "1073741825", NULL, NULL, "parameter 'bins'");
    expect_refusal(x, NCS_DTYPE_FP64, 4, NULL, "1", NULL, "needs both lo and hi");
    expect_refusal(x, NCS_DTYPE_FP64, 4, NULL, NULL, "1", "needs both lo and hi");
    expect_refusal(x, NCS_DTYPE_FP64, 4, NULL, "3", "1",
                   "parameter 'lo' (3) is greater than 'hi' (1)");
    expect_refusal(x, NCS_DTYPE_FP64, 4, NULL, "0", "inf",
                   "supplied range of [0, inf] is not finite");
    /* numpy: np.histogram(a, range=(nan, 1)) raises "supplied range of [nan, 1.0] is not finite"; a NaN
       given is a value, not "no range" */
    expect_refusal(x, NCS_DTYPE_FP64, 4, NULL, "nan", "1",
                   "supplied range of [nan, 1] is not finite");
    expect_refusal(x, NCS_DTYPE_FP64, 4, NULL, "nan", "nan",
                   "supplied range of [nan, nan] is not finite");
    expect_refusal(x, NCS_DTYPE_FP64, 4, NULL, "-inf", "inf",
                   "supplied range of [-inf, inf] is not finite");
    expect_refusal(x, NCS_DTYPE_FP64, 4, NULL, "nan", NULL,
                   "parameter 'lo' is given but 'hi' is not");
    float x32n[2] = {1, 2};
    expect_refusal(x32n, NCS_DTYPE_FP32, 2, NULL, "0", "nan",
                   "supplied range of [0, nan] is not finite");
    expect_refusal(x, NCS_DTYPE_FP64, 4, NULL, "-1e308", "1e308", "width overflows");
    expect_refusal(x, NCS_DTYPE_FP64, 4, NULL, "1e17", "1e17", "Too many bins");
    float x32[2] = {1, 2};
    expect_refusal(x32, NCS_DTYPE_FP32, 2, NULL, "0", "1e39", "within the FP32 range");
    float big32[2] = {1e7f + 1, 1e7f + 1};
    expect_refusal(big32, NCS_DTYPE_FP32, 2, "3", NULL, NULL, "Too many bins");
    double with_nan[3] = {1, NAN, 2};
    expect_refusal(with_nan, NCS_DTYPE_FP64, 3, "3", NULL, NULL,
                   "autodetected range of [nan, nan] is not finite");
    float with_nan32[3] = {NAN, 1, 2};
    expect_refusal(with_nan32, NCS_DTYPE_FP32, 3, "3", NULL, NULL,
                   "autodetected range of [nan, nan] is not finite");
    double with_inf[2] = {1, INFINITY};
    expect_refusal(with_inf, NCS_DTYPE_FP64, 2, "3", NULL, NULL,
                   "autodetected range of [1, inf] is not finite");
    /* with a range NaN and infinities are simply not counted */
    hist_result r = histogram(with_nan, NCS_DTYPE_FP64, 3, "3", "0", "3", 1, 0);
    CHECK_OK(r.status);
    CHECK(r.counts[0] == 0 && r.counts[1] == 1 && r.counts[2] == 1);
    free_result(&r);
    /* unparsable parameters are refused by the host */
    ncs_call *call;
    CHECK_OK(ncs_call_create("histogram", &call));
    CHECK_STATUS(ncs_call_set_param(call, "bins", "ten"), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_param(call, "lo", "low"), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_param(call, "range", "1"), NCS_E_INVALID_ARGUMENT);
    ncs_call_destroy(call, NULL, NULL);
    /* other dtypes are refused when bound */
    int32_t ints[2] = {1, 2};
    ncs_handle h = buffer_from(ints, sizeof ints);
    int64_t two = 2;
    CHECK_OK(ncs_call_create("histogram", &call));
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_INT32, 1, &two, h), NCS_E_INVALID_ARGUMENT);
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(h));
}

/* Found by fuzz_kernels: with a range given, prepare checked that all bins + 1 edges increase
   before the outputs were sized, so a tiny request for 2^30 bins spent seconds (minutes under
   ASan) of uncancellable work in prepare only to be refused by the memory budget afterwards.
   The refusal must be immediate, and the edge check of many bins (now in the parts) still
   refuses what numpy refuses. */
static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void test_huge_bins_refused_by_the_budget_at_once(void)
{
    ncs_set_memory_limit((uint64_t)64 << 20);
    double x[1] = {0.5};
    for (int given = 0; given < 2; given++) {
        double start = seconds_now();
        hist_result r = histogram(x, NCS_DTYPE_FP64, 1, "1073741824", given ? "0" : NULL,
                                  given ? "1" : NULL, 2, 0);
        double took = seconds_now() - start;
        CHECK_STATUS(r.status, NCS_E_OUT_OF_MEMORY);
        CHECK_CONTAINS(r.message, "bytes");
        if (took > 0.2)
            fprintf(stderr, "refusing 2^30 bins took %.3f s\n", took);
        CHECK(took < 0.2);
        free_result(&r);
    }
    ncs_set_memory_limit(0);
    /* Past the bins prepare checks itself, the parts refuse edges that do not increase. */
    double xs[4] = {1, 2, 3, 4};
    expect_refusal(xs, NCS_DTYPE_FP64, 4, "1048576", "1e17", "1e17", "Too many bins");
    expect_refusal(xs, NCS_DTYPE_FP64, 4, "1048576", "1", "1.0000000001", "Too many bins");
}

/* Cancels a long single-part call once it has reported progress: the part stops early. */
static void test_cancel_while_running(void)
{
    const int64_t n = (int64_t)1 << 24;
    double *x = calloc((size_t)n, sizeof(double));
    CHECK(x != NULL);
    ncs_handle h = buffer_from(x, (size_t)n * sizeof(double));
    free(x);
    ncs_call *call;
    CHECK_OK(ncs_call_create("histogram", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, &n, h));
    CHECK_OK(ncs_buffer_release(h));
    CHECK_OK(ncs_call_set_param(call, "lo", "-1"));
    CHECK_OK(ncs_call_set_param(call, "hi", "1"));
    CHECK(cancel_once_progressing(call) < (uint64_t)n);
}

int main(void)
{
    RUN_TEST(test_literals);
    RUN_TEST(test_random_against_reference);
    RUN_TEST(test_parts);
    RUN_TEST(test_huge_bins);
    RUN_TEST(test_refusals);
    RUN_TEST(test_huge_bins_refused_by_the_budget_at_once);
    RUN_TEST(test_cancel_while_running);
    return 0;
}
