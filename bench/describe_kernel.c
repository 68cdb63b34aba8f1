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
    check(ncs_call_prepare(call, threads, &parts), "prepare", call);
    pthread_t tids[64];
    part_arg args[64];
    for (int p = 0; p < parts; p++) {
        args[p] = (part_arg){call, p, NCS_OK};
        pthread_create(&tids[p], NULL, run_part, &args[p]);
    }
    for (int p = 0; p < parts; p++) {
        pthread_join(tids[p], NULL);
        check(args[p].status, "run part", call);
    }
    check(ncs_call_finish(call), "finish", call);
    double t = now() - t0;
    ncs_handle out;
    uint64_t addr, size;
    check(ncs_call_take_output(call, 1, &out), "take", call);
    check(ncs_buffer_data(out, &addr, &size), "data", NULL);
    *mean = *(const double *)(uintptr_t)addr;
    ncs_buffer_release(out);
    ncs_call_destroy(call, NULL);
    return t;
}

typedef struct sum_arg {
    const uint64_t *x;
    int64_t n;
    uint64_t sum;
} sum_arg;

static void *sum_range(void *p)
{
    sum_arg *a = p;
    uint64_t s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= a->n; i += 8) {
        for (int l = 0; l < 8; l++)
            s[l] += a->x[i + l];
    }
    for (; i < a->n; i++)
        s[0] += a->x[i];
    a->sum = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    return NULL;
}

static double time_sum(const uint64_t *x, int64_t n, int threads, uint64_t *result)
{
    pthread_t tids[64];
    sum_arg args[64];
    double t0 = now();
    for (int t = 0; t < threads; t++) {
        int64_t lo = n * t / threads, hi = n * (t + 1) / threads;
        args[t] = (sum_arg){x + lo, hi - lo, 0};
        pthread_create(&tids[t], NULL, sum_range, &args[t]);
    }
    uint64_t s = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        s += args[t].sum;
    }
    *result = s;
    return now() - t0;
}

int main(int argc, char **argv)
{
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
