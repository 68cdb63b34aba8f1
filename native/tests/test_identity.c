/*
 * test_identity.c -- the "identity" kernel through the public API only: every dtype (BYTES
 * included) at rank 0, 1 and 3, empty tensors, a large FP64 tensor split into parts, and the
 * output's size and metadata (ncs_call_output_info, ncs_call_output_nbytes).
 */
#include "check.h"

static const int fixed_dtypes[] = {
    NCS_DTYPE_BOOL, NCS_DTYPE_UINT8, NCS_DTYPE_UINT16, NCS_DTYPE_UINT32, NCS_DTYPE_UINT64,
    NCS_DTYPE_INT8, NCS_DTYPE_INT16, NCS_DTYPE_INT32,  NCS_DTYPE_INT64,  NCS_DTYPE_FP16,
    NCS_DTYPE_FP32, NCS_DTYPE_FP64,  NCS_DTYPE_BF16,
};
#define FIXED_DTYPE_COUNT (sizeof fixed_dtypes / sizeof fixed_dtypes[0])

/*
 * Runs identity on `nbytes` bytes of `data` as a `dtype` tensor of shape dims[0..rank-1] with
 * at most `max_parts` parts; checks that y has x's dtype, shape, size and bytes and that the
 * progress counted every byte. Returns the number of parts used.
 */
static int check_identity(int dtype, int rank, const int64_t *dims, const void *data, size_t nbytes,
                          int max_parts)
{
    ncs_handle x = buffer_from(data, nbytes);
    ncs_call *call;
    int nparts = 0;
    CHECK_OK(ncs_call_create("identity", &call));
    CHECK_OK(ncs_call_set_input(call, 0, dtype, rank, dims, x));
    CHECK_OK(ncs_call_prepare(call, max_parts, &nparts));
    CHECK(nparts >= 1 && nparts <= max_parts);

    int out_dtype = 0, out_rank = -1;
    int64_t out_dims[NCS_MAX_RANK];
    uint64_t out_nbytes = 12345;
    CHECK_OK(ncs_call_output_info(call, 0, &out_dtype, &out_rank, out_dims));
    CHECK(out_dtype == dtype && out_rank == rank);
    for (int r = 0; r < rank; r++)
        CHECK(out_dims[r] == dims[r]);
    CHECK_OK(ncs_call_output_nbytes(call, 0, &out_nbytes));
    CHECK(out_nbytes == nbytes);

    CHECK_OK(run_parts_and_finish(call, nparts));
    CHECK(ncs_call_progress(call) == nbytes);
    ncs_handle y;
    CHECK_OK(ncs_call_take_output(call, 0, &y));
    CHECK_OK(ncs_call_output_nbytes(call, 0, &out_nbytes)); /* still answers after the take */
    CHECK(out_nbytes == nbytes);
    uint64_t leaked = 99;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);

    uint64_t addr, size;
    CHECK_OK(ncs_buffer_data(y, &addr, &size));
    CHECK(size == nbytes);
    CHECK(nbytes == 0 || memcmp((const void *)(uintptr_t)addr, data, nbytes) == 0);
    CHECK_OK(ncs_buffer_release(y));
    CHECK_OK(ncs_buffer_release(x));
    return nparts;
}

/* Serializes n strings as a BYTES tensor into out; returns its size. Strings may hold NULs:
   lengths come from `lengths`. */
static size_t bytes_tensor(const char *const *elements, const uint32_t *lengths, int n,
                           unsigned char *out)
{
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        uint32_t length = lengths[i];
        out[at++] = (unsigned char)(length & 0xff);
        out[at++] = (unsigned char)((length >> 8) & 0xff);
        out[at++] = (unsigned char)((length >> 16) & 0xff);
        out[at++] = (unsigned char)((length >> 24) & 0xff);
        memcpy(out + at, elements[i], length);
        at += length;
    }
    return at;
}

static void test_every_fixed_dtype(void)
{
    unsigned char data[4 * 3 * 2 * 8];
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof data; i++) /* arbitrary bits: NaN payloads, odd BOOLs, ... */
        data[i] = (unsigned char)(test_random(&state) * 256.0);
    for (size_t d = 0; d < FIXED_DTYPE_COUNT; d++) {
        int dtype = fixed_dtypes[d];
        size_t size = ncs_dtype_size(dtype);
        CHECK(size > 0);
        const int64_t vector[1] = {5};
        const int64_t cube[3] = {4, 3, 2};
        CHECK(check_identity(dtype, 1, vector, data, 5 * size, 4) == 1);
        CHECK(check_identity(dtype, 0, NULL, data + 3, size, 4) == 1);
        CHECK(check_identity(dtype, 3, cube, data, 24 * size, 4) == 1);
        const int64_t empty[1] = {0};
        const int64_t empty3[3] = {3, 0, 2};
        CHECK(check_identity(dtype, 1, empty, data, 0, 4) == 1);
        CHECK(check_identity(dtype, 3, empty3, data, 0, 1) == 1);
    }
}

static void test_bytes(void)
{
    unsigned char data[256];
    const char *words[] = {"hello", "", "w\xc3\xb6rld", "nul\0inside", "z"};
    const uint32_t lengths[] = {5, 0, 6, 10, 1};
    size_t n = bytes_tensor(words, lengths, 5, data);
    CHECK(n == 5 * 4 + 22);
    const int64_t vector[1] = {5};
    CHECK(check_identity(NCS_DTYPE_BYTES, 1, vector, data, n, 4) == 1);

    /* Rank 0: one element. */
    n = bytes_tensor(words, lengths, 1, data);
    CHECK(check_identity(NCS_DTYPE_BYTES, 0, NULL, data, n, 4) == 1);
    /* Rank 0 holding the empty string. */
    n = bytes_tensor(words + 1, lengths + 1, 1, data);
    CHECK(n == 4);
    CHECK(check_identity(NCS_DTYPE_BYTES, 0, NULL, data, n, 4) == 1);

    /* Rank 3: [2,1,2] = 4 elements, row-major. */
    const char *four[] = {"a", "bb", "", "dddd"};
    const uint32_t four_lengths[] = {1, 2, 0, 4};
    n = bytes_tensor(four, four_lengths, 4, data);
    const int64_t cube[3] = {2, 1, 2};
    CHECK(check_identity(NCS_DTYPE_BYTES, 3, cube, data, n, 4) == 1);

    /* Empty tensors have 0 bytes. */
    const int64_t empty[1] = {0};
    const int64_t empty2[2] = {0, 7};
    CHECK(check_identity(NCS_DTYPE_BYTES, 1, empty, data, 0, 4) == 1);
    CHECK(check_identity(NCS_DTYPE_BYTES, 2, empty2, data, 0, 4) == 1);

    /* A big element: one part whatever max_parts says. */
    enum { BIG = 100000 };
    static unsigned char big[4 + BIG];
    memset(big, 'q', sizeof big);
    big[0] = BIG & 0xff;
    big[1] = (BIG >> 8) & 0xff;
    big[2] = (BIG >> 16) & 0xff;
    big[3] = 0;
    const int64_t one[1] = {1};
    CHECK(check_identity(NCS_DTYPE_BYTES, 1, one, big, sizeof big, 8) == 1);
}

/* More than 16 MiB of FP64: parts are byte ranges of >= 8 MiB, here 2 (the split lands in the
   middle of an element when the halves are not multiples of 8, which memcpy does not mind). */
static void test_large_fp64_in_parts(void)
{
    const int64_t n = 2500001; /* 20000008 bytes */
    size_t nbytes = (size_t)n * sizeof(double);
    CHECK(nbytes > (16u << 20));
    double *values = malloc(nbytes);
    CHECK(values != NULL);
    uint64_t state = 42;
    for (int64_t i = 0; i < n; i++)
        values[i] = test_random(&state) * 1e6 - 5e5;
    values[7] = -0.0;
    memcpy(&values[8], &(uint64_t){0x7ff8dead00000001ull}, sizeof(double)); /* NaN payload */
    const int64_t shape[1] = {n};
    CHECK(check_identity(NCS_DTYPE_FP64, 1, shape, values, nbytes, 2) == 2);
    CHECK(check_identity(NCS_DTYPE_FP64, 1, shape, values, nbytes, 16) == 2); /* >= 8 MiB each */
    CHECK(check_identity(NCS_DTYPE_FP64, 1, shape, values, nbytes, 1) == 1);
    const int64_t matrix[2] = {1, n};
    CHECK(check_identity(NCS_DTYPE_FP64, 2, matrix, values, nbytes, 3) == 2);
    free(values);
}

static void test_output_nbytes_arguments(void)
{
    double values[2] = {1, 2};
    ncs_handle x = buffer_from(values, sizeof values);
    const int64_t shape[1] = {2};
    ncs_call *call;
    int nparts;
    uint64_t nbytes = 77;
    CHECK_OK(ncs_call_create("identity", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, shape, x));
    CHECK_STATUS(ncs_call_output_nbytes(call, 0, &nbytes),
                 NCS_E_INVALID_ARGUMENT); /* not prepared */
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    CHECK_STATUS(ncs_call_output_nbytes(NULL, 0, &nbytes), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_output_nbytes(call, 1, &nbytes), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_output_nbytes(call, -1, &nbytes), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_output_nbytes(call, 0, NULL), NCS_E_INVALID_ARGUMENT);
    CHECK(nbytes == 77);
    CHECK_OK(ncs_call_output_nbytes(call, 0, &nbytes));
    CHECK(nbytes == 16);
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(x));
}

int main(void)
{
    RUN_TEST(test_every_fixed_dtype);
    RUN_TEST(test_bytes);
    RUN_TEST(test_large_fp64_in_parts);
    RUN_TEST(test_output_nbytes_arguments);
    return 0;
}
