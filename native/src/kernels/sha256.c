/*
 * sha256.c -- the "sha256" kernel: the SHA-256 digest (FIPS 180-4) of every element of a BYTES
 * vector.
 *
 * Input `data` is a BYTES tensor of shape [n] (each element one message, serialized as in
 * ncs.h: a 4-byte little-endian length, then the bytes); output `digest` is UINT8 [n, 32], row
 * i the digest of message i.
 *
 * Parts split the serialized input by bytes: part p of P owns the messages whose length prefix
 * starts in the p-th of P near-equal byte ranges of `data` (ncs_part_range), so a huge
 * message belongs to a single part while many small ones spread evenly. P is the serialized
 * size over SHA256_MIN_PART, at least 1, at most max_parts and n. Parts write disjoint digest
 * rows. A part finds its first message by walking the length prefixes from the start of the
 * buffer (reading 4 bytes per message, nothing else): there is no index of element offsets.
 *
 * Compression: with the SHA extensions (SHA-NI, and SSE4.1) chosen at run time, else portable
 * C; the library itself is built for baseline x86-64. Cancellation is polled after about every
 * SHA256_POLL bytes hashed (also inside a long message), progress counts serialized bytes (4 +
 * length per message), so a finished call reports exactly the input's size.
 */
#include <immintrin.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"

#define SHA256_MIN_PART ((uint64_t)512 << 10) /* serialized bytes per part, at least */
#define SHA256_POLL ((uint64_t)64 << 10)      /* bytes hashed between cancellation checks */
#define SHA256_SKIP_POLL 65536                /* length prefixes skipped between checks */

typedef void (*sha256_blocks_fn)(uint32_t state[8], const unsigned char *p, size_t nblocks);

/* FIPS 180-4 section 4.2.2. Aligned for the SHA-NI loads. */
static const uint32_t sha256_k[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* FIPS 180-4 section 5.3.3. */
static const uint32_t sha256_h0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static inline uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- portable compression function (FIPS 180-4 section 6.2.2) ---------------------------- */

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void blocks_portable(uint32_t state[8], const unsigned char *p, size_t nblocks)
{
    for (; nblocks > 0; nblocks--, p += 64) {
        uint32_t w[64];
        for (int t = 0; t < 16; t++)
            w[t] = load_be32(p + 4 * t);
        for (int t = 16; t < 64; t++) {
            uint32_t s0 = ROTR(w[t - 15], 7) ^ ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = ROTR(w[t - 2], 17) ^ ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
        for (int t = 0; t < 64; t++) {
            uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) +
                          sha256_k[t] + w[t];
            uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        state[5] += f;
        state[6] += g;
        state[7] += h;
    }
}

/* ---- SHA-NI compression function --------------------------------------------------------- */
/*
 * The state lives in two registers as ABEF and CDGH (the layout sha256rnds2 wants). Each group
 * g of four rounds adds K[4g..4g+3] to message words W[4g..4g+3] (`cur`), runs two rounds with
 * the low half and two with the high half; meanwhile the schedule computes W[4g+4..4g+7]
 * (`next`, rounds 3..14: sha256msg2 of the word four groups back, already through sha256msg1,
 * plus W[4g-3..4g]) and starts W[4g+12..] (`prev`, rounds 1..12: sha256msg1). The four message
 * registers rotate, so group g uses w[g % 4].
 */
#define SHA_NI_ROUNDS(g, cur, prev, next)                                                         \
    do {                                                                                          \
        __m128i m_ = _mm_add_epi32(cur, _mm_load_si128((const __m128i *)&sha256_k[4 * (g)]));     \
        s1 = _mm_sha256rnds2_epu32(s1, s0, m_);                                                   \
        if ((g) >= 3 && (g) <= 14)                                                                \
            next = _mm_sha256msg2_epu32(_mm_add_epi32(next, _mm_alignr_epi8(cur, prev, 4)), cur); \
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m_, 0x0E));                          \
        if ((g) >= 1 && (g) <= 12)                                                                \
            prev = _mm_sha256msg1_epu32(prev, cur);                                               \
    } while (0)

__attribute__((target("sha,sse4.1"))) static void
blocks_sha_ni(uint32_t state[8], const unsigned char *p, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i t = _mm_loadu_si128((const __m128i *)&state[0]);  /* DCBA */
    __m128i s1 = _mm_loadu_si128((const __m128i *)&state[4]); /* HGFE */
    t = _mm_shuffle_epi32(t, 0xB1);                           /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);                         /* EFGH */
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);                   /* ABEF */
    s1 = _mm_blend_epi16(s1, t, 0xF0);                        /* CDGH */
    for (; nblocks > 0; nblocks--, p += 64) {
        __m128i abef = s0, cdgh = s1;
        __m128i w0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
        __m128i w1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        __m128i w2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        __m128i w3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);
        SHA_NI_ROUNDS(0, w0, w3, w1);
        SHA_NI_ROUNDS(1, w1, w0, w2);
        SHA_NI_ROUNDS(2, w2, w1, w3);
        SHA_NI_ROUNDS(3, w3, w2, w0);
        SHA_NI_ROUNDS(4, w0, w3, w1);
        SHA_NI_ROUNDS(5, w1, w0, w2);
        SHA_NI_ROUNDS(6, w2, w1, w3);
        SHA_NI_ROUNDS(7, w3, w2, w0);
        SHA_NI_ROUNDS(8, w0, w3, w1);
        SHA_NI_ROUNDS(9, w1, w0, w2);
        SHA_NI_ROUNDS(10, w2, w1, w3);
        SHA_NI_ROUNDS(11, w3, w2, w0);
        SHA_NI_ROUNDS(12, w0, w3, w1);
        SHA_NI_ROUNDS(13, w1, w0, w2);
        SHA_NI_ROUNDS(14, w2, w1, w3);
        SHA_NI_ROUNDS(15, w3, w2, w0);
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);   /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);  /* DCHG */
    s0 = _mm_blend_epi16(t, s1, 0xF0); /* DCBA */
    s1 = _mm_alignr_epi8(s1, t, 8);    /* HGFE */
    _mm_storeu_si128((__m128i *)&state[0], s0);
    _mm_storeu_si128((__m128i *)&state[4], s1);
}

/* ---- the kernel ------------------------------------------------------------------------- */

/* Pads the last `rem` (< 64) bytes of a message of `length` bytes (FIPS 180-4 section 5.1.1:
   a 1 bit, zeros, the length in bits as 64 bits big-endian) and compresses the last one or two
   blocks. Returns the number of blocks compressed. */
static int compress_tail(sha256_blocks_fn blocks, uint32_t state[8], const unsigned char *tail,
                         size_t rem, uint64_t length)
{
    unsigned char buf[128];
    memset(buf, 0, sizeof buf);
    if (rem > 0)
        memcpy(buf, tail, rem);
    buf[rem] = 0x80;
    int nblocks = rem < 56 ? 1 : 2;
    uint64_t bits = length << 3; /* lengths are < 2^32 bytes, so this never wraps */
    for (int i = 0; i < 8; i++)
        buf[64 * nblocks - 1 - i] = (unsigned char)(bits >> (8 * i));
    blocks(state, buf, (size_t)nblocks);
    return nblocks;
}

static int sha256_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int status = api->input(ctx, 0, &x);
    if (status != NCS_OK)
        return status;
    if (x.dtype != NCS_DTYPE_BYTES)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'data' is %s: sha256 needs BYTES (one message per element)",
                         ncs_dtype_text(x.dtype));
    if (x.rank != 1)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'data' has rank %d: sha256 needs a vector of messages, shape [n]",
                         (int)x.rank);
    if (x.nbytes < (uint64_t)x.count * 4)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'data' has %lld elements in %llu bytes: every BYTES element needs "
                         "a 4-byte length",
                         (long long)x.count, (unsigned long long)x.nbytes);
    const int64_t dims[2] = {x.count, 32};
    status = api->set_output(ctx, 0, NCS_DTYPE_UINT8, 2, dims);
    if (status != NCS_OK)
        return status;
    uint64_t parts = x.nbytes / SHA256_MIN_PART;
    if (parts > (uint64_t)max_parts)
        parts = (uint64_t)max_parts;
    if (parts > (uint64_t)x.count)
        parts = (uint64_t)x.count;
    if (parts < 1)
        parts = 1;
    return api->set_parts(ctx, (int)parts);
}

static int sha256_run(ncs_ctx *ctx, int part, int nparts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x, d;
    int status = api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = api->output(ctx, 0, &d);
    if (status != NCS_OK)
        return status;
    if (d.nbytes != (uint64_t)x.count * 32)
        return api->fail(ctx, NCS_E_INTERNAL,
                         "sha256: output 'digest' has %llu bytes for %lld messages",
                         (unsigned long long)d.nbytes, (long long)x.count);
    const unsigned char *data = x.data;
    unsigned char *digest = d.data;
    const uint64_t end = x.nbytes;
    int64_t lo, hi;
    ncs_part_range((int64_t)end, part, nparts, &lo, &hi);

    /* Skip the messages whose length prefix starts before this part's byte range. */
    uint64_t at = 0;
    int64_t index = 0;
    while (at < (uint64_t)lo && at < end && end - at >= 4) {
        if (index % SHA256_SKIP_POLL == 0 && api->cancelled(ctx))
            return NCS_E_CANCELLED;
        at += 4 + (uint64_t)load_le32(data + at);
        index++;
    }
    if (api->cancelled(ctx))
        return NCS_E_CANCELLED;

    const sha256_blocks_fn blocks = ncs_cpu_has(NCS_CPU_SHA_NI) ? blocks_sha_ni : blocks_portable;
    const size_t poll_blocks = SHA256_POLL / 64;
    uint64_t unpolled = 0;   /* bytes compressed since the last cancellation check */
    uint64_t unreported = 0; /* serialized bytes done but not yet added to the progress */
    while (at < (uint64_t)hi) {
        /* The host checked the framing; these guard against a broken host, not the client. */
        if (index >= x.count || end - at < 4 || load_le32(data + at) > end - at - 4)
            return api->fail(ctx, NCS_E_INTERNAL,
                             "sha256: BYTES framing of input 'data' breaks at element %lld",
                             (long long)index);
        uint64_t length = load_le32(data + at);
        const unsigned char *m = data + at + 4;
        uint32_t state[8];
        memcpy(state, sha256_h0, sizeof state);
        for (uint64_t full = length / 64; full > 0;) {
            size_t n = full < poll_blocks ? (size_t)full : poll_blocks;
            blocks(state, m, n);
            m += 64 * n;
            full -= n;
            unpolled += 64 * (uint64_t)n;
            unreported += 64 * (uint64_t)n;
            if (unpolled >= SHA256_POLL) {
                if (api->cancelled(ctx))
                    return NCS_E_CANCELLED;
                api->progress(ctx, unreported);
                unpolled = unreported = 0;
            }
        }
        unpolled += 64 * (uint64_t)compress_tail(blocks, state, m, (size_t)(length % 64), length);
        unreported += 4 + length % 64;
        unsigned char *out = digest + 32 * index;
        for (int i = 0; i < 8; i++) {
            out[4 * i] = (unsigned char)(state[i] >> 24);
            out[4 * i + 1] = (unsigned char)(state[i] >> 16);
            out[4 * i + 2] = (unsigned char)(state[i] >> 8);
            out[4 * i + 3] = (unsigned char)state[i];
        }
        at += 4 + length;
        index++;
        if (unpolled >= SHA256_POLL) {
            if (api->cancelled(ctx))
                return NCS_E_CANCELLED;
            api->progress(ctx, unreported);
            unpolled = unreported = 0;
        }
    }
    if (unreported > 0)
        api->progress(ctx, unreported);
    return NCS_OK;
}

static const ncs_tensor_desc sha256_inputs[] = {
    {.name = "data",
     .doc = "messages: a BYTES vector [n], each element one message of any length (empty too)",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_BYTES),
     .rank = 1,
     .dims = {NCS_DIM_ANY}},
};

static const ncs_tensor_desc sha256_outputs[] = {
    {.name = "digest",
     .doc = "UINT8 [n, 32]: row i is the SHA-256 digest (FIPS 180-4) of message i, in the usual "
            "byte order (as hashlib.sha256(m).digest())",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_UINT8),
     .rank = 2,
     .dims = {NCS_DIM_ANY, 32}},
};

const ncs_kernel_desc ncs_sha256_kernel = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "sha256",
    .doc = "SHA-256 (FIPS 180-4) of every element of a BYTES vector, one 32-byte digest row per "
           "message; uses the CPU's SHA extensions when present. Messages are split across parts "
           "by bytes, so a single large message is hashed by one thread.",
    .flags = NCS_KERNEL_THREAD_SAFE,
    .n_inputs = 1,
    .inputs = sha256_inputs,
    .n_outputs = 1,
    .outputs = sha256_outputs,
    .n_params = 0,
    .params = NULL,
    .prepare = sha256_prepare,
    .run = sha256_run,
    .finish = NULL,
};
