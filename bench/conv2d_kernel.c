/*
 * conv2d_kernel.c -- times libncs's conv2d kernel alone (no HTTP, no JSON): prepare, all parts on
 * their own threads, finish. Prints one line: dtype, shape, mode, boundary, parts, median seconds,
 * output pixels per second.
 *
 *   usage: conv2d_kernel THREADS REPS fp32|fp64 H W KH KW [MODE [BOUNDARY]]
 *
 * Peer (scipy.ndimage.convolve on one core, same image size and kernel, FP32):
 *   python3 -c "import numpy as np, scipy.ndimage as nd, timeit;
 *     i = np.random.rand(4096, 4096).astype(np.float32); k = np.random.rand(5, 5).astype(np.float32);
 *     print(sorted(timeit.repeat(lambda: nd.convolve(i, k, mode='constant'), number=1, repeat=7))[3])"
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

static ncs_handle random_buffer(int64_t n, int fp64)
{
    ncs_handle h;
    uint64_t addr, size;
    check(ncs_buffer_alloc((uint64_t)n * (fp64 ? 8 : 4), &h), "alloc", NULL);
    check(ncs_buffer_data(h, &addr, &size), "data", NULL);
    for (int64_t i = 0; i < n; i++) {
        double v = (double)rand() / RAND_MAX - 0.5;
        if (fp64)
            ((double *)(uintptr_t)addr)[i] = v;
        else
            ((float *)(uintptr_t)addr)[i] = (float)v;
    }
    return h;
}

int main(int argc, char **argv)
{
    bench_setup();
    if (argc < 8) {
        fprintf(stderr, "usage: %s THREADS REPS fp32|fp64 H W KH KW [MODE [BOUNDARY]]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]), reps = atoi(argv[2]);
    int fp64 = strcmp(argv[3], "fp64") == 0;
    int dtype = fp64 ? NCS_DTYPE_FP64 : NCS_DTYPE_FP32;
    int64_t shape[2] = {atoll(argv[4]), atoll(argv[5])}, kshape[2] = {atoll(argv[6]), atoll(argv[7])};
    const char *mode = argc > 8 ? argv[8] : "same", *boundary = argc > 9 ? argv[9] : "fill";
    if (threads < 1 || threads > 64 || reps < 1) {
        fprintf(stderr, "THREADS must be 1..64 and REPS >= 1\n");
        return 2;
    }
    ncs_handle image = random_buffer(shape[0] * shape[1], fp64), kernel = random_buffer(kshape[0] * kshape[1], fp64);
    double *times = calloc((size_t)reps, sizeof(double));
    int parts = 0;
    int64_t pixels = 0;
    for (int r = 0; r < reps; r++) {
        ncs_call *call;
        check(ncs_call_create("conv2d", &call), "create", NULL);
        check(ncs_call_set_input(call, 0, dtype, 2, shape, image), "input image", call);
        check(ncs_call_set_input(call, 1, dtype, 2, kshape, kernel), "input kernel", call);
        check(ncs_call_set_param(call, "mode", mode), "mode", call);
        check(ncs_call_set_param(call, "boundary", boundary), "boundary", call);
        double t0 = now();
        check(run_call(call, threads, &parts), "run", call);
        times[r] = now() - t0;
        int out_dtype, rank;
        int64_t dims[NCS_MAX_RANK];
        check(ncs_call_output_info(call, 0, &out_dtype, &rank, dims), "output info", call);
        pixels = dims[0] * dims[1];
        ncs_call_destroy(call, NULL, NULL);
    }
    qsort(times, (size_t)reps, sizeof(double), cmp_double);
    double median = times[reps / 2];
    printf("conv2d %s %lldx%lld kernel %lldx%lld %s %s parts %d median %.6f s  %.1f Mpixel/s\n", argv[3],
           (long long)shape[0], (long long)shape[1], (long long)kshape[0], (long long)kshape[1], mode, boundary,
           parts, median, (double)pixels / median / 1e6);
    free(times);
    ncs_buffer_release(image);
    ncs_buffer_release(kernel);
    return 0;
}
