/*
 * test_describe.c -- describe against a two-pass reference in long double, with numpy's
 * semantics for NaN, infinities, empty and one-element tensors, FP32, large offsets, and
 * several parts. Percentiles: bit for bit against literal numpy.percentile results (computed
 * once with numpy 2.4 and embedded) and against a reference that sorts with qsort and applies
 * numpy's 'linear' formula, on many sizes and value patterns, FP32, NaN, several parts (also on
 * two threads); the parameter's syntax, empty x and cancellation.
 */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "check.h"
#include "cpu.h"

typedef struct result {
    int64_t count;
    double mean, std, min, max;
} result;

/*
 * Runs describe on `data` and returns its five scalar outputs; *nparts receives the part count.
 * `percentiles` (NULL: parameter not set) is the parameter's text; the percentiles output, of
 * shape [*npct], is copied to pct (room for at least *npct values when percentiles are asked).
 * Parts run one after the other, or each on its own thread when `threaded`.
 */
static result describe_full(const void *data, int dtype, int rank, const int64_t *shape,
                            int max_parts, int *nparts, const char *percentiles, double *pct,
                            int64_t *npct, int threaded)
{
    int64_t count = 1;
    for (int r = 0; r < rank; r++)
        count *= shape[r];
    ncs_handle x = buffer_from(data, (size_t)count * ncs_dtype_size(dtype));
    ncs_call *call;
    CHECK_OK(ncs_call_create("describe", &call));
    CHECK_OK(ncs_call_set_input(call, 0, dtype, rank, shape, x));
    CHECK_OK(ncs_buffer_release(x)); /* the call holds its own reference */
    if (percentiles != NULL)
        CHECK_OK(ncs_call_set_param(call, "percentiles", percentiles));
    CHECK_OK(ncs_call_prepare(call, max_parts, nparts));
    CHECK(*nparts >= 1 && *nparts <= max_parts);
    CHECK_OK(threaded ? run_parts_concurrently(call, *nparts)
                      : run_parts_and_finish(call, *nparts));
    CHECK(ncs_call_progress(call) == (uint64_t)count);
    CHECK(ncs_call_output_count(call) == 6);
    ncs_handle out[6];
    for (int i = 0; i < 6; i++) {
        int out_dtype, out_rank;
        int64_t dims[NCS_MAX_RANK];
        CHECK_OK(ncs_call_output_info(call, i, &out_dtype, &out_rank, dims));
        CHECK(out_dtype == (i == 0 ? NCS_DTYPE_INT64 : NCS_DTYPE_FP64) && out_rank == 1);
        CHECK(i == 5 || dims[0] == 1);
        if (i == 5)
            *npct = dims[0];
        CHECK_OK(ncs_call_take_output(call, i, &out[i]));
    }
    uint64_t leaked = 99;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    result r;
    r.count = *(const int64_t *)buffer_memory(out[0]);
    r.mean = *(const double *)buffer_memory(out[1]);
    r.std = *(const double *)buffer_memory(out[2]);
    r.min = *(const double *)buffer_memory(out[3]);
    r.max = *(const double *)buffer_memory(out[4]);
    uint64_t addr, size;
    CHECK_OK(ncs_buffer_data(out[5], &addr, &size));
    CHECK(size == (uint64_t)*npct * sizeof(double));
    if (*npct > 0)
        memcpy(pct, (const void *)(uintptr_t)addr, (size_t)size);
    for (int i = 0; i < 6; i++)
        CHECK_OK(ncs_buffer_release(out[i]));
    return r;
}

/* describe without percentiles: their output has shape [0]. */
static result describe(const void *data, int dtype, int rank, const int64_t *shape, int max_parts,
                       int *nparts)
{
    int64_t npct = -1;
    result r = describe_full(data, dtype, rank, shape, max_parts, nparts, NULL, NULL, &npct, 0);
    CHECK(npct == 0);
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
            !close_to(g_.std, w_.std, rel) || !close_to(g_.min, w_.min, 0) ||                 \
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
    CHECK_RESULT(describe(&scalar, NCS_DTYPE_FP64, 0, NULL, 1, &nparts), expect(1, -7, 0, -7, -7),
                 0);
    int64_t cube[3] = {2, 3, 4};
    double values[24];
    for (int i = 0; i < 24; i++)
        values[i] = i * 0.5 - 3;
    CHECK_RESULT(describe(values, NCS_DTYPE_FP64, 3, cube, 2, &nparts), reference(values, 24),
                 1e-15);
}

static void test_nan_inf_empty(void)
{
    int nparts;
    double with_nan[3] = {1, NAN, 3};
    CHECK_RESULT(describe_f64(with_nan, 3, 1, &nparts), expect(3, NAN, NAN, NAN, NAN), 0);
    double inf_one[2] = {INFINITY, 1};
    CHECK_RESULT(describe_f64(inf_one, 2, 1, &nparts), expect(2, INFINITY, NAN, 1, INFINITY), 0);
    double inf_minus_inf[2] = {INFINITY, -INFINITY};
    CHECK_RESULT(describe_f64(inf_minus_inf, 2, 1, &nparts),
                 expect(2, NAN, NAN, -INFINITY, INFINITY), 0);
    double minus_infs[3] = {-INFINITY, -INFINITY, 2};
    CHECK_RESULT(describe_f64(minus_infs, 3, 1, &nparts), expect(3, -INFINITY, NAN, -INFINITY, 2),
                 0);
    double only_inf[1] = {INFINITY};
    CHECK_RESULT(describe_f64(only_inf, 1, 1, &nparts),
                 expect(1, INFINITY, NAN, INFINITY, INFINITY), 0);
    CHECK_RESULT(describe_f64(NULL, 0, 4, &nparts), expect(0, NAN, NAN, NAN, NAN), 0);
    CHECK(nparts == 1);
    int64_t empty[2] = {3, 0};
    CHECK_RESULT(describe(NULL, NCS_DTYPE_FP32, 2, empty, 1, &nparts),
                 expect(0, NAN, NAN, NAN, NAN), 0);
    float nan32[2] = {NAN, 1};
    int64_t two = 2;
    CHECK_RESULT(describe(nan32, NCS_DTYPE_FP32, 1, &two, 1, &nparts),
                 expect(2, NAN, NAN, NAN, NAN), 0);
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

/*
 * The vector loops (16 values per step, a portable tail) and the portable loops, run by main
 * once each: every size from 0 to 70 and sizes around the chunk (32768) and part boundaries,
 * FP64 and FP32, against the long double reference; a lone minimum, maximum, NaN or infinity at
 * every position of a short array (each lane of the vectors, and the tail) decides the result.
 */
static void test_sizes_and_positions(void)
{
    static const int64_t big[] = {32767, 32768, 32769, 32768 * 2 + 15, 800009};
    int64_t most = 800009;
    double *x = malloc((size_t)most * sizeof *x);
    float *f = malloc((size_t)most * sizeof *f);
    double *widened = malloc((size_t)most * sizeof *widened);
    CHECK(x != NULL && f != NULL && widened != NULL);
    uint64_t seed = 11;
    for (int64_t i = 0; i < most; i++) {
        x[i] = 1e6 + 10 * (test_random(&seed) - 0.5);
        f[i] = (float)(10 * (test_random(&seed) - 0.3));
        widened[i] = f[i];
    }
    int nparts;
    for (int64_t n = 0; n <= 70 + (int64_t)(sizeof big / sizeof big[0]); n++) {
        int64_t len = n <= 70 ? n : big[n - 71];
        result want = len > 0 ? reference(x, len) : expect(0, NAN, NAN, NAN, NAN);
        CHECK_RESULT(describe_f64(x, len, 3, &nparts), want, 1e-12);
        CHECK(nparts == (len >= 3 * (1 << 18) ? 3 : 1));
        result want32 = len > 0 ? reference(widened, len) : expect(0, NAN, NAN, NAN, NAN);
        CHECK_RESULT(describe(f, NCS_DTYPE_FP32, 1, &len, 3, &nparts), want32, 1e-12);
    }
    enum { N = 37 };
    double y[N];
    float g[N];
    int64_t n32 = N;
    for (int at = 0; at < N; at++) {
        for (int i = 0; i < N; i++)
            y[i] = g[i] = (float)(i % 7) + 1;
        y[at] = g[at] = -5;
        CHECK(describe_f64(y, N, 1, &nparts).min == -5);
        CHECK(describe(g, NCS_DTYPE_FP32, 1, &n32, 1, &nparts).min == -5);
        y[at] = g[at] = 50;
        CHECK(describe_f64(y, N, 1, &nparts).max == 50);
        CHECK(describe(g, NCS_DTYPE_FP32, 1, &n32, 1, &nparts).max == 50);
        y[at] = g[at] = NAN;
        CHECK_RESULT(describe_f64(y, N, 1, &nparts), expect(N, NAN, NAN, NAN, NAN), 0);
        CHECK_RESULT(describe(g, NCS_DTYPE_FP32, 1, &n32, 1, &nparts),
                     expect(N, NAN, NAN, NAN, NAN), 0);
        y[at] = g[at] = INFINITY;
        CHECK_RESULT(describe_f64(y, N, 1, &nparts), expect(N, INFINITY, NAN, 1, INFINITY), 0);
        CHECK_RESULT(describe(g, NCS_DTYPE_FP32, 1, &n32, 1, &nparts),
                     expect(N, INFINITY, NAN, 1, INFINITY), 0);
        y[(at + 5) % N] = -INFINITY;
        CHECK_RESULT(describe_f64(y, N, 1, &nparts), expect(N, NAN, NAN, -INFINITY, INFINITY), 0);
    }
    free(x);
    free(f);
    free(widened);
}

/* The vector and portable loops agree closely on the same data (they round differently: FMA). */
static void test_paths_agree(void)
{
    const int64_t n = 100003;
    double *x = malloc((size_t)n * sizeof *x);
    CHECK(x != NULL);
    uint64_t seed = 5;
    for (int64_t i = 0; i < n; i++)
        x[i] = 3e4 * (test_random(&seed) - 0.25);
    int nparts;
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_PORTABLE));
    result portable = describe_f64(x, n, 1, &nparts);
    CHECK_OK(ncs_cpu_test_limit(NCS_CPU_LEVEL_BEST));
    result vector = describe_f64(x, n, 1, &nparts);
    CHECK_RESULT(vector, portable, 1e-14);
    CHECK_RESULT(vector, reference(x, n), 1e-14);
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
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(x));
}

/* ---- percentiles ---------------------------------------------------------------------- */

/* Same bits (so -0.0 differs from 0.0), or both NaN. */
static int same_value(double got, double want)
{
    if (isnan(want))
        return isnan(got);
    return memcmp(&got, &want, sizeof got) == 0;
}

#define CHECK_SAME(got, want, what)                                                       \
    do {                                                                                  \
        double g_ = (got), w_ = (want);                                                   \
        if (!same_value(g_, w_)) {                                                        \
            fprintf(stderr, "%s:%d: %s: got %a (%.17g), expected %a (%.17g)\n", __FILE__, \
                    __LINE__, (what), g_, g_, w_, w_);                                    \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

/* numpy.percentile(x, [q]) by its definition ('linear', numpy 2.4's _quantile, _get_indexes,
   _get_gamma, _lerp) on `sorted` (ascending, no NaN, n > 0). diff is taken in x's dtype. */
static double ref_percentile(const double *sorted, int64_t n, double q, int fp32)
{
    double virtual_index = (double)(n - 1) * (q / 100);
    double previous_index = floor(virtual_index);
    int64_t lo = (int64_t)previous_index, hi = lo + 1;
    if (virtual_index >= (double)(n - 1)) { /* "above bounds": numpy indexes -1, the last */
        previous_index = -1;
        lo = hi = n - 1;
    }
    double gamma = virtual_index - previous_index;
    double a = sorted[lo], b = sorted[hi];
    double diff = fp32 ? (double)((float)b - (float)a) : b - a;
    double lerp = a + diff * gamma;
    if (gamma >= 0.5)
        lerp = b - diff * (1 - gamma);
    return lerp;
}

static int compare_doubles(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The q values of a percentiles text, parsed naively (the kernel's parser is checked apart). */
static int64_t parse_q(const char *text, double *q)
{
    int64_t n = 0;
    for (const char *s = text; *s != '\0';) {
        char *end;
        q[n++] = strtod(s, &end);
        s = end;
        while (*s == ' ' || *s == ',')
            s++;
    }
    return n;
}

/* describe(x, percentiles=text) against the sorting reference, bit for bit, and the scalar
   outputs against describe without percentiles (they must not change). */
static void check_against_sort(const void *data, int fp32, int64_t n, const char *text,
                               int max_parts, int threaded, int *nparts)
{
    double *sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    double *q = malloc((strlen(text) + 1) * sizeof *q);
    double *got = malloc((strlen(text) + 1) * sizeof *got);
    CHECK(sorted != NULL && q != NULL && got != NULL);
    for (int64_t i = 0; i < n; i++)
        sorted[i] = fp32 ? (double)((const float *)data)[i] : ((const double *)data)[i];
    qsort(sorted, (size_t)n, sizeof *sorted, compare_doubles);
    int64_t p = parse_q(text, q), npct = -1;
    int dtype = fp32 ? NCS_DTYPE_FP32 : NCS_DTYPE_FP64;
    result with = describe_full(data, dtype, 1, &n, max_parts, nparts, text, got, &npct, threaded);
    CHECK(npct == p);
    for (int64_t i = 0; i < p; i++) {
        char what[96];
        snprintf(what, sizeof what, "n %lld q %.17g (%s)", (long long)n, q[i],
                 fp32 ? "FP32" : "FP64");
        CHECK_SAME(got[i], ref_percentile(sorted, n, q[i], fp32), what);
    }
    int plain_parts;
    result without = describe(data, dtype, 1, &n, max_parts, &plain_parts);
    CHECK(plain_parts == *nparts);
    CHECK(with.count == without.count && same_value(with.mean, without.mean) &&
          same_value(with.std, without.std) && same_value(with.min, without.min) &&
          same_value(with.max, without.max));
    free(sorted);
    free(q);
    free(got);
}

/* numpy.percentile(x, q) results computed once with numpy 2.4.6 (np.percentile(np.array(x,
   dtype), q).tolist(), printed with float.hex) and embedded; compared bit for bit. */
static void test_percentiles_match_numpy(void)
{
    static const struct {
        const char *name;
        int64_t n;
        double x[10];
        const char *q;
        double want[9];
    } cases[] = {
        {"odd N with duplicates",
         9,
         {3, 1, 4, 1, 5, 9, 2, 6, 5},
         "0,100,50,25,33.3,66.7,99.9,12.5,75",
         {0x1p+0, 0x1.2p+3, 0x1p+2, 0x1p+1, 0x1.54fdf3b645a1cp+1, 0x1.4p+2, 0x1.1f3b645a1cac2p+3,
          0x1p+0, 0x1.4p+2}},
        {"even N",
         8,
         {3, 1, 4, 1, 5, 9, 2, 6},
         "0, 100 ,50 , 25,33.3,66.7,99.9,12.5,75",
         {0x1p+0, 0x1.2p+3, 0x1.cp+1, 0x1.cp+0, 0x1.2a5e353f7ced8p+1, 0x1.2ad0e56041894p+2,
          0x1.1f53f7ced9169p+3, 0x1p+0, 0x1.5p+2}},
        {"decimals",
         10,
         {0.1, 0.7, 0.2, 0.3, 1e-3, 2.5e10, -7.25, 0.3, 0.3, 1.0 / 3},
         "33.3,10,90,50,0.5,99.5,66.6,5",
         {0x1.98fc504816f00p-3, -0x1.72bd3c361133fp-1, 0x1.2a05f201428e3p+31, 0x1.3333333333333p-2,
          -0x1.bb1dfb9389b52p+2, 0x1.63c3e5b002042p+34, 0x1.3333333333333p-2,
          -0x1.fe57a786c2268p+1}},
        {"one element", 1, {7.5}, "0,50,100,33.3", {7.5, 7.5, 7.5, 7.5}},
        {"negative zero", 1, {-0.0}, "0,50,100", {-0.0, -0.0, -0.0}},
        {"1 and inf", 2, {1, INFINITY}, "0,25,50,75,100", {NAN, INFINITY, NAN, NAN, NAN}},
        {"both infinities",
         4,
         {-INFINITY, 1, 2, INFINITY},
         "0,10,50,90,100",
         {NAN, NAN, 1.5, NAN, NAN}},
        {"near overflow",
         3,
         {1.7e308, -1.7e308, 1e308},
         "25,50,75",
         {-INFINITY, 0x1.1ccf385ebc8a0p+1023, 0x1.807e25b31820bp+1023}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int nparts;
        int64_t npct = -1;
        double got[9];
        double q[9];
        int64_t p = parse_q(cases[c].q, q);
        describe_full(cases[c].x, NCS_DTYPE_FP64, 1, &cases[c].n, 2, &nparts, cases[c].q, got,
                      &npct, 0);
        CHECK(npct == p);
        for (int64_t i = 0; i < p; i++) {
            char what[96];
            snprintf(what, sizeof what, "%s, q %g", cases[c].name, q[i]);
            CHECK_SAME(got[i], cases[c].want[i], what);
        }
    }

    /* FP32: numpy takes b - a in float32 (then widens). */
    float x32[9] = {0.10000000149011612f, 0.699999988079071f, -2.5f,
                    10000001.0f,          3.299999952316284f, 9.99999993922529e-09f,
                    -10000000.0f,         16777216.0f,        7.099999904632568f};
    const double want32[9] = {0x1.0ff973374bc68p-4,
                              0x1.6666660000000p-1,
                              -0x1.e848219999998p+20,
                              0x1.5a8a680000001p+23,
                              -0x1.4p+1,
                              0x1.312d02p+23,
                              -0x1.312dp+23,
                              0x1p+24,
                              0x1.a66666p+1};
    int nparts;
    int64_t npct = -1, n32 = 9;
    double got[9];
    describe_full(x32, NCS_DTYPE_FP32, 1, &n32, 1, &nparts, "33.3,50,10,90,12.5,87.5,0,100,62.5",
                  got, &npct, 0);
    CHECK(npct == 9);
    for (int i = 0; i < 9; i++)
        CHECK_SAME(got[i], want32[i], "FP32");

    /* All elements of any shape: a [3, 3] matrix is the odd case flattened. */
    double matrix[9] = {3, 1, 4, 1, 5, 9, 2, 6, 5};
    int64_t shape[2] = {3, 3};
    describe_full(matrix, NCS_DTYPE_FP64, 2, shape, 1, &nparts, "33.3", got, &npct, 0);
    CHECK(npct == 1);
    CHECK_SAME(got[0], 0x1.54fdf3b645a1cp+1, "[3, 3] matrix");
}

/* Value patterns that stress selection: random, few distinct values, sorted, reversed, all
   equal, organ pipe, sawtooth. */
static void fill_pattern(double *x, int64_t n, int pattern, uint64_t *seed)
{
    for (int64_t i = 0; i < n; i++) {
        switch (pattern) {
        case 0: x[i] = test_random(seed) * 200 - 100; break;
        case 1: x[i] = floor(test_random(seed) * 5); break;
        case 2: x[i] = (double)i * 0.5; break;
        case 3: x[i] = (double)(n - i); break;
        case 4: x[i] = 42; break;
        case 5: x[i] = (double)(i < n / 2 ? i : n - i); break;
        default: x[i] = (double)(i % 17) - 8; break;
        }
    }
}

#define PATTERNS 7
#define Q_LIST "0,0.1,1,5,10,12.5,25,33.3,50,66.7,75,87.5,90,95,99,99.9,100"

static void test_percentiles_match_sorting(void)
{
    const int64_t sizes[] = {1, 2, 3, 4, 7, 24, 25, 31, 97, 1000, 4099, 65537};
    uint64_t seed = 99;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        double *x = malloc((size_t)n * sizeof *x);
        float *x32 = malloc((size_t)n * sizeof *x32);
        CHECK(x != NULL && x32 != NULL);
        for (int pattern = 0; pattern < PATTERNS; pattern++) {
            fill_pattern(x, n, pattern, &seed);
            int nparts;
            check_against_sort(x, 0, n, Q_LIST, 1, 0, &nparts);
            for (int64_t i = 0; i < n; i++)
                x32[i] = (float)(x[i] * 1.1);
            check_against_sort(x32, 1, n, "0, 50, 33.3, 100, 66.7, 2.5", 1, 0, &nparts);
        }
        free(x);
        free(x32);
    }
    /* Random percentile lists, repeats and any order. */
    enum { N = 3001 };
    double x[N];
    fill_pattern(x, N, 0, &seed);
    for (int round = 0; round < 20; round++) {
        char text[2048];
        size_t at = 0;
        int count = 1 + (int)(test_random(&seed) * 60);
        for (int i = 0; i < count; i++)
            at += (size_t)snprintf(text + at, sizeof text - at, "%s%.6g", i ? "," : "",
                                   test_random(&seed) * 100);
        int nparts;
        check_against_sort(x, 0, N, text, 1, 0, &nparts);
    }
}

/* Large N: parts copy their ranges; finish selects. Many percentiles, several part counts,
   once on threads; NaN in one part makes every percentile NaN. */
static void test_percentiles_in_parts(void)
{
    const int64_t n = 1000003;
    double *x = malloc((size_t)n * sizeof *x);
    CHECK(x != NULL);
    uint64_t seed = 2024;
    fill_pattern(x, n, 0, &seed);
    char many[4096];
    size_t at = 0;
    for (int i = 0; i <= 200; i++)
        at += (size_t)snprintf(many + at, sizeof many - at, "%s%g", i ? "," : "", i * 0.5);
    int nparts;
    check_against_sort(x, 0, n, Q_LIST, 1, 0, &nparts);
    CHECK(nparts == 1);
    check_against_sort(x, 0, n, Q_LIST, 3, 0, &nparts);
    CHECK(nparts == 3);
    check_against_sort(x, 0, n, many, 8, 0, &nparts);
    CHECK(nparts == 3);
    check_against_sort(x, 0, n, "50,1,99", 2, 1, &nparts);
    CHECK(nparts == 2);
    fill_pattern(x, n, 1, &seed); /* five distinct values */
    check_against_sort(x, 0, n, Q_LIST, 4, 0, &nparts);

    x[n - 3] = NAN;
    double got[3];
    int64_t npct;
    result r = describe_full(x, NCS_DTYPE_FP64, 1, &n, 4, &nparts, "0,50,100", got, &npct, 0);
    CHECK(nparts == 3 && npct == 3 && isnan(r.mean));
    for (int i = 0; i < 3; i++)
        CHECK(isnan(got[i]));
    free(x);
}

static void test_percentiles_nan(void)
{
    double with_nan[3] = {1, NAN, 3};
    int64_t n = 3, npct;
    int nparts;
    double got[4];
    result r = describe_full(with_nan, NCS_DTYPE_FP64, 1, &n, 1, &nparts, "0,50,100,25", got, &npct,
                             0);
    CHECK_RESULT(r, expect(3, NAN, NAN, NAN, NAN), 0);
    CHECK(npct == 4);
    for (int i = 0; i < 4; i++)
        CHECK(isnan(got[i]));
    float nan32[2] = {NAN, 1};
    n = 2;
    describe_full(nan32, NCS_DTYPE_FP32, 1, &n, 1, &nparts, "100", got, &npct, 0);
    CHECK(npct == 1 && isnan(got[0]));
}

/* prepare with the parameter `text` on x = {1, 2, 3} (or empty x): the status, and the message
   when it fails. */
static int prepare_with(const char *text, int64_t n, char *message, size_t size)
{
    double values[3] = {1, 2, 3};
    ncs_handle x = buffer_from(values, (size_t)n * sizeof(double));
    ncs_call *call;
    CHECK_OK(ncs_call_create("describe", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, &n, x));
    CHECK_OK(ncs_call_set_param(call, "percentiles", text));
    int nparts;
    int status = ncs_call_prepare(call, 1, &nparts);
    snprintf(message, size, "%s", ncs_call_error(call));
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(x));
    return status;
}

static void test_percentiles_parameter(void)
{
    char message[512];
    const char *accepted[] = {"",     "50",    "0,100", " 5 , 50 ,95 ",   "\t5,\t50",
                              "33.3", "+12.5", "1e1",   "2.5E+1",         ".5",
                              "5.",   "-0",    "100.0", "0.0001,99.9999", "1e-400"};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        int status = prepare_with(accepted[i], 3, message, sizeof message);
        if (status != NCS_OK) {
            fprintf(stderr, "percentiles \"%s\" refused: %s\n", accepted[i], message);
            exit(1);
        }
    }
    const struct {
        const char *text, *reason;
    } refused[] = {
        {"5,,50", "item 2 is empty"},
        {"5,", "item 2 is empty"},
        {",5", "item 1 is empty"},
        {" ", "item 1 is empty"},
        {"abc", "item 1 (\"abc\") is not a number"},
        {"nan", "item 1 (\"nan\") is not a number"},
        {"50,NaN", "item 2 (\"NaN\") is not a number"},
        {"inf", "is not a number"},
        {"50%", "is not a number"},
        {"5;50", "is not a number"},
        {"5 5", "is not a number"},
        {"0x10", "is not a number"},
        {"1e", "is not a number"},
        {"-", "is not a number"},
        {".", "is not a number"},
        {"101", "item 1 (101) is outside [0, 100]"},
        {"50,-1", "item 2 (-1) is outside [0, 100]"},
        {"100.0000001", "is outside [0, 100]"},
        {"1e3", "is outside [0, 100]"},
        {"1e999", "is outside [0, 100]"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        CHECK_STATUS(prepare_with(refused[i].text, 3, message, sizeof message),
                     NCS_E_INVALID_ARGUMENT);
        CHECK_CONTAINS(message, "parameter 'percentiles'");
        CHECK_CONTAINS(message, refused[i].reason);
        CHECK_CONTAINS(message, "in [0, 100]");
    }
    /* Empty x: numpy raises IndexError; describe refuses, but only when percentiles are asked. */
    CHECK_STATUS(prepare_with("50", 0, message, sizeof message), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(message, "input 'x' is empty");
    CHECK_OK(prepare_with("", 0, message, sizeof message));

    const char *json = ncs_kernel_metadata_json("describe");
    CHECK_CONTAINS(json, "{\"name\":\"percentiles\",\"type\":\"string\",\"default\":\"\"");
    CHECK_CONTAINS(json, "{\"name\":\"percentiles\",\"doc\"");
}

static void *finish_in_thread(void *arg)
{
    ncs_call *call = arg;
    return (void *)(intptr_t)ncs_call_finish(call);
}

/* A prepared describe call of x with many percentiles, parts run. */
static ncs_call *ready_to_finish(ncs_handle h, int64_t n, const char *percentiles)
{
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("describe", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, &n, h));
    CHECK_OK(ncs_call_set_param(call, "percentiles", percentiles));
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    CHECK_OK(ncs_call_run_part(call, 0));
    return call;
}

/* Cancelled before the part (the part stops), and while finish selects (finish stops: the
   selection polls; retried if finish happens to win the race). */
static void test_percentiles_cancelled(void)
{
    const int64_t n = 4000037;
    double *x = malloc((size_t)n * sizeof *x);
    CHECK(x != NULL);
    uint64_t seed = 5;
    fill_pattern(x, n, 0, &seed);
    ncs_handle h = buffer_from(x, (size_t)n * sizeof *x);
    char many[4096];
    size_t at = 0;
    for (int i = 0; i <= 400; i++)
        at += (size_t)snprintf(many + at, sizeof many - at, "%s%g", i ? "," : "", i * 0.25);

    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("describe", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, &n, h));
    CHECK_OK(ncs_call_set_param(call, "percentiles", "50"));
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    ncs_call_cancel(call);
    CHECK_STATUS(ncs_call_run_part(call, 0), NCS_E_CANCELLED);
    ncs_call_destroy(call, NULL, NULL);

    int status = NCS_OK;
    for (int attempt = 0; attempt < 5 && status != NCS_E_CANCELLED; attempt++) {
        call = ready_to_finish(h, n, many);
        pthread_t finisher;
        CHECK(pthread_create(&finisher, NULL, finish_in_thread, call) == 0);
        struct timespec pause = {0, 2000000 << attempt % 3}; /* 2, 4 or 8 ms into the selection */
        nanosleep(&pause, NULL);
        ncs_call_cancel(call);
        void *returned;
        CHECK(pthread_join(finisher, &returned) == 0);
        status = (int)(intptr_t)returned;
        CHECK(status == NCS_OK || status == NCS_E_CANCELLED);
        if (status == NCS_E_CANCELLED)
            CHECK_CONTAINS(ncs_call_error(call), "cancelled");
        uint64_t leaked = 99;
        ncs_call_destroy(call, &leaked, NULL);
        CHECK(leaked == 0);
    }
    CHECK_STATUS(status, NCS_E_CANCELLED);
    CHECK_OK(ncs_buffer_release(h));
    free(x);
}

/*
 * Percentiles need scratch in finish (the percentiles sorted and their neighbours' ranks, 24 bytes
 * per percentile), which prepare asks for in the workspace after x's copy: ncs_call_bytes_needed
 * counts it, and a budget of exactly that figure runs the call (two parts at once, then the
 * selection) while one byte less refuses it at prepare.
 */
typedef struct describe_input {
    ncs_handle x;
    int64_t n;
} describe_input;

static ncs_call *make_describe(void *arg)
{
    const describe_input *in = arg;
    ncs_call *call;
    CHECK_OK(ncs_call_create("describe", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, &in->n, in->x));
    CHECK_OK(ncs_call_set_param(call, "percentiles", "99,50,1"));
    return call;
}

static void test_percentiles_budget(void)
{
    const int64_t n = 600000; /* two parts of at least 2^18 elements */
    double *x = malloc((size_t)n * sizeof *x);
    CHECK(x != NULL);
    for (int64_t i = 0; i < n; i++)
        x[i] = (double)((i * 7919) % n); /* 0 .. n-1, shuffled */
    describe_input in = {buffer_from(x, (size_t)n * sizeof *x), n};
    uint64_t input = (uint64_t)n * 8, outputs = 8 + 4 * 8 + 3 * 8;
    uint64_t workspace = 2 * 64 + (uint64_t)n * 8 + 3 * 24;
    int nparts;
    ncs_call *call = run_at_budget_edge(make_describe, &in, input + outputs + workspace, 2,
                                        &nparts);
    CHECK(nparts == 2);
    ncs_handle out;
    CHECK_OK(ncs_call_take_output(call, 5, &out));
    const double *q = buffer_memory(out); /* numpy.percentile(range(n), [99, 50, 1]) */
    CHECK(q[0] == 593999.01 && q[1] == 299999.5 && q[2] == 5999.99);
    CHECK_OK(ncs_buffer_release(out));
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(in.x));
    free(x);
}

int main(void)
{
    for (int portable = 1; portable >= 0;
         portable--) { /* the portable loops, then the vector ones */
        CHECK_OK(ncs_cpu_test_limit(portable ? NCS_CPU_LEVEL_PORTABLE : NCS_CPU_LEVEL_BEST));
        printf("%s loops:\n", portable ? "portable" : "vector (when the CPU has AVX2+FMA)");
        RUN_TEST(test_basic);
        RUN_TEST(test_nan_inf_empty);
        RUN_TEST(test_fp32);
        RUN_TEST(test_large_offset_many_parts);
        RUN_TEST(test_sizes_and_positions);
        RUN_TEST(test_percentiles_in_parts);
    }
    RUN_TEST(test_paths_agree);
    RUN_TEST(test_rejects_other_dtypes);
    RUN_TEST(test_percentiles_match_numpy);
    RUN_TEST(test_percentiles_match_sorting);
    RUN_TEST(test_percentiles_nan);
    RUN_TEST(test_percentiles_parameter);
    RUN_TEST(test_percentiles_cancelled);
    RUN_TEST(test_percentiles_budget);
    return 0;
}
