/*
 * sha256_kernel.c -- times libncs's sha256 kernel alone (no HTTP, no JSON): prepare, all parts on
 * their own threads, finish, on COUNT messages of BYTES bytes each. Prints one line per pair:
 * message bytes, messages, parts, median seconds, MB/s of message bytes (1 MB = 10^6 bytes, the
 * unit of `openssl speed`, whose figures are in 1000s of bytes per second).
 *
 *   usage: ncs_bench_sha256 THREADS REPS BYTES COUNT [BYTES COUNT ...]
 *   peer:  openssl speed -elapsed -evp sha256 -bytes 1048576   (one core; -multi 2 for two;
 *          -elapsed divides by wall-clock time, as here, not by openssl's CPU user time)
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

/* A BYTES tensor of `count` messages of `bytes` pseudo-random bytes each. */
static ncs_handle messages(uint64_t bytes, int64_t count) {
    ncs_handle h;
    uint64_t addr, size;
    check(ncs_buffer_alloc((uint64_t)count * (4 + bytes), &h), "alloc");
    check(ncs_buffer_data(h, &addr, &size), "data");
    unsigned char *d = (unsigned char *)(uintptr_t)addr;
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (int64_t i = 0; i < count; i++) {
        for (int b = 0; b < 4; b++)
            *d++ = (unsigned char)(bytes >> (8 * b));
        for (uint64_t j = 0; j < bytes; j++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            *d++ = (unsigned char)(state >> 56);
        }
    }
    return h;
}

int main(int argc, char **argv) {
    bench_setup();
    if (argc < 5 || argc % 2 == 0) {
        fprintf(stderr, "usage: %s THREADS REPS BYTES COUNT [BYTES COUNT ...]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    int reps = atoi(argv[2]);
    if (threads < 1 || threads > 64 || reps < 1) {
        fprintf(stderr, "THREADS must be 1..64 and REPS >= 1\n");
        return 2;
    }
    for (int arg = 3; arg + 1 < argc; arg += 2) {
        uint64_t bytes = strtoull(argv[arg], NULL, 10);
        int64_t count = atoll(argv[arg + 1]);
        ncs_handle x = messages(bytes, count);
        double *times = calloc((size_t)reps, sizeof(double));
        int parts = 0;
        for (int r = 0; r < reps; r++) {
            ncs_call *call;
            check(ncs_call_create("sha256", &call), "create");
            check(ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 1, &count, x), "input data");
            double t0 = now();
            check(run_call(call, threads, &parts), "run");
            times[r] = now() - t0;
            ncs_call_destroy(call, NULL, NULL);
        }
        qsort(times, (size_t)reps, sizeof(double), cmp_double);
        double median = times[reps / 2];
        printf("%llu %lld %d %.6f %.1f\n", (unsigned long long)bytes, (long long)count, parts, median,
               (double)bytes * (double)count / median / 1e6);
        free(times);
        ncs_buffer_release(x);
    }
    return 0;
}
