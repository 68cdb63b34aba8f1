/*
 * bench_util.h -- what the C timing programs under bench/ share: running one part of a call on its
 * own thread, a monotonic clock, and sorting times for a median.
 */
#ifndef NCS_BENCH_UTIL_H
#define NCS_BENCH_UTIL_H

#include <ncs/ncs.h>

#include <time.h>

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

/* Seconds on the monotonic clock. */
static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* qsort comparator for doubles (median of repeated timings). */
static inline int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

#endif
