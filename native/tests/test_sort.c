/*
 * test_sort.c -- sort against qsort with a reference comparator, for the four dtypes, special
 * floating-point values (NaN payloads kept bit for bit), duplicates, clustered values, edge and
 * prime sizes, both directions, several parts (one after the other and on their own threads),
 * and cancellation.
 */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "check.h"

static int descending_order; /* direction used by the qsort comparators */

/* Ascending total order: -0.0 before +0.0 and NaNs last; descending reverses the non-NaN
   values and keeps NaNs last. */
static int compare_doubles(double a, double b)
{
    int a_nan = isnan(a) != 0, b_nan = isnan(b) != 0;
    if (a_nan || b_nan)
        return a_nan - b_nan;
    int order = a < b ? -1 : a > b ? 1 : (signbit(b) != 0) - (signbit(a) != 0);
    return descending_order ? -order : order;
}

static int cmp_f64(const void *a, const void *b)
{
    return compare_doubles(*(const double *)a, *(const double *)b);
}

static int cmp_f32(const void *a, const void *b)
{
    return compare_doubles(*(const float *)a, *(const float *)b);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int order = x < y ? -1 : x > y;
    return descending_order ? -order : order;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    int order = x < y ? -1 : x > y;
    return descending_order ? -order : order;
}

static int is_nan_at(const void *data, int dtype, int64_t i)
{
    if (dtype == NCS_DTYPE_FP64)
        return isnan(((const double *)data)[i]);
    if (dtype == NCS_DTYPE_FP32)
        return isnan(((const float *)data)[i]);
    return 0;
}

/* The bit patterns of the NaNs among data[0..n), sorted (count in *count). */
static uint64_t *nan_bits(const void *data, int dtype, int64_t n, int64_t *count)
{
    uint64_t *bits = malloc((size_t)n * sizeof *bits + 1);
    CHECK(bits != NULL);
    *count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!is_nan_at(data, dtype, i))
            continue;
        uint64_t b = 0;
        memcpy(&b, (const unsigned char *)data + i * (int64_t)ncs_dtype_size(dtype),
               ncs_dtype_size(dtype));
        bits[(*count)++] = b;
    }
    for (int64_t i = 1; i < *count; i++) { /* insertion sort: few NaNs */
        uint64_t b = bits[i];
        int64_t j = i;
        for (; j > 0 && bits[j - 1] > b; j--)
            bits[j] = bits[j - 1];
        bits[j] = b;
    }
    return bits;
}

static int check_sort_on(const void *data, int dtype, int64_t n, int descending, int max_parts,
                         int concurrent);

/* Sorts data[0..n) with the kernel and compares with qsort. `descending`: -1 leaves the
   parameter at its default. Returns the number of parts used. */
static int check_sort(const void *data, int dtype, int64_t n, int descending, int max_parts)
{
    return check_sort_on(data, dtype, n, descending, max_parts, 0);
}

/* check_sort, with the parts on their own threads when `concurrent`. */
static int check_sort_on(const void *data, int dtype, int64_t n, int descending, int max_parts,
                         int concurrent)
{
    size_t size = ncs_dtype_size(dtype);
    ncs_handle x = buffer_from(data, (size_t)n * size);
    ncs_call *call;
    CHECK_OK(ncs_call_create("sort", &call));
    CHECK_OK(ncs_call_set_input(call, 0, dtype, 1, &n, x));
    if (descending >= 0)
        CHECK_OK(ncs_call_set_param(call, "descending", descending ? "true" : "false"));
    int nparts;
    CHECK_OK(ncs_call_prepare(call, max_parts, &nparts));
    CHECK(nparts >= 1 && nparts <= max_parts);
    CHECK_OK(concurrent ? run_parts_concurrently(call, nparts)
                        : run_parts_and_finish(call, nparts));
    CHECK(ncs_call_progress(call) == (uint64_t)n);
    ncs_handle out;
    CHECK_OK(ncs_call_take_output(call, 0, &out));
    ncs_call_destroy(call, NULL, NULL);

    void *want = malloc((size_t)n * size + 1);
    CHECK(want != NULL);
    memcpy(want, data, (size_t)n * size);
    descending_order = descending > 0;
    int (*cmp)(const void *, const void *) = dtype == NCS_DTYPE_FP64    ? cmp_f64
                                             : dtype == NCS_DTYPE_FP32  ? cmp_f32
                                             : dtype == NCS_DTYPE_INT64 ? cmp_i64
                                                                        : cmp_i32;
    qsort(want, (size_t)n, size, cmp);
    const unsigned char *got = n ? buffer_memory(out) : NULL;
    for (int64_t i = 0; i < n; i++) {
        int same = is_nan_at(want, dtype, i)
                       ? is_nan_at(got, dtype, i)
                       : memcmp(got + i * size, (unsigned char *)want + i * size, size) == 0;
        if (!same) {
            fprintf(stderr, "sort %s n=%lld descending=%d parts=%d: wrong element at %lld\n",
                    ncs_dtype_name(dtype), (long long)n, descending, nparts, (long long)i);
            exit(1);
        }
    }
    /* NaNs come last, with their exact bits (sign and payload). */
    int64_t nans_in, nans_out;
    uint64_t *bits_in = nan_bits(data, dtype, n, &nans_in),
             *bits_out = nan_bits(got, dtype, n, &nans_out);
    CHECK(nans_in == nans_out && memcmp(bits_in, bits_out, (size_t)nans_in * sizeof *bits_in) == 0);
    for (int64_t i = n - nans_in; i < n; i++)
        CHECK(is_nan_at(got, dtype, i));
    free(bits_in);
    free(bits_out);
    free(want);
    CHECK_OK(ncs_buffer_release(out));
    CHECK_OK(ncs_buffer_release(x));
    return nparts;
}

/* Random values of `dtype` with duplicates and, for floats, the special values. */
static void *make_values(int dtype, int64_t n, uint64_t seed)
{
    void *data = malloc((size_t)n * ncs_dtype_size(dtype) + 1);
    CHECK(data != NULL);
    double nan_neg = -NAN;
    const double specials[] = {NAN,      nan_neg,   -0.0, 0.0,  INFINITY, -INFINITY,
                               4.9e-324, -4.9e-324, 1.0,  -1.0, 1e308,    -1e308};
    for (int64_t i = 0; i < n; i++) {
        double u = test_random(&seed);
        int kind = (int)(test_random(&seed) * 8);
        double v = kind == 0   ? specials[(int)(u * 12)]
                   : kind <= 2 ? (double)((int)(u * 40) - 20) /* duplicates */
                               : (u - 0.5) * 1e6;
        switch (dtype) {
        case NCS_DTYPE_FP64: ((double *)data)[i] = v; break;
        case NCS_DTYPE_FP32: ((float *)data)[i] = (float)v; break;
        case NCS_DTYPE_INT64:
            ((int64_t *)data)[i] = kind == 0   ? (u < 0.5 ? INT64_MIN : INT64_MAX)
                                   : kind <= 2 ? (int64_t)v
                                               : (int64_t)((u - 0.5) * 9e18);
            break;
        default:
            ((int32_t *)data)[i] = kind == 0   ? (u < 0.5 ? INT32_MIN : INT32_MAX)
                                   : kind <= 2 ? (int32_t)v
                                               : (int32_t)((u - 0.5) * 4e9);
        }
    }
    return data;
}

static const int dtypes[] = {NCS_DTYPE_FP64, NCS_DTYPE_FP32, NCS_DTYPE_INT64, NCS_DTYPE_INT32};

static void test_small_sizes(void)
{
    const int64_t sizes[] = {0, 1, 2, 3, 63, 64, 65, 1000, 5000};
    for (int d = 0; d < 4; d++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            void *data = make_values(dtypes[d], sizes[s], (uint64_t)(s + 1) * 31 + (uint64_t)d);
            for (int descending = -1; descending <= 1; descending++)
                CHECK(check_sort(data, dtypes[d], sizes[s], descending, 4) == 1);
            free(data);
        }
    }
}

static void test_special_values(void)
{
    double x[] = {0.0,      -0.0, NAN, 1.0,  -INFINITY, -0.0,
                  INFINITY, -NAN, 0.0, -1.0, 4.9e-324,  -4.9e-324};
    int64_t n = sizeof x / sizeof x[0];
    check_sort(x, NCS_DTYPE_FP64, n, 0, 1);
    check_sort(x, NCS_DTYPE_FP64, n, 1, 1);
    float y[] = {0.0f, -0.0f, NAN, 1.0f, -INFINITY, -0.0f, INFINITY, -NAN, 0.0f, -1.0f, 1e-45f};
    check_sort(y, NCS_DTYPE_FP32, sizeof y / sizeof y[0], 0, 1);
    check_sort(y, NCS_DTYPE_FP32, sizeof y / sizeof y[0], 1, 1);

    /* Spelled out: ascending -inf, -1, -0, -0, 0, 0, 1, inf, NaN, NaN (and 1e-45 subnormals). */
    double z[] = {NAN, 0.0, -0.0, INFINITY, -1.0};
    ncs_handle h = buffer_from(z, sizeof z);
    ncs_call *call;
    int64_t n5 = 5;
    int nparts;
    CHECK_OK(ncs_call_create("sort", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, &n5, h));
    CHECK_OK(ncs_call_set_param(call, "descending", "true"));
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    CHECK_OK(run_parts_and_finish(call, nparts));
    ncs_handle out;
    CHECK_OK(ncs_call_take_output(call, 0, &out));
    ncs_call_destroy(call, NULL, NULL);
    const double *s = buffer_memory(out);
    CHECK(s[0] == INFINITY && s[1] == 0.0 && !signbit(s[1]) && s[2] == 0.0 && signbit(s[2]) &&
          s[3] == -1.0 && isnan(s[4]));
    CHECK_OK(ncs_buffer_release(out));
    CHECK_OK(ncs_buffer_release(h));
}

static void test_many_parts(void)
{
    const int64_t n = 300001;
    const int limits[] = {1, 2, 3, 5};
    for (int d = 0; d < 4; d++) {
        void *data = make_values(dtypes[d], n, 99 + (uint64_t)d);
        for (int l = 0; l < 4; l++) {
            int nparts = check_sort(data, dtypes[d], n, l % 2, limits[l]);
            CHECK(nparts == (limits[l] < 4 ? limits[l] : 4));
        }
        free(data);
    }
    /* Keys that agree on most digits (radix passes skipped), in several parts. */
    int64_t *small = malloc((size_t)n * sizeof *small);
    CHECK(small != NULL);
    uint64_t seed = 5;
    for (int64_t i = 0; i < n; i++)
        small[i] = (int64_t)(test_random(&seed) * 300) - 150;
    check_sort(small, NCS_DTYPE_INT64, n, 0, 3);
    for (int64_t i = 0; i < n; i++)
        small[i] = 42;
    check_sort(small, NCS_DTYPE_INT64, n, 1, 3);
    free(small);
}

/* Random uniform values plus NaNs of both signs with random payloads (quiet and signalling). */
static void test_nan_payloads(void)
{
    const int64_t n = 200003; /* prime; 3 parts at most */
    uint64_t seed = 17;
    double *d = malloc((size_t)n * sizeof *d);
    float *f = malloc((size_t)n * sizeof *f);
    CHECK(d != NULL && f != NULL);
    for (int64_t i = 0; i < n; i++) {
        double u = test_random(&seed);
        uint64_t payload = (uint64_t)(test_random(&seed) * 0x1p52);
        if (u < 0.05) {
            uint64_t b = UINT64_C(0x7ff0000000000000) | (payload ? payload : 1) |
                         (u < 0.025 ? UINT64_C(0x8000000000000000) : 0);
            memcpy(&d[i], &b, sizeof b);
            uint32_t b32 = UINT32_C(0x7f800000) |
                           ((uint32_t)(payload >> 29) ? (uint32_t)(payload >> 29) : 1) |
                           (u < 0.025 ? UINT32_C(0x80000000) : 0);
            memcpy(&f[i], &b32, sizeof b32);
        } else {
            d[i] = (u - 0.5) * 1e3;
            f[i] = (float)d[i];
        }
    }
    for (int descending = 0; descending <= 1; descending++) {
        CHECK(check_sort_on(d, NCS_DTYPE_FP64, n, descending, 1, 0) == 1);
        CHECK(check_sort_on(d, NCS_DTYPE_FP64, n, descending, 2, 1) == 2);
        CHECK(check_sort_on(f, NCS_DTYPE_FP32, n, descending, 3, 0) == 3);
        CHECK(check_sort_on(f, NCS_DTYPE_FP32, n, descending, 2, 1) == 2);
    }
    free(d);
    free(f);
}

/* Most values in a narrow cluster (so one top-level bucket exceeds the in-cache scratch and is
   partitioned in place), the rest spread far on both sides. */
static void test_clustered(void)
{
    const int64_t n = 300007;
    for (int pattern = 0; pattern < 2; pattern++) {
        for (int d = 0; d < 4; d++) {
            int dtype = dtypes[d];
            void *data = malloc((size_t)n * ncs_dtype_size(dtype));
            CHECK(data != NULL);
            uint64_t seed = 23 + (uint64_t)(d + 4 * pattern);
            for (int64_t i = 0; i < n; i++) {
                double u = test_random(&seed), w = test_random(&seed);
                /* pattern 0: 1000 distinct cluster values; pattern 1: two */
                int64_t step = pattern == 0 ? (int64_t)(w * 1000) : (int64_t)(w * 2);
                int64_t wide = (int64_t)((w - 0.5) * 2e9);
                switch (dtype) {
                case NCS_DTYPE_FP64:
                    ((double *)data)[i] = u < 0.85 ? nextafter(1.0, 2.0) + (double)step * 0x1p-52
                                                   : (w - 0.5) * 1e12;
                    break;
                case NCS_DTYPE_FP32:
                    ((float *)data)[i] = u < 0.85 ? 1.0f + (float)step * 0x1p-23f
                                                  : (float)((w - 0.5) * 1e12);
                    break;
                case NCS_DTYPE_INT64:
                    ((int64_t *)data)[i] = u < 0.85 ? 5000 + step : wide * 1000000;
                    break;
                default: ((int32_t *)data)[i] = u < 0.85 ? (int32_t)(5000 + step) : (int32_t)wide;
                }
            }
            for (int descending = 0; descending <= 1; descending++) {
                CHECK(check_sort_on(data, dtype, n, descending, 1, 0) == 1);
                CHECK(check_sort_on(data, dtype, n, descending, 2, 1) == 2);
                CHECK(check_sort_on(data, dtype, n, descending, 4, 0) == 4);
            }
            free(data);
        }
    }
}

/* Prime sizes around the part thresholds, parts on their own threads. */
static void test_prime_sizes(void)
{
    const int64_t sizes[] = {65537, 131071, 196613, 262147};
    for (int d = 0; d < 4; d++) {
        for (int s = 0; s < 4; s++) {
            void *data = make_values(dtypes[d], sizes[s], 7 + (uint64_t)(s + 4 * d));
            int64_t expect = sizes[s] / 65536;
            CHECK(check_sort_on(data, dtypes[d], sizes[s], s % 2, 2, 1) ==
                  (expect < 2 ? expect : 2));
            CHECK(check_sort_on(data, dtypes[d], sizes[s], 1 - s % 2, 4, 1) == (int)expect);
            free(data);
        }
    }
}

/* Cancelled while the parts run: they stop at their next poll (or finish first). Cancelling
   before any part runs is checked for every kernel by test_kernel_contract. */
static void test_cancel_while_running(void)
{
    const int64_t big = 6 << 20;
    double *values = malloc((size_t)big * sizeof *values);
    CHECK(values != NULL);
    uint64_t seed = 11;
    for (int64_t i = 0; i < big; i++)
        values[i] = test_random(&seed);
    ncs_handle x = buffer_from(values, (size_t)big * sizeof *values);
    free(values);
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("sort", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, &big, x));
    CHECK_OK(ncs_call_prepare(call, 2, &nparts));
    pthread_t threads[2];
    void *jobs[2][2];
    for (int p = 0; p < nparts; p++) {
        jobs[p][0] = call;
        jobs[p][1] = (void *)(intptr_t)p;
        CHECK(pthread_create(&threads[p], NULL, run_part_job, jobs[p]) == 0);
    }
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, NULL);
    ncs_call_cancel(call);
    for (int p = 0; p < nparts; p++) {
        void *result;
        CHECK(pthread_join(threads[p], &result) == 0);
        CHECK((int)(intptr_t)result == NCS_OK || (int)(intptr_t)result == NCS_E_CANCELLED);
    }
    uint64_t leaked = 99;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    CHECK_OK(ncs_buffer_release(x));
}

static void test_rejects(void)
{
    double x[4] = {4, 3, 2, 1};
    ncs_handle h = buffer_from(x, sizeof x);
    ncs_call *call;
    int64_t shape[2] = {2, 2};
    CHECK_OK(ncs_call_create("sort", &call));
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 2, shape, h), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_UINT8, 1, shape, h), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_param(call, "descending", "maybe"), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_call_set_param(call, "reverse", "true"), NCS_E_INVALID_ARGUMENT);
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(h));
}

int main(void)
{
    RUN_TEST(test_small_sizes);
    RUN_TEST(test_special_values);
    RUN_TEST(test_many_parts);
    RUN_TEST(test_nan_payloads);
    RUN_TEST(test_clustered);
    RUN_TEST(test_prime_sizes);
    RUN_TEST(test_cancel_while_running);
    RUN_TEST(test_rejects);
    return 0;
}
