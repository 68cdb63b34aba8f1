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
 * that every part draws alike and sorts with the radix sort below (in its workspace slice; libc's
 * qsort may malloc a buffer the memory budget never sees), so all parts agree on them. Parts
 * therefore own disjoint slices of the output and nothing is merged (there is no finish). Every
 * part reads all of x twice, which is why there are at most SORT_MAX_PARTS parts.
 *
 * A part sorts its keys with an MSD radix sort:
 *   1. Top level, straight from x into the part's slice of the output: the first pass over x
 *      counts the keys below the part's range (where its slice starts) and the part's keys in
 *      each of SORT_TOP_BUCKETS equal-width key ranges spanning the part's sampled keys (keys
 *      beyond the sample's extremes go to the first or last range); the second pass scatters
 *      them there. No scratch as large as the input is needed.
 *   2. Each top-level bucket is then sorted in cache with a small scratch buffer (SORT_SCRATCH
 *      keys): every level splits the bucket's [min, max] key range into up to 2^12 equal
 *      ranges (about two per key), scatters into the scratch and back; when no sub-bucket holds
 *      more than SORT_SMALL keys, one insertion sort over the nearly sorted bucket finishes it.
 *      A bucket larger than the scratch (clustered data) is first partitioned in place
 *      (American flag sort). The bucket then turns back into values while still in cache.
 */
#include <string.h>

#include "kernels.h"

#define SORT_MIN_PART (1 << 16) /* elements per part, at least */
#define SORT_MAX_PARTS 4        /* every part reads the whole input */
#define SORT_SMALL 16           /* buckets up to this size use insertion sort */
#define SORT_POLL (1 << 20)     /* elements between cancellation checks */
#define SORT_TOP_BITS 11        /* digit bits of the top level (SORT_TOP_BUCKETS buckets) */
#define SORT_TOP_BUCKETS (1 << SORT_TOP_BITS)
#define SORT_WIDE 12 /* digit bits below the top level, at most */
#define SORT_BUCKETS (1 << (SORT_WIDE > SORT_TOP_BITS ? SORT_WIDE : SORT_TOP_BITS))
#define SORT_NARROW 5 /* digit bits, at least */
/* Histogram slots: the top level's, then one per level below it. A level splits its key range
   (max - min) into ranges of 2^shift keys with shift = bits(max - min) - width, or 0 (then every
   sub-bucket holds equal keys), so each level's range has at least SORT_NARROW bits fewer than
   the previous one's: 64-bit keys need at most ceil(64 / 5) = 13 levels below the top. */
#define SORT_LEVELS 14
#define SORT_SAMPLES 4096      /* keys sampled to choose splitters and top-level ranges */
#define SORT_CHUNK 512         /* keys of x classified at a time */
#define SORT_SCRATCH (1 << 16) /* scratch keys per part (buckets up to this size sort in cache) */
#if SORT_SCRATCH < SORT_CHUNK
#error "the scratch also holds a chunk of x"
#endif
/* Per-part workspace: per level, 2 x SORT_BUCKETS counters; the samples; the scratch keys. */
#define SORT_COUNTERS (2 * SORT_BUCKETS)
#define SORT_TABLES_BYTES                                        \
    ((uint64_t)(SORT_LEVELS * SORT_COUNTERS) * sizeof(int64_t) + \
     (uint64_t)SORT_SAMPLES * sizeof(uint64_t))

/* One part's cancellation polling and scratch memory. */
typedef struct sort_state {
    ncs_ctx *ctx;
    int64_t unpolled;  /* keys finished since the last poll */
    int64_t *counters; /* SORT_LEVELS x SORT_COUNTERS */
    void *samples;     /* SORT_SAMPLES keys */
    void *scratch;     /* `capacity` keys */
    int64_t capacity;
} sort_state;

/* A radix level's digits: (key - low) >> shift, in [0, buckets). */
typedef struct sort_digits {
    uint64_t low;
    int shift;
    size_t buckets;
} sort_digits;

/* Counts `done` finished keys and polls the cancellation flag every SORT_POLL of them. */
static int sort_tick(sort_state *s, int64_t done)
{
    s->unpolled += done;
    if (s->unpolled < SORT_POLL)
        return NCS_OK;
    s->unpolled = 0;
    return s->ctx->api->cancelled(s->ctx) ? NCS_E_CANCELLED : NCS_OK;
}

/* Digit bits for a bucket of n keys: about one key per two sub-buckets, within [NARROW, WIDE]. */
static int sort_width(int64_t n)
{
    int w = 64 - __builtin_clzll((unsigned long long)n);
    return w > SORT_WIDE ? SORT_WIDE : w < SORT_NARROW ? SORT_NARROW : w;
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
#define DEFINE_VALUES(NAME, U)                                    \
    static void NAME##_to_values(U *v, int64_t n, int descending) \
    {                                                             \
        for (int64_t i = 0; i < n; i++)                           \
            v[i] = NAME##_value(v[i], descending);                \
    }

DEFINE_VALUES(f64, uint64_t)
DEFINE_VALUES(f32, uint32_t)
DEFINE_VALUES(i64, uint64_t)
DEFINE_VALUES(i32, uint32_t)

/* ---- MSD radix sort of unsigned keys --------------------------------------------------- */

#define DEFINE_SORT(U, BITS)                                                                       \
    static void insertion_##U(U *v, int64_t n)                                                     \
    {                                                                                              \
        for (int64_t i = 1; i < n; i++) {                                                          \
            U x = v[i];                                                                            \
            int64_t j = i;                                                                         \
            for (; j > 0 && v[j - 1] > x; j--)                                                     \
                v[j] = v[j - 1];                                                                   \
            v[j] = x;                                                                              \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* Insertion sort of src[0..n) into dst[0..n): cheap when src is nearly sorted. */             \
    static void insertion_copy_##U(const U *restrict src, U *restrict dst, int64_t n)              \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            U x = src[i];                                                                          \
            int64_t j = i;                                                                         \
            for (; j > 0 && dst[j - 1] > x; j--)                                                   \
                dst[j] = dst[j - 1];                                                               \
            dst[j] = x;                                                                            \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* Digits of the keys of v[0..n) (n > 0): (k - d->low) >> d->shift, in [0, d->buckets) with  \
       at most 2^width buckets. Returns 0 when all keys are equal. */ \
    static int digits_##U(const U *v, int64_t n, int width, sort_digits *d)                        \
    {                                                                                              \
        U low = v[0], high = v[0];                                                                 \
        for (int64_t i = 1; i < n; i++) {                                                          \
            low = v[i] < low ? v[i] : low;                                                         \
            high = v[i] > high ? v[i] : high;                                                      \
        }                                                                                          \
        if (low == high)                                                                           \
            return 0;                                                                              \
        U range = (U)(high - low);                                                                 \
        int bits = (BITS) - ((BITS) == 64 ? __builtin_clzll((unsigned long long)range)             \
                                          : __builtin_clz((unsigned)range));                       \
        d->shift = bits > width ? bits - width : 0;                                                \
        d->low = low;                                                                              \
        d->buckets = (size_t)(range >> d->shift) + 1;                                              \
        return 1;                                                                                  \
    }                                                                                              \
                                                                                                   \
    /* Counts the digits of v[0..n) into counts[0..d->buckets). */                                 \
    static void histogram_##U(const U *v, int64_t n, const sort_digits *d, int64_t *counts)        \
    {                                                                                              \
        U low = (U)d->low;                                                                         \
        int shift = d->shift;                                                                      \
        memset(counts, 0, d->buckets * sizeof *counts);                                            \
        for (int64_t i = 0; i < n; i++)                                                            \
            counts[(size_t)((U)(v[i] - low) >> shift)]++;                                          \
    }                                                                                              \
                                                                                                   \
    /* Scatters src[0..n) into dst by digit; ends[b] becomes the end of bucket b. Returns the    \
       size of the largest bucket. */ \
    static int64_t scatter_##U(const U *restrict src, U *restrict dst, int64_t n,                  \
                               const sort_digits *d, int64_t *ends)                                \
    {                                                                                              \
        histogram_##U(src, n, d, ends);                                                            \
        int64_t sum = 0, largest = 0;                                                              \
        for (size_t b = 0; b < d->buckets; b++) {                                                  \
            int64_t c = ends[b];                                                                   \
            ends[b] = sum;                                                                         \
            sum += c;                                                                              \
            largest = c > largest ? c : largest;                                                   \
        }                                                                                          \
        U low = (U)d->low;                                                                         \
        int shift = d->shift;                                                                      \
        for (int64_t i = 0; i < n; i++) {                                                          \
            U k = src[i];                                                                          \
            dst[ends[(size_t)((U)(k - low) >> shift)]++] = k;                                      \
        }                                                                                          \
        return largest;                                                                            \
    }                                                                                              \
                                                                                                   \
    /* Sorts v[0..n) in place, with tmp[0..n) as scratch; depth (1..SORT_LEVELS-1) picks this    \
       level's counters. */ \
    static int sort_rec_##U(sort_state *s, U *v, U *tmp, int64_t n, int depth)                     \
    {                                                                                              \
        sort_digits d;                                                                             \
        if (!digits_##U(v, n, sort_width(n), &d))                                                  \
            return NCS_OK;                                                                         \
        if (depth >= SORT_LEVELS) { /* cannot happen: see SORT_LEVELS */                           \
            insertion_##U(v, n);                                                                   \
            return NCS_OK;                                                                         \
        }                                                                                          \
        int64_t *ends = s->counters + (size_t)depth * SORT_COUNTERS;                               \
        if (scatter_##U(v, tmp, n, &d, ends) <= SORT_SMALL) {                                      \
            /* Every bucket is small: one insertion sort over the whole range is cheapest. */      \
            insertion_copy_##U(tmp, v, n);                                                         \
            return NCS_OK;                                                                         \
        }                                                                                          \
        memcpy(v, tmp, (size_t)n * sizeof(U));                                                     \
        int64_t start = 0;                                                                         \
        for (size_t b = 0; b < d.buckets; b++) {                                                   \
            int64_t c = ends[b] - start;                                                           \
            if (c > SORT_SMALL) {                                                                  \
                int status = sort_rec_##U(s, v + start, tmp + start, c, depth + 1);                \
                if (status == NCS_OK)                                                              \
                    status = sort_tick(s, c);                                                      \
                if (status != NCS_OK)                                                              \
                    return status;                                                                 \
            } else if (c > 1) {                                                                    \
                insertion_##U(v + start, c);                                                       \
            }                                                                                      \
            start = ends[b];                                                                       \
        }                                                                                          \
        return NCS_OK;                                                                             \
    }                                                                                              \
                                                                                                   \
    /* Sorts v[0..n) in place, partitioning in place (American flag sort) while n keys do not    \
       fit the scratch. */ \
    static int sort_big_##U(sort_state *s, U *v, int64_t n, int depth)                             \
    {                                                                                              \
        if (n <= SORT_SMALL) {                                                                     \
            insertion_##U(v, n);                                                                   \
            return NCS_OK;                                                                         \
        }                                                                                          \
        if (n <= s->capacity)                                                                      \
            return sort_rec_##U(s, v, s->scratch, n, depth);                                       \
        sort_digits d;                                                                             \
        if (!digits_##U(v, n, SORT_WIDE, &d))                                                      \
            return NCS_OK;                                                                         \
        if (depth >= SORT_LEVELS) { /* cannot happen: see SORT_LEVELS */                           \
            insertion_##U(v, n);                                                                   \
            return NCS_OK;                                                                         \
        }                                                                                          \
        int64_t *ends = s->counters + (size_t)depth * SORT_COUNTERS;                               \
        int64_t *heads = ends + SORT_BUCKETS;                                                      \
        histogram_##U(v, n, &d, ends);                                                             \
        int64_t sum = 0;                                                                           \
        for (size_t b = 0; b < d.buckets; b++) {                                                   \
            heads[b] = sum;                                                                        \
            sum += ends[b];                                                                        \
            ends[b] = sum;                                                                         \
        }                                                                                          \
        U low = (U)d.low;                                                                          \
        for (size_t b = 0; b < d.buckets; b++) {                                                   \
            while (heads[b] < ends[b]) {                                                           \
                U k = v[heads[b]];                                                                 \
                size_t to = (size_t)((U)(k - low) >> d.shift);                                     \
                while (to != b) {                                                                  \
                    U displaced = v[heads[to]];                                                    \
                    v[heads[to]++] = k;                                                            \
                    k = displaced;                                                                 \
                    to = (size_t)((U)(k - low) >> d.shift);                                        \
                }                                                                                  \
                v[heads[b]++] = k;                                                                 \
            }                                                                                      \
        }                                                                                          \
        int64_t start = 0;                                                                         \
        for (size_t b = 0; b < d.buckets; b++) {                                                   \
            int status = sort_big_##U(s, v + start, ends[b] - start, depth + 1);                   \
            if (status != NCS_OK)                                                                  \
                return status;                                                                     \
            start = ends[b];                                                                       \
        }                                                                                          \
        return sort_tick(s, n);                                                                    \
    }                                                                                              \
                                                                                                   \
    /* Top-level bucket of key k: (k - low) >> shift, clamped to [0, SORT_TOP_BUCKETS). */         \
    static inline size_t top_bucket_##U(U k, U low, int shift)                                     \
    {                                                                                              \
        U rel = (U)(k - low) >> shift;                                                             \
        return k < low ? 0 : rel >= SORT_TOP_BUCKETS ? SORT_TOP_BUCKETS - 1 : (size_t)rel;         \
    }

DEFINE_SORT(uint64_t, 64)
DEFINE_SORT(uint32_t, 32)

/* ---- one part -------------------------------------------------------------------------- */
/*
 * NAME is a key mapping (f64, i64, f32, i32) on unsigned type U. part_NAME sorts the keys of
 * x[0..n) that fall in part `part`'s range into their slice of out, and reports them as
 * progress.
 */
#define DEFINE_PART(NAME, U)                                                                   \
    static int part_##NAME(sort_state *s, const U *x, int64_t n, U *out, int part, int nparts, \
                           int descending)                                                     \
    {                                                                                          \
        const ncs_host_api *api = s->ctx->api;                                                 \
        if (api->cancelled(s->ctx))                                                            \
            return NCS_E_CANCELLED;                                                            \
        /* The sample: splitters (sorted, with several parts) and the top-level ranges. */     \
        U *samples = s->samples;                                                               \
        int64_t count = n < SORT_SAMPLES ? n : SORT_SAMPLES;                                   \
        for (int64_t i = 0; i < count; i++)                                                    \
            samples[i] = NAME##_key(x[(2 * i + 1) * n / (2 * count)], descending);             \
        U lo = 0, span = (U) ~(U)0;                                                            \
        if (nparts > 1) {                                                                      \
            int sorted = sort_big_##U(s, samples, count, 1); /* count <= s->capacity */        \
            if (sorted != NCS_OK)                                                              \
                return sorted;                                                                 \
            if (part > 0)                                                                      \
                lo = samples[part * count / nparts];                                           \
            span = (U) ~(U)0 - lo;                                                             \
            if (part < nparts - 1) {                                                           \
                U hi = samples[(part + 1) * count / nparts];                                   \
                if (hi <= lo)                                                                  \
                    return NCS_OK; /* an empty range */                                        \
                span = (U)(hi - 1 - lo);                                                       \
            }                                                                                  \
        }                                                                                      \
        U low = (U) ~(U)0, high = 0;                                                           \
        for (int64_t i = 0; i < count; i++) {                                                  \
            U k = samples[i];                                                                  \
            if ((U)(k - lo) <= span) {                                                         \
                low = k < low ? k : low;                                                       \
                high = k > high ? k : high;                                                    \
            }                                                                                  \
        }                                                                                      \
        if (low > high) {                                                                      \
            low = lo;                                                                          \
            high = (U)(lo + span);                                                             \
        }                                                                                      \
        int shift = 0;                                                                         \
        if (high != low) {                                                                     \
            U diff = (U)(high - low);                                                          \
            int bits = sizeof(U) == 8 ? 64 - __builtin_clzll((unsigned long long)diff)         \
                                      : 32 - __builtin_clz((unsigned)diff);                    \
            shift = bits > SORT_TOP_BITS ? bits - SORT_TOP_BITS : 0;                           \
        }                                                                                      \
        /* Pass 1: the keys below the range, and the range's keys in each top-level bucket. */ \
        int64_t *counts = s->counters, below = 0;                                              \
        memset(counts, 0, SORT_TOP_BUCKETS * sizeof *counts);                                  \
        U *chunk = s->scratch; /* keys of x in the range, gathered without branches */         \
        for (int64_t i0 = 0; i0 < n; i0 += SORT_CHUNK) {                                       \
            int status = sort_tick(s, SORT_CHUNK);                                             \
            if (status != NCS_OK)                                                              \
                return status;                                                                 \
            int64_t end = n - i0 < SORT_CHUNK ? n : i0 + SORT_CHUNK, taken = 0;                \
            for (int64_t i = i0; i < end; i++) {                                               \
                U k = NAME##_key(x[i], descending);                                            \
                chunk[taken] = k;                                                              \
                taken += (U)(k - lo) <= span;                                                  \
                below += k < lo;                                                               \
            }                                                                                  \
            for (int64_t t = 0; t < taken; t++)                                                \
                counts[top_bucket_##U(chunk[t], low, shift)]++;                                \
        }                                                                                      \
        /* Pass 2: scatter the range's keys into the buckets of the part's slice. */           \
        int64_t *next = counts + SORT_TOP_BUCKETS, sum = below;                                \
        for (size_t b = 0; b < SORT_TOP_BUCKETS; b++) {                                        \
            next[b] = sum;                                                                     \
            sum += counts[b];                                                                  \
        }                                                                                      \
        for (int64_t i0 = 0; i0 < n; i0 += SORT_CHUNK) {                                       \
            int status = sort_tick(s, SORT_CHUNK);                                             \
            if (status != NCS_OK)                                                              \
                return status;                                                                 \
            int64_t end = n - i0 < SORT_CHUNK ? n : i0 + SORT_CHUNK, taken = 0;                \
            for (int64_t i = i0; i < end; i++) {                                               \
                U k = NAME##_key(x[i], descending);                                            \
                chunk[taken] = k;                                                              \
                taken += (U)(k - lo) <= span;                                                  \
            }                                                                                  \
            for (int64_t t = 0; t < taken; t++) {                                              \
                U k = chunk[t];                                                                \
                out[next[top_bucket_##U(k, low, shift)]++] = k;                                \
            }                                                                                  \
        }                                                                                      \
        s->unpolled = 0;                                                                       \
        /* Sort each bucket in cache and turn it back into values. */                          \
        int64_t start = below;                                                                 \
        for (size_t b = 0; b < SORT_TOP_BUCKETS; b++) {                                        \
            int64_t c = counts[b];                                                             \
            if (c == 0)                                                                        \
                continue;                                                                      \
            int status = sort_big_##U(s, out + start, c, 1);                                   \
            if (status == NCS_OK)                                                              \
                status = sort_tick(s, c);                                                      \
            if (status != NCS_OK)                                                              \
                return status;                                                                 \
            NAME##_to_values(out + start, c, descending);                                      \
            api->progress(s->ctx, (uint64_t)c);                                                \
            start += c;                                                                        \
        }                                                                                      \
        return NCS_OK;                                                                         \
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

/* Workspace bytes of one part (a multiple of 64, so every part's slice stays aligned). */
static uint64_t sort_part_bytes(int64_t n, int dtype)
{
    uint64_t keys = (uint64_t)(n < SORT_SCRATCH ? n : SORT_SCRATCH);
    return (SORT_TABLES_BYTES + keys * (uint64_t)element_size(dtype) + 63) / 64 * 64;
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
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'x' has rank %d: sort needs a vector (rank 1)", x.rank);
    if (x.dtype != NCS_DTYPE_FP64 && x.dtype != NCS_DTYPE_FP32 && x.dtype != NCS_DTYPE_INT32 &&
        x.dtype != NCS_DTYPE_INT64)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'x' is %s: sort supports FP64, FP32, INT32 and INT64",
                         ncs_dtype_text(x.dtype));
    if (max_parts < 1)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT, "sort needs max_parts >= 1, got %d",
                         max_parts);
    int64_t n = x.dims[0];
    status = api->set_output(ctx, 0, x.dtype, 1, &n);
    if (status != NCS_OK || n == 0)
        return status;
    int parts = sort_parts(n, max_parts);
    status = api->set_workspace(ctx, (uint64_t)parts * sort_part_bytes(n, x.dtype));
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
    if (n == 0)
        return NCS_OK;
    if (nparts != sort_parts(n, nparts) || part < 0 || part >= nparts)
        return api->fail(ctx, NCS_E_INTERNAL, "sort part %d of %d does not match prepare", part,
                         nparts);
    unsigned char *ws = api->workspace(ctx);
    if (ws == NULL)
        return api->fail(ctx, NCS_E_INTERNAL, "sort has no workspace");
    ws += (uint64_t)part * sort_part_bytes(n, x.dtype);
    sort_state s = {.ctx = ctx, .unpolled = 0, .capacity = n < SORT_SCRATCH ? n : SORT_SCRATCH};
    s.counters = (int64_t *)(void *)ws;
    s.samples = s.counters + SORT_LEVELS * SORT_COUNTERS;
    s.scratch = (uint64_t *)s.samples + SORT_SAMPLES;
    switch (x.dtype) {
    case NCS_DTYPE_FP64: return part_f64(&s, x.data, n, out.data, part, nparts, descending);
    case NCS_DTYPE_INT64: return part_i64(&s, x.data, n, out.data, part, nparts, descending);
    case NCS_DTYPE_FP32: return part_f32(&s, x.data, n, out.data, part, nparts, descending);
    default: return part_i32(&s, x.data, n, out.data, part, nparts, descending);
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
    .doc = "Sorts a vector (MSD radix sort; up to 4 parts sort disjoint ranges of values). "
           "Ascending order puts -0.0 before +0.0 (like Java's Double.compare) and NaNs last; "
           "descending reverses the order of the non-NaN values and still puts NaNs last. "
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
