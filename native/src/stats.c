/*
 * stats.c -- the process-wide counters behind ncs_stats_read and the live-bytes budget.
 */
#include <stdatomic.h>

#include "internal.h"

static _Atomic uint64_t counters[NCS_STAT_COUNT];

void ncs_stat_add(ncs_stat which, uint64_t delta)
{
    atomic_fetch_add_explicit(&counters[which], delta, memory_order_relaxed);
}

void ncs_stat_sub(ncs_stat which, uint64_t delta)
{
    atomic_fetch_sub_explicit(&counters[which], delta, memory_order_relaxed);
}

uint64_t ncs_stat_get(ncs_stat which)
{
    return atomic_load_explicit(&counters[which], memory_order_relaxed);
}

static void raise_peak(uint64_t live)
{
    uint64_t peak = atomic_load_explicit(&counters[NCS_STAT_PEAK_BYTES], memory_order_relaxed);
    while (live > peak &&
           !atomic_compare_exchange_weak_explicit(&counters[NCS_STAT_PEAK_BYTES], &peak, live,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

int ncs_stat_reserve_bytes(uint64_t bytes)
{
    uint64_t limit = atomic_load_explicit(&counters[NCS_STAT_LIMIT_BYTES], memory_order_relaxed);
    uint64_t live = atomic_load_explicit(&counters[NCS_STAT_LIVE_BYTES], memory_order_relaxed);
    uint64_t next;
    do {
        if (__builtin_add_overflow(live, bytes, &next) || (limit != 0 && next > limit))
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&counters[NCS_STAT_LIVE_BYTES], &live, next,
                                                    memory_order_relaxed, memory_order_relaxed));
    raise_peak(next);
    return 1;
}

void ncs_stat_unreserve_bytes(uint64_t bytes)
{
    ncs_stat_sub(NCS_STAT_LIVE_BYTES, bytes);
}

NCS_API int ncs_stats_read(uint64_t *out, int n)
{
    if (out == NULL || n <= 0)
        return 0;
    int count = n < NCS_STAT_COUNT ? n : NCS_STAT_COUNT;
    for (int i = 0; i < count; i++)
        out[i] = atomic_load_explicit(&counters[i], memory_order_relaxed);
    return count;
}

NCS_API void ncs_set_memory_limit(uint64_t bytes)
{
    atomic_store_explicit(&counters[NCS_STAT_LIMIT_BYTES], bytes, memory_order_relaxed);
    ncs_block_fit_budget(); /* the buffer cache gives back what no longer fits */
}
