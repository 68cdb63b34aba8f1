/*
 * fft_kernel.c -- times libncs's fft kernel alone (no HTTP, no JSON): prepare, all parts on their
 * own threads, finish. Prints one line per size: batch, n, dtype, parts, median seconds.
 *
 *   usage: fft_kernel THREADS REPS [f32] N[xBATCH] [N[xBATCH] ...]
 *   e.g.   fft_kernel 2 9 1048576 1000003 1024x1000
 *
 * Peer: numpy.fft.fft on the same shape, e.g.
 *   python3 -c "import numpy as np, time; x = np.random.rand(1 << 20) + 1j; np.fft.fft(x); ..."
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

int main(int argc, char **argv) {
    bench_setup();
    if (argc < 4) {
        fprintf(stderr, "usage: %s THREADS REPS [f32] N[xBATCH] [N[xBATCH] ...]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    int reps = atoi(argv[2]);
    int first = 3, dtype = NCS_DTYPE_FP64;
    if (strcmp(argv[3], "f32") == 0) {
        dtype = NCS_DTYPE_FP32;
        first = 4;
    }
    if (threads < 1 || threads > 64 || reps < 1) {
        fprintf(stderr, "THREADS must be 1..64 and REPS >= 1\n");
        return 2;
    }
    for (int arg = first; arg < argc; arg++) {
        char *end;
        long long n = strtoll(argv[arg], &end, 10), batch = 1;
        if (*end == 'x')
            batch = strtoll(end + 1, NULL, 10);
        if (n < 1 || batch < 1) {
            fprintf(stderr, "bad size %s\n", argv[arg]);
            return 2;
        }
        size_t count = (size_t)(n * batch * 2), size = dtype == NCS_DTYPE_FP64 ? 8 : 4;
        ncs_handle x;
        uint64_t addr, bytes;
        check(ncs_buffer_alloc(count * size, &x), "alloc");
        check(ncs_buffer_data(x, &addr, &bytes), "data");
        for (size_t i = 0; i < count; i++) {
            double v = (double)rand() / RAND_MAX - 0.5;
            if (dtype == NCS_DTYPE_FP64)
                ((double *)(uintptr_t)addr)[i] = v;
            else
                ((float *)(uintptr_t)addr)[i] = (float)v;
        }
        int64_t shape[3] = {batch, n, 2};
        int rank = batch > 1 ? 3 : 2;
        const int64_t *dims = batch > 1 ? shape : shape + 1;
        double *times = calloc((size_t)reps, sizeof(double));
        int parts = 0;
        for (int r = 0; r < reps; r++) {
            ncs_call *call;
            check(ncs_call_create("fft", &call), "create");
            check(ncs_call_set_input(call, 0, dtype, rank, dims, x), "input x");
            double t0 = now();
            check(run_call(call, threads, &parts), "run");
            times[r] = now() - t0;
            ncs_call_destroy(call, NULL, NULL);
        }
        qsort(times, (size_t)reps, sizeof(double), cmp_double);
        printf("%lld %lld %s %d %.6f\n", batch, n, dtype == NCS_DTYPE_FP64 ? "FP64" : "FP32", parts,
               times[reps / 2]);
        free(times);
        ncs_buffer_release(x);
    }
    return 0;
}
