/*
 * sort_kernel.c -- times libncs's sort kernel alone (no HTTP, no JSON): prepare, all parts on
 * their own threads, finish. Prints one line per size: n, dtype, parts, median seconds, then the
 * fastest and slowest run.
 *
 *   usage: sort_kernel THREADS REPS [f32|i32|i64] [desc] N [N ...]
 *   e.g.   sort_kernel 2 9 10000000
 *
 * Values are uniform in [0, 1) (53-bit, like numpy's default_rng().random()) for the float
 * types and uniform over the whole range for the integer types.
 * Peer: numpy's np.sort on the same data, e.g.
 *   python3 -c "import numpy as np, time; x = np.random.default_rng(1).random(10**7); ..."
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

/* splitmix64 */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

int main(int argc, char **argv) {
    bench_setup();
    if (argc < 4) {
        fprintf(stderr, "usage: %s THREADS REPS [f32|i32|i64] [desc] N [N ...]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    int reps = atoi(argv[2]);
    int first = 3, dtype = NCS_DTYPE_FP64, descending = 0;
    const char *name = "FP64";
    for (;; first++) {
        if (first >= argc)
            break;
        if (strcmp(argv[first], "f32") == 0) {
            dtype = NCS_DTYPE_FP32;
            name = "FP32";
        } else if (strcmp(argv[first], "i32") == 0) {
            dtype = NCS_DTYPE_INT32;
            name = "INT32";
        } else if (strcmp(argv[first], "i64") == 0) {
            dtype = NCS_DTYPE_INT64;
            name = "INT64";
        } else if (strcmp(argv[first], "desc") == 0) {
            descending = 1;
        } else {
            break;
        }
    }
    if (threads < 1 || threads > 64 || reps < 1 || first >= argc) {
        fprintf(stderr, "THREADS must be 1..64, REPS >= 1, and at least one N\n");
        return 2;
    }
    for (int arg = first; arg < argc; arg++) {
        int64_t n = atoll(argv[arg]);
        if (n < 1) {
            fprintf(stderr, "bad size %s\n", argv[arg]);
            return 2;
        }
        size_t size = dtype == NCS_DTYPE_FP64 || dtype == NCS_DTYPE_INT64 ? 8 : 4;
        ncs_handle x;
        uint64_t addr, bytes, seed = 1;
        check(ncs_buffer_alloc((uint64_t)n * size, &x), "alloc");
        check(ncs_buffer_data(x, &addr, &bytes), "data");
        for (int64_t i = 0; i < n; i++) {
            uint64_t r = next_random(&seed);
            double u = (double)(r >> 11) * 0x1.0p-53;
            switch (dtype) {
            case NCS_DTYPE_FP64: ((double *)(uintptr_t)addr)[i] = u; break;
            case NCS_DTYPE_FP32: ((float *)(uintptr_t)addr)[i] = (float)u; break;
            case NCS_DTYPE_INT64: ((uint64_t *)(uintptr_t)addr)[i] = r; break;
            default: ((uint32_t *)(uintptr_t)addr)[i] = (uint32_t)r; break;
            }
        }
        double *times = calloc((size_t)reps, sizeof(double));
        int parts = 0;
        for (int r = 0; r < reps; r++) {
            ncs_call *call;
            check(ncs_call_create("sort", &call), "create");
            check(ncs_call_set_input(call, 0, dtype, 1, &n, x), "input x");
            if (descending)
                check(ncs_call_set_param(call, "descending", "true"), "descending");
            double t0 = now();
            check(run_call(call, threads, &parts), "run");
            times[r] = now() - t0;
            ncs_call_destroy(call, NULL, NULL);
        }
        qsort(times, (size_t)reps, sizeof(double), cmp_double);
        printf("%lld %s %d %.6f min %.6f max %.6f\n", (long long)n, name, parts, times[reps / 2],
               times[0], times[reps - 1]);
        free(times);
        ncs_buffer_release(x);
    }
    return 0;
}
