/*
 * describe_kernel.c -- times libncs's describe kernel alone (prepare, all parts on their own
 * threads, finish) on N FP64 values uniform in [0, 1), and in the same run the machine's memory
 * read bandwidth over the same array (a vectorised integer sum of the values' bits on THREADS
 * threads). Runs alternate so noise hits both alike. Prints medians and GB/s.
 *
 *   usage: describe_kernel THREADS REPS N [PERCENTILES]
 */
#include <ncs/ncs.h>

#include "bench_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void check(int status, const char *what, ncs_call *call)
{
    if (status != NCS_OK) {
        fprintf(stderr, "%s failed: %s %s\n", what, ncs_status_str(status), call ? ncs_call_error(call) : "");
        exit(1);
    }
}

/* One describe call; returns seconds and stores the mean. */
static double time_describe(ncs_handle x, int64_t n, int threads, const char *percentiles, double *mean)
{
    ncs_call *call;
    check(ncs_call_create("describe", &call), "create", NULL);
    check(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, &n, x), "input", call);
    if (percentiles != NULL)
        check(ncs_call_set_param(call, "percentiles", percentiles), "percentiles", call);
    int parts;
    double t0 = now();
    check(run_call(call, threads, &parts), "run", call);
    double t = now() - t0;
    ncs_handle out;
    uint64_t addr, size;
    check(ncs_call_take_output(call, 1, &out), "take", call);
    check(ncs_buffer_data(out, &addr, &size), "data", NULL);
    *mean = *(const double *)(uintptr_t)addr;
    ncs_buffer_release(out);
    ncs_call_destroy(call, NULL, NULL);
    return t;
}

int main(int argc, char **argv)
{
    bench_setup();
    if (argc < 4) {
        fprintf(stderr, "usage: %s THREADS REPS N [PERCENTILES]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]), reps = atoi(argv[2]);
    int64_t n = atoll(argv[3]);
    const char *percentiles = argc > 4 ? argv[4] : NULL;
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
        data[i] = (double)(state >> 11) * 0x1.0p-53;
    }
    double *td = calloc((size_t)reps, sizeof(double)), *ts = calloc((size_t)reps, sizeof(double));
    uint64_t sink = 0;
    double mean = 0;
    for (int r = 0; r < reps; r++) {
        td[r] = time_describe(x, n, threads, percentiles, &mean);
        uint64_t s;
        ts[r] = time_sum((const uint64_t *)data, n, threads, &s);
        sink += s;
    }
    qsort(td, (size_t)reps, sizeof(double), cmp_double);
    qsort(ts, (size_t)reps, sizeof(double), cmp_double);
    double gb = (double)n * 8 / 1e9;
    printf("n %lld threads %d (mean %.6f, sink %llu)\n", (long long)n, threads, mean, (unsigned long long)(sink & 1));
    printf("  read bandwidth (summing loop)   %.4f s  %.2f GB/s\n", ts[reps / 2], gb / ts[reps / 2]);
    printf("  describe                        %.4f s  %.2f GB/s  = %.0f%% of the read bandwidth\n", td[reps / 2],
           gb / td[reps / 2], 100 * ts[reps / 2] / td[reps / 2]);
    free(td);
    free(ts);
    ncs_buffer_release(x);
    return 0;
}
