/*
 * stats.c -- the process-wide counters behind ncs_stats_read. They only count: the live, peak,
 * limit and cached bytes are the memory budget's own figures (budget.c), read from there.
 */
#include <stdatomic.h>

#include "budget.h"
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

/* Counter `which` now; the budget's figures from the budget. */
static uint64_t stat_get(int which)
{
    switch (which) {
    case NCS_STAT_LIVE_BYTES: return ncs_budget_live();
    case NCS_STAT_PEAK_BYTES: return ncs_budget_peak();
    case NCS_STAT_LIMIT_BYTES: return ncs_budget_limit();
    case NCS_STAT_CACHED_BYTES: return ncs_budget_cached();
    default: return atomic_load_explicit(&counters[which], memory_order_relaxed);
    }
}

NCS_API int ncs_stats_read(uint64_t *out, int n)
{
    if (out == NULL || n <= 0)
        return 0;
    int count = n < NCS_STAT_COUNT ? n : NCS_STAT_COUNT;
    for (int i = 0; i < count; i++)
        out[i] = stat_get(i);
    return count;
}
