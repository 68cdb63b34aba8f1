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
 */
#include <math.h>

#include "kernels.h"

#define DESCRIBE_MIN_PART (1 << 18)
#define DESCRIBE_CHUNK 32768

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

/* Summary of one chunk, its mean and m2 taken of x - shift. Four independent accumulators let
   the compiler vectorise the sums and comparisons; NaN elements are skipped by the comparisons
   and detected separately (only when the sum is NaN, which any NaN element makes it). */
#define DEFINE_CHUNK_SUMMARY(NAME, T)                                                        \
    static summary NAME(const T *x, int64_t len, double shift)                               \
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
        summary r = {.n = len, .min = lo[0], .max = hi[0]};                                  \
        for (int l = 1; l < 4; l++) {                                                        \
            r.min = lo[l] < r.min ? lo[l] : r.min;                                           \
            r.max = hi[l] > r.max ? hi[l] : r.max;                                           \
        }                                                                                    \
        double sum = (s[0] + s[1]) + (s[2] + s[3]);                                          \
        if (isnan(sum)) {                                                                    \
            for (int64_t j = 0; j < len && !r.nan_seen; j++)                                 \
                r.nan_seen = isnan((double)x[j]);                                            \
        }                                                                                    \
        double mean = sum / (double)len;                                                     \
        double d1[4] = {0, 0, 0, 0}, d2[4] = {0, 0, 0, 0};                                   \
        for (i = 0; i + 4 <= len; i += 4) {                                                  \
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
        double dev = (d1[0] + d1[1]) + (d1[2] + d1[3]);                                      \
        double sq = (d2[0] + d2[1]) + (d2[2] + d2[3]);                                       \
        if (!isfinite(mean)) { /* infinities (or NaN): no deviations to speak of */          \
            r.mean = mean;                                                                   \
            r.m2 = NAN;                                                                      \
            return r;                                                                        \
        }                                                                                    \
        /* Corrected two-pass: removes the rounding error of the first mean. */              \
        r.mean = mean + dev / (double)len;                                                   \
        r.m2 = sq - dev * dev / (double)len;                                                 \
        if (r.m2 < 0)                                                                        \
            r.m2 = 0;                                                                        \
        return r;                                                                            \
    }

DEFINE_CHUNK_SUMMARY(chunk_summary_f64, double)
DEFINE_CHUNK_SUMMARY(chunk_summary_f32, float)

static int describe_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int status = api->input(ctx, 0, &x);
    if (status != NCS_OK)
        return status;
    if (x.dtype != NCS_DTYPE_FP64 && x.dtype != NCS_DTYPE_FP32)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT, "input 'x' is %s: describe supports FP64 and FP32",
                         ncs_kernel_dtype_text(x.dtype));
    const int64_t one[1] = {1};
    status = api->set_output(ctx, 0, NCS_DTYPE_INT64, 1, one);
    for (int i = 1; i <= 4 && status == NCS_OK; i++)
        status = api->set_output(ctx, i, NCS_DTYPE_FP64, 1, one);
    if (status != NCS_OK)
        return status;
    int64_t parts = x.count / DESCRIBE_MIN_PART;
    if (parts > max_parts)
        parts = max_parts;
    if (parts < 1)
        parts = 1;
    status = api->set_workspace(ctx, (uint64_t)parts * sizeof(summary_slot));
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
    ncs_kernel_part_range(x.count, part, nparts, &lo, &hi);
    double shift = describe_shift(&x);
    summary acc = {.n = 0, .min = INFINITY, .max = -INFINITY};
    for (int64_t i = lo; i < hi; i += DESCRIBE_CHUNK) {
        if (api->cancelled(ctx))
            return NCS_E_CANCELLED;
        int64_t len = hi - i < DESCRIBE_CHUNK ? hi - i : DESCRIBE_CHUNK;
        summary chunk = x.dtype == NCS_DTYPE_FP64
                            ? chunk_summary_f64((const double *)x.data + i, len, shift)
                            : chunk_summary_f32((const float *)x.data + i, len, shift);
        merge(&acc, &chunk);
        api->progress(ctx, (uint64_t)len);
    }
    slots[part].part.s = acc;
    slots[part].part.nparts = nparts;
    return NCS_OK;
}

static int describe_finish(ncs_ctx *ctx)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x, out[5];
    int status = api->input(ctx, 0, &x);
    for (int i = 0; i < 5 && status == NCS_OK; i++)
        status = api->output(ctx, i, &out[i]);
    if (status != NCS_OK)
        return status;
    const summary_slot *slots = api->workspace(ctx);
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
    return NCS_OK;
}

static const ncs_tensor_desc describe_inputs[] = {
    {.name = "x",
     .doc = "values, any shape; all elements are described together",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = NCS_RANK_ANY},
};

#define DESCRIBE_SCALAR(NAME, DTYPE, DOC) \
    {.name = NAME, .doc = DOC, .dtypes = NCS_DTYPE_BIT(DTYPE), .rank = 1, .dims = {1}}

static const ncs_tensor_desc describe_outputs[] = {
    DESCRIBE_SCALAR("count", NCS_DTYPE_INT64, "number of elements, NaNs included"),
    DESCRIBE_SCALAR("mean", NCS_DTYPE_FP64,
                    "arithmetic mean like numpy.mean: NaN if any element is NaN or x is empty; "
                    "infinities follow IEEE arithmetic (mean of inf and 1 is inf, of inf and -inf NaN)"),
    DESCRIBE_SCALAR("std", NCS_DTYPE_FP64,
                    "population standard deviation (ddof 0) like numpy.std: NaN if any element is "
                    "NaN or infinite, or x is empty; 0 for one element"),
    DESCRIBE_SCALAR("min", NCS_DTYPE_FP64, "smallest element like numpy.min (NaN if any element is NaN or x is empty)"),
    DESCRIBE_SCALAR("max", NCS_DTYPE_FP64, "largest element like numpy.max (NaN if any element is NaN or x is empty)"),
};

const ncs_kernel_desc ncs_describe_kernel = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "describe",
    .doc = "Count, mean, population standard deviation, min and max of all elements of an FP64 "
           "or FP32 tensor, computed in double precision with a numerically stable two-pass "
           "algorithm per range and Chan's merge; NaN and infinities behave as in numpy.",
    .flags = NCS_KERNEL_THREAD_SAFE,
    .n_inputs = 1,
    .inputs = describe_inputs,
    .n_outputs = 5,
    .outputs = describe_outputs,
    .n_params = 0,
    .params = NULL,
    .prepare = describe_prepare,
    .run = describe_run,
    .finish = describe_finish,
};
