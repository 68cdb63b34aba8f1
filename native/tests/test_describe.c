/*
 * test_describe.c -- describe against a two-pass reference in long double, with numpy's
 * semantics for NaN, infinities, empty and one-element tensors, FP32, large offsets, and
 * several parts.
 */
#include <math.h>

#include "check.h"

typedef struct result {
    int64_t count;
    double mean, std, min, max;
} result;

/* Runs describe on `data` and returns its five outputs; *nparts receives the part count. */
static result describe(const void *data, int dtype, int rank, const int64_t *shape, int max_parts,
                       int *nparts)
{
    int64_t count = 1;
    for (int r = 0; r < rank; r++)
        count *= shape[r];
    ncs_handle x = buffer_from(data, (size_t)count * ncs_dtype_size(dtype));
    ncs_call *call;
    CHECK_OK(ncs_call_create("describe", &call));
    CHECK_OK(ncs_call_set_input(call, 0, dtype, rank, shape, x));
    CHECK_OK(ncs_buffer_release(x)); /* the call holds its own reference */
    CHECK_OK(ncs_call_prepare(call, max_parts, nparts));
    CHECK(*nparts >= 1 && *nparts <= max_parts);
    CHECK_OK(run_parts_and_finish(call, *nparts));
    CHECK(ncs_call_progress(call) == (uint64_t)count);
    ncs_handle out[5];
    for (int i = 0; i < 5; i++) {
        int out_dtype, out_rank;
        int64_t dims[NCS_MAX_RANK];
        CHECK_OK(ncs_call_output_info(call, i, &out_dtype, &out_rank, dims));
        CHECK(out_dtype == (i == 0 ? NCS_DTYPE_INT64 : NCS_DTYPE_FP64) && out_rank == 1 && dims[0] == 1);
        CHECK_OK(ncs_call_take_output(call, i, &out[i]));
    }
    ncs_call_destroy(call, NULL);
    result r;
    r.count = *(const int64_t *)buffer_memory(out[0]);
    r.mean = *(const double *)buffer_memory(out[1]);
    r.std = *(const double *)buffer_memory(out[2]);
    r.min = *(const double *)buffer_memory(out[3]);
    r.max = *(const double *)buffer_memory(out[4]);
    for (int i = 0; i < 5; i++)
        CHECK_OK(ncs_buffer_release(out[i]));
    return r;
}

static result describe_f64(const double *x, int64_t n, int max_parts, int *nparts)
{
    return describe(x, NCS_DTYPE_FP64, 1, &n, max_parts, nparts);
}

/* Two-pass mean and population std in long double; NaN-free finite input. */
static result reference(const double *x, int64_t n)
{
    long double sum = 0, sq = 0;
    result r = {.count = n, .min = INFINITY, .max = -INFINITY};
    for (int64_t i = 0; i < n; i++) {
        sum += x[i];
        r.min = x[i] < r.min ? x[i] : r.min;
        r.max = x[i] > r.max ? x[i] : r.max;
    }
    long double mean = sum / n;
    for (int64_t i = 0; i < n; i++)
        sq += (x[i] - mean) * (x[i] - mean);
    r.mean = (double)mean;
    r.std = (double)sqrtl(sq / n);
    return r;
}

/* Same value, both NaN, or within `rel` relative error. */
static int close_to(double got, double want, double rel)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= rel * fabs(want) + 1e-300;
}

#define CHECK_RESULT(got, want, rel)                                                          \
    do {                                                                                      \
        result g_ = (got), w_ = (want);                                                       \
        if (g_.count != w_.count || !close_to(g_.mean, w_.mean, rel) ||                       \
            !close_to(g_.std, w_.std, rel) || !close_to(g_.min, w_.min, 0) ||                  \
            !close_to(g_.max, w_.max, 0)) {                                                   \
            fprintf(stderr,                                                                   \
                    "%s:%d: got count %lld mean %.17g std %.17g min %.17g max %.17g\n"        \
                    "   expected count %lld mean %.17g std %.17g min %.17g max %.17g\n",      \
                    __FILE__, __LINE__, (long long)g_.count, g_.mean, g_.std, g_.min, g_.max, \
                    (long long)w_.count, w_.mean, w_.std, w_.min, w_.max);                    \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

static result expect(int64_t count, double mean, double std, double min, double max)
{
    result r = {count, mean, std, min, max};
    return r;
}

static void test_basic(void)
{
    int nparts;
    double x[4] = {1, 2, 3, 4};
    CHECK_RESULT(describe_f64(x, 4, 4, &nparts), expect(4, 2.5, sqrt(1.25), 1, 4), 1e-15);
    CHECK(nparts == 1);
    double one[1] = {5};
    CHECK_RESULT(describe_f64(one, 1, 1, &nparts), expect(1, 5, 0, 5, 5), 0);
    double scalar = -7;
    CHECK_RESULT(describe(&scalar, NCS_DTYPE_FP64, 0, NULL, 1, &nparts), expect(1, -7, 0, -7, -7), 0);
    int64_t cube[3] = {2, 3, 4};
    double values[24];
    for (int i = 0; i < 24; i++)
        values[i] = i * 0.5 - 3;
    CHECK_RESULT(describe(values, NCS_DTYPE_FP64, 3, cube, 2, &nparts), reference(values, 24), 1e-15);
}

static void test_nan_inf_empty(void)
{
    int nparts;
    double with_nan[3] = {1, NAN, 3};
    CHECK_RESULT(describe_f64(with_nan, 3, 1, &nparts), expect(3, NAN, NAN, NAN, NAN), 0);
    double inf_one[2] = {INFINITY, 1};
    CHECK_RESULT(describe_f64(inf_one, 2, 1, &nparts), expect(2, INFINITY, NAN, 1, INFINITY), 0);
    double inf_minus_inf[2] = {INFINITY, -INFINITY};
    CHECK_RESULT(describe_f64(inf_minus_inf, 2, 1, &nparts), expect(2, NAN, NAN, -INFINITY, INFINITY), 0);
    double minus_infs[3] = {-INFINITY, -INFINITY, 2};
    CHECK_RESULT(describe_f64(minus_infs, 3, 1, &nparts), expect(3, -INFINITY, NAN, -INFINITY, 2), 0);
    double only_inf[1] = {INFINITY};
    CHECK_RESULT(describe_f64(only_inf, 1, 1, &nparts), expect(1, INFINITY, NAN, INFINITY, INFINITY), 0);
    CHECK_RESULT(describe_f64(NULL, 0, 4, &nparts), expect(0, NAN, NAN, NAN, NAN), 0);
    CHECK(nparts == 1);
    int64_t empty[2] = {3, 0};
    CHECK_RESULT(describe(NULL, NCS_DTYPE_FP32, 2, empty, 1, &nparts), expect(0, NAN, NAN, NAN, NAN), 0);
    float nan32[2] = {NAN, 1};
    int64_t two = 2;
    CHECK_RESULT(describe(nan32, NCS_DTYPE_FP32, 1, &two, 1, &nparts), expect(2, NAN, NAN, NAN, NAN), 0);
}

static void test_fp32(void)
{
    enum { N = 1001 };
    float x[N];
    double widened[N];
    uint64_t seed = 42;
    for (int i = 0; i < N; i++) {
        x[i] = (float)(100 * test_random(&seed) - 30);
        widened[i] = x[i];
    }
    int nparts;
    int64_t n = N;
    CHECK_RESULT(describe(x, NCS_DTYPE_FP32, 1, &n, 3, &nparts), reference(widened, N), 1e-13);
}

/* Large offset plus small noise: a naive sum-of-squares formula loses every digit here. */
static void test_large_offset_many_parts(void)
{
    const int64_t n = 1000003;
    double *x = malloc((size_t)n * sizeof *x);
    CHECK(x != NULL);
    uint64_t seed = 7;
    for (int64_t i = 0; i < n; i++)
        x[i] = 1e9 + (test_random(&seed) - 0.5);
    result want = reference(x, n);
    int nparts;
    CHECK_RESULT(describe_f64(x, n, 1, &nparts), want, 1e-13);
    CHECK(nparts == 1);
    CHECK_RESULT(describe_f64(x, n, 8, &nparts), want, 1e-13);
    CHECK(nparts == 3);
    CHECK(fabs(want.std - sqrt(1.0 / 12)) < 1e-3);

    /* One NaN or infinity in the last part decides the result of all parts. */
    x[n - 5] = NAN;
    CHECK_RESULT(describe_f64(x, n, 4, &nparts), expect(n, NAN, NAN, NAN, NAN), 0);
    x[n - 5] = INFINITY;
    CHECK_RESULT(describe_f64(x, n, 4, &nparts), expect(n, INFINITY, NAN, want.min, INFINITY), 0);
    x[3] = -INFINITY;
    CHECK_RESULT(describe_f64(x, n, 4, &nparts), expect(n, NAN, NAN, -INFINITY, INFINITY), 0);
    x[n - 5] = -INFINITY;
    CHECK_RESULT(describe_f64(x, n, 4, &nparts), expect(n, -INFINITY, NAN, -INFINITY, want.max), 0);
    free(x);
}

static void test_rejects_other_dtypes(void)
{
    int32_t values[4] = {1, 2, 3, 4};
    ncs_handle x = buffer_from(values, sizeof values);
    ncs_call *call;
    int64_t n = 4;
    CHECK_OK(ncs_call_create("describe", &call));
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_INT32, 1, &n, x), NCS_E_INVALID_ARGUMENT);
    ncs_call_destroy(call, NULL);
    CHECK_OK(ncs_buffer_release(x));
}

int main(void)
{
    RUN_TEST(test_basic);
    RUN_TEST(test_nan_inf_empty);
    RUN_TEST(test_fp32);
    RUN_TEST(test_large_offset_many_parts);
    RUN_TEST(test_rejects_other_dtypes);
    return 0;
}
