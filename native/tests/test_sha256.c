/*
 * test_sha256.c -- the "sha256" kernel, on both compression functions (SHA-NI when the CPU has
 * it, and the portable one forced through the test hook), against the FIPS 180-4 / NIST example
 * vectors, digests computed once with python3's hashlib and embedded, and a naive SHA-256
 * written here from the standard (constants derived from the primes, padding built bit by bit);
 * every message length 0..200, many messages across several parts (also on two threads), one
 * huge message in one part, empty tensors, host-refused malformed input, cancellation.
 */
#include <math.h>
#include <pthread.h>

#include "check.h"
#include "cpu.h"

/* ---- naive reference ------------------------------------------------------------------- */

static uint32_t ref_k[64], ref_h0[8];

/* FIPS 180-4 4.2.2 and 5.3.3: the first 32 bits of the fractional parts of the cube roots of
   the first 64 primes, and of the square roots of the first 8. */
static void ref_init(void)
{
    int primes[64], count = 0;
    for (int p = 2; count < 64; p++) {
        int prime = 1;
        for (int d = 2; d * d <= p; d++)
            prime &= p % d != 0;
        if (prime)
            primes[count++] = p;
    }
    for (int i = 0; i < 64; i++) {
        long double r = cbrtl((long double)primes[i]);
        ref_k[i] = (uint32_t)((r - floorl(r)) * 4294967296.0L);
    }
    for (int i = 0; i < 8; i++) {
        long double r = sqrtl((long double)primes[i]);
        ref_h0[i] = (uint32_t)((r - floorl(r)) * 4294967296.0L);
    }
    CHECK(ref_k[0] == 0x428a2f98u && ref_k[63] == 0xc67178f2u && ref_h0[0] == 0x6a09e667u &&
          ref_h0[7] == 0x5be0cd19u);
}

static uint32_t rotr(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

/* SHA-256 of m[0..len) straight from the standard: pad a copy, then compress block by block. */
static void ref_sha256(const unsigned char *m, size_t len, unsigned char out[32])
{
    size_t padded = (len + 1 + 8 + 63) / 64 * 64;
    unsigned char *buf = calloc(padded, 1);
    CHECK(buf != NULL);
    if (len > 0)
        memcpy(buf, m, len);
    buf[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        buf[padded - 8 + i] = (unsigned char)(bits >> (56 - 8 * i));
    uint32_t h[8];
    memcpy(h, ref_h0, sizeof h);
    for (size_t block = 0; block < padded; block += 64) {
        uint32_t w[64];
        for (int t = 0; t < 16; t++) {
            const unsigned char *p = buf + block + 4 * t;
            w[t] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        }
        for (int t = 16; t < 64; t++)
            w[t] = (rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)) + w[t - 7] +
                   (rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)) + w[t - 16];
        uint32_t v[8];
        memcpy(v, h, sizeof v);
        for (int t = 0; t < 64; t++) {
            uint32_t e = v[4], a = v[0];
            uint32_t t1 = v[7] + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) +
                          ((e & v[5]) ^ (~e & v[6])) + ref_k[t] + w[t];
            uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) +
                          ((a & v[1]) ^ (a & v[2]) ^ (v[1] & v[2]));
            memmove(v + 1, v, 7 * sizeof v[0]);
            v[4] += t1;
            v[0] = t1 + t2;
        }
        for (int i = 0; i < 8; i++)
            h[i] += v[i];
    }
    for (int i = 0; i < 32; i++)
        out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
    free(buf);
}

/* ---- helpers --------------------------------------------------------------------------- */

/* Serialized BYTES tensor of n messages (lengths[i] bytes at messages[i]); *nbytes its size. */
static unsigned char *serialize(const unsigned char *const *messages, const size_t *lengths,
                                int64_t n, size_t *nbytes)
{
    size_t total = 0;
    for (int64_t i = 0; i < n; i++)
        total += 4 + lengths[i];
    unsigned char *out = malloc(total > 0 ? total : 1);
    CHECK(out != NULL);
    size_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t length = (uint32_t)lengths[i];
        for (int b = 0; b < 4; b++)
            out[at++] = (unsigned char)(length >> (8 * b));
        if (length > 0)
            memcpy(out + at, messages[i], length);
        at += length;
    }
    *nbytes = total;
    return out;
}

/* The test messages: byte i of a message of length L is (131 i + 7 L + 1) mod 256 (the same
   formula gave the embedded hashlib digests). */
static unsigned char *pattern(size_t length)
{
    unsigned char *m = malloc(length > 0 ? length : 1);
    CHECK(m != NULL);
    for (size_t i = 0; i < length; i++)
        m[i] = (unsigned char)((i * 131 + length * 7 + 1) & 255);
    return m;
}

/*
 * Runs sha256 on a serialized tensor of n messages with at most max_parts parts (run one after
 * the other, or each on its own thread when `threaded`); checks the output's dtype, shape and
 * size, the progress and that nothing leaked. Returns the n * 32 digest bytes (malloc'd) and
 * the part count in *nparts.
 */
static unsigned char *run_sha256(const unsigned char *serialized, size_t nbytes, int64_t n,
                                 int max_parts, int threaded, int *nparts)
{
    ncs_handle x = buffer_from(serialized, nbytes);
    ncs_call *call;
    CHECK_OK(ncs_call_create("sha256", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 1, &n, x));
    CHECK_OK(ncs_buffer_release(x));
    CHECK_OK(ncs_call_prepare(call, max_parts, nparts));
    CHECK(*nparts >= 1 && *nparts <= max_parts);
    int dtype, rank;
    int64_t dims[NCS_MAX_RANK];
    uint64_t out_bytes;
    CHECK_OK(ncs_call_output_info(call, 0, &dtype, &rank, dims));
    CHECK(dtype == NCS_DTYPE_UINT8 && rank == 2 && dims[0] == n && dims[1] == 32);
    CHECK_OK(ncs_call_output_nbytes(call, 0, &out_bytes));
    CHECK(out_bytes == (uint64_t)n * 32);
    CHECK_OK(threaded ? run_parts_concurrently(call, *nparts)
                      : run_parts_and_finish(call, *nparts));
    CHECK(ncs_call_progress(call) == nbytes);
    ncs_handle y;
    CHECK_OK(ncs_call_take_output(call, 0, &y));
    uint64_t leaked = 99;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    unsigned char *digests = malloc((size_t)n * 32 + 1);
    CHECK(digests != NULL);
    if (n > 0)
        memcpy(digests, buffer_memory(y), (size_t)n * 32);
    CHECK_OK(ncs_buffer_release(y));
    return digests;
}

static void hex(const unsigned char *digest, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

#define CHECK_DIGEST(digest, want_hex)                                                             \
    do {                                                                                           \
        char got_[65];                                                                             \
        hex((digest), got_);                                                                       \
        if (strcmp(got_, (want_hex)) != 0) {                                                       \
            fprintf(stderr, "%s:%d: digest %s, expected %s (%s path)\n", __FILE__, __LINE__, got_, \
                    (want_hex), ncs_cpu_has(NCS_CPU_SHA_NI) ? "SHA-NI" : "portable");              \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Runs `body` once per compression function this CPU has: SHA-NI (if any), then portable. */
static void for_each_path(void (*body)(void))
{
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
    if (ncs_cpu_has(NCS_CPU_SHA_NI))
        body();
    else
        printf("  (this CPU has no SHA-NI: only the portable path is tested)\n");
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_PORTABLE));
    CHECK(!ncs_cpu_has(NCS_CPU_SHA_NI));
    body();
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
}

/* ---- tests ----------------------------------------------------------------------------- */

static void nist_vectors(void)
{
    static const char *texts[4] = {
        "abc",
        "",
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlm"
        "nopqrs"
        "mnopqrstnopqrstu",
    };
    static const char *want[5] = {
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", /* a million 'a' */
    };
    const unsigned char *messages[5];
    size_t lengths[5];
    for (int i = 0; i < 4; i++) {
        messages[i] = (const unsigned char *)texts[i];
        lengths[i] = strlen(texts[i]);
    }
    CHECK(lengths[2] * 8 == 448 && lengths[3] * 8 == 896);
    unsigned char *million = malloc(1000000);
    CHECK(million != NULL);
    memset(million, 'a', 1000000);
    messages[4] = million;
    lengths[4] = 1000000;
    size_t nbytes;
    unsigned char *serialized = serialize(messages, lengths, 5, &nbytes);
    int max_parts[2] = {1, 4};
    for (int m = 0; m < 2; m++) {
        int nparts;
        unsigned char *d = run_sha256(serialized, nbytes, 5, max_parts[m], 0, &nparts);
        CHECK(nparts == 1); /* about 1 MB: fewer than two parts' worth of 512 KiB */
        for (int i = 0; i < 5; i++)
            CHECK_DIGEST(d + 32 * i, want[i]);
        free(d);
    }
    /* Each alone, so the vectors are also checked as single-element tensors. */
    for (int i = 0; i < 5; i++) {
        size_t one_bytes;
        unsigned char *one = serialize(&messages[i], &lengths[i], 1, &one_bytes);
        int nparts;
        unsigned char *d = run_sha256(one, one_bytes, 1, 8, 0, &nparts);
        CHECK(nparts == 1);
        CHECK_DIGEST(d, want[i]);
        free(d);
        free(one);
    }
    free(serialized);
    free(million);
}

static void test_nist_vectors(void)
{
    for_each_path(nist_vectors);
}

/* Every length 0..200 (one, two and three blocks; the 55/56 and 63/64 padding edges) in one
   tensor, against the naive reference. */
static void every_length(void)
{
    enum { N = 201 };
    const unsigned char *messages[N];
    size_t lengths[N];
    for (int i = 0; i < N; i++) {
        lengths[i] = (size_t)i;
        messages[i] = pattern((size_t)i);
    }
    size_t nbytes;
    unsigned char *serialized = serialize(messages, lengths, N, &nbytes);
    int nparts;
    unsigned char *d = run_sha256(serialized, nbytes, N, 3, 0, &nparts);
    for (int i = 0; i < N; i++) {
        unsigned char want[32];
        ref_sha256(messages[i], lengths[i], want);
        if (memcmp(d + 32 * i, want, 32) != 0) {
            fprintf(stderr, "length %d differs from the reference (%s path)\n", i,
                    ncs_cpu_has(NCS_CPU_SHA_NI) ? "SHA-NI" : "portable");
            exit(1);
        }
    }
    free(d);
    free(serialized);
    for (int i = 0; i < N; i++)
        free((void *)messages[i]);
}

static void test_every_length(void)
{
    for_each_path(every_length);
}

/* Digests computed once with python3:
     msg = bytes(((i * 131 + L * 7 + 1) & 255) for i in range(L)); hashlib.sha256(msg).hexdigest() */
static const struct {
    size_t length;
    const char *hex;
} hashlib_digests[] = {
    {1, "beead77994cf573341ec17b58bbf7eb34d2711c993c1d976b128b3188dc1829a"},
    {3, "1fdc258ec81fe15895bc8714e761dafb727273aae28260c69939e87fedef13bb"},
    {55, "14ade1e7f1c0601c2fb73cdd29203de3868c6928c7cc932eff0fc1f3b4e2811b"},
    {56, "a6ad776270f1535d676033483f8570757e472ba40c498fa9f12226612bc48898"},
    {63, "21ae171e41778b9c36b8652b0cceb794477c5d2fb6dd548212d41ae41e7abab8"},
    {64, "d042080804b7f9cbacf909fad714ac4541736ab2d9ef8e4f9035ef245655652f"},
    {65, "c56ab661b84c32badc2f366e17fb3b1bc1d89f03e3fba98152ca2202342d4c3d"},
    {119, "704d237f742cc4788ebcb2c42e2b51d40d4f92f384cb7b7205899399c9e9afae"},
    {120, "411b12fa1cf87e92bda0eb26c1b4476468f74fc3e1a3685564576410f8f0a26f"},
    {127, "e2e78727d362c7fa6c6420bbb924c5ca4bc16b96abdb6a1999d9263d83f4ef89"},
    {128, "dded51ecf97c8544705b7afcf009bbe59f0b486073c10fee20aa92c082aff2f5"},
    {200, "b97dbe0d3bf4bd75f11806e0be4dea5690a1850153dd8af125b1b9532b49a7ff"},
    {1000, "93a739fde00255fcb85fc43548982c6faab191b6b24f3ad7327efbea5f9f6e7c"},
    {65553, "b834ae223589400a2cdc3aedebe46feff5c87abc48ea6eea09cbbe275b271a15"},
    {200003, "0b902e66be600bebe0712dccc33bfd59d1931853d0a72e548f693cc58ba0e4df"},
};
#define HASHLIB_COUNT ((int64_t)(sizeof hashlib_digests / sizeof hashlib_digests[0]))

static void hashlib_vectors(void)
{
    const unsigned char *messages[HASHLIB_COUNT];
    size_t lengths[HASHLIB_COUNT];
    for (int64_t i = 0; i < HASHLIB_COUNT; i++) {
        lengths[i] = hashlib_digests[i].length;
        messages[i] = pattern(lengths[i]);
    }
    size_t nbytes;
    unsigned char *serialized = serialize(messages, lengths, HASHLIB_COUNT, &nbytes);
    int nparts;
    unsigned char *d = run_sha256(serialized, nbytes, HASHLIB_COUNT, 2, 0, &nparts);
    for (int64_t i = 0; i < HASHLIB_COUNT; i++) {
        CHECK_DIGEST(d + 32 * i, hashlib_digests[i].hex);
        unsigned char want[32]; /* the naive reference agrees with hashlib too */
        ref_sha256(messages[i], lengths[i], want);
        CHECK(memcmp(want, d + 32 * i, 32) == 0);
    }
    free(d);
    free(serialized);
    for (int64_t i = 0; i < HASHLIB_COUNT; i++)
        free((void *)messages[i]);
}

static void test_hashlib_vectors(void)
{
    for_each_path(hashlib_vectors);
}

/* Thousands of messages of random lengths (0..1500 bytes, some empty, a few of ~100 KB) in
   several parts, sequentially and on threads; every digest against the reference. */
static void many_messages(void)
{
    enum { N = 4099 };
    static const unsigned char *messages[N];
    static size_t lengths[N];
    uint64_t seed = 0x5eed;
    unsigned char *pool = malloc(1 << 17);
    CHECK(pool != NULL);
    for (int i = 0; i < (1 << 17); i++)
        pool[i] = (unsigned char)(test_random(&seed) * 256);
    for (int i = 0; i < N; i++) {
        double r = test_random(&seed);
        lengths[i] = r < 0.05 ? 0 : r < 0.06 ? 100000 + (size_t)(r * 1000) : (size_t)(r * 1500);
        messages[i] = pool + (size_t)(test_random(&seed) * 8192);
    }
    size_t nbytes;
    unsigned char *serialized = serialize(messages, lengths, N, &nbytes);
    unsigned char(*want)[32] = malloc((size_t)N * 32);
    CHECK(want != NULL);
    for (int i = 0; i < N; i++)
        ref_sha256(messages[i], lengths[i], want[i]);
    const int max_parts[] = {1, 2, 3, 5, 64};
    for (size_t m = 0; m < sizeof max_parts / sizeof max_parts[0]; m++) {
        for (int threaded = 0; threaded < 2; threaded++) {
            if (threaded && max_parts[m] != 2 && max_parts[m] != 5)
                continue;
            int nparts;
            unsigned char *d = run_sha256(serialized, nbytes, N, max_parts[m], threaded, &nparts);
            int64_t expected = (int64_t)(nbytes / (512 << 10));
            expected = expected > max_parts[m] ? max_parts[m] : expected < 1 ? 1 : expected;
            CHECK(nparts == expected);
            CHECK(memcmp(d, want, (size_t)N * 32) == 0);
            free(d);
        }
    }
    free(want);
    free(serialized);
    free(pool);
}

static void test_many_messages_in_parts(void)
{
    for_each_path(many_messages);
}

/* Parts split by bytes: one huge message stays in one part; next to small ones, the part whose
   range holds its start hashes all of it. */
static void test_huge_message_is_one_part(void)
{
    const size_t big = (size_t)3 << 20;
    unsigned char *m = pattern(big);
    unsigned char want_big[32], want_small[32];
    ref_sha256(m, big, want_big);
    ref_sha256(m, 10, want_small);

    const unsigned char *one[1] = {m};
    size_t one_length[1] = {big};
    size_t nbytes;
    unsigned char *serialized = serialize(one, one_length, 1, &nbytes);
    int nparts;
    unsigned char *d = run_sha256(serialized, nbytes, 1, 8, 0, &nparts);
    CHECK(nparts == 1);
    CHECK(memcmp(d, want_big, 32) == 0);
    free(d);
    free(serialized);

    /* [big, 10 small]: 6 parts of ~512 KiB; part 0 owns the big message, the last the rest. */
    const unsigned char *mixed[11];
    size_t mixed_lengths[11];
    for (int i = 0; i < 11; i++) {
        mixed[i] = m;
        mixed_lengths[i] = i == 0 ? big : 10;
    }
    serialized = serialize(mixed, mixed_lengths, 11, &nbytes);
    ncs_handle x = buffer_from(serialized, nbytes);
    ncs_call *call;
    int64_t n = 11;
    CHECK_OK(ncs_call_create("sha256", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 1, &n, x));
    CHECK_OK(ncs_call_prepare(call, 8, &nparts));
    CHECK(nparts == 6);
    CHECK_OK(ncs_call_run_part(call, 0));
    CHECK(ncs_call_progress(call) == 4 + big);
    for (int p = 1; p < nparts - 1; p++) {
        CHECK_OK(ncs_call_run_part(call, p));
        CHECK(ncs_call_progress(call) == 4 + big);
    }
    CHECK_OK(ncs_call_run_part(call, nparts - 1));
    CHECK_OK(ncs_call_finish(call));
    CHECK(ncs_call_progress(call) == nbytes);
    ncs_handle y;
    CHECK_OK(ncs_call_take_output(call, 0, &y));
    const unsigned char *out = buffer_memory(y);
    CHECK(memcmp(out, want_big, 32) == 0);
    for (int i = 1; i < 11; i++)
        CHECK(memcmp(out + 32 * i, want_small, 32) == 0);
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(y));
    CHECK_OK(ncs_buffer_release(x));
    free(serialized);
    free(m);
}

static void test_empty(void)
{
    int nparts;
    unsigned char *d = run_sha256(NULL, 0, 0, 4, 0, &nparts);
    CHECK(nparts == 1);
    free(d);
    /* Three empty messages: 12 bytes of zero lengths. */
    const unsigned char zeros[12] = {0};
    d = run_sha256(zeros, sizeof zeros, 3, 4, 0, &nparts);
    for (int i = 0; i < 3; i++)
        CHECK_DIGEST(d + 32 * i,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free(d);
}

/* Malformed BYTES, other dtypes and ranks never reach the kernel: the host refuses them. */
static void test_refused_inputs(void)
{
    ncs_call *call;
    CHECK_OK(ncs_call_create("sha256", &call));
    /* Element 1 declares 100 bytes but only 3 remain. */
    const unsigned char bad[] = {1, 0, 0, 0, 'x', 100, 0, 0, 0, 'a', 'b', 'c'};
    ncs_handle h = buffer_from(bad, sizeof bad);
    int64_t two = 2;
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 1, &two, h), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input 'data'");
    CHECK_CONTAINS(ncs_call_error(call), "element 1");
    /* Fewer elements than the shape says. */
    int64_t three = 3;
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 1, &three, h),
                 NCS_E_INVALID_ARGUMENT);
    /* UINT8 is not BYTES; rank 2 is not a vector. */
    int64_t twelve = 12;
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_UINT8, 1, &twelve, h),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "input 'data'");
    const unsigned char good[] = {1, 0, 0, 0, 'x', 0, 0, 0, 0};
    ncs_handle g = buffer_from(good, sizeof good);
    int64_t matrix[2] = {1, 2};
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 2, matrix, g),
                 NCS_E_INVALID_ARGUMENT);
    /* Unset input: prepare refuses. */
    int nparts;
    CHECK_STATUS(ncs_call_prepare(call, 1, &nparts), NCS_E_INVALID_ARGUMENT);
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(h));
    CHECK_OK(ncs_buffer_release(g));
}

static void *cancel_when_started(void *arg)
{
    ncs_call *call = arg;
    while (ncs_call_progress(call) == 0)
        ; /* spin: progress moves every 64 KiB */
    ncs_call_cancel(call);
    return NULL;
}

/* Runs a prepared one-part call of one message of `big` bytes while another thread cancels it
   as soon as progress shows the part is inside the message. */
static int run_while_cancelled(ncs_handle x, size_t big)
{
    ncs_call *call;
    int nparts;
    int64_t n = 1;
    CHECK_OK(ncs_call_create("sha256", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 1, &n, x));
    CHECK_OK(ncs_call_prepare(call, 4, &nparts));
    CHECK(nparts == 1);
    pthread_t canceller;
    CHECK(pthread_create(&canceller, NULL, cancel_when_started, call) == 0);
    int status = ncs_call_run_part(call, 0);
    CHECK(pthread_join(canceller, NULL) == 0);
    if (status == NCS_E_CANCELLED) {
        CHECK(ncs_call_progress(call) > 0 && ncs_call_progress(call) < big);
        CHECK_CONTAINS(ncs_call_error(call), "cancelled");
    }
    uint64_t leaked = 99;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    return status;
}

/* Cancelled before the part runs, and while a 32 MiB message is being hashed: the part polls
   every 64 KiB, so it stops long before the end. The portable path (~10x slower) leaves the
   cancelling thread time to be scheduled on a busy machine; a part that still finishes first
   is retried. */
static void test_cancellation(void)
{
    const size_t big = (size_t)32 << 20;
    unsigned char *serialized = calloc(4 + big, 1);
    CHECK(serialized != NULL);
    serialized[3] = 2; /* 32 MiB = 0x02000000, little-endian */
    CHECK((size_t)serialized[3] << 24 == big);
    ncs_handle x = buffer_from(serialized, 4 + big);
    int64_t n = 1;

    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("sha256", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 1, &n, x));
    CHECK_OK(ncs_call_prepare(call, 4, &nparts));
    ncs_call_cancel(call);
    CHECK_STATUS(ncs_call_run_part(call, 0), NCS_E_CANCELLED);
    CHECK(ncs_call_progress(call) == 0);
    CHECK_CONTAINS(ncs_call_error(call), "cancelled");
    ncs_call_destroy(call, NULL, NULL);

    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_PORTABLE));
    int status = NCS_OK;
    for (int attempt = 0; attempt < 5 && status != NCS_E_CANCELLED; attempt++)
        status = run_while_cancelled(x, big);
    CHECK_STATUS(status, NCS_E_CANCELLED);
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
    CHECK_OK(ncs_buffer_release(x));
    free(serialized);
}

int main(void)
{
    ref_init();
    printf("SHA-NI %s\n",
           ncs_cpu_has(NCS_CPU_SHA_NI) ? "available: both paths tested" : "not available");
    RUN_TEST(test_nist_vectors);
    RUN_TEST(test_every_length);
    RUN_TEST(test_hashlib_vectors);
    RUN_TEST(test_many_messages_in_parts);
    RUN_TEST(test_huge_message_is_one_part);
    RUN_TEST(test_empty);
    RUN_TEST(test_refused_inputs);
    RUN_TEST(test_cancellation);
    return 0;
}
