/*
 * budget.c -- the memory budget: limit, live bytes, peak and cached bytes (see budget.h for the
 * invariant and the memory ordering it relies on).
 */
#include <stdatomic.h>

#include "budget.h"

static _Atomic uint64_t limit; /* 0: unlimited */
static _Atomic uint64_t live;
static _Atomic uint64_t peak;
static _Atomic uint64_t cached;

static void raise_peak(uint64_t now)
{
    uint64_t seen = atomic_load_explicit(&peak, memory_order_relaxed);
    while (now > seen && !atomic_compare_exchange_weak_explicit(
                             &peak, &seen, now, memory_order_relaxed, memory_order_relaxed)) {
    }
}

int ncs_budget_reserve(uint64_t bytes)
{
    uint64_t most = atomic_load_explicit(&limit, memory_order_relaxed);
    uint64_t before = atomic_load_explicit(&live, memory_order_relaxed);
    uint64_t after;
    do {
        if (__builtin_add_overflow(before, bytes, &after) || (most != 0 && after > most))
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&live, &before, after, memory_order_relaxed,
                                                    memory_order_relaxed));
    raise_peak(after);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the one in ncs_budget_cache_add */
    return 1;
}

void ncs_budget_unreserve(uint64_t bytes)
{
    atomic_fetch_sub_explicit(&live, bytes, memory_order_relaxed);
}

void ncs_budget_cache_add(uint64_t bytes)
{
    atomic_fetch_add_explicit(&cached, bytes, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the one in ncs_budget_reserve */
}

void ncs_budget_cache_sub(uint64_t bytes)
{
    atomic_fetch_sub_explicit(&cached, bytes, memory_order_relaxed);
}

int ncs_budget_over(void)
{
    uint64_t most = atomic_load_explicit(&limit, memory_order_relaxed);
    uint64_t total = atomic_load_explicit(&live, memory_order_relaxed);
    return most != 0 && (__builtin_add_overflow(
                             total, atomic_load_explicit(&cached, memory_order_relaxed), &total) ||
                         total > most);
}

void ncs_budget_set_limit(uint64_t bytes)
{
    atomic_store_explicit(&limit, bytes, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
}

uint64_t ncs_budget_live(void)
{
    return atomic_load_explicit(&live, memory_order_relaxed);
}

uint64_t ncs_budget_peak(void)
{
    return atomic_load_explicit(&peak, memory_order_relaxed);
}

uint64_t ncs_budget_limit(void)
{
    return atomic_load_explicit(&limit, memory_order_relaxed);
}

uint64_t ncs_budget_cached(void)
{
    return atomic_load_explicit(&cached, memory_order_relaxed);
}
