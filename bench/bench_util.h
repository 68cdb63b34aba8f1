/*
 * bench_util.h -- what the C timing programs under bench/ share: libncs set up as the service sets
 * it up, running one part of a call on its own thread, running a whole call that way, a monotonic
 * clock, and sorting times for a median.
 */
#ifndef NCS_BENCH_UTIL_H
#define NCS_BENCH_UTIL_H

#include <ncs/ncs.h>

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* The service's default buffer cache (ncs.native.buffer-cache.size, application.yaml), so a
   kernel's outputs and scratch reuse freed memory here as they do there. */
#define BENCH_BUFFER_CACHE ((uint64_t)256 << 20)

static inline void bench_setup(void)
{
    ncs_set_buffer_cache_limit(BENCH_BUFFER_CACHE);
}

typedef struct part_arg {
    ncs_call *call;
    int part;
    int status;
} part_arg;

/* pthread start routine: runs arg->part of arg->call and stores its status. */
static inline void *run_part(void *p)
{
    part_arg *arg = p;
    arg->status = ncs_call_run_part(arg->call, arg->part);
    return NULL;
}

/*
 * One request as NCS's workers run it: prepares `call` for at most `threads` parts (at most 64), runs
 * each part on its own thread and finishes the call. Returns the first failing status, or NCS_OK;
 * *parts receives the number of parts.
 */
static inline int run_call(ncs_call *call, int threads, int *parts)
{
    int status = ncs_call_prepare(call, threads > 64 ? 64 : threads, parts);
    if (status != NCS_OK)
        return status;
    pthread_t tids[64];
    part_arg args[64];
    for (int p = 0; p < *parts; p++) {
        args[p] = (part_arg){call, p, NCS_OK};
        pthread_create(&tids[p], NULL, run_part, &args[p]);
    }
    for (int p = 0; p < *parts; p++) {
        pthread_join(tids[p], NULL);
        if (status == NCS_OK)
            status = args[p].status;
    }
    return status != NCS_OK ? status : ncs_call_finish(call);
}

/* Seconds on the monotonic clock. */
static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The read-bandwidth yardstick: summing the array as 64-bit integers, eight lanes, on `threads`
   threads (at most 64). time_sum returns seconds; *result keeps the sum, so the reads are not elided. */
typedef struct sum_arg {
    const uint64_t *x;
    int64_t n;
    uint64_t sum;
} sum_arg;

static inline void *sum_range(void *p)
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

static inline double time_sum(const uint64_t *x, int64_t n, int threads, uint64_t *result)
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

/* qsort comparator for doubles (median of repeated timings). */
static inline int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

#endif
