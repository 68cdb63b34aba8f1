/*
 * histogram.c -- the "histogram" kernel: counts of the elements of an FP64 or FP32 tensor in
 * `bins` equal-width bins, with exactly the results of numpy.histogram(x, bins, range=(lo, hi))
 * (numpy 2.x, NEP 50 promotion rules), edges included.
 *
 * numpy's rules, reproduced operation by operation:
 *  - Range: (lo, hi) when given, else (min(x), max(x)), else (0, 1) for an empty x. NaN or
 *    infinite data without a range is refused ("autodetected range ... is not finite"); so are
 *    lo > hi and non-finite lo / hi. lo == hi becomes (lo - 0.5, hi + 0.5).
 *  - Edges: np.linspace(first, last, bins + 1) in the bins' type: FP64 data, double; FP32 data
 *    with a given range, computed in double then rounded to float; FP32 data with the range
 *    taken from the data, computed in float (numpy's float32 scalars). linspace is
 *    y[i] = i * step + first with step = (last - first) / bins (or (i / bins) * delta when step
 *    underflows to 0), and y[bins] = last. Edges that fail to increase strictly are refused
 *    ("Too many bins for data range").
 *  - Counting: values outside [first, last] (and NaN) are dropped; the bin is
 *    trunc(((x - first) / (last - first)) * bins) in numpy's types (double, except float for FP32
 *    data with the range taken from the data; for FP32 data with a given range x - first is a
 *    float subtraction and the rest double), bins becomes bins - 1, then one step down when
 *    x < edge[i] and one step up when x >= edge[i+1] (not past the last bin). So values on
 *    edges land exactly where numpy puts them.
 *
 * Parts are contiguous ranges of x with at least HIST_MIN_PART elements (and bins elements, so
 * merging stays cheap). With lo and hi given, each part builds its own table of edges and counts
 * its range into its own workspace histogram (four interleaved copies when bins is small, so
 * runs of equal bins do not serialise on one counter); finish adds them. Without lo and hi the
 * plugin ABI gives prepare no way to hand a result to the parts, so the kernel works in two
 * phases: the parts compute the min, max and NaN flag of their ranges, and finish merges them,
 * validates the range like numpy and counts all of x itself (one thread). Progress is reported
 * in elements read: x's size with a range, twice that without.
 *
 * Counting runs on AVX2 when the CPU has it, else on portable loops with a table of edges; both
 * are exact. The AVX2 loops take 8 values per step: when all 8 are provably farther from every
 * edge than the arithmetic's error (see hist_plan_steps) their bins are the truncated positions
 * (x - first) * bins / (last - first), with no division and no edge comparison (and with at most
 * 16 bins, counted as 4 pairs of bins); otherwise the 8 go through numpy's arithmetic above, with
 * the two edges of the corrections recomputed in registers by linspace's formula.
 */
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"

#define HIST_MIN_PART (1 << 18)      /* elements */
#define HIST_CHUNK (1 << 20)         /* elements between cancellation checks */
#define HIST_MAX_BINS (1 << 30)      /* keeps bin indices in int32 lanes */
#define HIST_PREPARE_EDGES (1 << 16) /* up to this many bins prepare checks the edges itself */
#define HIST_SMALL_BINS 256  /* up to this many bins, four interleaved sub-histograms (8 KiB) */
#define HIST_PAIR_BINS 16    /* up to this many bins, the AVX2 shortcut counts pairs of values */
#define HIST_PAIRS (4 * 256) /* pair counters: 4 tables of 16 x 16 */
#define HIST_SLOT 64         /* bytes of one part's header */

/* How the bin index is computed (see the top of the file). */
enum hist_arith {
    HIST_A64,  /* FP64 data: double */
    HIST_A32D, /* FP32 data, given range: float x - first, then double */
    HIST_A32F  /* FP32 data, range from the data: float */
};

typedef struct hist_plan {
    int dtype;
    int arith;
    int lin32; /* linspace in float (else double) */
    int64_t bins;
    double first, last; /* numpy's first_edge / last_edge (float values when lin32) */
    double denom;       /* last - first, HIST_A64 and HIST_A32D */
    float first32, last32, denom32;
    /* linspace */
    int step_zero;
    double step, delta;
    float step32, delta32;
    /* AVX2 shortcut (see hist_plan_steps): bins / (last - first), and the distance from the
       nearest integer beyond which a truncated position is the bin; 0 disables the shortcut. */
    double recip, fast_delta;
} hist_plan;

/* A part's header in the workspace, one cache line per part. */
typedef union hist_slot {
    struct {
        int nparts;
        int nan_seen;
        int64_t n;
        double min, max;
    } s;
    unsigned char line[HIST_SLOT];
} hist_slot;

static uint64_t round64(uint64_t bytes)
{
    return (bytes + 63) & ~(uint64_t)63;
}

static int hist_subs(int64_t bins)
{
    return bins <= HIST_SMALL_BINS ? 4 : 1;
}

/* A counting area holds the sub-histograms (subs x bins counters), the edge table (bins + 1
   values) and, when bins <= HIST_PAIR_BINS, the pair counters of the AVX2 shortcut: table j
   counts pairs (bin of lane j, bin of lane j + 4) of 8 values at index 16 a + b, so 8 values
   cost 4 increments; hist_reduce unfolds them. Offsets of the parts: */
static uint64_t hist_edges_offset(int64_t bins)
{
    return round64((uint64_t)hist_subs(bins) * (uint64_t)bins * sizeof(int64_t));
}

static uint64_t hist_pairs_offset(int64_t bins)
{
    return hist_edges_offset(bins) + round64((uint64_t)(bins + 1) * sizeof(double));
}

/* Bytes of one counting area, in whole 4 KiB pages: with areas merely 64-byte aligned, two parts
   counting into neighbouring areas ran at half speed each (measured on the 2-core AMD EPYC used
   for the benchmarks). */
static uint64_t hist_area_bytes(int64_t bins)
{
    uint64_t bytes = hist_pairs_offset(bins) +
                     (bins <= HIST_PAIR_BINS ? HIST_PAIRS * sizeof(int64_t) : 0);
    return (bytes + 4095) & ~(uint64_t)4095;
}

/* Offset of the first counting area in the workspace, after the parts' headers (a whole page:
   the workspace is only 64-byte aligned, but the areas then keep apart from the headers). */
static uint64_t hist_areas_offset(int64_t nparts)
{
    return ((uint64_t)nparts * HIST_SLOT + 4095) & ~(uint64_t)4095;
}

/* Finishes a plan whose first, last (or first32, last32), arith and lin32 are set: the
   denominators and linspace's step. Returns 0 when last - first overflows. */
static int hist_plan_steps(hist_plan *p)
{
    if (p->arith == HIST_A32F) {
        p->denom32 = p->last32 - p->first32;
        if (!isfinite(p->denom32))
            return 0;
    } else {
        p->denom = p->last - p->first;
        if (!isfinite(p->denom))
            return 0;
    }
    if (p->lin32) {
        p->delta32 = p->last32 - p->first32;
        p->step32 = p->delta32 / (float)p->bins;
        p->step_zero = p->step32 == 0;
    } else {
        p->delta = p->last - p->first;
        p->step = p->delta / (double)p->bins;
        p->step_zero = p->step == 0;
    }
    /*
     * The shortcut. With t = (x - first) / (last - first) * bins the exact position of x, the
     * double f' = (x - first) * recip is within 4.01u * bins of t (u = 2^-53), and edge i lies
     * within bins * (u (3.01 + M/L) + uf M/L) of position i for FP64 and FP32-with-range edges
     * (uf = 2^-24 when rounded to float, else 0) and within bins * uf (5.01 + M/L) for edges
     * computed in float, where M = max(|first|, |last|) and L = last - first. numpy's own first
     * index is within 4.01u * bins (FP64), bins * (3 uf M/L + 4u) (FP32 with a range) or
     * 5.01 uf bins (float arithmetic) of t. E below bounds every sum of one index error and one
     * edge error. So when E < 1, numpy's first index is within one of the bin the edges define
     * (its two corrections then land exactly there), and when f' is farther than E from an
     * integer, trunc(f') is that bin. The AVX2 loops count such values directly and send the
     * others (values near edges, a tiny fraction) through numpy's arithmetic. E > 2^-8 (absurd
     * ranges or huge bins in FP32) disables the shortcut.
     */
    double length = p->last - p->first, big = fmax(fabs(p->first), fabs(p->last));
    double unit = (p->dtype == NCS_DTYPE_FP32 ? 0x1p-24 : 0x1p-53) + 0x1p-53;
    double bound = (double)p->bins * unit * (12 + 4 * big / length);
    p->recip = (double)p->bins / length;
    p->fast_delta = length > 0 && isfinite(p->recip) && !p->step_zero && bound <= 0x1p-8 ? 2 * bound
                                                                                         : 0;
    return 1;
}

/* Edge i (0 <= i <= bins) in the bins' type, widened to double. */
static double hist_edge(const hist_plan *p, int64_t i)
{
    if (p->lin32) {
        if (i == p->bins)
            return p->last32;
        float y = (float)i;
        y = p->step_zero ? (y / (float)p->bins) * p->delta32 : y * p->step32;
        return (float)(y + p->first32);
    }
    if (i == p->bins)
        return p->dtype == NCS_DTYPE_FP32 ? (double)(float)p->last : p->last;
    double y = (double)i;
    y = p->step_zero ? (y / (double)p->bins) * p->delta : y * p->step;
    y += p->first;
    return p->dtype == NCS_DTYPE_FP32 ? (double)(float)y : y;
}

/* The plan for a given range [lo, hi] (already checked: finite, lo <= hi). */
static int hist_plan_given(hist_plan *p, int dtype, int64_t bins, double lo, double hi)
{
    memset(p, 0, sizeof *p);
    p->dtype = dtype;
    p->bins = bins;
    p->first = lo;
    p->last = hi;
    if (p->first == p->last) {
        p->first -= 0.5;
        p->last += 0.5;
    }
    p->arith = dtype == NCS_DTYPE_FP64 ? HIST_A64 : HIST_A32D;
    p->first32 = (float)p->first;
    p->last32 = (float)p->last;
    return hist_plan_steps(p);
}

/* The plan for the data's range (count > 0, min and max finite), or (0, 1) when count is 0. */
static int hist_plan_data(hist_plan *p, int dtype, int64_t bins, int64_t count, double min,
                          double max)
{
    if (count == 0)
        return hist_plan_given(p, dtype, bins, 0, 1);
    memset(p, 0, sizeof *p);
    p->dtype = dtype;
    p->bins = bins;
    if (dtype == NCS_DTYPE_FP64) {
        p->arith = HIST_A64;
        p->first = min;
        p->last = max;
        if (p->first == p->last) {
            p->first -= 0.5;
            p->last += 0.5;
        }
    } else {
        p->arith = HIST_A32F;
        p->lin32 = 1;
        p->first32 = (float)min;
        p->last32 = (float)max;
        if (p->first32 == p->last32) {
            p->first32 = p->first32 - 0.5f;
            p->last32 = p->last32 + 0.5f;
        }
        p->first = p->first32;
        p->last = p->last32;
    }
    return hist_plan_steps(p);
}

/* Reads bins, lo and hi. *given is 1 when the request set lo and hi: a given NaN is a value (refused,
   as numpy refuses range=(nan, 1)), never "not given". Fails (after api->fail) on values numpy
   refuses. */
static int hist_params(ncs_ctx *ctx, int dtype, int64_t *bins, double *lo, double *hi, int *given)
{
    const ncs_host_api *api = ctx->api;
    int lo_set = 0, hi_set = 0;
    int status = api->param_int(ctx, "bins", bins);
    if (status == NCS_OK)
        status = api->param_double(ctx, "lo", lo);
    if (status == NCS_OK)
        status = api->param_double(ctx, "hi", hi);
    if (status == NCS_OK)
        status = api->param_is_set(ctx, "lo", &lo_set);
    if (status == NCS_OK)
        status = api->param_is_set(ctx, "hi", &hi_set);
    if (status != NCS_OK)
        return status;
    if (*bins < 1 || *bins > HIST_MAX_BINS)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "parameter 'bins' is %lld: histogram needs 1 <= bins <= %d",
                         (long long)*bins, HIST_MAX_BINS);
    *given = lo_set || hi_set;
    if (!*given)
        return NCS_OK;
    if (!lo_set || !hi_set)
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "parameter '%s' is given but '%s' is not: histogram needs both lo and hi, or neither "
            "(then the range is x's min and max)",
            lo_set ? "lo" : "hi", lo_set ? "hi" : "lo");
    if (!isfinite(*lo) || !isfinite(*hi))
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "supplied range of [%g, %g] is not finite: parameters 'lo' and 'hi' must be finite "
            "numbers (leave both out for x's min and max)",
            *lo, *hi);
    if (*lo > *hi)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "parameter 'lo' (%g) is greater than 'hi' (%g): histogram needs lo <= hi",
                         *lo, *hi);
    if (dtype == NCS_DTYPE_FP32 && (fabs(*lo) > FLT_MAX || fabs(*hi) > FLT_MAX))
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "parameters 'lo' (%g) and 'hi' (%g) must lie within the FP32 range for FP32 x "
            "(numpy overflows there)",
            *lo, *hi);
    return NCS_OK;
}

static int hist_bad_width(ncs_ctx *ctx, const hist_plan *p)
{
    return ctx->api->fail(
        ctx, NCS_E_INVALID_ARGUMENT,
        "the histogram range [%g, %g] is wider than the largest %s: its width overflows", p->first,
        p->last, p->dtype == NCS_DTYPE_FP32 && p->lin32 ? "FP32 value" : "FP64 value");
}

static int hist_too_many_bins(ncs_ctx *ctx, const hist_plan *p)
{
    return ctx->api->fail(
        ctx, NCS_E_INVALID_ARGUMENT,
        "Too many bins for data range. Cannot create %lld finite-sized bins (range [%.17g, "
        "%.17g] in %s), as numpy.histogram says",
        (long long)p->bins, p->first, p->last, p->dtype == NCS_DTYPE_FP32 ? "FP32" : "FP64");
}

/* NCS_OK when the edges increase strictly; otherwise numpy's refusal (NCS_E_INVALID_ARGUMENT,
   after api->fail). O(bins): polls cancellation every HIST_CHUNK edges. */
static int hist_check_edges(ncs_ctx *ctx, const hist_plan *p)
{
    double prev = hist_edge(p, 0);
    for (int64_t i = 1; i <= p->bins; i++) {
        if ((i & (HIST_CHUNK - 1)) == 0 && ctx->api->cancelled(ctx))
            return NCS_E_CANCELLED;
        double e = hist_edge(p, i);
        if (!(prev < e))
            return hist_too_many_bins(ctx, p);
        prev = e;
    }
    return NCS_OK;
}

static int64_t hist_parts(int64_t count, int64_t bins, int max_parts)
{
    int64_t parts = count / HIST_MIN_PART;
    if (parts > count / bins)
        parts = count / bins;
    if (parts > max_parts)
        parts = max_parts;
    return parts < 1 ? 1 : parts;
}

static int histogram_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int status = api->input(ctx, 0, &x);
    if (status != NCS_OK)
        return status;
    if (x.dtype != NCS_DTYPE_FP64 && x.dtype != NCS_DTYPE_FP32)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'x' is %s: histogram supports FP64 and FP32",
                         ncs_dtype_text(x.dtype));
    int64_t bins;
    double lo, hi;
    int given;
    status = hist_params(ctx, x.dtype, &bins, &lo, &hi, &given);
    if (status != NCS_OK)
        return status;
    /* The edges' check costs O(bins): before the outputs (16 bytes a bin) are granted by the
       memory budget, only a few bins are checked here; the parts check more (see run). */
    if (given) {
        hist_plan p;
        if (!hist_plan_given(&p, x.dtype, bins, lo, hi))
            return hist_bad_width(ctx, &p);
        if (bins <= HIST_PREPARE_EDGES && (status = hist_check_edges(ctx, &p)) != NCS_OK)
            return status;
    }
    int64_t counts_dims[1] = {bins}, edges_dims[1] = {bins + 1};
    status = api->set_output(ctx, 0, NCS_DTYPE_INT64, 1, counts_dims);
    if (status == NCS_OK)
        status = api->set_output(ctx, 1, NCS_DTYPE_FP64, 1, edges_dims);
    if (status != NCS_OK)
        return status;
    /* Without a range the parts only find min and max: the bins do not limit them. */
    int64_t parts = hist_parts(x.count, given ? bins : 1, max_parts);
    uint64_t areas = given ? (uint64_t)parts : 1;
    status = api->set_workspace(ctx, hist_areas_offset(parts) + areas * hist_area_bytes(bins));
    if (status == NCS_OK)
        status = api->set_parts(ctx, (int)parts);
    return status;
}

/* ---- counting -------------------------------------------------------------------------- */
/*
 * Each counter adds x[0..n) to cnt (subs interleaved histograms of bins counters; element i
 * goes to histogram i % subs, subs being 1 or 4) with edge table e (bins + 1 values in the
 * bins' type). The index arithmetic is numpy's (see the top of the file).
 */

/* numpy's edge corrections and the count, for one kept value v whose first index is k. (A kept
   value is never below edge 0, which is exactly `first`; the k > 0 test only keeps memory safe.) */
#define HIST_CORRECT_AND_COUNT(v, k, e, top, c)   \
    do {                                          \
        int64_t k_ = (k);                         \
        k_ -= ((v) < (e)[k_]) & (k_ > 0);         \
        k_ += ((v) >= (e)[k_ + 1]) & (k_ != top); \
        (c)[k_]++;                                \
    } while (0)

static void count_portable_a64(const double *x, int64_t n, const hist_plan *p, const double *e,
                               int64_t *cnt, int subs)
{
    const double first = p->first, last = p->last, denom = p->denom, nb = (double)p->bins;
    const int64_t bins = p->bins, top = bins - 1;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        if (!(v >= first && v <= last))
            continue;
        double f = ((v - first) / denom) * nb;
        int64_t k = f < (double)top ? (int64_t)f : top;
        HIST_CORRECT_AND_COUNT(v, k, e, top, cnt + (i & (subs - 1)) * bins);
    }
}

static void count_portable_a32d(const float *x, int64_t n, const hist_plan *p, const float *e,
                                int64_t *cnt, int subs)
{
    const float first = p->first32, last = p->last32;
    const double denom = p->denom, nb = (double)p->bins;
    const int64_t bins = p->bins, top = bins - 1;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (!(v >= first && v <= last))
            continue;
        float d = v - first;
        double f = ((double)d / denom) * nb;
        int64_t k = f < (double)top ? (int64_t)f : top;
        HIST_CORRECT_AND_COUNT(v, k, e, top, cnt + (i & (subs - 1)) * bins);
    }
}

static void count_portable_a32f(const float *x, int64_t n, const hist_plan *p, const float *e,
                                int64_t *cnt, int subs)
{
    const float first = p->first32, last = p->last32, denom = p->denom32, nb = (float)p->bins;
    const int64_t bins = p->bins, top = bins - 1;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (!(v >= first && v <= last))
            continue;
        float f = ((v - first) / denom) * nb;
        int64_t k = (int64_t)f;
        if (k > top)
            k = top;
        HIST_CORRECT_AND_COUNT(v, k, e, top, cnt + (i & (subs - 1)) * bins);
    }
}

/*
 * AVX2 counting. The first index is computed as in the portable loops (the same IEEE
 * operations, so the same values), clamped to [0, top]. The two edges numpy compares with are
 * recomputed in registers by linspace's own formula, edge(i) = i * step + first (rounded to float
 * for FP32 data), instead of being gathered from the table: on the machines measured, two gathers
 * per vector cost more than everything else. Plans whose step underflowed (step_zero) use the
 * portable loops. Lanes are then counted one by one, lane j into sub-histogram j % subs, with the
 * corrections from the bit masks `down` and `up`.
 */
static inline void hist_count_lanes(const int32_t *k, unsigned keep, unsigned down, unsigned up,
                                    int64_t *cnt, int64_t bins, int subs)
{
    if (keep == 0xff && (down | up) == 0 && subs == 4) { /* the common case, unrolled */
        int64_t *c0 = cnt, *c1 = cnt + bins, *c2 = cnt + 2 * bins, *c3 = cnt + 3 * bins;
        c0[k[0]]++;
        c1[k[1]]++;
        c2[k[2]]++;
        c3[k[3]]++;
        c0[k[4]]++;
        c1[k[5]]++;
        c2[k[6]]++;
        c3[k[7]]++;
        return;
    }
    while (keep) {
        int j = __builtin_ctz(keep);
        keep &= keep - 1;
        cnt[(j & (subs - 1)) * bins + k[j] - (int32_t)((down >> j) & 1) +
            (int32_t)((up >> j) & 1)]++;
    }
}

/* Down and up masks of 4 doubles v with first indices k (0 <= k <= top): down where v < edge(k)
   (never at k = 0, whose edge is `first` itself), up where v >= edge(k + 1) and not down, never
   at k = top. */
__attribute__((target("avx2"))) static inline void hist_corrections_pd(__m256d v, __m128i k,
                                                                       __m256d step, __m256d first,
                                                                       __m128i top, int to_float,
                                                                       unsigned *down, unsigned *up)
{
    const __m128i zero = _mm_setzero_si128(), one = _mm_set1_epi32(1);
    __m256d lo = _mm256_add_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(k), step), first);
    __m256d hi = _mm256_add_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(_mm_add_epi32(k, one)), step),
                               first);
    if (to_float) { /* FP32 data, given range: the edges are the doubles rounded to float */
        lo = _mm256_cvtps_pd(_mm256_cvtpd_ps(lo));
        hi = _mm256_cvtps_pd(_mm256_cvtpd_ps(hi));
    }
    __m256d at_top = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_cmpeq_epi32(k, top)));
    hi = _mm256_blendv_pd(hi, _mm256_set1_pd(INFINITY), at_top);
    unsigned at_zero = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(k, zero)));
    *down = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(v, lo, _CMP_LT_OQ)) & ~at_zero;
    *up = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(v, hi, _CMP_GE_OQ)) & ~*down;
}

/* Constants of the shortcut (see hist_plan_steps) in registers. */
typedef struct hist_fast {
    __m256d first, recip, nb, lo, hi; /* lo = fast_delta, hi = 1 - fast_delta */
    __m256i lane_offsets;             /* lane j counts into sub-histogram j % subs */
} hist_fast;

__attribute__((target("avx2"))) static void hist_fast_init(hist_fast *c, const hist_plan *p,
                                                           int subs)
{
    int32_t b = (int32_t)p->bins;
    c->lane_offsets = subs == 4 ? _mm256_setr_epi32(0, b, 2 * b, 3 * b, 0, b, 2 * b, 3 * b)
                                : _mm256_setzero_si256();
    c->first = _mm256_set1_pd(p->first);
    c->recip = _mm256_set1_pd(p->recip);
    c->nb = _mm256_set1_pd((double)p->bins);
    c->lo = _mm256_set1_pd(p->fast_delta);
    c->hi = _mm256_set1_pd(1 - p->fast_delta);
}

/*
 * The shortcut for 8 values (v0: lanes 0-3, v1: lanes 4-7, widened to double): when every
 * position f' = (v - first) * recip lies below bins with a fractional part in (fast_delta,
 * 1 - fast_delta), counts bin trunc(f') of each and returns 1; else counts nothing and returns 0.
 * Such a value is inside [first, last] (f' > 0, and f' < bins - fast_delta), so the
 * checks also keep every index within [0, bins - 1]; NaN and infinities fail them. subs is a
 * constant at each call (4 or 1) so the counting unrolls; pairs (NULL or a constant at each call)
 * are the pair counters when bins <= HIST_PAIR_BINS.
 */
__attribute__((target("avx2"), always_inline)) static inline int
hist_fast8(const hist_fast *c, __m256d v0, __m256d v1, int64_t *cnt, int64_t *pairs, int64_t bins,
           const int subs)
{
    __m256d f0 = _mm256_mul_pd(_mm256_sub_pd(v0, c->first), c->recip);
    __m256d f1 = _mm256_mul_pd(_mm256_sub_pd(v1, c->first), c->recip);
    __m128i k0 = _mm256_cvttpd_epi32(f0), k1 = _mm256_cvttpd_epi32(f1);
    __m256d r0 = _mm256_sub_pd(f0, _mm256_cvtepi32_pd(k0)),
            r1 = _mm256_sub_pd(f1, _mm256_cvtepi32_pd(k1));
    __m256d ok0 = _mm256_and_pd(_mm256_cmp_pd(r0, c->lo, _CMP_GT_OQ),
                                _mm256_cmp_pd(r0, c->hi, _CMP_LT_OQ));
    __m256d ok1 = _mm256_and_pd(_mm256_cmp_pd(r1, c->lo, _CMP_GT_OQ),
                                _mm256_cmp_pd(r1, c->hi, _CMP_LT_OQ));
    __m256d ok = _mm256_and_pd(_mm256_and_pd(ok0, _mm256_cmp_pd(f0, c->nb, _CMP_LT_OQ)),
                               _mm256_and_pd(ok1, _mm256_cmp_pd(f1, c->nb, _CMP_LT_OQ)));
    if (_mm256_movemask_pd(ok) != 0xf)
        return 0;
    if (pairs != NULL) { /* bins <= 16: one increment per two values */
        int32_t pk[4];
        _mm_storeu_si128((__m128i *)pk, _mm_or_si128(_mm_slli_epi32(k0, 4), k1));
        pairs[pk[0]]++;
        pairs[256 + pk[1]]++;
        pairs[512 + pk[2]]++;
        pairs[768 + pk[3]]++;
        return 1;
    }
    /* Each lane's counter index (bin plus its sub-histogram's offset), two per 64-bit word:
       fewer instructions than extracting the lanes one by one. */
    __m256i kk = _mm256_add_epi32(_mm256_set_m128i(k1, k0), c->lane_offsets);
    __m128i klo = _mm256_castsi256_si128(kk), khi = _mm256_extracti128_si256(kk, 1);
    uint64_t q0 = (uint64_t)_mm_cvtsi128_si64(klo), q1 = (uint64_t)_mm_extract_epi64(klo, 1);
    uint64_t q2 = (uint64_t)_mm_cvtsi128_si64(khi), q3 = (uint64_t)_mm_extract_epi64(khi, 1);
    cnt[(uint32_t)q0]++;
    cnt[q0 >> 32]++;
    cnt[(uint32_t)q1]++;
    cnt[q1 >> 32]++;
    cnt[(uint32_t)q2]++;
    cnt[q2 >> 32]++;
    cnt[(uint32_t)q3]++;
    cnt[q3 >> 32]++;
    (void)bins;
    (void)subs;
    return 1;
}

/* FP64 data, 8 values per step; subs is a constant at each call. */
__attribute__((target("avx2"), always_inline)) static inline void
count_avx2_a64_subs(const double *x, int64_t n, const hist_plan *p, const double *e, int64_t *cnt,
                    int64_t *pairs, const int subs, const int fast)
{
    const __m256d first = _mm256_set1_pd(p->first), last = _mm256_set1_pd(p->last);
    const __m256d denom = _mm256_set1_pd(p->denom), nb = _mm256_set1_pd((double)p->bins);
    const __m256d step = _mm256_set1_pd(p->step);
    const __m128i top = _mm_set1_epi32((int32_t)(p->bins - 1)), zero = _mm_setzero_si128();
    hist_fast fc;
    hist_fast_init(&fc, p, subs);
    int64_t i = 0;
    int32_t k[8];
    for (; i + 8 <= n; i += 8) {
        __m256d v0 = _mm256_loadu_pd(x + i), v1 = _mm256_loadu_pd(x + i + 4);
        if (fast && hist_fast8(&fc, v0, v1, cnt, pairs, p->bins, subs))
            continue;
        __m256d keep0 = _mm256_and_pd(_mm256_cmp_pd(v0, first, _CMP_GE_OQ),
                                      _mm256_cmp_pd(v0, last, _CMP_LE_OQ));
        __m256d keep1 = _mm256_and_pd(_mm256_cmp_pd(v1, first, _CMP_GE_OQ),
                                      _mm256_cmp_pd(v1, last, _CMP_LE_OQ));
        unsigned keep = (unsigned)_mm256_movemask_pd(keep0) | (unsigned)_mm256_movemask_pd(keep1)
                                                                  << 4;
        if (keep == 0)
            continue;
        /* numpy: ((x - first) / denom) * bins, truncated; dropped lanes give 0 */
        __m256d f0 = _mm256_and_pd(
            _mm256_mul_pd(_mm256_div_pd(_mm256_sub_pd(v0, first), denom), nb), keep0);
        __m256d f1 = _mm256_and_pd(
            _mm256_mul_pd(_mm256_div_pd(_mm256_sub_pd(v1, first), denom), nb), keep1);
        __m128i k0 = _mm_max_epi32(_mm_min_epi32(_mm256_cvttpd_epi32(f0), top), zero);
        __m128i k1 = _mm_max_epi32(_mm_min_epi32(_mm256_cvttpd_epi32(f1), top), zero);
        unsigned down0, up0, down1, up1;
        hist_corrections_pd(v0, k0, step, first, top, 0, &down0, &up0);
        hist_corrections_pd(v1, k1, step, first, top, 0, &down1, &up1);
        _mm_storeu_si128((__m128i *)k, k0);
        _mm_storeu_si128((__m128i *)(k + 4), k1);
        hist_count_lanes(k, keep, down0 | down1 << 4, up0 | up1 << 4, cnt, p->bins, subs);
    }
    if (i < n)
        count_portable_a64(x + i, n - i, p, e, cnt, subs);
}

__attribute__((target("avx2"))) static void count_avx2_a64(const double *x, int64_t n,
                                                           const hist_plan *p, const double *e,
                                                           int64_t *cnt, int64_t *pairs, int subs)
{
    /* One instance per shape, so the loops test neither the shortcut nor the layout per step. */
    if (p->fast_delta > 0 && pairs != NULL)
        count_avx2_a64_subs(x, n, p, e, cnt, pairs, 4, 1);
    else if (p->fast_delta > 0 && subs == 4)
        count_avx2_a64_subs(x, n, p, e, cnt, NULL, 4, 1);
    else if (p->fast_delta > 0)
        count_avx2_a64_subs(x, n, p, e, cnt, NULL, 1, 1);
    else if (subs == 4)
        count_avx2_a64_subs(x, n, p, e, cnt, NULL, 4, 0);
    else
        count_avx2_a64_subs(x, n, p, e, cnt, NULL, 1, 0);
}

/* FP32 data, 8 values per step: HIST_A32D (float subtraction, double division, edges computed in
   double and rounded) or HIST_A32F (all float); subs is a constant at each call. */
__attribute__((target("avx2"), always_inline)) static inline void
count_avx2_a32_subs(const float *x, int64_t n, const hist_plan *p, const float *e, int64_t *cnt,
                    int64_t *pairs, const int subs, const int fast)
{
    const __m256 first = _mm256_set1_ps(p->first32), last = _mm256_set1_ps(p->last32);
    const __m256d denom = _mm256_set1_pd(p->denom), nb = _mm256_set1_pd((double)p->bins);
    const __m256d step = _mm256_set1_pd(p->step), first64 = _mm256_set1_pd(p->first);
    const __m256 denom32 = _mm256_set1_ps(p->denom32), nb32 = _mm256_set1_ps((float)p->bins);
    const __m256 step32 = _mm256_set1_ps(p->step32);
    const __m256i top = _mm256_set1_epi32((int32_t)(p->bins - 1)), zero = _mm256_setzero_si256();
    const __m256i one = _mm256_set1_epi32(1);
    const int in_float = p->arith == HIST_A32F;
    hist_fast fc;
    hist_fast_init(&fc, p, subs);
    int64_t i = 0;
    int32_t k[8];
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d v0 = _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                v1 = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        if (fast && hist_fast8(&fc, v0, v1, cnt, pairs, p->bins, subs))
            continue;
        __m256 keep = _mm256_and_ps(_mm256_cmp_ps(v, first, _CMP_GE_OQ),
                                    _mm256_cmp_ps(v, last, _CMP_LE_OQ));
        unsigned mask = (unsigned)_mm256_movemask_ps(keep);
        if (mask == 0)
            continue;
        __m256 d = _mm256_and_ps(_mm256_sub_ps(v, first), keep);
        __m256i ki;
        unsigned down, up;
        if (in_float) {
            ki = _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_div_ps(d, denom32), nb32));
            ki = _mm256_max_epi32(_mm256_min_epi32(ki, top), zero);
            __m256 lo = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(ki), step32), first);
            __m256 hi = _mm256_add_ps(
                _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(ki, one)), step32), first);
            hi = _mm256_blendv_ps(hi, _mm256_set1_ps(INFINITY),
                                  _mm256_castsi256_ps(_mm256_cmpeq_epi32(ki, top)));
            unsigned at_zero = (unsigned)_mm256_movemask_ps(
                _mm256_castsi256_ps(_mm256_cmpeq_epi32(ki, zero)));
            down = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, lo, _CMP_LT_OQ)) & ~at_zero;
            up = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, hi, _CMP_GE_OQ)) & ~down;
        } else {
            __m256d f0 = _mm256_mul_pd(
                _mm256_div_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(d)), denom), nb);
            __m256d f1 = _mm256_mul_pd(
                _mm256_div_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(d, 1)), denom), nb);
            __m128i k0 = _mm_max_epi32(
                _mm_min_epi32(_mm256_cvttpd_epi32(f0), _mm256_castsi256_si128(top)),
                _mm_setzero_si128());
            __m128i k1 = _mm_max_epi32(
                _mm_min_epi32(_mm256_cvttpd_epi32(f1), _mm256_castsi256_si128(top)),
                _mm_setzero_si128());
            unsigned down0, up0, down1, up1;
            hist_corrections_pd(v0, k0, step, first64, _mm256_castsi256_si128(top), 1, &down0,
                                &up0);
            hist_corrections_pd(v1, k1, step, first64, _mm256_castsi256_si128(top), 1, &down1,
                                &up1);
            ki = _mm256_set_m128i(k1, k0);
            down = down0 | down1 << 4;
            up = up0 | up1 << 4;
        }
        _mm256_storeu_si256((__m256i *)k, ki);
        hist_count_lanes(k, mask, down, up, cnt, p->bins, subs);
    }
    if (i < n) {
        if (in_float)
            count_portable_a32f(x + i, n - i, p, e, cnt, subs);
        else
            count_portable_a32d(x + i, n - i, p, e, cnt, subs);
    }
}

__attribute__((target("avx2"))) static void count_avx2_a32(const float *x, int64_t n,
                                                           const hist_plan *p, const float *e,
                                                           int64_t *cnt, int64_t *pairs, int subs)
{
    /* One instance per shape, so the loops test neither the shortcut nor the layout per step. */
    if (p->fast_delta > 0 && pairs != NULL)
        count_avx2_a32_subs(x, n, p, e, cnt, pairs, 4, 1);
    else if (p->fast_delta > 0 && subs == 4)
        count_avx2_a32_subs(x, n, p, e, cnt, NULL, 4, 1);
    else if (p->fast_delta > 0)
        count_avx2_a32_subs(x, n, p, e, cnt, NULL, 1, 1);
    else if (subs == 4)
        count_avx2_a32_subs(x, n, p, e, cnt, NULL, 4, 0);
    else
        count_avx2_a32_subs(x, n, p, e, cnt, NULL, 1, 0);
}

/* Counts x[lo, hi) into the area `area` (zeroed here, edge table built here), polling
   cancellation and reporting progress every HIST_CHUNK elements. */
static int hist_count_range(ncs_ctx *ctx, const ncs_tensor_view *x, const hist_plan *p, void *area,
                            int64_t lo, int64_t hi)
{
    int subs = hist_subs(p->bins);
    int64_t *cnt = area;
    void *edges = (unsigned char *)area + hist_edges_offset(p->bins);
    int64_t *pairs = p->bins <= HIST_PAIR_BINS
                         ? (int64_t *)((unsigned char *)area + hist_pairs_offset(p->bins))
                         : NULL;
    memset(cnt, 0, (size_t)subs * (size_t)p->bins * sizeof(int64_t));
    if (pairs != NULL)
        memset(pairs, 0, HIST_PAIRS * sizeof(int64_t));
    if (x->dtype == NCS_DTYPE_FP64) {
        for (int64_t i = 0; i <= p->bins; i++)
            ((double *)edges)[i] = hist_edge(p, i);
    } else {
        for (int64_t i = 0; i <= p->bins; i++)
            ((float *)edges)[i] = (float)hist_edge(p, i);
    }
    int vector = ncs_cpu_has(NCS_CPU_AVX2) && !p->step_zero;
    for (int64_t at = lo; at < hi; at += HIST_CHUNK) {
        if (ctx->api->cancelled(ctx))
            return NCS_E_CANCELLED;
        int64_t len = hi - at < HIST_CHUNK ? hi - at : HIST_CHUNK;
        if (x->dtype == NCS_DTYPE_FP64) {
            const double *xs = (const double *)x->data + at;
            if (vector)
                count_avx2_a64(xs, len, p, edges, cnt, pairs, subs);
            else
                count_portable_a64(xs, len, p, edges, cnt, subs);
        } else {
            const float *xs = (const float *)x->data + at;
            if (vector)
                count_avx2_a32(xs, len, p, edges, cnt, pairs, subs);
            else if (p->arith == HIST_A32F)
                count_portable_a32f(xs, len, p, edges, cnt, subs);
            else
                count_portable_a32d(xs, len, p, edges, cnt, subs);
        }
        ctx->api->progress(ctx, (uint64_t)len);
    }
    return NCS_OK;
}

/* Adds the area's sub-histograms into counts (which it overwrites when `add` is 0). */
static void hist_reduce(const void *area, int64_t bins, int64_t *counts, int add)
{
    const int64_t *cnt = area;
    int subs = hist_subs(bins);
    for (int64_t k = 0; k < bins; k++) {
        int64_t s = add ? counts[k] : 0;
        for (int j = 0; j < subs; j++)
            s += cnt[j * bins + k];
        counts[k] = s;
    }
    if (bins <= HIST_PAIR_BINS) {
        const int64_t *pairs = (const int64_t *)((const unsigned char *)area +
                                                 hist_pairs_offset(bins));
        for (int j = 0; j < 4; j++) {
            for (int64_t a = 0; a < bins; a++) {
                for (int64_t b = 0; b < bins; b++) {
                    int64_t n = pairs[j * 256 + a * 16 + b];
                    counts[a] += n;
                    counts[b] += n;
                }
            }
        }
    }
}

/* ---- min and max (range from the data) --------------------------------------------------- */

#define DEFINE_MINMAX(NAME, T)                                                       \
    static void NAME(const T *x, int64_t n, double *min, double *max, int *nan_seen) \
    {                                                                                \
        T lo[4] = {x[0], x[0], x[0], x[0]}, hi[4] = {x[0], x[0], x[0], x[0]};        \
        int nan = 0;                                                                 \
        int64_t i = 0;                                                               \
        for (; i + 4 <= n; i += 4) {                                                 \
            for (int l = 0; l < 4; l++) {                                            \
                T v = x[i + l];                                                      \
                lo[l] = v < lo[l] ? v : lo[l];                                       \
                hi[l] = v > hi[l] ? v : hi[l];                                       \
                nan |= v != v;                                                       \
            }                                                                        \
        }                                                                            \
        for (; i < n; i++) {                                                         \
            T v = x[i];                                                              \
            lo[0] = v < lo[0] ? v : lo[0];                                           \
            hi[0] = v > hi[0] ? v : hi[0];                                           \
            nan |= v != v;                                                           \
        }                                                                            \
        for (int l = 1; l < 4; l++) {                                                \
            lo[0] = lo[l] < lo[0] ? lo[l] : lo[0];                                   \
            hi[0] = hi[l] > hi[0] ? hi[l] : hi[0];                                   \
        }                                                                            \
        if (*min > lo[0] || *min != *min) /* the running values start as NaN */      \
            *min = lo[0];                                                            \
        if (*max < hi[0] || *max != *max)                                            \
            *max = hi[0];                                                            \
        *nan_seen |= nan;                                                            \
    }

DEFINE_MINMAX(minmax_f64, double)
DEFINE_MINMAX(minmax_f32, float)

static int histogram_run(ncs_ctx *ctx, int part, int nparts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int status = api->input(ctx, 0, &x);
    if (status != NCS_OK)
        return status;
    int64_t bins;
    double lo, hi;
    int given;
    status = hist_params(ctx, x.dtype, &bins, &lo, &hi, &given);
    if (status != NCS_OK)
        return status;
    unsigned char *ws = api->workspace(ctx);
    if (ws == NULL)
        return api->fail(ctx, NCS_E_INTERNAL, "histogram has no workspace");
    hist_slot *slot = (hist_slot *)ws + part;
    slot->s.nparts = nparts;
    int64_t from, to;
    ncs_part_range(x.count, part, nparts, &from, &to);
    if (given) {
        hist_plan p;
        if (!hist_plan_given(&p, x.dtype, bins, lo, hi))
            return hist_bad_width(ctx, &p);
        /* Each part counts only over edges known to increase (parts <= count / bins, so the
           parts' checks together cost at most the input's size). */
        if (bins > HIST_PREPARE_EDGES && (status = hist_check_edges(ctx, &p)) != NCS_OK)
            return status;
        void *area = ws + hist_areas_offset(nparts) + (uint64_t)part * hist_area_bytes(bins);
        return hist_count_range(ctx, &x, &p, area, from, to);
    }
    /* Phase 1 of 2: min, max and NaN of this range; finish counts. */
    slot->s.n = to - from;
    slot->s.nan_seen = 0;
    slot->s.min = slot->s.max = NAN;
    for (int64_t at = from; at < to; at += HIST_CHUNK) {
        if (api->cancelled(ctx))
            return NCS_E_CANCELLED;
        int64_t len = to - at < HIST_CHUNK ? to - at : HIST_CHUNK;
        if (x.dtype == NCS_DTYPE_FP64)
            minmax_f64((const double *)x.data + at, len, &slot->s.min, &slot->s.max,
                       &slot->s.nan_seen);
        else
            minmax_f32((const float *)x.data + at, len, &slot->s.min, &slot->s.max,
                       &slot->s.nan_seen);
        api->progress(ctx, (uint64_t)len);
    }
    return NCS_OK;
}

static int histogram_finish(ncs_ctx *ctx)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x, counts, edges;
    int status = api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = api->output(ctx, 0, &counts);
    if (status == NCS_OK)
        status = api->output(ctx, 1, &edges);
    if (status != NCS_OK)
        return status;
    int64_t bins;
    double lo, hi;
    int given;
    status = hist_params(ctx, x.dtype, &bins, &lo, &hi, &given);
    if (status != NCS_OK)
        return status;
    unsigned char *ws = api->workspace(ctx);
    if (ws == NULL)
        return api->fail(ctx, NCS_E_INTERNAL, "histogram has no workspace");
    const hist_slot *slots = (const hist_slot *)ws;
    int nparts = slots[0].s.nparts;
    unsigned char *areas = ws + hist_areas_offset(nparts);
    uint64_t area_bytes = hist_area_bytes(bins);
    int64_t *out = counts.data;
    hist_plan p;
    if (given) {
        if (!hist_plan_given(&p, x.dtype, bins, lo, hi))
            return hist_bad_width(ctx, &p);
        for (int part = 0; part < nparts; part++)
            hist_reduce(areas + (uint64_t)part * area_bytes, bins, out, part > 0);
    } else {
        /* Phase 2: the range from the parts' min and max, then one count of all of x. */
        int64_t n = 0;
        int nan_seen = 0;
        double min = NAN, max = NAN;
        for (int part = 0; part < nparts; part++) {
            const hist_slot *s = &slots[part];
            if (s->s.n == 0)
                continue;
            if (n == 0 || s->s.min < min)
                min = s->s.min;
            if (n == 0 || s->s.max > max)
                max = s->s.max;
            n += s->s.n;
            nan_seen |= s->s.nan_seen;
        }
        if (n != x.count)
            return api->fail(ctx, NCS_E_INTERNAL, "histogram scanned %lld of %lld elements",
                             (long long)n, (long long)x.count);
        if (nan_seen)
            return api->fail(
                ctx, NCS_E_INVALID_ARGUMENT,
                "autodetected range of [nan, nan] is not finite: input 'x' contains NaN; give "
                "parameters 'lo' and 'hi' to count the other values (NaNs are then ignored, like "
                "numpy)");
        if (n > 0 && (!isfinite(min) || !isfinite(max)))
            return api->fail(
                ctx, NCS_E_INVALID_ARGUMENT,
                "autodetected range of [%g, %g] is not finite: input 'x' contains infinities; give "
                "parameters 'lo' and 'hi' to count the finite values",
                min, max);
        if (!hist_plan_data(&p, x.dtype, bins, n, min, max))
            return hist_bad_width(ctx, &p);
        status = hist_check_edges(ctx, &p);
        if (status != NCS_OK)
            return status;
        status = hist_count_range(ctx, &x, &p, areas, 0, x.count);
        if (status != NCS_OK)
            return status;
        hist_reduce(areas, bins, out, 0);
    }
    double *e = edges.data;
    for (int64_t i = 0; i <= bins; i++)
        e[i] = hist_edge(&p, i);
    return NCS_OK;
}

static const ncs_tensor_desc histogram_inputs[] = {
    {.name = "x",
     .doc = "values, any shape (all elements are counted together)",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = NCS_RANK_ANY},
};

static const ncs_tensor_desc histogram_outputs[] = {
    {.name = "counts",
     .doc = "number of elements in each bin [bins]; bins are [edges[i], edges[i+1]), the last one "
            "closed; values outside [lo, hi] and NaN are not counted",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_INT64),
     .rank = 1,
     .dims = {NCS_DIM_ANY}},
    {.name = "edges",
     .doc =
         "bin edges [bins+1], numpy's: np.linspace(lo, hi, bins+1) in x's type (for FP32 x, float "
         "values widened to FP64)",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64),
     .rank = 1,
     .dims = {NCS_DIM_ANY}},
};

static const ncs_param_desc histogram_params[] = {
    {.name = "bins",
     .type = NCS_PARAM_INT,
     .default_value = "10",
     .doc = "number of equal-width bins, 1 to 2^30"},
    {.name = "lo",
     .type = NCS_PARAM_DOUBLE,
     .default_value = "nan",
     .doc = "lower end of the range, a finite number; not given, lo and hi are x's min and max "
            "(NaN or "
            "infinite data is then refused, like numpy; an empty x uses (0, 1)). Give both or "
            "neither; "
            "lo == hi means (lo - 0.5, hi + 0.5); a NaN or infinite lo or hi is refused, as numpy "
            "does"},
    {.name = "hi",
     .type = NCS_PARAM_DOUBLE,
     .default_value = "nan",
     .doc =
         "upper end of the range, a finite number, included in the last bin; not given: x's max"},
};

const ncs_kernel_desc ncs_histogram_kernel = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "histogram",
    .doc =
        "Histogram of an FP64 or FP32 tensor in equal-width bins with exactly the counts and edges "
        "of numpy.histogram(x, bins, range=(lo, hi)) (numpy 2 arithmetic, values on edges "
        "included). Parts count ranges of x into their own histograms when lo and hi are given; "
        "without them the parts find min and max and finish counts on one thread.",
    .flags = NCS_KERNEL_THREAD_SAFE,
    .n_inputs = 1,
    .inputs = histogram_inputs,
    .n_outputs = 2,
    .outputs = histogram_outputs,
    .n_params = 3,
    .params = histogram_params,
    .prepare = histogram_prepare,
    .run = histogram_run,
    .finish = histogram_finish,
};
