/*
 * sort.c -- the "sort" kernel: sorts a vector of FP64, FP32, INT32 or INT64.
 *
 * Order: ascending by a total order in which -0.0 comes before +0.0 (like Java's
 * Double.compare) and every NaN comes last. descending=true reverses the order of the non-NaN
 * values; NaNs still come last.
 *
 * Each element maps to an unsigned key whose natural order is that order, by a bijection (see
 * f64_key), so the sorted keys turn back into the original bits, NaN payloads and signs
 * included. Parts are contiguous ranges of at least SORT_MIN_PART elements: each copies its
 * range of x into the output as keys and sorts it with an LSD radix sort (8-bit digits,
 * skipping digits on which all keys agree), its range of the workspace as scratch. finish merges
 * the sorted runs pairwise, ping-ponging between the output and the workspace, and turns the
 * keys back into values (a single part does that itself).
 */
#include <string.h>

#include "kernels.h"

#define SORT_MIN_PART (1 << 16)
#define SORT_SMALL 64        /* ranges up to this size use insertion sort */
#define SORT_POLL (1 << 20)  /* elements between cancellation checks */
#define SORT_HEADER 64       /* workspace bytes before the scratch area */

/* The workspace starts with this header (written by part 0: finish is not told nparts). */
typedef struct sort_header {
    int nparts;
} sort_header;

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

/* x[0..n) -> keys in out[0..n), and back in place. */
#define DEFINE_KEYS(NAME, U)                                                   \
    static void NAME##_to_keys(const U *x, U *out, int64_t n, int descending)  \
    {                                                                          \
        for (int64_t i = 0; i < n; i++)                                        \
            out[i] = NAME##_key(x[i], descending);                             \
    }                                                                          \
    static void NAME##_to_values(U *v, int64_t n, int descending)              \
    {                                                                          \
        for (int64_t i = 0; i < n; i++)                                        \
            v[i] = NAME##_value(v[i], descending);                             \
    }

DEFINE_KEYS(f64, uint64_t)
DEFINE_KEYS(f32, uint32_t)
DEFINE_KEYS(i64, uint64_t)
DEFINE_KEYS(i32, uint32_t)

/* ---- sorting and merging unsigned keys ------------------------------------------------- */

/* Start of part p's range (n when p >= nparts). */
static int64_t run_start(int64_t n, int p, int nparts)
{
    if (p >= nparts)
        return n;
    int64_t lo, hi;
    ncs_kernel_part_range(n, p, nparts, &lo, &hi);
    return lo;
}

#define DEFINE_SORT(U)                                                                           \
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
    /* Stable LSD radix sort of v[0..n) with 8-bit digits, tmp[0..n) as scratch. */              \
    static int radix_##U(ncs_ctx *ctx, U *v, U *tmp, int64_t n)                                  \
    {                                                                                            \
        enum { DIGITS = sizeof(U) };                                                             \
        if (n <= SORT_SMALL) {                                                                   \
            insertion_##U(v, n);                                                                 \
            return NCS_OK;                                                                       \
        }                                                                                        \
        int64_t hist[DIGITS][256];                                                               \
        memset(hist, 0, sizeof hist);                                                            \
        for (int64_t i = 0; i < n; i++) {                                                        \
            U k = v[i];                                                                          \
            for (int d = 0; d < DIGITS; d++)                                                     \
                hist[d][(k >> (8 * d)) & 0xff]++;                                                \
        }                                                                                        \
        U *src = v, *dst = tmp;                                                                  \
        for (int d = 0; d < DIGITS; d++) {                                                       \
            int shift = 8 * d;                                                                   \
            if (hist[d][(v[0] >> shift) & 0xff] == n)                                            \
                continue; /* every key has the same digit here */                                \
            int64_t offset[256], sum = 0;                                                        \
            for (int b = 0; b < 256; b++) {                                                      \
                offset[b] = sum;                                                                 \
                sum += hist[d][b];                                                               \
            }                                                                                    \
            for (int64_t i0 = 0; i0 < n; i0 += SORT_POLL) {                                      \
                if (ctx->api->cancelled(ctx))                                                    \
                    return NCS_E_CANCELLED;                                                      \
                int64_t end = n - i0 < SORT_POLL ? n : i0 + SORT_POLL;                           \
                for (int64_t i = i0; i < end; i++) {                                             \
                    U k = src[i];                                                                \
                    dst[offset[(k >> shift) & 0xff]++] = k;                                      \
                }                                                                                \
            }                                                                                    \
            U *swap = src;                                                                       \
            src = dst;                                                                           \
            dst = swap;                                                                          \
        }                                                                                        \
        if (src != v)                                                                            \
            memcpy(v, src, (size_t)n * sizeof(U));                                               \
        return NCS_OK;                                                                           \
    }                                                                                            \
                                                                                                 \
    /* Stable merge of a[0..na) and b[0..nb) into out (ties come from a). */                     \
    static int merge_##U(ncs_ctx *ctx, const U *a, int64_t na, const U *b, int64_t nb, U *out)   \
    {                                                                                            \
        int64_t i = 0, j = 0, o = 0;                                                             \
        while (i < na && j < nb) {                                                               \
            if (ctx->api->cancelled(ctx))                                                        \
                return NCS_E_CANCELLED;                                                          \
            int64_t stop = o + SORT_POLL;                                                        \
            while (i < na && j < nb && o < stop) {                                               \
                U x = a[i], y = b[j];                                                            \
                int take_b = y < x;                                                              \
                out[o++] = take_b ? y : x;                                                       \
                j += take_b;                                                                     \
                i += !take_b;                                                                    \
            }                                                                                    \
        }                                                                                        \
        memcpy(out + o, a + i, (size_t)(na - i) * sizeof(U));                                    \
        o += na - i;                                                                             \
        memcpy(out + o, b + j, (size_t)(nb - j) * sizeof(U));                                    \
        return NCS_OK;                                                                           \
    }                                                                                            \
                                                                                                 \
    /* Merges the nparts sorted runs of out[0..n) pairwise, with scratch[0..n). */               \
    static int merge_runs_##U(ncs_ctx *ctx, U *out, U *scratch, int64_t n, int nparts)           \
    {                                                                                            \
        U *src = out, *dst = scratch;                                                            \
        for (int width = 1; width < nparts; width *= 2) {                                        \
            for (int p = 0; p < nparts; p += 2 * width) {                                        \
                int64_t lo = run_start(n, p, nparts);                                            \
                int64_t mid = run_start(n, p + width, nparts);                                   \
                int64_t hi = run_start(n, p + 2 * width, nparts);                                \
                int status = merge_##U(ctx, src + lo, mid - lo, src + mid, hi - mid, dst + lo);  \
                if (status != NCS_OK)                                                            \
                    return status;                                                               \
            }                                                                                    \
            U *swap = src;                                                                       \
            src = dst;                                                                           \
            dst = swap;                                                                          \
        }                                                                                        \
        if (src != out)                                                                          \
            memcpy(out, src, (size_t)n * sizeof(U));                                             \
        return NCS_OK;                                                                           \
    }

DEFINE_SORT(uint64_t)
DEFINE_SORT(uint32_t)

static int element_size(int dtype)
{
    return dtype == NCS_DTYPE_FP64 || dtype == NCS_DTYPE_INT64 ? 8 : 4;
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
    int64_t n = x.dims[0];
    status = api->set_output(ctx, 0, x.dtype, 1, &n);
    if (status != NCS_OK)
        return status;
    int64_t parts = n / SORT_MIN_PART;
    if (parts > max_parts)
        parts = max_parts;
    if (parts < 1)
        parts = 1;
    status = api->set_workspace(ctx, SORT_HEADER + (uint64_t)n * (uint64_t)element_size(x.dtype));
    if (status == NCS_OK)
        status = api->set_parts(ctx, (int)parts);
    return status;
}

/* The input, output, workspace and direction every phase needs. */
static int sort_views(ncs_ctx *ctx, ncs_tensor_view *x, ncs_tensor_view *out, unsigned char **ws,
                      int *descending)
{
    const ncs_host_api *api = ctx->api;
    int status = api->input(ctx, 0, x);
    if (status == NCS_OK)
        status = api->output(ctx, 0, out);
    if (status == NCS_OK)
        status = api->param_bool(ctx, "descending", descending);
    if (status != NCS_OK)
        return status;
    *ws = api->workspace(ctx);
    if (*ws == NULL)
        return api->fail(ctx, NCS_E_INTERNAL, "sort has no workspace");
    return NCS_OK;
}

static int sort_run(ncs_ctx *ctx, int part, int nparts)
{
    ncs_tensor_view x, out;
    unsigned char *ws;
    int descending;
    int status = sort_views(ctx, &x, &out, &ws, &descending);
    if (status != NCS_OK)
        return status;
    if (part == 0)
        ((sort_header *)ws)->nparts = nparts;
    int64_t lo, hi;
    ncs_kernel_part_range(x.dims[0], part, nparts, &lo, &hi);
    if (lo == hi)
        return NCS_OK;
    int64_t n = hi - lo;
    size_t size = (size_t)element_size(x.dtype);
    const void *src = (const unsigned char *)x.data + lo * size;
    void *v = (unsigned char *)out.data + lo * size, *tmp = ws + SORT_HEADER + lo * size;
    /* With one part the values come back here; with several, finish does it after merging. */
    switch (x.dtype) {
    case NCS_DTYPE_FP64:
        f64_to_keys(src, v, n, descending);
        status = radix_uint64_t(ctx, v, tmp, n);
        if (status == NCS_OK && nparts == 1)
            f64_to_values(v, n, descending);
        break;
    case NCS_DTYPE_INT64:
        i64_to_keys(src, v, n, descending);
        status = radix_uint64_t(ctx, v, tmp, n);
        if (status == NCS_OK && nparts == 1)
            i64_to_values(v, n, descending);
        break;
    case NCS_DTYPE_FP32:
        f32_to_keys(src, v, n, descending);
        status = radix_uint32_t(ctx, v, tmp, n);
        if (status == NCS_OK && nparts == 1)
            f32_to_values(v, n, descending);
        break;
    default:
        i32_to_keys(src, v, n, descending);
        status = radix_uint32_t(ctx, v, tmp, n);
        if (status == NCS_OK && nparts == 1)
            i32_to_values(v, n, descending);
        break;
    }
    if (status == NCS_OK)
        ctx->api->progress(ctx, (uint64_t)n);
    return status;
}

static int sort_finish(ncs_ctx *ctx)
{
    ncs_tensor_view x, out;
    unsigned char *ws;
    int descending;
    int status = sort_views(ctx, &x, &out, &ws, &descending);
    if (status != NCS_OK)
        return status;
    int nparts = ((const sort_header *)ws)->nparts;
    int64_t n = x.dims[0];
    if (nparts <= 1)
        return NCS_OK;
    void *scratch = ws + SORT_HEADER;
    if (element_size(x.dtype) == 8)
        status = merge_runs_uint64_t(ctx, out.data, scratch, n, nparts);
    else
        status = merge_runs_uint32_t(ctx, out.data, scratch, n, nparts);
    if (status != NCS_OK)
        return status;
    switch (x.dtype) {
    case NCS_DTYPE_FP64: f64_to_values(out.data, n, descending); break;
    case NCS_DTYPE_INT64: i64_to_values(out.data, n, descending); break;
    case NCS_DTYPE_FP32: f32_to_values(out.data, n, descending); break;
    default: i32_to_values(out.data, n, descending); break;
    }
    return NCS_OK;
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
    .doc = "Sorts a vector (stable radix sort per part, then a merge). Ascending order puts -0.0 "
           "before +0.0 (like Java's Double.compare) and NaNs last; descending reverses the "
           "order of the non-NaN values and still puts NaNs last.",
    .flags = NCS_KERNEL_THREAD_SAFE,
    .n_inputs = 1,
    .inputs = sort_inputs,
    .n_outputs = 1,
    .outputs = sort_outputs,
    .n_params = 1,
    .params = sort_params,
    .prepare = sort_prepare,
    .run = sort_run,
    .finish = sort_finish,
};
