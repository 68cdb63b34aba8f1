/*
 * describe.c -- the "describe" kernel: count, mean, population standard deviation, min and max
 * of all elements of an FP64 or FP32 tensor, with numpy's semantics for NaN and infinities.
 *
 * Parts are contiguous element ranges of at least DESCRIBE_MIN_PART elements. A part walks its
 * range in chunks that fit in L2: per chunk a corrected two-pass (mean, then the sum of
 * deviations and of squared deviations) in double precision, so the second pass reads from
 * cache; chunk results are merged with Chan et al.'s pairwise formula, and so are the parts'
 * results in finish. All of it runs on data shifted by x's first element (see describe_shift).
 * Each part stores its summary in its own cache line of the workspace.
 *
 * Percentiles (parameter `percentiles`, e.g. "5,50,95"): when some are requested, the workspace
 * also holds a copy of x as doubles after the summary slots; each part writes its range of the
 * copy while that chunk is still in cache, so the parts stay parallel. finish then finds the
 * order statistics numpy's 'linear' method needs (two neighbours per percentile, their ranks
 * listed in the workspace after the copy, which prepare sized for them: finish allocates
 * nothing) with one introselect over all of them at once: branch-free partitions around a median
 * of three, going into both sides only where requested ranks lie, so a few percentiles cost O(N)
 * expected and many degrade gracefully to a sort, O(N log N) at worst through heapsort. Then it
 * interpolates operation for operation like numpy.percentile (bit-identical results). Selection
 * polls cancellation; progress counts elements summarized, as without percentiles.
 */
#include <immintrin.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"

#define DESCRIBE_MIN_PART (1 << 18)
#define DESCRIBE_CHUNK 32768
#define DESCRIBE_SELECT_SMALL 24       /* ranges this short are sorted */
#define DESCRIBE_SELECT_POLL (1 << 16) /* ranges at least this long poll cancellation */

typedef struct summary {
    int64_t n;
    double mean;
    double m2; /* sum of squared deviations from the mean */
    double min, max;
    int nan_seen;
} summary;

/* A part's result in the workspace, one cache line per part. Every part also records the
   number of parts, which finish needs (it is not passed to finish). */
typedef union summary_slot {
    struct {
        summary s;
        int nparts;
    } part;
    unsigned char line[64];
} summary_slot;

/* Chan, Golub and LeVeque's merge of two summaries into *acc. Means that are infinite (or NaN)
   cannot be merged through their difference; they combine as a weighted sum instead, which
   keeps IEEE semantics (inf and 1 give inf; inf and -inf give NaN), and the deviation sum is
   then NaN like numpy's. */
static void merge(summary *acc, const summary *b)
{
    if (b->n == 0)
        return;
    if (acc->n == 0) {
        *acc = *b;
        return;
    }
    double na = (double)acc->n, nb = (double)b->n, n = na + nb;
    if (isfinite(acc->mean) && isfinite(b->mean)) {
        double delta = b->mean - acc->mean;
        acc->mean += delta * (nb / n);
        acc->m2 += b->m2 + delta * delta * (na * (nb / n));
    } else {
        acc->mean = acc->mean * (na / n) + b->mean * (nb / n);
        acc->m2 = NAN;
    }
    acc->n += b->n;
    acc->min = b->min < acc->min ? b->min : acc->min;
    acc->max = b->max > acc->max ? b->max : acc->max;
    acc->nan_seen |= b->nan_seen;
}

/*
 * Summary of one chunk, its mean and m2 taken of x - shift, in two passes over the chunk (the
 * second reads it from L2): pass 1 sums x - shift and finds min and max, pass 2 sums the
 * deviations d = (x - shift) - mean and their squares. Each pass exists as a portable loop (four
 * independent accumulators, which the compiler vectorises for the baseline CPU) and as an
 * AVX2+FMA loop (16 values per step: four vector accumulators per sum, two per min and max),
 * chosen at run time (ncs_cpu_test_limit, cpu.h, selects the portable loops for the tests).
 * NaN elements are skipped by min and max (the comparisons, like _mm256_min_pd(v, acc), keep the
 * accumulator) and detected separately, only when the sum is NaN, which any NaN element makes it.
 */
typedef struct pass1 {
    double sum, min, max;
} pass1;

typedef struct pass2 {
    double dev, sq; /* sum of deviations and of their squares */
} pass2;

#define DEFINE_PASSES_PORTABLE(SUFFIX, T)                                                    \
    static pass1 pass1_portable_##SUFFIX(const T *x, int64_t len, double shift)              \
    {                                                                                        \
        double s[4] = {0, 0, 0, 0};                                                          \
        double lo[4] = {INFINITY, INFINITY, INFINITY, INFINITY};                             \
        double hi[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};                         \
        int64_t i = 0;                                                                       \
        for (; i + 4 <= len; i += 4) {                                                       \
            for (int l = 0; l < 4; l++) {                                                    \
                double v = (double)x[i + l];                                                 \
                s[l] += v - shift;                                                           \
                lo[l] = v < lo[l] ? v : lo[l];                                               \
                hi[l] = v > hi[l] ? v : hi[l];                                               \
            }                                                                                \
        }                                                                                    \
        for (; i < len; i++) {                                                               \
            double v = (double)x[i];                                                         \
            s[0] += v - shift;                                                               \
            lo[0] = v < lo[0] ? v : lo[0];                                                   \
            hi[0] = v > hi[0] ? v : hi[0];                                                   \
        }                                                                                    \
        pass1 r = {(s[0] + s[1]) + (s[2] + s[3]), lo[0], hi[0]};                             \
        for (int l = 1; l < 4; l++) {                                                        \
            r.min = lo[l] < r.min ? lo[l] : r.min;                                           \
            r.max = hi[l] > r.max ? hi[l] : r.max;                                           \
        }                                                                                    \
        return r;                                                                            \
    }                                                                                        \
    static pass2 pass2_portable_##SUFFIX(const T *x, int64_t len, double shift, double mean) \
    {                                                                                        \
        double d1[4] = {0, 0, 0, 0}, d2[4] = {0, 0, 0, 0};                                   \
        int64_t i = 0;                                                                       \
        for (; i + 4 <= len; i += 4) {                                                       \
            for (int l = 0; l < 4; l++) {                                                    \
                double d = ((double)x[i + l] - shift) - mean;                                \
                d1[l] += d;                                                                  \
                d2[l] += d * d;                                                              \
            }                                                                                \
        }                                                                                    \
        for (; i < len; i++) {                                                               \
            double d = ((double)x[i] - shift) - mean;                                        \
            d1[0] += d;                                                                      \
            d2[0] += d * d;                                                                  \
        }                                                                                    \
        pass2 r = {(d1[0] + d1[1]) + (d1[2] + d1[3]), (d2[0] + d2[1]) + (d2[2] + d2[3])};    \
        return r;                                                                            \
    }

DEFINE_PASSES_PORTABLE(f64, double)
DEFINE_PASSES_PORTABLE(f32, float)

#define AVX2_FMA __attribute__((target("avx2,fma")))

AVX2_FMA static inline __m256d load4_f64(const double *p)
{
    return _mm256_loadu_pd(p);
}

AVX2_FMA static inline __m256d load4_f32(const float *p)
{
    return _mm256_cvtps_pd(_mm_loadu_ps(p));
}

AVX2_FMA static inline double hsum4(__m256d v)
{
    double l[4];
    _mm256_storeu_pd(l, v);
    return (l[0] + l[1]) + (l[2] + l[3]);
}

/* The AVX2 passes: 16 values per step, then the last len % 16 values by the portable loops
   (their partial results merged in: sums added, min and max compared). */
#define DEFINE_PASSES_AVX2(SUFFIX, T)                                                             \
    AVX2_FMA static pass1 pass1_avx2_##SUFFIX(const T *x, int64_t len, double shift)              \
    {                                                                                             \
        const __m256d sh = _mm256_set1_pd(shift);                                                 \
        __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;                              \
        __m256d lo0 = _mm256_set1_pd(INFINITY), lo1 = lo0;                                        \
        __m256d hi0 = _mm256_set1_pd(-INFINITY), hi1 = hi0;                                       \
        int64_t i = 0;                                                                            \
        for (; i + 16 <= len; i += 16) {                                                          \
            __m256d v0 = load4_##SUFFIX(x + i), v1 = load4_##SUFFIX(x + i + 4);                   \
            __m256d v2 = load4_##SUFFIX(x + i + 8), v3 = load4_##SUFFIX(x + i + 12);              \
            s0 = _mm256_add_pd(s0, _mm256_sub_pd(v0, sh));                                        \
            s1 = _mm256_add_pd(s1, _mm256_sub_pd(v1, sh));                                        \
            s2 = _mm256_add_pd(s2, _mm256_sub_pd(v2, sh));                                        \
            s3 = _mm256_add_pd(s3, _mm256_sub_pd(v3, sh));                                        \
            lo0 = _mm256_min_pd(v0, lo0); /* NaN in v: keeps lo */                                \
            lo1 = _mm256_min_pd(v1, lo1);                                                         \
            hi0 = _mm256_max_pd(v0, hi0);                                                         \
            hi1 = _mm256_max_pd(v1, hi1);                                                         \
            lo0 = _mm256_min_pd(v2, lo0);                                                         \
            lo1 = _mm256_min_pd(v3, lo1);                                                         \
            hi0 = _mm256_max_pd(v2, hi0);                                                         \
            hi1 = _mm256_max_pd(v3, hi1);                                                         \
        }                                                                                         \
        double lo[4], hi[4];                                                                      \
        _mm256_storeu_pd(lo, _mm256_min_pd(lo0, lo1));                                            \
        _mm256_storeu_pd(hi, _mm256_max_pd(hi0, hi1));                                            \
        pass1 r = {hsum4(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3))), lo[0],     \
                   hi[0]};                                                                        \
        for (int l = 1; l < 4; l++) {                                                             \
            r.min = lo[l] < r.min ? lo[l] : r.min;                                                \
            r.max = hi[l] > r.max ? hi[l] : r.max;                                                \
        }                                                                                         \
        if (i < len) {                                                                            \
            pass1 t = pass1_portable_##SUFFIX(x + i, len - i, shift);                             \
            r.sum += t.sum;                                                                       \
            r.min = t.min < r.min ? t.min : r.min;                                                \
            r.max = t.max > r.max ? t.max : r.max;                                                \
        }                                                                                         \
        return r;                                                                                 \
    }                                                                                             \
    AVX2_FMA static pass2 pass2_avx2_##SUFFIX(const T *x, int64_t len, double shift, double mean) \
    {                                                                                             \
        const __m256d sh = _mm256_set1_pd(shift), m = _mm256_set1_pd(mean);                       \
        __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;                              \
        __m256d q0 = a0, q1 = a0, q2 = a0, q3 = a0;                                               \
        int64_t i = 0;                                                                            \
        for (; i + 16 <= len; i += 16) {                                                          \
            __m256d d0 = _mm256_sub_pd(_mm256_sub_pd(load4_##SUFFIX(x + i), sh), m);              \
            __m256d d1 = _mm256_sub_pd(_mm256_sub_pd(load4_##SUFFIX(x + i + 4), sh), m);          \
            __m256d d2 = _mm256_sub_pd(_mm256_sub_pd(load4_##SUFFIX(x + i + 8), sh), m);          \
            __m256d d3 = _mm256_sub_pd(_mm256_sub_pd(load4_##SUFFIX(x + i + 12), sh), m);         \
            a0 = _mm256_add_pd(a0, d0);                                                           \
            a1 = _mm256_add_pd(a1, d1);                                                           \
            a2 = _mm256_add_pd(a2, d2);                                                           \
            a3 = _mm256_add_pd(a3, d3);                                                           \
            q0 = _mm256_fmadd_pd(d0, d0, q0);                                                     \
            q1 = _mm256_fmadd_pd(d1, d1, q1);                                                     \
            q2 = _mm256_fmadd_pd(d2, d2, q2);                                                     \
            q3 = _mm256_fmadd_pd(d3, d3, q3);                                                     \
        }                                                                                         \
        pass2 r = {hsum4(_mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3))),            \
                   hsum4(_mm256_add_pd(_mm256_add_pd(q0, q1), _mm256_add_pd(q2, q3)))};           \
        if (i < len) {                                                                            \
            pass2 t = pass2_portable_##SUFFIX(x + i, len - i, shift, mean);                       \
            r.dev += t.dev;                                                                       \
            r.sq += t.sq;                                                                         \
        }                                                                                         \
        return r;                                                                                 \
    }

DEFINE_PASSES_AVX2(f64, double)
DEFINE_PASSES_AVX2(f32, float)

/* The summary of x[0..len) (FP32 when fp32), on the AVX2 passes when `vector`. */
static summary chunk_summary(const void *x, int fp32, int vector, int64_t len, double shift)
{
    const double *x64 = x;
    const float *x32 = x;
    pass1 a = fp32
                  ? (vector ? pass1_avx2_f32(x32, len, shift) : pass1_portable_f32(x32, len, shift))
                  : (vector ? pass1_avx2_f64(x64, len, shift)
                            : pass1_portable_f64(x64, len, shift));
    summary r = {.n = len, .min = a.min, .max = a.max};
    if (isnan(a.sum)) {
        for (int64_t j = 0; j < len && !r.nan_seen; j++)
            r.nan_seen = fp32 ? isnan(x32[j]) : isnan(x64[j]);
    }
    double mean = a.sum / (double)len;
    if (!isfinite(mean)) { /* infinities (or NaN): no deviations to speak of */
        r.mean = mean;
        r.m2 = NAN;
        return r;
    }
    pass2 b = fp32 ? (vector ? pass2_avx2_f32(x32, len, shift, mean)
                             : pass2_portable_f32(x32, len, shift, mean))
                   : (vector ? pass2_avx2_f64(x64, len, shift, mean)
                             : pass2_portable_f64(x64, len, shift, mean));
    /* Corrected two-pass: removes the rounding error of the first mean. */
    r.mean = mean + b.dev / (double)len;
    r.m2 = b.sq - b.dev * b.dev / (double)len;
    if (r.m2 < 0)
        r.m2 = 0;
    return r;
}

/* ---- percentiles ---------------------------------------------------------------------- */

#define PERCENTILES_SYNTAX "comma-separated numbers in [0, 100] such as \"5,50,95\""

/* Decimal text to double in the "C" locale whatever the process's locale (a host that called
   setlocale may use ',' as its decimal point). */
static double parse_decimal(const char *start, char **end)
{
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t previous = c_locale != (locale_t)0 ? uselocale(c_locale) : (locale_t)0;
    double value = strtod(start, end);
    if (c_locale != (locale_t)0) {
        uselocale(previous);
        freelocale(c_locale);
    }
    return value;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Parses the `percentiles` parameter: "" is none; otherwise items separated by commas, each a
 * decimal number ([+-]digits[.digits][e[+-]digits], spaces or tabs around it) in [0, 100].
 * Returns the number of items (stored in out[0..] when out is not NULL), or -1 after writing
 * the reason into err.
 */
static int64_t parse_percentiles(const char *text, double *out, char *err, size_t err_size)
{
    if (*text == '\0')
        return 0;
    int64_t count = 0;
    for (const char *s = text;;) {
        count++;
        while (*s == ' ' || *s == '\t')
            s++;
        const char *start = s, *p = s;
        if (*p == ',' || *p == '\0') {
            snprintf(err, err_size,
                     "parameter 'percentiles': item %lld is empty; expected " PERCENTILES_SYNTAX,
                     (long long)count);
            return -1;
        }
        if (*p == '+' || *p == '-')
            p++;
        int digits = 0;
        for (; is_digit(*p); p++)
            digits++;
        if (*p == '.')
            for (p++; is_digit(*p); p++)
                digits++;
        int valid = digits > 0;
        if (valid && (*p == 'e' || *p == 'E')) {
            p++;
            if (*p == '+' || *p == '-')
                p++;
            valid = is_digit(*p);
            while (is_digit(*p))
                p++;
        }
        const char *number_end = p;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!valid || (*p != ',' && *p != '\0')) {
            int shown = 0;
            while (start[shown] != '\0' && start[shown] != ',' && shown < 40)
                shown++;
            snprintf(err, err_size,
                     "parameter 'percentiles': item %lld (\"%.*s\") is not a number; "
                     "expected " PERCENTILES_SYNTAX,
                     (long long)count, shown, start);
            return -1;
        }
        char *end;
        double value = parse_decimal(start, &end);
        if (end != number_end || !(value >= 0 && value <= 100)) {
            snprintf(err, err_size,
                     "parameter 'percentiles': item %lld (%.*s) is outside [0, 100]; "
                     "expected " PERCENTILES_SYNTAX,
                     (long long)count, (int)(number_end - start < 40 ? number_end - start : 40),
                     start);
            return -1;
        }
        if (out != NULL)
            out[count - 1] = value;
        if (*p == '\0')
            return count;
        s = p + 1;
    }
}

/* Where numpy.percentile's 'linear' method looks for percentile q of N > 0 sorted values:
   h = (N - 1) * (q / 100), neighbours v[floor(h)] and v[floor(h) + 1], weight h - floor(h);
   from h >= N - 1 on both neighbours are the last value and numpy's "previous index" is -1,
   so the weight is h + 1 (which matters for infinities, turned into NaN, and signed zeros). */
typedef struct percentile_at {
    int64_t prev, next;
    double gamma;
} percentile_at;

static percentile_at percentile_position(double q, int64_t n)
{
    double h = (double)(n - 1) * (q / 100);
    percentile_at at;
    if (h >= (double)(n - 1)) {
        at.prev = at.next = n - 1;
        at.gamma = h - -1.0;
    } else {
        double below = floor(h);
        at.prev = (int64_t)below;
        at.next = at.prev + 1;
        at.gamma = h - below;
    }
    return at;
}

/* numpy's _lerp, operation for operation: diff = b - a in x's own dtype, then a + diff * t,
   replaced by b - diff * (1 - t) where t >= 0.5. */
static double percentile_lerp(double a, double b, double t, int fp32)
{
    double diff = fp32 ? (double)((float)b - (float)a) : b - a;
    return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

static void swap_values(double *a, int64_t i, int64_t j)
{
    double t = a[i];
    a[i] = a[j];
    a[j] = t;
}

static void sift_down(double *a, int64_t root, int64_t n)
{
    for (;;) {
        int64_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && a[child + 1] > a[child])
            child++;
        if (!(a[child] > a[root]))
            return;
        swap_values(a, root, child);
        root = child;
    }
}

/* Heapsort: for short ranges, and the introselect fallback (O(n log n) whatever the values;
   short ranges use it too, so every test covers it). Polls cancellation every
   DESCRIBE_SELECT_POLL steps; returns NCS_OK or NCS_E_CANCELLED. */
static int heap_sort(ncs_ctx *ctx, double *a, int64_t n)
{
    for (int64_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (int64_t end = n - 1; end > 0; end--) {
        if (end % DESCRIBE_SELECT_POLL == 0 && ctx->api->cancelled(ctx))
            return NCS_E_CANCELLED;
        swap_values(a, 0, end);
        sift_down(a, 0, end);
    }
    return NCS_OK;
}

/* Median of three values (no NaN). */
static double median3(double x, double y, double z)
{
    if (x < y)
        return y < z ? y : x < z ? z : x;
    return x < z ? x : y < z ? z : y;
}

/*
 * Moves the values of a[0..n) below `pivot` (with or_equal: not above it) to the front, the
 * others behind them, and returns how many moved; -1 when the call was cancelled (polled every
 * DESCRIBE_SELECT_POLL * 16 values). Branch-free Lomuto: every value is swapped with the first
 * one not yet known to be small, and the boundary moves by the comparison's result, so random
 * data costs no mispredicted branches (about 4x faster than Hoare's scheme on this CPU).
 */
static int64_t partition_pass(ncs_ctx *ctx, double *a, int64_t n, double pivot, int or_equal)
{
    const int64_t block = (int64_t)DESCRIBE_SELECT_POLL * 16;
    int64_t store = 0;
    for (int64_t start = 0; start < n; start += block) {
        if (start > 0 && ctx->api->cancelled(ctx))
            return -1;
        int64_t end = n - start < block ? n : start + block;
        if (or_equal) {
            for (int64_t i = start; i < end; i++) {
                double v = a[i];
                a[i] = a[store];
                a[store] = v;
                store += v <= pivot;
            }
        } else {
            for (int64_t i = start; i < end; i++) {
                double v = a[i];
                a[i] = a[store];
                a[store] = v;
                store += v < pivot;
            }
        }
    }
    return store;
}

/*
 * Rearranges a[lo..hi) so that a[r] is the r-th smallest value of the range for every rank r of
 * ranks[0..k) (ascending, distinct, in [lo, hi)). Introselect: partition around the median of
 * the first, middle and last values into [lo, s) < pivot <= [s, hi) and go on into the sides
 * that hold requested ranks. When nothing is below the pivot (it is the range's minimum, e.g.
 * among many equal values), a second pass splits off the values equal to it, which settles every
 * rank among them. After `depth` levels a range is heap-sorted instead. Returns NCS_OK or
 * NCS_E_CANCELLED.
 */
static int select_ranks(ncs_ctx *ctx, double *a, int64_t lo, int64_t hi, const int64_t *ranks,
                        int64_t k, int depth)
{
    while (k > 0 && hi - lo > 1) {
        if (hi - lo <= DESCRIBE_SELECT_SMALL)
            return heap_sort(ctx, a + lo, hi - lo);
        if (hi - lo >= DESCRIBE_SELECT_POLL && ctx->api->cancelled(ctx))
            return NCS_E_CANCELLED;
        /* One rank left at an end of the range (typically the second neighbour of a percentile
           once a partition fell between the two): the smallest or largest value, one scan. */
        if (k == 1 && (ranks[0] == lo || ranks[0] == hi - 1)) {
            int low = ranks[0] == lo;
            int64_t best = lo;
            for (int64_t i = lo + 1; i < hi; i++)
                if (low ? a[i] < a[best] : a[i] > a[best])
                    best = i;
            swap_values(a, ranks[0], best);
            return NCS_OK;
        }
        if (depth-- == 0)
            return heap_sort(ctx, a + lo, hi - lo);
        double pivot = median3(a[lo], a[lo + (hi - lo) / 2], a[hi - 1]);
        int64_t below = partition_pass(ctx, a + lo, hi - lo, pivot, 0);
        if (below < 0)
            return NCS_E_CANCELLED;
        int64_t split = lo +
                        below; /* [lo, split) < pivot <= [split, hi); the pivot is on the right */
        int64_t left = 0;
        while (left < k && ranks[left] < split)
            left++;
        if (below == 0) { /* pivot is the minimum: [lo, lo + equal) == pivot, settled */
            int64_t equal = partition_pass(ctx, a + lo, hi - lo, pivot, 1);
            if (equal < 0)
                return NCS_E_CANCELLED;
            split = lo + equal;
            while (left < k && ranks[left] < split)
                left++;
        } else if (left > 0) {
            int status = select_ranks(ctx, a, lo, split, ranks, left, depth);
            if (status != NCS_OK)
                return status;
        }
        ranks += left;
        k -= left;
        lo = split;
    }
    return NCS_OK;
}

/* Workspace bytes after x's copy for p percentiles: the percentiles sorted, then up to two ranks
   per percentile. */
static uint64_t percentile_scratch_bytes(int64_t p)
{
    return (uint64_t)p * (sizeof(double) + 2 * sizeof(int64_t));
}

/* Writes the requested percentiles of x's copy `values` (n > 0 doubles, no NaN; reordered) into
   out[0..p), which holds the percentiles q on entry; `scratch` has percentile_scratch_bytes(p). */
static int compute_percentiles(ncs_ctx *ctx, double *values, int64_t n, int fp32, double *out,
                               int64_t p, void *scratch)
{
    double *sorted = scratch;
    int64_t *ranks = (int64_t *)(sorted + p), k = 0;
    memcpy(sorted, out, (size_t)p * sizeof *sorted);
    int status = heap_sort(ctx, sorted, p);
    if (status != NCS_OK)
        return status;
    /* Neighbours never move backwards as q grows, and a percentile's first neighbour is at most
       the previous one's second: keeping those past the last one listed lists every rank once,
       in order. */
    for (int64_t i = 0; i < p; i++) {
        percentile_at at = percentile_position(sorted[i], n);
        if (k == 0 || at.prev > ranks[k - 1])
            ranks[k++] = at.prev;
        if (at.next > ranks[k - 1])
            ranks[k++] = at.next;
    }
    int depth = 2;
    for (int64_t m = n; m > 1; m >>= 1)
        depth += 2;
    status = select_ranks(ctx, values, 0, n, ranks, k, depth);
    if (status == NCS_OK) {
        for (int64_t i = 0; i < p; i++) {
            percentile_at at = percentile_position(out[i], n);
            out[i] = percentile_lerp(values[at.prev], values[at.next], at.gamma, fp32);
        }
    }
    return status;
}

static int describe_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int status = api->input(ctx, 0, &x);
    if (status != NCS_OK)
        return status;
    if (x.dtype != NCS_DTYPE_FP64 && x.dtype != NCS_DTYPE_FP32)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'x' is %s: describe supports FP64 and FP32",
                         ncs_dtype_text(x.dtype));
    const char *text;
    status = api->param_string(ctx, "percentiles", &text);
    if (status != NCS_OK)
        return status;
    char err[256];
    int64_t npercentiles = parse_percentiles(text, NULL, err, sizeof err);
    if (npercentiles < 0)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT, "%s", err);
    if (npercentiles > 0 && x.count == 0)
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "input 'x' is empty: percentiles of no values are undefined (numpy.percentile "
            "raises IndexError); send values or leave parameter 'percentiles' empty");
    const int64_t one[1] = {1};
    status = api->set_output(ctx, 0, NCS_DTYPE_INT64, 1, one);
    for (int i = 1; i <= 4 && status == NCS_OK; i++)
        status = api->set_output(ctx, i, NCS_DTYPE_FP64, 1, one);
    if (status == NCS_OK)
        status = api->set_output(ctx, 5, NCS_DTYPE_FP64, 1, &npercentiles);
    if (status != NCS_OK)
        return status;
    int64_t parts = x.count / DESCRIBE_MIN_PART;
    if (parts > max_parts)
        parts = max_parts;
    if (parts < 1)
        parts = 1;
    /* The summary slots, then (for percentiles) x's copy as doubles and finish's scratch. */
    uint64_t workspace = (uint64_t)parts * sizeof(summary_slot), copy = 0;
    if (npercentiles > 0 &&
        (__builtin_mul_overflow((uint64_t)x.count, sizeof(double), &copy) ||
         __builtin_add_overflow(workspace, copy, &workspace) ||
         __builtin_add_overflow(workspace, percentile_scratch_bytes(npercentiles), &workspace)))
        return api->fail(ctx, NCS_E_OUT_OF_MEMORY,
                         "input 'x' is too large to copy for percentiles");
    status = api->set_workspace(ctx, workspace);
    if (status == NCS_OK)
        status = api->set_parts(ctx, (int)parts);
    return status;
}

/*
 * Every part and chunk works on x - shift with the same shift, x's first element (when finite
 * and far from overflow). Means near the data then stay small, so merging them keeps their
 * digits: with unshifted data at 1e9 the rounding of each chunk mean to a double (1e-7) would
 * cost about 1e-10 of relative accuracy in the standard deviation.
 */
static double describe_shift(const ncs_tensor_view *x)
{
    if (x->count == 0)
        return 0;
    double first = x->dtype == NCS_DTYPE_FP64 ? ((const double *)x->data)[0]
                                              : (double)((const float *)x->data)[0];
    return isfinite(first) && fabs(first) < 1e290 ? first : 0;
}

static int describe_run(ncs_ctx *ctx, int part, int nparts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int status = api->input(ctx, 0, &x);
    if (status != NCS_OK)
        return status;
    summary_slot *slots = api->workspace(ctx);
    if (slots == NULL)
        return api->fail(ctx, NCS_E_INTERNAL, "describe has no workspace");
    int64_t lo, hi;
    ncs_part_range(x.count, part, nparts, &lo, &hi);
    const char *text;
    status = api->param_string(ctx, "percentiles", &text);
    if (status != NCS_OK)
        return status;
    double *copy = text[0] != '\0' ? (double *)(slots + nparts) : NULL; /* x as doubles */
    double shift = describe_shift(&x);
    summary acc = {.n = 0, .min = INFINITY, .max = -INFINITY};
    int fp32 = x.dtype == NCS_DTYPE_FP32, vector = ncs_cpu_has(NCS_CPU_AVX2_FMA);
    for (int64_t i = lo; i < hi; i += DESCRIBE_CHUNK) {
        if (api->cancelled(ctx))
            return NCS_E_CANCELLED;
        int64_t len = hi - i < DESCRIBE_CHUNK ? hi - i : DESCRIBE_CHUNK;
        const void *at = fp32 ? (const void *)((const float *)x.data + i)
                              : (const void *)((const double *)x.data + i);
        summary chunk = chunk_summary(at, fp32, vector, len, shift);
        merge(&acc, &chunk);
        if (copy != NULL && x.dtype == NCS_DTYPE_FP64) {
            memcpy(copy + i, (const double *)x.data + i, (size_t)len * sizeof(double));
        } else if (copy != NULL) {
            const float *f = (const float *)x.data + i;
            for (int64_t j = 0; j < len; j++)
                copy[i + j] = (double)f[j];
        }
        api->progress(ctx, (uint64_t)len);
    }
    slots[part].part.s = acc;
    slots[part].part.nparts = nparts;
    return NCS_OK;
}

static int describe_finish(ncs_ctx *ctx)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x, out[6];
    int status = api->input(ctx, 0, &x);
    for (int i = 0; i < 6 && status == NCS_OK; i++)
        status = api->output(ctx, i, &out[i]);
    if (status != NCS_OK)
        return status;
    summary_slot *slots = api->workspace(ctx);
    if (slots == NULL)
        return api->fail(ctx, NCS_E_INTERNAL, "describe has no workspace");
    summary total = {.n = 0, .min = INFINITY, .max = -INFINITY};
    for (int p = 0; p < slots[0].part.nparts; p++)
        merge(&total, &slots[p].part.s);
    if (total.n != x.count)
        return api->fail(ctx, NCS_E_INTERNAL, "describe merged %lld of %lld elements",
                         (long long)total.n, (long long)x.count);
    *(int64_t *)out[0].data = x.count;
    double *mean = out[1].data, *std = out[2].data, *min = out[3].data, *max = out[4].data;
    if (x.count == 0 || total.nan_seen) {
        *mean = *std = *min = *max = NAN;
    } else {
        *mean = describe_shift(&x) + total.mean;
        *std = sqrt(total.m2 / (double)total.n);
        *min = total.min;
        *max = total.max;
    }

    int64_t npercentiles = out[5].count;
    if (npercentiles == 0)
        return NCS_OK;
    const char *text;
    char err[256];
    status = api->param_string(ctx, "percentiles", &text);
    if (status != NCS_OK)
        return status;
    double *percentiles = out[5].data;
    if (parse_percentiles(text, percentiles, err, sizeof err) != npercentiles || x.count == 0)
        return api->fail(ctx, NCS_E_INTERNAL,
                         "describe: parameter 'percentiles' changed after prepare");
    if (total.nan_seen) { /* numpy.percentile: NaN for every q when x holds a NaN */
        for (int64_t i = 0; i < npercentiles; i++)
            percentiles[i] = NAN;
        return NCS_OK;
    }
    double *copy = (double *)(slots + slots[0].part.nparts);
    return compute_percentiles(ctx, copy, x.count, x.dtype == NCS_DTYPE_FP32, percentiles,
                               npercentiles, copy + x.count);
}

static const ncs_tensor_desc describe_inputs[] = {
    {.name = "x",
     .doc = "values, any shape; all elements are described together",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = NCS_RANK_ANY},
};

#define DESCRIBE_SCALAR(NAME, DTYPE, DOC)                                                  \
    {                                                                                      \
        .name = NAME, .doc = DOC, .dtypes = NCS_DTYPE_BIT(DTYPE), .rank = 1, .dims = { 1 } \
    }

static const ncs_tensor_desc describe_outputs[] = {
    DESCRIBE_SCALAR("count", NCS_DTYPE_INT64, "number of elements, NaNs included"),
    DESCRIBE_SCALAR(
        "mean", NCS_DTYPE_FP64,
        "arithmetic mean like numpy.mean: NaN if any element is NaN or x is empty; "
        "infinities follow IEEE arithmetic (mean of inf and 1 is inf, of inf and -inf NaN)"),
    DESCRIBE_SCALAR("std", NCS_DTYPE_FP64,
                    "population standard deviation (ddof 0) like numpy.std: NaN if any element is "
                    "NaN or infinite, or x is empty; 0 for one element"),
    DESCRIBE_SCALAR("min", NCS_DTYPE_FP64,
                    "smallest element like numpy.min (NaN if any element is NaN or x is empty)"),
    DESCRIBE_SCALAR("max", NCS_DTYPE_FP64,
                    "largest element like numpy.max (NaN if any element is NaN or x is empty)"),
    {.name = "percentiles",
     .doc = "FP64 [p]: the percentiles requested by parameter 'percentiles', in the order given, "
            "bit for bit numpy.percentile(x, [q1, ..., qp]) with the default 'linear' method over "
            "all elements: with v sorted and h = (N - 1) * (q / 100), v[floor(h)] interpolated "
            "towards v[floor(h) + 1] by numpy's lerp (b - a taken in x's datatype); all NaN if any "
            "element is NaN; infinities give numpy's results (percentile 0 of [1, inf] is NaN); "
            "shape [0] when none are requested",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64),
     .rank = 1,
     .dims = {NCS_DIM_ANY}},
};

static const ncs_param_desc describe_params[] = {
    {.name = "percentiles",
     .type = NCS_PARAM_STRING,
     .default_value = "",
     .doc = "percentiles to compute, " PERCENTILES_SYNTAX " (spaces allowed around the commas); "
            "\"\" (the default) computes none. Requires a non-empty x."},
};

const ncs_kernel_desc ncs_describe_kernel = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "describe",
    .doc = "Count, mean, population standard deviation, min and max of all elements of an FP64 "
           "or FP32 tensor, computed in double precision with a numerically stable two-pass "
           "algorithm per range and Chan's merge, and optionally percentiles like numpy.percentile "
           "(parameter 'percentiles'); NaN and infinities behave as in numpy.",
    .flags = NCS_KERNEL_THREAD_SAFE | NCS_KERNEL_SHARED_INPUTS,
    .n_inputs = 1,
    .inputs = describe_inputs,
    .n_outputs = 6,
    .outputs = describe_outputs,
    .n_params = 1,
    .params = describe_params,
    .prepare = describe_prepare,
    .run = describe_run,
    .finish = describe_finish,
};
