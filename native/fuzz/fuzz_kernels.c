/*
 * fuzz_kernels.c -- libFuzzer target for kernel calls through the public host API (ncs.h).
 *
 * The input picks a kernel of the catalog and, for each of its inputs, a dtype, a rank and
 * dimensions (mostly what the descriptor asks for, sometimes anything: invalid dtypes, wrong
 * ranks, negative or overflowing dimensions), the buffer (its size a little off at times, stale,
 * or handle 0) and its bytes (raw, special floating-point values, small integers, well-framed
 * or broken BYTES). Then parameters (the kernel's own or made-up keys, with values from a table
 * of awkward texts or raw bytes), max_parts, and how the parts run (in order or reversed,
 * cancelled before one, a part run twice or out of range). The call goes through create,
 * set_input, set_param, prepare, run_part, finish, take_output and destroy.
 *
 * Checked: set_input accepts exactly the tensors the descriptor and the buffer allow (an
 * independent check of dtype, rank, dims, overflow, size and BYTES framing); every status is a
 * clean one (never NCS_E_INTERNAL, never a value outside the enum) and every failure has a
 * message; prepared outputs match the descriptor and their buffers have the declared size
 * (every byte is read, so ASan sees a lie); identity returns its input and sort a sorted
 * permutation; a built-in kernel never leaks; and afterwards no buffer is live.
 */
#include <math.h>
#include <stdbool.h>

#include "fuzz_common.h"
#include "internal.h"
#include "cpu.h"

#define MAX_INPUT_BYTES 8192
#define MEMORY_LIMIT (8u << 20)

/* NCS_FUZZ_TRACE=1 prints what each input does (for triage: ./fuzz_kernels crash-file). */
static int tracing = -1;
#define TRACE(...)                                      \
    do {                                                \
        if (tracing < 0)                                \
            tracing = getenv("NCS_FUZZ_TRACE") != NULL; \
        if (tracing)                                    \
            fprintf(stderr, __VA_ARGS__);               \
    } while (0)

static const char *kernel_names[64];
static int kernel_count;

static void load_catalog(void)
{
    if (kernel_count > 0)
        return;
    int n = ncs_kernel_count();
    FZ_CHECK(n > 0 && n <= 64, "%d kernels", n);
    for (int i = 0; i < n; i++) {
        kernel_names[i] = ncs_kernel_name(i);
        FZ_CHECK(kernel_names[i] != NULL, "kernel %d has no name", i);
        FZ_CHECK(fz_json_valid(ncs_kernel_metadata_json(kernel_names[i])), "metadata of %s",
                 kernel_names[i]);
    }
    kernel_count = n;
}

/* ---- values ------------------------------------------------------------------------------ */

static const int64_t odd_dims[] = {
    -1,
    -2,
    INT64_MIN,
    INT64_MAX,
    (int64_t)1 << 31,
    (int64_t)1 << 32,
    (int64_t)1 << 62,
    3037000500,
    4096,
    65536,
    (int64_t)1 << 20,
    1023,
    1024,
    1025,
    100,
    127,
    128,
    129,
    255,
    256,
    257,
    31,
    33,
    63,
    65,
    17,
    9,
    10,
    11,
    12,
    13,
    1,
};

static const char *const odd_texts[] = {
    "0",
    "1",
    "-1",
    "2",
    "3",
    "5",
    "7",
    "10",
    "64",
    "100",
    "1000",
    "65536",
    "1073741824",
    "1073741825",
    "2147483648",
    "-2147483649",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "1e309",
    "-1e309",
    "1e-320",
    "4.9e-324",
    "nan",
    "-nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "0.5",
    "-0",
    "-0.0",
    "0x10",
    "0x1p-1074",
    " 1",
    "1 ",
    "",
    "+3",
    "1.",
    ".5",
    "1e",
    "true",
    "false",
    "TRUE",
    "yes",
    "full",
    "same",
    "valid",
    "fill",
    "symm",
    "wrap",
    "reflect",
    "FULL",
    "50",
    "0,50,100",
    "25, 75",
    " 25 ,75 ",
    "100,0",
    "101",
    "-0.0001",
    "100.0000001",
    "nan,50",
    "50,",
    ",",
    "0,,1",
    ",50",
    "50 50",
    "99.99999999999999",
    "1e2",
    "inf,50",
    "-inf",
    "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32",
    "0.0,100.0,50.0,50.0,0.0",
    "5e-324",
    "1e-5",
    "abc",
    "\x01\x02",
    "\xff\xfe",
    "%s%s%n",
};

static const char *const odd_keys[] = {"",       "timeout",    "bins ",    "BINS",
                                       "x",      "mode\n",     "inverse_", "percentile",
                                       "lo\xff", "descending", "boundary", "hi"};

/* The k-th dtype (cyclically) of a mask. */
static int mask_dtype(uint32_t mask, unsigned k)
{
    int set[32], n = 0;
    for (int d = 0; d < 32; d++) {
        if (mask & NCS_DTYPE_BIT(d))
            set[n++] = d;
    }
    return n ? set[k % (unsigned)n] : NCS_DTYPE_FP64;
}

/* Writes one element of `dtype` holding `v` (integers truncated, floats rounded). */
static void put_value(unsigned char *p, int dtype, double v)
{
    switch (dtype) {
    case NCS_DTYPE_FP64: memcpy(p, &v, 8); break;
    case NCS_DTYPE_FP32: {
        float f = (float)v;
        memcpy(p, &f, 4);
        break;
    }
    case NCS_DTYPE_INT64:
    case NCS_DTYPE_UINT64: {
        int64_t i = isfinite(v) && fabs(v) < 9e18 ? (int64_t)v : (v > 0 ? INT64_MAX : INT64_MIN);
        memcpy(p, &i, 8);
        break;
    }
    case NCS_DTYPE_INT32:
    case NCS_DTYPE_UINT32: {
        int32_t i = isfinite(v) && fabs(v) < 2e9 ? (int32_t)v : (v > 0 ? INT32_MAX : INT32_MIN);
        memcpy(p, &i, 4);
        break;
    }
    default: {
        size_t n = ncs_dtype_size(dtype);
        unsigned char b = isfinite(v) ? (unsigned char)(int)fmod(v, 256) : 0xff;
        memset(p, b, n);
    }
    }
}

static const double special_values[] = {0.0,
                                        -0.0,
                                        1.0,
                                        -1.0,
                                        NAN,
                                        -NAN,
                                        INFINITY,
                                        -INFINITY,
                                        5e-324,
                                        -5e-324,
                                        2.2250738585072014e-308,
                                        1.7976931348623157e308,
                                        -1.7976931348623157e308,
                                        1e-40,
                                        3.4028234663852886e38,
                                        0.5,
                                        1e300,
                                        -1e300,
                                        9007199254740993.0,
                                        2.0,
                                        3.0};

/* Fills a fixed-size tensor's bytes. */
static void fill_numbers(fz_in *in, unsigned char *p, uint64_t nbytes, int dtype)
{
    size_t esize = ncs_dtype_size(dtype);
    uint8_t mode = fz_u8(in) % 4;
    if (mode == 0 || esize == 0) {
        fz_bytes(in, p, (size_t)nbytes);
        return;
    }
    uint64_t n = nbytes / esize;
    for (uint64_t i = 0; i < n; i++) {
        double v;
        uint8_t b = fz_u8(in);
        if (mode == 1)
            v = special_values[b % (sizeof special_values / sizeof special_values[0])];
        else if (mode == 2)
            v = (double)(b % 16) - 8.0;
        else
            v = (double)i * (b & 1 ? 1.0 : -1.0) + (double)(b >> 1) / 8.0; /* mostly ordered */
        put_value(p + i * esize, dtype, v);
    }
    fz_bytes(in, p + n * esize, (size_t)(nbytes - n * esize));
}

/* BYTES: well framed with `count` elements, or raw bytes. Returns the size written. */
static uint64_t fill_bytes(fz_in *in, unsigned char *p, int64_t count)
{
    uint8_t mode = fz_u8(in);
    if (mode % 3 != 0 && count >= 0 && count <= 256) {
        uint64_t at = 0;
        for (int64_t i = 0; i < count; i++) {
            uint32_t len = fz_u8(in) % 24;
            if (mode % 3 == 2 && i == 0)
                len = fz_u16(in) % 2048;
            if (at + 4 + len > MAX_INPUT_BYTES)
                break;
            p[at] = (unsigned char)len;
            p[at + 1] = (unsigned char)(len >> 8);
            p[at + 2] = p[at + 3] = 0;
            fz_bytes(in, p + at + 4, len);
            at += 4 + len;
        }
        return at;
    }
    uint64_t n = fz_u16(in) % 512;
    fz_bytes(in, p, (size_t)n);
    return n;
}

/* An independent reading of the BYTES framing rule of ncs.h. */
static bool framing_ok(const unsigned char *p, uint64_t size, int64_t count)
{
    uint64_t at = 0;
    for (int64_t i = 0; i < count; i++) {
        if (size - at < 4)
            return false;
        uint64_t len = (uint64_t)p[at] | (uint64_t)p[at + 1] << 8 | (uint64_t)p[at + 2] << 16 |
                       (uint64_t)p[at + 3] << 24;
        if (len > size - at - 4)
            return false;
        at += 4 + len;
    }
    return at == size;
}

/* ---- one input ---------------------------------------------------------------------------- */

typedef struct bound_input {
    ncs_handle own; /* our reference, released at the end (0 when none) */
    bool bound;     /* set_input succeeded */
    int dtype, rank;
    int64_t dims[NCS_MAX_RANK];
    uint64_t nbytes;
    unsigned char *copy; /* the bytes bound, for the oracles */
} bound_input;

/* Decodes one tensor for input `index` of `d` and binds it; checks set_input's verdict. */
static void bind_input(fz_in *in, ncs_call *call, int index, const ncs_tensor_desc *d,
                       bound_input *bi)
{
    uint8_t b = fz_u8(in);
    int dtype = b < 224 ? mask_dtype(d ? d->dtypes : 0, b) : (int)(b - 224) - 2;
    b = fz_u8(in);
    int rank;
    if (b < 224)
        rank = (d && d->rank != NCS_RANK_ANY) ? d->rank : b % 4;
    else
        rank = (int)(b - 224) - 2;
    int64_t dims[NCS_MAX_RANK] = {0};
    int filled = rank < 0 ? 0 : (rank > NCS_MAX_RANK ? NCS_MAX_RANK : rank);
    for (int r = 0; r < filled; r++) {
        b = fz_u8(in);
        if (b < 96 && d && d->rank == rank && d->dims[r] != NCS_DIM_ANY)
            dims[r] = d->dims[r];
        else if (b < 160)
            dims[r] = b % 9;
        else if (b < 224)
            dims[r] = b % 65;
        else
            dims[r] = odd_dims[(b - 224) % (sizeof odd_dims / sizeof odd_dims[0])];
    }

    /* What the descriptor accepts, read independently of the library. */
    bool tensor_ok = d != NULL && ncs_dtype_name(dtype) != NULL &&
                     (d->dtypes & NCS_DTYPE_BIT(dtype)) && rank >= 0 && rank <= NCS_MAX_RANK &&
                     (d->rank == NCS_RANK_ANY || rank == d->rank);
    int64_t count = 1;
    bool overflow = false;
    for (int r = 0; tensor_ok && r < rank; r++) {
        if (dims[r] < 0 ||
            (d->rank != NCS_RANK_ANY && d->dims[r] != NCS_DIM_ANY && dims[r] != d->dims[r]))
            tensor_ok = false;
    }
    for (int r = 0; tensor_ok && r < rank; r++)
        overflow |= __builtin_mul_overflow(count, dims[r], &count);
    uint64_t needed = 0;
    if (tensor_ok && dtype != NCS_DTYPE_BYTES && !overflow)
        overflow = __builtin_mul_overflow((uint64_t)count, (uint64_t)ncs_dtype_size(dtype),
                                          &needed);
    if (overflow)
        tensor_ok = false;

    /* The buffer. */
    unsigned char *bytes = calloc(1, MAX_INPUT_BYTES + 64);
    uint64_t size;
    if (dtype == NCS_DTYPE_BYTES) {
        size = fill_bytes(in, bytes, tensor_ok ? count : -1);
    } else {
        size = needed <= MAX_INPUT_BYTES && tensor_ok ? needed : MAX_INPUT_BYTES;
        b = fz_u8(in);
        if (b >= 200) {
            int64_t delta = (int64_t)(b - 200) - 28;
            size = delta < 0 && (uint64_t)-delta > size ? 0 : size + (uint64_t)delta;
            if (size > MAX_INPUT_BYTES + 64)
                size = MAX_INPUT_BYTES + 64;
        }
        fill_numbers(in, bytes, size, dtype >= 0 ? dtype : 0);
    }
    uint8_t how = fz_u8(in) % 16; /* 0: stale handle, 1: handle 0, else a live buffer */
    ncs_handle h = 0;
    if (how != 1) {
        FZ_CHECK(ncs_buffer_alloc(size, &h) == NCS_OK, "input buffer of %llu bytes",
                 (unsigned long long)size);
        uint64_t addr, got;
        FZ_CHECK(ncs_buffer_data(h, &addr, &got) == NCS_OK && got == size, "input buffer data");
        if (size > 0)
            memcpy((void *)(uintptr_t)addr, bytes, (size_t)size);
        if (how == 0)
            FZ_CHECK(ncs_buffer_release(h) == NCS_OK, "release");
    }
    int status = ncs_call_set_input(call, index, dtype, rank, dims, h);
    TRACE("set_input %d: dtype %d rank %d dims [%lld,%lld,%lld,%lld] %llu bytes handle kind %d -> "
          "%d %s\n",
          index, dtype, rank, (long long)dims[0], (long long)dims[1], (long long)dims[2],
          (long long)dims[3], (unsigned long long)size, how, status, ncs_call_error(call));
    if (how == 0)
        h = 0; /* already released: not ours any more */

    int want;
    if (!tensor_ok)
        want = NCS_E_INVALID_ARGUMENT;
    else if (how == 1)
        want = NCS_E_INVALID_ARGUMENT;
    else if (how == 0)
        want = NCS_E_STALE_HANDLE;
    else if (dtype != NCS_DTYPE_BYTES)
        want = size >= needed ? NCS_OK : NCS_E_INVALID_ARGUMENT;
    else
        want = framing_ok(bytes, size, count) ? NCS_OK : NCS_E_INVALID_ARGUMENT;
    FZ_CHECK(status == want,
             "set_input(%d, dtype %d, rank %d, dims %lld %lld %lld, %llu bytes, how %d) gave %d, "
             "expected %d: %s",
             index, dtype, rank, (long long)dims[0], (long long)dims[1], (long long)dims[2],
             (unsigned long long)size, how, status, want, ncs_call_error(call));
    if (status != NCS_OK)
        FZ_CHECK(ncs_call_error(call)[0] != '\0', "set_input failed without a message");

    if (how >= 2 && status != NCS_OK) { /* refused: the call holds nothing */
        FZ_CHECK(ncs_buffer_release(h) == NCS_OK, "release of a refused input");
        h = 0;
    }
    if (how >= 2 && status == NCS_OK && (fz_u8(in) & 1)) { /* the call holds its own reference */
        FZ_CHECK(ncs_buffer_release(h) == NCS_OK, "release after binding");
        h = 0;
    }
    if (bi != NULL && status == NCS_OK) { /* replaces an earlier binding (the call released it) */
        if (bi->own != 0)
            FZ_CHECK(ncs_buffer_release(bi->own) == NCS_OK, "release of a rebound input");
        free(bi->copy);
        bi->own = h;
        bi->bound = true;
        bi->dtype = dtype;
        bi->rank = rank;
        memcpy(bi->dims, dims, sizeof dims);
        bi->nbytes = dtype == NCS_DTYPE_BYTES ? size : needed;
        bi->copy = bytes;
        bytes = NULL;
    } else if (h != 0) {
        FZ_CHECK(ncs_buffer_release(h) == NCS_OK, "release");
    }
    free(bytes);
}

/* ---- oracles on results --------------------------------------------------------------------- */

static int compare_i32(const void *a, const void *b)
{
    int32_t x, y;
    memcpy(&x, a, 4);
    memcpy(&y, b, 4);
    return (x > y) - (x < y);
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    return (x > y) - (x < y);
}

static void check_result(const char *kernel, const bound_input *inputs, int out_index,
                         const unsigned char *p, uint64_t size, int dtype, bool descending)
{
    if (strcmp(kernel, "identity") == 0 && out_index == 0) {
        FZ_CHECK(dtype == inputs[0].dtype && size == inputs[0].nbytes &&
                     (size == 0 || memcmp(p, inputs[0].copy, (size_t)size) == 0),
                 "identity changed its input");
    }
    if (strcmp(kernel, "sort") == 0 && out_index == 0 &&
        (dtype == NCS_DTYPE_INT32 || dtype == NCS_DTYPE_INT64)) {
        size_t esize = ncs_dtype_size(dtype);
        FZ_CHECK(size == inputs[0].nbytes, "sort output size");
        unsigned char *want = malloc(size + 1);
        memcpy(want, inputs[0].copy, (size_t)size);
        qsort(want, (size_t)(size / esize), esize,
              dtype == NCS_DTYPE_INT32 ? compare_i32 : compare_i64);
        if (descending) { /* reverse */
            size_t n = (size_t)(size / esize);
            for (size_t i = 0; i < n / 2; i++) {
                unsigned char t[8];
                memcpy(t, want + i * esize, esize);
                memcpy(want + i * esize, want + (n - 1 - i) * esize, esize);
                memcpy(want + (n - 1 - i) * esize, t, esize);
            }
        }
        FZ_CHECK(size == 0 || memcmp(p, want, (size_t)size) == 0,
                 "sort output is not the sorted input");
        free(want);
    }
}

static bool clean_status(int s)
{
    return s == NCS_OK || s == NCS_E_INVALID_ARGUMENT || s == NCS_E_OUT_OF_MEMORY ||
           s == NCS_E_UNSUPPORTED || s == NCS_E_CANCELLED;
}

/* ---- the call ------------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_catalog();
    ncs_set_memory_limit(MEMORY_LIMIT);
    fz_in in = {data, size};
    uint64_t before[NCS_STAT_COUNT];
    fz_stats(before);
    FZ_CHECK(before[NCS_STAT_LIVE_BUFFERS] == 0, "buffers live before the input ran");

    const char *name = kernel_names[fz_u8(&in) % kernel_count];
    const ncs_kernel_entry *entry = ncs_catalog_find(name);
    FZ_CHECK(entry != NULL, "catalog lost %s", name);
    const ncs_kernel_desc *k = &entry->desc;
    uint8_t flags = fz_u8(&in);
    /* The portable code paths instead of the AVX2 / SHA-NI ones this machine would choose, so
       both are fuzzed (the one dispatch switch of cpu.h). */
    ncs_cpu_test_limit((flags & 0x20) != 0 ? NCS_CPU_LEVEL_PORTABLE : NCS_CPU_LEVEL_BEST);

    ncs_call *call = NULL;
    if (flags == 0xff) { /* refusals of create */
        FZ_CHECK(ncs_call_create("no-such-kernel", &call) == NCS_E_NOT_FOUND && call == NULL,
                 "create");
        FZ_CHECK(ncs_call_create(NULL, &call) == NCS_E_INVALID_ARGUMENT, "create(NULL)");
        FZ_CHECK(ncs_call_create(name, NULL) == NCS_E_INVALID_ARGUMENT, "create(out NULL)");
    }
    FZ_CHECK(ncs_call_create(name, &call) == NCS_OK && call != NULL, "create %s", name);
    FZ_CHECK(ncs_call_output_count(call) == k->n_outputs, "output count");

    bound_input inputs[NCS_MAX_TENSORS];
    memset(inputs, 0, sizeof inputs);
    bool all_bound = true;
    for (int i = 0; i < k->n_inputs; i++) {
        uint8_t plan = fz_u8(&in);
        if (plan == 0xfe) { /* left unset: prepare must refuse */
            all_bound = false;
            continue;
        }
        bind_input(&in, call, i, &k->inputs[i], &inputs[i]);
        if (plan == 0xfd) /* bound again: the first binding is released */
            bind_input(&in, call, i, &k->inputs[i], &inputs[i]);
        all_bound &= inputs[i].bound;
    }
    if (flags & 0x80) { /* an index the kernel does not have */
        static const int bad[] = {-1, INT32_MIN, NCS_MAX_TENSORS, 1000};
        int index = flags & 0x40 ? k->n_inputs : bad[flags & 3];
        bind_input(&in, call, index, NULL, NULL);
    }

    /* Parameters. */
    bool descending = false;
    int nparams = fz_u8(&in) % 6;
    for (int i = 0; i < nparams; i++) {
        uint8_t kb = fz_u8(&in);
        const char *key;
        const ncs_param_desc *p = NULL;
        if (kb < 200 && k->n_params > 0) {
            p = &k->params[kb % k->n_params];
            key = p->name;
        } else {
            key = odd_keys[kb % (sizeof odd_keys / sizeof odd_keys[0])];
            for (int q = 0; q < k->n_params; q++) {
                if (strcmp(k->params[q].name, key) == 0)
                    p = &k->params[q];
            }
        }
        uint8_t vb = fz_u8(&in);
        char raw[64];
        const char *value = vb < 160 ? odd_texts[vb % (sizeof odd_texts / sizeof odd_texts[0])]
                                     : fz_string(&in, raw, sizeof raw);
        int status = ncs_call_set_param(call, key, value);
        TRACE("set_param '%s' = '%s' -> %d\n", key, value, status);
        FZ_CHECK(status == NCS_OK || status == NCS_E_INVALID_ARGUMENT, "set_param gave %d", status);
        if (p == NULL)
            FZ_CHECK(status == NCS_E_INVALID_ARGUMENT, "unknown parameter '%s' accepted", key);
        else if (p->type == NCS_PARAM_STRING)
            FZ_CHECK(status == NCS_OK, "string parameter '%s' refused '%s'", key, value);
        else if (p->type == NCS_PARAM_BOOL) {
            bool valid = !strcmp(value, "true") || !strcmp(value, "false") || !strcmp(value, "1") ||
                         !strcmp(value, "0");
            FZ_CHECK((status == NCS_OK) == valid, "bool parameter '%s' = '%s' gave %d", key, value,
                     status);
            if (valid && strcmp(key, "descending") == 0)
                descending = !strcmp(value, "true") || !strcmp(value, "1");
        }
        if (status != NCS_OK)
            FZ_CHECK(ncs_call_error(call)[0] != '\0', "set_param failed without a message");
    }
    FZ_CHECK(ncs_call_set_param(call, NULL, "1") == NCS_E_INVALID_ARGUMENT, "NULL key");

    /* Prepare. */
    uint8_t mb = fz_u8(&in);
    int max_parts = mb < 248 ? 1 + mb % 8 : (int)(mb & 1) - 1; /* 1..8, or 0 / -1 */
    int nparts = -7;
    TRACE("prepare %s, max_parts %d\n", name, max_parts);
    int status = ncs_call_prepare(call, max_parts, &nparts);
    TRACE("prepare -> %d, %d parts %s\n", status, nparts, ncs_call_error(call));
    FZ_CHECK(clean_status(status) && status != NCS_E_CANCELLED, "prepare of %s gave %d: %s", name,
             status, ncs_call_error(call));
    if (max_parts < 1 || !all_bound)
        FZ_CHECK(status == NCS_E_INVALID_ARGUMENT,
                 "prepare with max_parts %d, all bound %d gave %d", max_parts, all_bound, status);
    uint64_t nbytes;
    if (status != NCS_OK) {
        FZ_CHECK(ncs_call_error(call)[0] != '\0', "prepare failed without a message");
        FZ_CHECK(nparts == -7, "failed prepare wrote out_parts");
        FZ_CHECK(ncs_call_output_nbytes(call, 0, &nbytes) == NCS_E_INVALID_ARGUMENT,
                 "nbytes after failure");
        FZ_CHECK(ncs_call_run_part(call, 0) == NCS_E_INVALID_ARGUMENT,
                 "run after a failed prepare");
    } else {
        FZ_CHECK(nparts >= 1 && nparts <= max_parts, "%d parts of at most %d", nparts, max_parts);
        FZ_CHECK(ncs_call_prepare(call, 1, &nparts) == NCS_E_INVALID_ARGUMENT, "second prepare");
        int64_t shape[NCS_MAX_RANK];
        FZ_CHECK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 0, shape, 0) == NCS_E_INVALID_ARGUMENT,
                 "set_input after prepare");
        for (int o = 0; o < k->n_outputs; o++) {
            int dtype, rank;
            FZ_CHECK(ncs_call_output_info(call, o, &dtype, &rank, shape) == NCS_OK, "output_info");
            FZ_CHECK(ncs_call_output_nbytes(call, o, &nbytes) == NCS_OK, "output_nbytes");
            const ncs_tensor_desc *d = &k->outputs[o];
            FZ_CHECK(d->dtypes & NCS_DTYPE_BIT(dtype), "output %s has dtype %d", d->name, dtype);
            FZ_CHECK(rank >= 0 && rank <= NCS_MAX_RANK &&
                         (d->rank == NCS_RANK_ANY || rank == d->rank),
                     "output %s has rank %d", d->name, rank);
            uint64_t count = 1;
            for (int r = 0; r < rank; r++) {
                FZ_CHECK(shape[r] >= 0, "negative output dim");
                FZ_CHECK(d->rank == NCS_RANK_ANY || d->dims[r] == NCS_DIM_ANY ||
                             d->dims[r] == shape[r],
                         "output %s dim %d is %lld", d->name, r, (long long)shape[r]);
                count *= (uint64_t)shape[r];
            }
            if (dtype != NCS_DTYPE_BYTES)
                FZ_CHECK(nbytes == count * ncs_dtype_size(dtype),
                         "output %s: %llu bytes for %llu elements", d->name,
                         (unsigned long long)nbytes, (unsigned long long)count);
        }
        FZ_CHECK(ncs_call_output_info(call, k->n_outputs, &status, &status, shape) ==
                     NCS_E_INVALID_ARGUMENT,
                 "output_info out of range");

        /* Parts. */
        uint8_t pb = fz_u8(&in);
        bool reversed = pb & 1;
        int cancel_before = (pb & 2) ? (pb >> 2) % nparts : -1;
        bool failed = false;
        for (int i = 0; i < nparts; i++) {
            int part = reversed ? nparts - 1 - i : i;
            if (part == cancel_before)
                ncs_call_cancel(call);
            int ps = ncs_call_run_part(call, part);
            TRACE("part %d -> %d %s\n", part, ps, ncs_call_error(call));
            FZ_CHECK(clean_status(ps), "part %d of %s gave %d: %s", part, name, ps,
                     ncs_call_error(call));
            if (cancel_before >= 0 && i >= (reversed ? nparts - 1 - cancel_before : cancel_before))
                FZ_CHECK(ps == NCS_E_CANCELLED, "part %d ran after the cancellation", part);
            if (ps == NCS_E_CANCELLED)
                FZ_CHECK(cancel_before >= 0 || failed, "part %d cancelled out of the blue", part);
            if (ps != NCS_OK) {
                FZ_CHECK(ncs_call_error(call)[0] != '\0', "part failed without a message");
                failed = true;
            }
        }
        FZ_CHECK(ncs_call_run_part(call, nparts) == NCS_E_INVALID_ARGUMENT, "part out of range");
        FZ_CHECK(ncs_call_run_part(call, 0) == NCS_E_INVALID_ARGUMENT, "part run twice");
        int fs = ncs_call_finish(call);
        TRACE("finish -> %d %s\n", fs, ncs_call_error(call));
        FZ_CHECK(clean_status(fs), "finish of %s gave %d: %s", name, fs, ncs_call_error(call));
        if (failed)
            FZ_CHECK(fs != NCS_OK, "finish succeeded after a failed part");
        if (fs != NCS_OK)
            FZ_CHECK(ncs_call_error(call)[0] != '\0', "finish failed without a message");
        if (fs == NCS_OK) {
            uint8_t take = fz_u8(&in);
            for (int o = 0; o < k->n_outputs; o++) {
                if (take & (1u << (o % 8)))
                    continue; /* left to destroy */
                ncs_handle out = 0;
                FZ_CHECK(ncs_call_output_nbytes(call, o, &nbytes) == NCS_OK, "nbytes");
                FZ_CHECK(ncs_call_take_output(call, o, &out) == NCS_OK && out != 0, "take_output");
                FZ_CHECK(ncs_call_take_output(call, o, &out) == NCS_E_INVALID_ARGUMENT,
                         "taken twice");
                uint64_t addr, got;
                FZ_CHECK(ncs_buffer_data(out, &addr, &got) == NCS_OK && got == nbytes,
                         "output buffer of %llu bytes, declared %llu", (unsigned long long)got,
                         (unsigned long long)nbytes);
                const unsigned char *p = (const unsigned char *)(uintptr_t)addr;
                unsigned sum = 0;
                for (uint64_t i = 0; i < got; i++)
                    sum += p[i];
                (void)sum;
                int dtype, rank;
                int64_t shape2[NCS_MAX_RANK];
                FZ_CHECK(ncs_call_output_info(call, o, &dtype, &rank, shape2) == NCS_OK, "info");
                check_result(name, inputs, o, p, got, dtype, descending);
                FZ_CHECK(ncs_buffer_release(out) == NCS_OK, "release of an output");
            }
        } else {
            ncs_handle out = 0;
            FZ_CHECK(ncs_call_take_output(call, 0, &out) == NCS_E_INVALID_ARGUMENT && out == 0,
                     "take_output after a failed finish");
        }
    }
    uint64_t leaked = 7, leaked_bytes = 7;
    ncs_call_destroy(call, &leaked, &leaked_bytes);
    FZ_CHECK(leaked == 0 && leaked_bytes == 0, "built-in kernel %s leaked %llu buffers", name,
             (unsigned long long)leaked);
    for (int i = 0; i < k->n_inputs; i++) {
        if (inputs[i].own != 0)
            FZ_CHECK(ncs_buffer_release(inputs[i].own) == NCS_OK, "release of an input");
        free(inputs[i].copy);
    }
    uint64_t after[NCS_STAT_COUNT];
    fz_stats(after);
    FZ_CHECK(after[NCS_STAT_LIVE_BUFFERS] == 0 && after[NCS_STAT_LIVE_BYTES] == 0,
             "%llu buffers (%llu bytes) live after a call of %s",
             (unsigned long long)after[NCS_STAT_LIVE_BUFFERS],
             (unsigned long long)after[NCS_STAT_LIVE_BYTES], name);
    FZ_CHECK(after[NCS_STAT_KERNEL_LEAKS] == before[NCS_STAT_KERNEL_LEAKS], "kernel leaks counted");
    FZ_CHECK(after[NCS_STAT_DOUBLE_RELEASES] == before[NCS_STAT_DOUBLE_RELEASES],
             "double releases");
    return 0;
}
