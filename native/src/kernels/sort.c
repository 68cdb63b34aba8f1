/*
 * sort.c -- the "sort" kernel: sorts a vector of FP64, FP32, INT32 or INT64.
 *
 * Order: ascending by a total order in which -0.0 comes before +0.0 (like Java's
 * Double.compare) and every NaN comes last. descending=true reverses the order of the non-NaN
 * values; NaNs still come last.
 *
 * Each element maps to an unsigned key whose natural order is that order, by a bijection (see
 * f64_key), so the sorted keys turn back into the original bits, NaN payloads and signs
 * included. Equal keys are bit-identical values, so stability is moot.
 *
 * Parts split the keys by value, not by position: part p takes the keys in [s_p, s_(p+1)),
 * where the splitters s_1 <= ... <= s_(nparts-1) are order statistics of a fixed sample of x
 * (every part draws the same sample, so all agree on them). Part 0's keys go to the start of
 * the output, the last part's to its end (filled backwards), and a middle part first counts the
 * keys below its range to find where its slice begins; so parts write disjoint slices and there
 * is nothing to merge (no finish). Each part scans all of x (a middle part twice), which is why
 * there are at most SORT_MAX_PARTS parts.
 *
 * Within a part: the keys of its range are gathered into its slice of the workspace, then an
 * MSD radix sort scatters them back and forth between the output and the workspace. Every level
 * takes the 8 to 11 bits just below the bits all keys of the bucket share (from the OR and the
 * AND of the keys, so constant digits cost nothing), and buckets of at most SORT_SMALL keys use
 * insertion sort. Each top-level bucket turns back into values as soon as it is sorted, while it
 * is still in cache.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define SORT_MIN_PART (1 << 16) /* elements per part, at least */
#define SORT_MAX_PARTS 4        /* every part scans the whole input */
#ifndef SORT_SMALL
#define SORT_SMALL 32           /* buckets up to this size use insertion sort */
#endif
#define SORT_POLL (1 << 20)     /* elements between cancellation checks */
#define SORT_WIDE 11            /* digit bits for buckets of at least SORT_WIDE_MIN keys */
#define SORT_WIDE_MIN (1 << 12)
#define SORT_NARROW 8           /* digit bits for smaller buckets */
#define SORT_BUCKETS (1 << SORT_WIDE)
/* Levels of the radix recursion that need a histogram: each level's highest differing bit is at
   least SORT_NARROW below the previous one's, so 64-bit keys need at most ceil(64 / 8). */
#define SORT_LEVELS 16
#define SORT_SAMPLES 4096       /* keys sampled to choose the splitters */
#define SORT_CHUNK 512          /* keys gathered on the stack before being copied out */
/* Per-part scratch at the start of the workspace: a histogram per level and the samples. */
#define SORT_PART_SCRATCH ((uint64_t)(SORT_LEVELS * SORT_BUCKETS + SORT_SAMPLES) * 8)

/* Cancellation polling and histogram memory of one part. */
typedef struct sort_state {
    ncs_ctx *ctx;
    int64_t unpolled; /* keys finished since the last poll */
    int64_t *counts;  /* SORT_LEVELS x SORT_BUCKETS */
} sort_state;

/* Counts `done` finished keys and polls the cancellation flag every SORT_POLL of them. */
static int sort_tick(sort_state *s, int64_t done)
{
    s->unpolled += done;
    if (s->unpolled < SORT_POLL)
        return NCS_OK;
    s->unpolled = 0;
    return s->ctx->api->cancelled(s->ctx) ? NCS_E_CANCELLED : NCS_OK;
}

/* Digit width for a bucket of n keys. */
static int sort_width(int64_t n)
{
#ifdef SORT_LOGW
    int w = 63 - __builtin_clzll((unsigned long long)n) + SORT_LOGW;
    return w > SORT_WIDE ? SORT_WIDE : w < SORT_MINW ? SORT_MINW : w;
#else
    return n >= SORT_WIDE_MIN ? SORT_WIDE : SORT_NARROW;
#endif
}

/* ---- order-preserving keys ------------------------------------------------------------- */
/*
 * Floats: flipping all bits of negatives and the sign bit of positives orders every non-NaN
 * value (-0.0 before +0.0); subtracting 2^52 - 1 (2^23 - 1 for FP32), modulo 2^64, then moves
 * the negative NaNs from below -inf to the very top, above +inf and the positive NaNs. Every
 * step is a bijection, so keys turn back into the original bits, NaN payloads included.
 * Descending mirrors the non-NaN keys [0, TOP] and leaves the NaN keys above them.
 */
#define F64_SHIFT ((UINT64_C(1) << 52) - 1)
#define F64_TOP (UINT64_C(0xfff0000000000000) - F64_SHIFT) /* key of +inf */
#define F32_SHIFT ((UINT32_C(1) << 23) - 1)
#define F32_TOP (UINT32_C(0xff800000) - F32_SHIFT)

static inline uint64_t f64_key(uint64_t bits, int descending)
{
    uint64_t k = (bits ^ (((uint64_t)0 - (bits >> 63)) | UINT64_C(0x8000000000000000))) - F64_SHIFT;
    return descending && k <= F64_TOP ? F64_TOP - k : k;
}

static inline uint64_t f64_value(uint64_t key, int descending)
{
    uint64_t k = (descending && key <= F64_TOP ? F64_TOP - key : key) + F64_SHIFT;
    return (k >> 63) ? k ^ UINT64_C(0x8000000000000000) : ~k;
}

static inline uint32_t f32_key(uint32_t bits, int descending)
{
    uint32_t k = (bits ^ (((uint32_t)0 - (bits >> 31)) | UINT32_C(0x80000000))) - F32_SHIFT;
    return descending && k <= F32_TOP ? F32_TOP - k : k;
}

static inline uint32_t f32_value(uint32_t key, int descending)
{
    uint32_t k = (descending && key <= F32_TOP ? F32_TOP - key : key) + F32_SHIFT;
    return (k >> 31) ? k ^ UINT32_C(0x80000000) : ~k;
}

static inline uint64_t i64_key(uint64_t bits, int descending)
{
    uint64_t k = bits ^ UINT64_C(0x8000000000000000);
    return descending ? ~k : k;
}

static inline uint64_t i64_value(uint64_t key, int descending)
{
    return (descending ? ~key : key) ^ UINT64_C(0x8000000000000000);
}

static inline uint32_t i32_key(uint32_t bits, int descending)
{
    uint32_t k = bits ^ UINT32_C(0x80000000);
    return descending ? ~k : k;
}

static inline uint32_t i32_value(uint32_t key, int descending)
{
    return (descending ? ~key : key) ^ UINT32_C(0x80000000);
}

/* Keys back into values, in place. */
#define DEFINE_VALUES(NAME, U)                                                 \
    static void NAME##_to_values(U *v, int64_t n, int descending)              \
    {                                                                          \
        for (int64_t i = 0; i < n; i++)                                        \
            v[i] = NAME##_value(v[i], descending);                             \
    }

DEFINE_VALUES(f64, uint64_t)
DEFINE_VALUES(f32, uint32_t)
DEFINE_VALUES(i64, uint64_t)
DEFINE_VALUES(i32, uint32_t)

/* ---- MSD radix sort of unsigned keys --------------------------------------------------- */

#define DEFINE_SORT(U, BITS)                                                                     \
    static void insertion_##U(U *v, int64_t n)                                                   \
    {                                                                                            \
        for (int64_t i = 1; i < n; i++) {                                                        \
            U x = v[i];                                                                          \
            int64_t j = i;                                                                       \
            for (; j > 0 && v[j - 1] > x; j--)                                                   \
                v[j] = v[j - 1];                                                                 \
            v[j] = x;                                                                            \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    /* Highest bit on which keys whose OR is `any` and AND is `all` differ; -1 if none. */       \
    static int high_bit_##U(U any, U all)                                                        \
    {                                                                                            \
        U diff = any ^ all;                                                                      \
        return diff == 0 ? -1 : (BITS) - 1 - (BITS == 64 ? __builtin_clzll((unsigned long long)diff) \
                                                         : __builtin_clz((unsigned)diff));      \
    }                                                                                            \
                                                                                                 \
    /* Scatters src[0..n) into dst by the digit of `width` bits that ends at bit `high`, using  \
       counts[0..2^width) (left holding each bucket's end offset). */                           \
    static void scatter_##U(const U *restrict src, U *restrict dst, int64_t n, int high,          \
                            int width, int64_t *counts)                                          \
    {                                                                                            \
        int shift = high + 1 - width < 0 ? 0 : high + 1 - width;                                 \
        size_t mask = ((size_t)1 << width) - 1;                                                  \
        memset(counts, 0, (mask + 1) * sizeof *counts);                                          \
        for (int64_t i = 0; i < n; i++)                                                          \
            counts[(size_t)(src[i] >> shift) & mask]++;                                          \
        int64_t sum = 0;                                                                         \
        for (size_t b = 0; b <= mask; b++) {                                                     \
            int64_t c = counts[b];                                                               \
            counts[b] = sum;                                                                     \
            sum += c;                                                                            \
        }                                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                        \
            U k = src[i];                                                                        \
            dst[counts[(size_t)(k >> shift) & mask]++] = k;                                      \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    /* Sorts n keys into v[0..n): they are in tmp[0..n) when in_tmp, else in v; the other       \
       array is scratch. depth (>= 1) picks the histogram of this level. */                     \
    static int sort_rec_##U(sort_state *s, U *v, U *tmp, int64_t n, int in_tmp, int depth)       \
    {                                                                                            \
        U *src = in_tmp ? tmp : v, *dst = in_tmp ? v : tmp;                                      \
        U any = 0, all = (U)~(U)0;                                                               \
        if (n > SORT_SMALL) {                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                    \
                any |= src[i];                                                                   \
                all &= src[i];                                                                   \
            }                                                                                    \
        }                                                                                        \
        int high = high_bit_##U(any, all);                                                       \
        if (n <= SORT_SMALL || high < 0 || depth >= SORT_LEVELS) {                               \
            if (in_tmp)                                                                          \
                memcpy(v, tmp, (size_t)n * sizeof(U));                                           \
            if (high >= 0)                                                                       \
                insertion_##U(v, n); /* depth cannot run out: see SORT_LEVELS */                 \
            return NCS_OK;                                                                       \
        }                                                                                        \
        int width = sort_width(n);                                                               \
        int64_t *ends = s->counts + (size_t)depth * SORT_BUCKETS;                                \
        scatter_##U(src, dst, n, high, width, ends);                                             \
        int64_t start = 0;                                                                       \
        for (size_t b = 0; b < (size_t)1 << width; b++) {                                        \
            int64_t c = ends[b] - start;                                                         \
            if (c > 1) {                                                                         \
                int status = sort_rec_##U(s, v + start, tmp + start, c, !in_tmp, depth + 1);     \
                if (status == NCS_OK)                                                            \
                    status = sort_tick(s, c);                                                    \
                if (status != NCS_OK)                                                            \
                    return status;                                                               \
            } else if (c == 1 && !in_tmp) { /* the key is in tmp */                            \
                v[start] = tmp[start];                                                           \
            }                                                                                    \
            start = ends[b];                                                                     \
        }                                                                                        \
        return NCS_OK;                                                                           \
    }                                                                                            \
                                                                                                 \
    static int compare_##U(const void *a, const void *b)                                         \
    {                                                                                            \
        U x = *(const U *)a, y = *(const U *)b;                                                  \
        return (x > y) - (x < y);                                                                \
    }

DEFINE_SORT(uint64_t, 64)
DEFINE_SORT(uint32_t, 32)

/* ---- one part: gather its key range, sort it, turn it back into values ----------------- */
/*
 * NAME is a key mapping (f64, i64, f32, i32) on unsigned type U. part_NAME sorts the keys of
 * x[0..n) that fall in part `part`'s range into their slice of out, using the same slice of ws
 * (keys) as scratch, and reports them as progress.
 */
#define DEFINE_PART(NAME, U)                                                                     \
    /* Splitters split[0..nparts-1): order statistics of SORT_SAMPLES keys spread over x. */     \
    static void splitters_##NAME(const U *x, int64_t n, int nparts, int descending, U *samples,  \
                                 U *split)                                                       \
    {                                                                                            \
        int64_t count = n < SORT_SAMPLES ? n : SORT_SAMPLES;                                     \
        for (int64_t i = 0; i < count; i++)                                                      \
            samples[i] = NAME##_key(x[(2 * i + 1) * n / (2 * count)], descending);               \
        qsort(samples, (size_t)count, sizeof(U), compare_##U);                                   \
        for (int p = 1; p < nparts; p++)                                                         \
            split[p - 1] = samples[p * count / nparts];                                          \
    }                                                                                            \
                                                                                                 \
    /* Sorts the m keys in ws[0..m) (OR `any`, AND `all`) into out[0..m) as values. */          \
    static int sort_slice_##NAME(sort_state *s, U *out, U *ws, int64_t m, U any, U all,          \
                                 int descending)                                                 \
    {                                                                                            \
        const ncs_host_api *api = s->ctx->api;                                                   \
        int high = high_bit_##U(any, all);                                                       \
        if (m <= SORT_SMALL || high < 0) {                                                       \
            memcpy(out, ws, (size_t)m * sizeof(U));                                              \
            insertion_##U(out, m);                                                               \
            NAME##_to_values(out, m, descending);                                                \
            api->progress(s->ctx, (uint64_t)m);                                                  \
            return NCS_OK;                                                                       \
        }                                                                                        \
        int width = sort_width(m);                                                               \
        int64_t *ends = s->counts;                                                               \
        scatter_##U(ws, out, m, high, width, ends);                                              \
        int64_t start = 0;                                                                       \
        for (size_t b = 0; b < (size_t)1 << width; b++) {                                        \
            int64_t c = ends[b] - start;                                                         \
            if (c > 0) {                                                                         \
                int status = sort_rec_##U(s, out + start, ws + start, c, 0, 1);                  \
                if (status == NCS_OK)                                                            \
                    status = sort_tick(s, c);                                                    \
                if (status != NCS_OK)                                                            \
                    return status;                                                               \
                NAME##_to_values(out + start, c, descending);                                    \
                api->progress(s->ctx, (uint64_t)c);                                              \
            }                                                                                    \
            start = ends[b];                                                                     \
        }                                                                                        \
        return NCS_OK;                                                                           \
    }                                                                                            \
                                                                                                 \
    static int part_##NAME(sort_state *s, const U *x, int64_t n, U *out, U *ws, int part,         \
                           int nparts, int descending)                                           \
    {                                                                                            \
        if (s->ctx->api->cancelled(s->ctx))                                                      \
            return NCS_E_CANCELLED;                                                              \
        U any = 0, all = (U)~(U)0;                                                               \
        if (nparts == 1) {                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                    \
                U k = NAME##_key(x[i], descending);                                              \
                ws[i] = k;                                                                       \
                any |= k;                                                                        \
                all &= k;                                                                        \
            }                                                                                    \
            return sort_slice_##NAME(s, out, ws, n, any, all, descending);                       \
        }                                                                                        \
        /* This part's keys are those k with (U)(k - lo) <= span. */                             \
        U split[SORT_MAX_PARTS - 1];                                                             \
        splitters_##NAME(x, n, nparts, descending, (U *)(void *)(s->counts +                     \
                         (size_t)SORT_LEVELS * SORT_BUCKETS), split);                            \
        U lo = part == 0 ? 0 : split[part - 1], span = (U) ~(U)0 - lo;                           \
        int last = part == nparts - 1;                                                           \
        if (!last) {                                                                             \
            if (split[part] <= lo)                                                               \
                return NCS_OK; /* an empty range */                                              \
            span = split[part] - 1 - lo;                                                         \
        }                                                                                        \
        int64_t begin = 0; /* where the slice starts (part 0 and middle parts) */                \
        if (part > 0 && !last) {                                                                 \
            for (int64_t i0 = 0; i0 < n; i0 += SORT_POLL) {                                      \
                if (s->ctx->api->cancelled(s->ctx))                                              \
                    return NCS_E_CANCELLED;                                                      \
                int64_t end = n - i0 < SORT_POLL ? n : i0 + SORT_POLL;                           \
                for (int64_t i = i0; i < end; i++)                                               \
                    begin += NAME##_key(x[i], descending) < lo;                                  \
            }                                                                                    \
        }                                                                                        \
        int64_t pos = last ? n : begin;                                                          \
        U chunk[SORT_CHUNK];                                                                     \
        for (int64_t i0 = 0; i0 < n; i0 += SORT_CHUNK) {                                         \
            int status = sort_tick(s, SORT_CHUNK);                                               \
            if (status != NCS_OK)                                                                \
                return status;                                                                   \
            int64_t end = n - i0 < SORT_CHUNK ? n : i0 + SORT_CHUNK;                             \
            int64_t taken = 0;                                                                   \
            for (int64_t i = i0; i < end; i++) {                                                 \
                U k = NAME##_key(x[i], descending);                                              \
                chunk[taken] = k;                                                                \
                taken += (U)(k - lo) <= span;                                                    \
            }                                                                                    \
            for (int64_t t = 0; t < taken; t++) {                                                \
                any |= chunk[t];                                                                 \
                all &= chunk[t];                                                                 \
            }                                                                                    \
            if (last)                                                                            \
                pos -= taken;                                                                    \
            memcpy(ws + pos, chunk, (size_t)taken * sizeof(U));                                  \
            if (!last)                                                                           \
                pos += taken;                                                                    \
        }                                                                                        \
        int64_t from = last ? pos : begin, m = last ? n - pos : pos - begin;                     \
        s->unpolled = 0;                                                                         \
        return sort_slice_##NAME(s, out + from, ws + from, m, any, all, descending);             \
    }

DEFINE_PART(f64, uint64_t)
DEFINE_PART(i64, uint64_t)
DEFINE_PART(f32, uint32_t)
DEFINE_PART(i32, uint32_t)

/* ---- the kernel ------------------------------------------------------------------------ */

static int element_size(int dtype)
{
    return dtype == NCS_DTYPE_FP64 || dtype == NCS_DTYPE_INT64 ? 8 : 4;
}

/* Parts for n elements: one per SORT_MIN_PART elements, at most max_parts and SORT_MAX_PARTS. */
static int sort_parts(int64_t n, int max_parts)
{
    int64_t parts = n / SORT_MIN_PART;
    if (parts > max_parts)
        parts = max_parts;
    if (parts > SORT_MAX_PARTS)
        parts = SORT_MAX_PARTS;
    return parts < 1 ? 1 : (int)parts;
}

static int sort_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int descending;
    int status = api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = api->param_bool(ctx, "descending", &descending);
    if (status != NCS_OK)
        return status;
    if (x.rank != 1)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT, "input 'x' has rank %d: sort needs a vector (rank 1)",
                         x.rank);
    if (x.dtype != NCS_DTYPE_FP64 && x.dtype != NCS_DTYPE_FP32 && x.dtype != NCS_DTYPE_INT32 &&
        x.dtype != NCS_DTYPE_INT64)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'x' is %s: sort supports FP64, FP32, INT32 and INT64",
                         ncs_kernel_dtype_text(x.dtype));
    if (max_parts < 1)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT, "sort needs max_parts >= 1, got %d", max_parts);
    int64_t n = x.dims[0];
    status = api->set_output(ctx, 0, x.dtype, 1, &n);
    if (status != NCS_OK)
        return status;
    int parts = sort_parts(n, max_parts);
    status = api->set_workspace(ctx, (uint64_t)parts * SORT_PART_SCRATCH +
                                         (uint64_t)n * (uint64_t)element_size(x.dtype));
    if (status == NCS_OK)
        status = api->set_parts(ctx, parts);
    return status;
}

static int sort_run(ncs_ctx *ctx, int part, int nparts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x, out;
    int descending;
    int status = api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = api->output(ctx, 0, &out);
    if (status == NCS_OK)
        status = api->param_bool(ctx, "descending", &descending);
    if (status != NCS_OK)
        return status;
    int64_t n = x.dims[0];
    if (nparts != sort_parts(n, nparts) || part < 0 || part >= nparts)
        return api->fail(ctx, NCS_E_INTERNAL, "sort part %d of %d does not match prepare", part, nparts);
    if (n == 0)
        return NCS_OK;
    unsigned char *ws = api->workspace(ctx);
    if (ws == NULL)
        return api->fail(ctx, NCS_E_INTERNAL, "sort has no workspace");
    sort_state s = {.ctx = ctx, .unpolled = 0,
                    .counts = (int64_t *)(void *)(ws + (uint64_t)part * SORT_PART_SCRATCH)};
    void *keys = ws + (uint64_t)nparts * SORT_PART_SCRATCH;
    switch (x.dtype) {
    case NCS_DTYPE_FP64: return part_f64(&s, x.data, n, out.data, keys, part, nparts, descending);
    case NCS_DTYPE_INT64: return part_i64(&s, x.data, n, out.data, keys, part, nparts, descending);
    case NCS_DTYPE_FP32: return part_f32(&s, x.data, n, out.data, keys, part, nparts, descending);
    default: return part_i32(&s, x.data, n, out.data, keys, part, nparts, descending);
    }
}

static const ncs_tensor_desc sort_inputs[] = {
    {.name = "x",
     .doc = "values to sort [n]",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32) |
               NCS_DTYPE_BIT(NCS_DTYPE_INT32) | NCS_DTYPE_BIT(NCS_DTYPE_INT64),
     .rank = 1,
     .dims = {NCS_DIM_ANY}},
};

static const ncs_tensor_desc sort_outputs[] = {
    {.name = "sorted",
     .doc = "the values of x in order [n], same datatype",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32) |
               NCS_DTYPE_BIT(NCS_DTYPE_INT32) | NCS_DTYPE_BIT(NCS_DTYPE_INT64),
     .rank = 1,
     .dims = {NCS_DIM_ANY}},
};

static const ncs_param_desc sort_params[] = {
    {.name = "descending",
     .type = NCS_PARAM_BOOL,
     .default_value = "false",
     .doc = "largest first; NaNs stay last either way"},
};

const ncs_kernel_desc ncs_sort_kernel = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "sort",
    .doc = "Sorts a vector (MSD radix sort; parts sort disjoint ranges of values, at most 4 "
           "parts). Ascending order puts -0.0 before +0.0 (like Java's Double.compare) and NaNs "
           "last; descending reverses the order of the non-NaN values and still puts NaNs last. "
           "Values keep their exact bits, NaN payloads included.",
    .flags = NCS_KERNEL_THREAD_SAFE,
    .n_inputs = 1,
    .inputs = sort_inputs,
    .n_outputs = 1,
    .outputs = sort_outputs,
    .n_params = 1,
    .params = sort_params,
    .prepare = sort_prepare,
    .run = sort_run,
    .finish = NULL,
};
