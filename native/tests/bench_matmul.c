/*
 * bench_matmul.c -- times the matmul kernel (not a test; nothing is asserted).
 *   ncs_bench_matmul [n=2048] [max_parts=1] [FP64|FP32] [repeats=3]
 * Multiplies two random n x n matrices, runs the parts on one thread each, and prints the best
 * time and GFLOP/s over the repeats (buffer setup excluded, prepare..finish included).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ncs/ncs.h"

static void *run_part(void *arg)
{
    void **job = arg;
    return (void *)(intptr_t)ncs_call_run_part(job[0], (int)(intptr_t)job[1]);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what, int status)
{
    fprintf(stderr, "%s: %s\n", what, ncs_status_str(status));
    return 1;
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 2048;
    int max_parts = argc > 2 ? atoi(argv[2]) : 1;
    int dtype = argc > 3 && strcmp(argv[3], "FP32") == 0 ? NCS_DTYPE_FP32 : NCS_DTYPE_FP64;
    int repeats = argc > 4 ? atoi(argv[4]) : 3;
    if (n < 1 || max_parts < 1 || max_parts > 64 || repeats < 1)
        return fprintf(stderr, "usage: %s [n] [max_parts 1..64] [FP64|FP32] [repeats]\n", argv[0]), 2;
    size_t size = ncs_dtype_size(dtype);
    ncs_handle a, b;
    uint64_t a_addr, b_addr, bytes;
    int status;
    if ((status = ncs_buffer_alloc((uint64_t)(n * n) * size, &a)) != NCS_OK ||
        (status = ncs_buffer_alloc((uint64_t)(n * n) * size, &b)) != NCS_OK)
        return fail("alloc", status);
    ncs_buffer_data(a, &a_addr, &bytes);
    ncs_buffer_data(b, &b_addr, &bytes);
    srand(1);
    for (int64_t i = 0; i < n * n; i++) {
        double x = rand() / (double)RAND_MAX - 0.5, y = rand() / (double)RAND_MAX - 0.5;
        if (dtype == NCS_DTYPE_FP64) {
            ((double *)(uintptr_t)a_addr)[i] = x;
            ((double *)(uintptr_t)b_addr)[i] = y;
        } else {
            ((float *)(uintptr_t)a_addr)[i] = (float)x;
            ((float *)(uintptr_t)b_addr)[i] = (float)y;
        }
    }
    int64_t shape[2] = {n, n};
    double best = 1e30;
    int nparts = 0;
    for (int r = 0; r < repeats; r++) {
        ncs_call *call;
        if ((status = ncs_call_create("matmul", &call)) != NCS_OK)
            return fail("create", status);
        ncs_call_set_input(call, 0, dtype, 2, shape, a);
        ncs_call_set_input(call, 1, dtype, 2, shape, b);
        double t0 = now();
        if ((status = ncs_call_prepare(call, max_parts, &nparts)) != NCS_OK)
            return fail(ncs_call_error(call), status);
        pthread_t threads[64];
        void *jobs[64][2];
        for (int p = 0; p < nparts; p++) {
            jobs[p][0] = call;
            jobs[p][1] = (void *)(intptr_t)p;
            pthread_create(&threads[p], NULL, run_part, jobs[p]);
        }
        for (int p = 0; p < nparts; p++) {
            void *result;
            pthread_join(threads[p], &result);
            if ((int)(intptr_t)result != NCS_OK)
                return fail(ncs_call_error(call), (int)(intptr_t)result);
        }
        if ((status = ncs_call_finish(call)) != NCS_OK)
            return fail("finish", status);
        double t = now() - t0;
        best = t < best ? t : best;
        ncs_call_destroy(call, NULL);
    }
    double flop = 2.0 * (double)n * (double)n * (double)n;
    printf("matmul %s n=%lld parts=%d: %.3f s, %.1f GFLOP/s\n", ncs_dtype_name(dtype), (long long)n,
           nparts, best, flop / best * 1e-9);
    ncs_buffer_release(a);
    ncs_buffer_release(b);
    return 0;
}
