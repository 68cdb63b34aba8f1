/*
 * histogram_kernel.c -- times libncs's histogram kernel alone (prepare, all parts on their own
 * threads, finish) on N FP64 values uniform in [-3, 3), with lo = -3 and hi = 3 given and
 * without them, and in the same run the machine's memory read bandwidth over the same array:
 * a summing loop (integer sum of the values' bits, vectorised) on THREADS threads, each over
 * its share. Runs alternate (histogram, sum, histogram, ...) so noise hits both alike. Prints
 * medians, GB/s and the ratio of the histogram's read rate to the summing loop's.
 *
 *   usage: histogram_kernel THREADS REPS N BINS
 */
#include <ncs/ncs.h>

#include "bench_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check(int status, const char *what, ncs_call *call)
{
    if (status != NCS_OK) {
        fprintf(stderr, "%s failed: %s %s\n", what, ncs_status_str(status), call ? ncs_call_error(call) : "");
        exit(1);
    }
}

/* One histogram call; returns seconds. */
static double time_histogram(ncs_handle x, int64_t n, int threads, const char *bins, int given, int64_t *check_sum)
{
    ncs_call *call;
    check(ncs_call_create("histogram", &call), "create", NULL);
    check(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, &n, x), "input", call);
    check(ncs_call_set_param(call, "bins", bins), "bins", call);
    if (given) {
        check(ncs_call_set_param(call, "lo", "-3"), "lo", call);
        check(ncs_call_set_param(call, "hi", "3"), "hi", call);
    }
    int parts;
    double t0 = now();
    check(run_call(call, threads, &parts), "run", call);
    double t = now() - t0;
    ncs_handle counts;
    uint64_t addr, size;
    check(ncs_call_take_output(call, 0, &counts), "take", call);
    check(ncs_buffer_data(counts, &addr, &size), "data", NULL);
    int64_t total = 0;
    for (uint64_t i = 0; i < size / 8; i++)
        total += ((const int64_t *)(uintptr_t)addr)[i];
    *check_sum = total;
    ncs_buffer_release(counts);
    ncs_call_destroy(call, NULL, NULL);
    return t;
}

int main(int argc, char **argv)
{
    bench_setup();
    if (argc < 5) {
        fprintf(stderr, "usage: %s THREADS REPS N BINS\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]), reps = atoi(argv[2]);
    int64_t n = atoll(argv[3]);
    const char *bins = argv[4];
    if (threads < 1 || threads > 64 || reps < 1 || n < 1) {
        fprintf(stderr, "THREADS must be 1..64, REPS >= 1, N >= 1\n");
        return 2;
    }
    ncs_handle x;
    uint64_t addr, size;
    check(ncs_buffer_alloc((uint64_t)n * 8, &x), "alloc", NULL);
    check(ncs_buffer_data(x, &addr, &size), "data", NULL);
    double *data = (double *)(uintptr_t)addr;
    uint64_t state = 88172645463325252ull;
    for (int64_t i = 0; i < n; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data[i] = (double)(state >> 11) * 0x1.0p-53 * 6 - 3;
    }
    double *given = calloc((size_t)reps, sizeof(double)), *auto_ = calloc((size_t)reps, sizeof(double));
    double *sums = calloc((size_t)reps, sizeof(double));
    uint64_t sink = 0;
    for (int r = 0; r < reps; r++) {
        int64_t total;
        given[r] = time_histogram(x, n, threads, bins, 1, &total);
        if (total != n) {
            fprintf(stderr, "counted %lld of %lld\n", (long long)total, (long long)n);
            return 1;
        }
        uint64_t s;
        sums[r] = time_sum((const uint64_t *)data, n, threads, &s);
        sink += s;
        auto_[r] = time_histogram(x, n, threads, bins, 0, &total);
    }
    qsort(given, (size_t)reps, sizeof(double), cmp_double);
    qsort(auto_, (size_t)reps, sizeof(double), cmp_double);
    qsort(sums, (size_t)reps, sizeof(double), cmp_double);
    double gb = (double)n * 8 / 1e9;
    double tg = given[reps / 2], ta = auto_[reps / 2], ts = sums[reps / 2];
    printf("n %lld bins %s threads %d (sink %llu)\n", (long long)n, bins, threads, (unsigned long long)(sink & 1));
    printf("  read bandwidth (summing loop)   %.4f s  %.2f GB/s\n", ts, gb / ts);
    printf("  histogram, lo/hi given          %.4f s  %.2f GB/s  = %.0f%% of the read bandwidth\n", tg, gb / tg,
           100 * ts / tg);
    printf("  histogram, range from the data  %.4f s  %.2f GB/s  = %.0f%% (reads x twice)\n", ta, gb / ta,
           100 * ts / ta);
    free(given);
    free(auto_);
    free(sums);
    ncs_buffer_release(x);
    return 0;
}
