/*
 * clock.h -- the runtime's one clock (clock.c). Internal to libncs.
 */
#ifndef NCS_CLOCK_H
#define NCS_CLOCK_H

#include <stdint.h>

/** Nanoseconds of CLOCK_MONOTONIC: for intervals (lock waits, cache idle times), never dates. */
uint64_t ncs_clock_ns(void);

#endif /* NCS_CLOCK_H */
