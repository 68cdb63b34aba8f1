/*
 * block_cache.c -- the memory behind buffers, and the cache of freed large blocks.
 *
 * Small buffers come from malloc, which recycles freed memory itself. Large ones (4 MiB and
 * more) are mapped from the system directly, rounded up to whole 2 MiB pages, 2 MiB aligned and
 * advised to use transparent huge pages (as numpy does): a kernel's first touch of a fresh
 * output then faults once per 2 MiB instead of once per 4 KiB. Each is followed by an
 * inaccessible guard page, so running off its end faults in every build, and giving one back
 * unmaps it (through malloc it could stay in malloc's own free lists, which raise their mmap
 * threshold after the first large free). Fresh memory still costs that first touch (the kernel
 * zeroes it; in a virtual machine with free page reporting the host maps it in again, measured
 * at 0.6 GB/s on the build machine), so a freed large block is kept while the cache limit
 * allows and handed to the next allocation of the same rounded size (see "The buffer cache" in
 * ncs.h).
 *
 * The cache is a short array ordered from least to most recently freed, under one mutex: large
 * allocations are rare next to the megabytes of work each one carries, so the lock is short and
 * rarely contended; small allocations take it only when live plus cached bytes pass the budget.
 * Blocks are given back to the system outside the lock. The budget covers live and cached bytes
 * (budget.h, which owns both figures, the invariant and the memory ordering it takes): an
 * allocation reserves its live bytes first and then gives back cached blocks that no longer fit
 * beside them; a free publishes its block in the cache first and then checks the budget.
 *
 * Under AddressSanitizer a cached block is poisoned, so touching a freed buffer's memory is
 * reported while the block waits in the cache, and so are the bytes of a block past the size its
 * buffer asked for. Once a block is reused, a stale pointer into it reaches the new buffer
 * unreported (ASan's own quarantine would have delayed that reuse), which is why the cache is off
 * unless the host sets a limit: the sanitized kernel tests run without it.
 */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE is a Linux extension, hidden by _POSIX_C_SOURCE alone */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "budget.h"
#include "clock.h"
#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define NCS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NCS_ASAN 1
#endif
#endif
#ifdef NCS_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define LARGE_THRESHOLD ((uint64_t)4 << 20)
#define HUGE_PAGE ((uint64_t)2 << 20)
#define GUARD ((uint64_t)4096) /* PROT_NONE after each large block */
#define SMALL_ALIGNMENT 64
#define CACHE_SLOTS 64

typedef struct cached_block {
    void *data;
    uint64_t capacity;
    uint64_t freed_ns; /* CLOCK_MONOTONIC */
} cached_block;

/* Guarded by cache_lock, like every change of the budget's cached bytes (the bytes in the cache). */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached_block cache[CACHE_SLOTS]; /* [0, cache_count), least recently freed first */
static int cache_count;
static uint64_t cache_limit; /* 0: keep nothing */

/* The bytes a large block of `size` takes: whole 2 MiB pages; 0 when that overflows (with the
   room map_block needs to align it). */
static uint64_t capacity_of(uint64_t size)
{
    if (size > SIZE_MAX - 3 * HUGE_PAGE)
        return 0;
    return (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
}

/* Maps `capacity` bytes at a 2 MiB boundary, followed by a guard page; NULL when the system has
   no room. Maps 2 MiB more and unmaps the ends, since mmap only promises page alignment: the
   aligned start is at most 2 MiB - 4 KiB in, so the block and its guard always fit. */
static void *map_block(uint64_t capacity)
{
    size_t span = (size_t)(capacity + HUGE_PAGE);
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *start = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    char *end = start + capacity + GUARD;
    if (start > raw)
        munmap(raw, (size_t)(start - raw));
    if (end < raw + span)
        munmap(end, (size_t)(raw + span - end));
    mprotect(start + capacity, GUARD, PROT_NONE);
    POISON(start + capacity, GUARD);
#ifdef MADV_HUGEPAGE
    madvise(start, (size_t)capacity, MADV_HUGEPAGE); /* only advice */
#endif
    return start;
}

static void unmap_block(void *data, uint64_t capacity)
{
    UNPOISON(data, capacity + GUARD); /* the next mapping here starts clean */
    munmap(data, (size_t)(capacity + GUARD));
}

/* Puts a block in the cache as the most recently freed (guarded; there is room). */
static void cache_insert(void *data, uint64_t capacity)
{
    cache[cache_count++] = (cached_block){
        .data = data, .capacity = capacity, .freed_ns = ncs_clock_ns()};
    ncs_budget_cache_add(capacity);
}

/* Takes entry i out of the cache (guarded). */
static cached_block cache_remove(int i)
{
    cached_block block = cache[i];
    for (int j = i + 1; j < cache_count; j++)
        cache[j - 1] = cache[j];
    cache_count--;
    ncs_budget_cache_sub(block.capacity);
    return block;
}

/* Returns blocks taken out of the cache to the system; outside the lock. */
static uint64_t give_back(const cached_block *blocks, int n)
{
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) {
        unmap_block(blocks[i].data, blocks[i].capacity);
        bytes += blocks[i].capacity;
    }
    return bytes;
}

/* Takes the most recently freed block of `capacity` out of the cache (0: none), then gives
   back the least recently freed blocks while live and cached bytes pass the budget (the live
   bytes already count the buffer being allocated). Returns the block taken or NULL. */
static void *take_and_fit(uint64_t capacity)
{
    void *data = NULL;
    cached_block evicted[CACHE_SLOTS + 1];
    int n_evicted = 0;
    pthread_mutex_lock(&cache_lock);
    for (int i = cache_count - 1; i >= 0 && capacity != 0; i--) {
        if (cache[i].capacity == capacity) {
            data = cache_remove(i).data;
            break;
        }
    }
    while (cache_count > 0 && ncs_budget_over())
        evicted[n_evicted++] = cache_remove(0);
    pthread_mutex_unlock(&cache_lock);
    give_back(evicted, n_evicted);
    return data;
}

/* After a reservation or a lowered limit: gives back cached blocks while live and cached bytes
   pass the budget (the fence that makes this see a concurrent free's block is in budget.c). */
static void fit_budget(void)
{
    if (ncs_budget_over() && ncs_budget_cached() != 0)
        take_and_fit(0); /* checks again under the lock */
}

/* Memory from the system for a small buffer (`capacity` 0: of `size` bytes, from malloc) or a
   large block; if the system has none left, again after giving the whole cache back: a cache
   never makes an allocation fail. */
static void *system_memory(uint64_t size, uint64_t capacity)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        void *data = NULL;
        if (capacity != 0)
            data = map_block(capacity);
        else if (posix_memalign(&data, SMALL_ALIGNMENT, (size_t)size) != 0)
            data = NULL;
        if (data != NULL || ncs_buffer_cache_trim(0) == 0)
            return data;
    }
    return NULL;
}

void *ncs_block_get(uint64_t size, int reuse)
{
    if (size < LARGE_THRESHOLD) {
        fit_budget();
        return system_memory(size, 0);
    }
    uint64_t capacity = capacity_of(size);
    if (capacity == 0)
        return NULL;
    void *data = take_and_fit(reuse ? capacity : 0);
    if (data != NULL)
        ncs_stat_add(NCS_STAT_CACHE_REUSES, 1);
    else if ((data = system_memory(size, capacity)) == NULL)
        return NULL;
    UNPOISON(data, size);
    POISON((char *)data + size, capacity - size);
    return data;
}

void ncs_block_put(void *data, uint64_t size)
{
    if (data == NULL)
        return;
    if (size < LARGE_THRESHOLD) {
        free(data);
        return;
    }
    uint64_t capacity = capacity_of(size);
    POISON(data, capacity);                /* before another thread can take it from the cache */
    cached_block evicted[CACHE_SLOTS + 1]; /* the cache, and this block */
    int n_evicted = 0, kept = 0;
    pthread_mutex_lock(&cache_lock);
    if (capacity <= cache_limit) {
        while (cache_count > 0 &&
               (cache_count == CACHE_SLOTS || ncs_budget_cached() + capacity > cache_limit))
            evicted[n_evicted++] = cache_remove(0);
        cache_insert(data, capacity); /* published, then the budget checked (budget.h) */
        kept = 1;
        /* What does not fit the budget goes, oldest first, this block last. */
        while (cache_count > 0 && ncs_budget_over())
            evicted[n_evicted++] = cache_remove(0);
    }
    pthread_mutex_unlock(&cache_lock);
    give_back(evicted, n_evicted);
    if (!kept)
        give_back(&(cached_block){.data = data, .capacity = capacity}, 1);
}

NCS_API void ncs_set_memory_limit(uint64_t bytes)
{
    ncs_budget_set_limit(bytes);
    fit_budget(); /* the cache gives back what no longer fits */
}

NCS_API void ncs_set_buffer_cache_limit(uint64_t bytes)
{
    cached_block evicted[CACHE_SLOTS + 1];
    int n_evicted = 0;
    pthread_mutex_lock(&cache_lock);
    cache_limit = bytes;
    while (cache_count > 0 && ncs_budget_cached() > bytes)
        evicted[n_evicted++] = cache_remove(0);
    pthread_mutex_unlock(&cache_lock);
    give_back(evicted, n_evicted);
}

NCS_API uint64_t ncs_buffer_cache_trim(uint64_t min_idle_ms)
{
    uint64_t min_idle_ns = min_idle_ms > UINT64_MAX / 1000000u ? UINT64_MAX
                                                               : min_idle_ms * 1000000u;
    cached_block evicted[CACHE_SLOTS + 1];
    int n_evicted = 0;
    pthread_mutex_lock(&cache_lock);
    uint64_t now = ncs_clock_ns();
    while (cache_count > 0 && now - cache[0].freed_ns >= min_idle_ns)
        evicted[n_evicted++] = cache_remove(0);
    pthread_mutex_unlock(&cache_lock);
    return give_back(evicted, n_evicted);
}
