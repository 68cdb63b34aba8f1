/*
 * budget.h -- the memory budget (budget.c): the limit, the live bytes reserved against it and
 * the bytes the buffer cache holds, and the invariant between them. Internal to libncs.
 *
 * The invariant: live + cached bytes stay within the limit (0: no limit), except for the moment
 * between a change and the eviction it triggers. Live bytes are reserved before the memory is
 * taken (ncs_budget_reserve never lets them alone pass the limit); cached bytes are what the
 * cache (block_cache.c) keeps, and it gives blocks back while ncs_budget_over() says so.
 */
#ifndef NCS_BUDGET_H
#define NCS_BUDGET_H

#include <stdint.h>

/** Adds `bytes` to the live bytes unless that would take them past the limit (atomically, so
 *  concurrent reservations cannot overshoot it) and raises the peak. Returns 1 when reserved, 0
 *  when the budget refused. Then a full fence: see ncs_budget_over. */
int ncs_budget_reserve(uint64_t bytes);
/** Gives back bytes reserved with ncs_budget_reserve. */
void ncs_budget_unreserve(uint64_t bytes);

/** Counts `bytes` more in the cache (the cache's lock held), then a full fence: see
 *  ncs_budget_over. */
void ncs_budget_cache_add(uint64_t bytes);
/** Counts `bytes` fewer in the cache (the cache's lock held). */
void ncs_budget_cache_sub(uint64_t bytes);

/**
 * Whether live plus cached bytes pass the limit now.
 *
 * Memory ordering, stated here and nowhere else: a thread that reserves live bytes and then asks
 * ncs_budget_over, and a thread that adds a block to the cache and then asks it, each pass a
 * sequentially consistent fence between the two steps (inside ncs_budget_reserve and
 * ncs_budget_cache_add, and ncs_budget_set_limit likewise). So at least one of them sees the
 * other's change, and evicts if the sum is over: live plus cached never stays above the limit.
 */
int ncs_budget_over(void);

/** Sets the limit (0: none), then a full fence like the others. Allocations already made are
 *  kept; the caller then evicts cached blocks while ncs_budget_over(). */
void ncs_budget_set_limit(uint64_t bytes);

/** The figures behind NCS_STAT_LIVE_BYTES, NCS_STAT_PEAK_BYTES, NCS_STAT_LIMIT_BYTES and
 *  NCS_STAT_CACHED_BYTES (relaxed reads). */
uint64_t ncs_budget_live(void);
uint64_t ncs_budget_peak(void);
uint64_t ncs_budget_limit(void);
uint64_t ncs_budget_cached(void);

#endif /* NCS_BUDGET_H */
