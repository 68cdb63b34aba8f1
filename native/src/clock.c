/*
 * clock.c -- the monotonic clock every runtime module measures intervals with.
 */
#include <time.h>

#include "clock.h"

uint64_t ncs_clock_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
