/*
 * matmul_kernel.c -- times libncs's matmul kernel alone (no HTTP, no JSON): prepare, all parts on
 * their own threads, finish. Prints one line per size: n, parts, median seconds, GFLOP/s.
 *
 *   usage: matmul_kernel THREADS REPS [f32] N [N ...]   (FP64 unless f32 is given)
 */
#include <ncs/ncs.h>

#include "bench_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check(int status, const char *what) {
    if (status != NCS_OK) {
        fprintf(stderr, "%s failed: %s\n", what, ncs_status_str(status));
        exit(1);
    }
}

static ncs_handle random_matrix(int64_t n, int dtype) {
    ncs_handle h;
    uint64_t addr, size;
    size_t element = dtype == NCS_DTYPE_FP64 ? sizeof(double) : sizeof(float);
    check(ncs_buffer_alloc((uint64_t)(n * n) * element, &h), "alloc");
    check(ncs_buffer_data(h, &addr, &size), "data");
    for (int64_t i = 0; i < n * n; i++) {
        double v = (double)rand() / RAND_MAX - 0.5;
        if (dtype == NCS_DTYPE_FP64)
            ((double *)(uintptr_t)addr)[i] = v;
        else
            ((float *)(uintptr_t)addr)[i] = (float)v;
    }
    return h;
}

int main(int argc, char **argv) {
    bench_setup();
    if (argc < 4) {
        fprintf(stderr, "usage: %s THREADS REPS [f32] N [N ...]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    int reps = atoi(argv[2]);
    int first = 3, dtype = NCS_DTYPE_FP64;
    if (strcmp(argv[3], "f32") == 0) {
        dtype = NCS_DTYPE_FP32;
        first = 4;
    }
    for (int arg = first; arg < argc; arg++) {
        int64_t n = atoll(argv[arg]);
        int64_t shape[2] = {n, n};
        ncs_handle a = random_matrix(n, dtype), b = random_matrix(n, dtype);
        double *times = calloc((size_t)reps, sizeof(double));
        int parts = 0;
        for (int r = 0; r < reps; r++) {
            ncs_call *call;
            check(ncs_call_create("matmul", &call), "create");
            check(ncs_call_set_input(call, 0, dtype, 2, shape, a), "input a");
            check(ncs_call_set_input(call, 1, dtype, 2, shape, b), "input b");
            double t0 = now();
            check(run_call(call, threads, &parts), "run");
            times[r] = now() - t0;
            ncs_call_destroy(call, NULL, NULL);
        }
        qsort(times, (size_t)reps, sizeof(double), cmp_double);
        double median = times[reps / 2];
        printf("%lld %d %.6f %.2f\n", (long long)n, parts, median, 2.0 * n * n * n / median / 1e9);
        free(times);
        ncs_buffer_release(a);
        ncs_buffer_release(b);
    }
    return 0;
}
