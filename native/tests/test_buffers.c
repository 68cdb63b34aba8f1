/*
 * test_buffers.c -- the buffer registry, counters, status strings, dtypes, versions, the rank limit.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"

static void test_version_status_dtype(void)
{
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", NCS_VERSION_MAJOR, NCS_VERSION_MINOR,
             NCS_VERSION_PATCH);
    CHECK(ncs_version_number() == NCS_VERSION_NUMBER);
    CHECK(strcmp(ncs_version_string(), version) == 0);
    CHECK(ncs_max_rank() == NCS_MAX_RANK);
    CHECK(strcmp(ncs_status_str(NCS_OK), "ok") == 0);
    CHECK(strcmp(ncs_status_str(NCS_E_STALE_HANDLE), "stale handle") == 0);
    CHECK(strcmp(ncs_status_str(NCS_E_INTERNAL), "internal error") == 0);
    CHECK(strcmp(ncs_status_str(-1), "unknown status") == 0);
    CHECK(strcmp(ncs_status_str(99), "unknown status") == 0);
    CHECK(ncs_dtype_size(NCS_DTYPE_BOOL) == 1);
    CHECK(ncs_dtype_size(NCS_DTYPE_UINT16) == 2);
    CHECK(ncs_dtype_size(NCS_DTYPE_INT32) == 4);
    CHECK(ncs_dtype_size(NCS_DTYPE_FP64) == 8);
    CHECK(ncs_dtype_size(NCS_DTYPE_BF16) == 2);
    CHECK(ncs_dtype_size(NCS_DTYPE_BYTES) == 0);
    CHECK(ncs_dtype_size(NCS_DTYPE_INVALID) == 0);
    CHECK(ncs_dtype_size(15) == 0);
    CHECK(strcmp(ncs_dtype_name(NCS_DTYPE_FP16), "FP16") == 0);
    CHECK(strcmp(ncs_dtype_name(NCS_DTYPE_UINT64), "UINT64") == 0);
    CHECK(strcmp(ncs_dtype_name(NCS_DTYPE_BF16), "BF16") == 0);
    CHECK(ncs_dtype_name(0) == NULL && ncs_dtype_name(15) == NULL && ncs_dtype_name(-3) == NULL);
}

static void test_alloc_retain_release(void)
{
    uint64_t allocations = stat_value(NCS_STAT_ALLOCATIONS), frees = stat_value(NCS_STAT_FREES);
    uint64_t retains = stat_value(NCS_STAT_RETAINS), releases = stat_value(NCS_STAT_RELEASES);
    ncs_handle h;
    uint32_t count;
    uint64_t addr, size;
    CHECK_OK(ncs_buffer_alloc(100, &h));
    CHECK(h != 0);
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 1 && stat_value(NCS_STAT_LIVE_BYTES) == 100);
    CHECK_OK(ncs_buffer_refcount(h, &count));
    CHECK(count == 1);
    CHECK_OK(ncs_buffer_data(h, &addr, &size));
    CHECK(size == 100 && addr != 0 && addr % 64 == 0);
    memset((void *)(uintptr_t)addr, 0xab, 100);
    CHECK_OK(ncs_buffer_retain(h));
    CHECK_OK(ncs_buffer_refcount(h, &count));
    CHECK(count == 2);
    CHECK_OK(ncs_buffer_release(h));
    CHECK_OK(ncs_buffer_refcount(h, &count));
    CHECK(count == 1);
    CHECK_OK(ncs_buffer_release(h));
    CHECK(stat_value(NCS_STAT_ALLOCATIONS) == allocations + 1);
    CHECK(stat_value(NCS_STAT_FREES) == frees + 1);
    CHECK(stat_value(NCS_STAT_RETAINS) == retains + 1);
    CHECK(stat_value(NCS_STAT_RELEASES) == releases + 2);
    CHECK_STATUS(ncs_buffer_alloc(8, NULL), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_refcount(h, NULL), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_data(h, NULL, &size), NCS_E_INVALID_ARGUMENT);
}

static void test_stale_handle(void)
{
    ncs_handle h;
    CHECK_OK(ncs_buffer_alloc(32, &h));
    CHECK_OK(ncs_buffer_release(h));
    uint64_t stale = stat_value(NCS_STAT_STALE_HANDLE_USES);
    uint32_t count = 77;
    uint64_t addr = 77, size = 77;
    CHECK_STATUS(ncs_buffer_retain(h), NCS_E_STALE_HANDLE);
    CHECK_STATUS(ncs_buffer_refcount(h, &count), NCS_E_STALE_HANDLE);
    CHECK_STATUS(ncs_buffer_data(h, &addr, &size), NCS_E_STALE_HANDLE);
    CHECK(count == 77 && addr == 77 && size == 77); /* failed calls leave out-parameters alone */
    CHECK(stat_value(NCS_STAT_STALE_HANDLE_USES) == stale + 3);
    /* Handle 0 and handles the registry never issued are invalid arguments, not stale. */
    CHECK_STATUS(ncs_buffer_retain(0), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_release(0), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_retain(0xffffffffull), NCS_E_INVALID_ARGUMENT);
    CHECK(stat_value(NCS_STAT_STALE_HANDLE_USES) == stale + 3);
}

static void test_double_release(void)
{
    ncs_handle h;
    CHECK_OK(ncs_buffer_alloc(32, &h));
    CHECK_OK(ncs_buffer_release(h));
    uint64_t doubles = stat_value(NCS_STAT_DOUBLE_RELEASES);
    uint64_t releases = stat_value(NCS_STAT_RELEASES);
    CHECK_STATUS(ncs_buffer_release(h), NCS_E_DOUBLE_RELEASE);
    CHECK_STATUS(ncs_buffer_release(h), NCS_E_DOUBLE_RELEASE);
    CHECK(stat_value(NCS_STAT_DOUBLE_RELEASES) == doubles + 2);
    CHECK(stat_value(NCS_STAT_RELEASES) == releases);
}

static void test_generation_reuse(void)
{
    ncs_handle old, fresh;
    uint32_t count;
    CHECK_OK(ncs_buffer_alloc(16, &old));
    CHECK_OK(ncs_buffer_release(old));
    CHECK_OK(ncs_buffer_alloc(16, &fresh));
    /* The free list hands the same slot back, under a new generation. */
    CHECK((old & 0xffffffffu) == (fresh & 0xffffffffu));
    CHECK(old != fresh);
    CHECK_STATUS(ncs_buffer_retain(old), NCS_E_STALE_HANDLE);
    CHECK_STATUS(ncs_buffer_release(old), NCS_E_DOUBLE_RELEASE);
    CHECK_OK(ncs_buffer_refcount(fresh, &count));
    CHECK(count == 1);
    CHECK_OK(ncs_buffer_release(fresh));
}

static void test_budget(void)
{
    uint64_t failed = stat_value(NCS_STAT_FAILED_ALLOCATIONS);
    uint64_t allocations = stat_value(NCS_STAT_ALLOCATIONS);
    ncs_set_memory_limit(1000);
    CHECK(stat_value(NCS_STAT_LIMIT_BYTES) == 1000);
    ncs_handle a, b = 12345;
    CHECK_OK(ncs_buffer_alloc(600, &a));
    CHECK_STATUS(ncs_buffer_alloc(600, &b), NCS_E_OUT_OF_MEMORY);
    CHECK(b == 12345);
    CHECK(stat_value(NCS_STAT_FAILED_ALLOCATIONS) == failed + 1);
    CHECK(stat_value(NCS_STAT_ALLOCATIONS) == allocations + 1);
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 1 && stat_value(NCS_STAT_LIVE_BYTES) == 600);
    CHECK_OK(ncs_buffer_alloc(400, &b)); /* exactly at the limit */
    CHECK_OK(ncs_buffer_release(a));
    CHECK_OK(ncs_buffer_release(b));
    CHECK_OK(ncs_buffer_alloc(1000, &a));
    CHECK_OK(ncs_buffer_release(a));
    ncs_set_memory_limit(0);
#ifndef __SANITIZE_ADDRESS__ /* ASan aborts on impossible sizes instead of returning NULL */
    /* A system allocator failure is reported the same way. */
    CHECK_STATUS(ncs_buffer_alloc(UINT64_MAX / 2, &a), NCS_E_OUT_OF_MEMORY);
    CHECK(stat_value(NCS_STAT_FAILED_ALLOCATIONS) == failed + 2);
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 0);
#endif
}

static void test_peak_and_size_zero(void)
{
    ncs_handle big, empty;
    uint64_t addr = 1, size = 1;
    CHECK_OK(ncs_buffer_alloc(3u << 20, &big));
    CHECK(stat_value(NCS_STAT_PEAK_BYTES) >= (3u << 20));
    CHECK_OK(ncs_buffer_release(big));
    CHECK(stat_value(NCS_STAT_PEAK_BYTES) >= (3u << 20));
    CHECK_OK(ncs_buffer_alloc(0, &empty));
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 1);
    CHECK_OK(ncs_buffer_data(empty, &addr, &size));
    CHECK(size == 0);
    CHECK_OK(ncs_buffer_retain(empty));
    CHECK_OK(ncs_buffer_release(empty));
    CHECK_OK(ncs_buffer_release(empty));
    uint64_t out[NCS_STAT_COUNT + 4];
    CHECK(ncs_stats_read(out, NCS_STAT_COUNT + 4) == NCS_STAT_COUNT);
    CHECK(ncs_stats_read(out, 3) == 3);
    CHECK(ncs_stats_read(NULL, 3) == 0);
    CHECK(ncs_stats_read(out, 0) == 0);
}

/* The mapping holding `addr`, from /proc/self/smaps: its permissions ("rw-p") and VmFlags line.
   Returns 0 when the file or the mapping is not found. */
static int mapping_of(uint64_t addr, char perms[5], char flags[512])
{
    FILE *smaps = fopen("/proc/self/smaps", "r");
    if (smaps == NULL)
        return 0;
    char line[512];
    int inside = 0, found = 0;
    while (!found && fgets(line, sizeof line, smaps) != NULL) {
        unsigned long long start, end;
        char p[5];
        if (sscanf(line, "%llx-%llx %4s ", &start, &end, p) == 3 &&
            strchr(line, ':') > strchr(line, ' ')) {
            inside = addr >= start && addr < end;
            if (inside)
                memcpy(perms, p, 5);
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, 512, "%s", line + 8);
            found = 1;
        }
    }
    fclose(smaps);
    return found;
}

/* Whether the mapping holding `addr` carries VmFlag `flag`; -1 when it is not found. */
static int mapping_has_flag(uint64_t addr, const char *flag)
{
    char perms[5], flags[512];
    return mapping_of(addr, perms, flags) ? strstr(flags, flag) != NULL : -1;
}

/* Buffers of 4 MiB and more are 2 MiB aligned and advised to use transparent huge pages, so a
   kernel's first touch of a fresh output faults once per 2 MiB instead of once per 4 KiB. */
static void test_large_buffers_ask_for_huge_pages(void)
{
    FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (thp == NULL) {
        printf("  (skipped: this kernel has no transparent huge pages)\n");
        return;
    }
    fclose(thp);
    ncs_handle large, small;
    uint64_t large_addr, small_addr, size;
    CHECK_OK(ncs_buffer_alloc(6u << 20, &large));
    CHECK_OK(ncs_buffer_alloc(64u << 10, &small));
    CHECK_OK(ncs_buffer_data(large, &large_addr, &size));
    CHECK_OK(ncs_buffer_data(small, &small_addr, &size));
    CHECK(large_addr % (2u << 20) == 0);
    CHECK(mapping_has_flag(large_addr, " hg") == 1);
    CHECK(mapping_has_flag(small_addr, " hg") == 0);
    CHECK_OK(ncs_buffer_release(small));
    CHECK_OK(ncs_buffer_release(large));
}

/* ---- the buffer cache ------------------------------------------------------------------ */

#define MIB ((uint64_t)1 << 20)

/* Allocates `size` bytes, returning the handle and (through *addr) the memory's address. */
static ncs_handle alloc_at(uint64_t size, uint64_t *addr)
{
    ncs_handle h;
    uint64_t got;
    CHECK_OK(ncs_buffer_alloc(size, &h));
    CHECK_OK(ncs_buffer_data(h, addr, &got));
    CHECK(got == size);
    memset((void *)(uintptr_t)*addr, 0x5a, (size_t)size); /* every byte is the buffer's */
    return h;
}

/* A large buffer ends at a guard page, mapped without any access: a write one byte past a
   buffer that fills its 2 MiB pages exactly kills the process (SIGSEGV; under ASan its report),
   here a forked child. */
static void test_large_buffers_end_at_a_guard_page(void)
{
    uint64_t addr;
    ncs_handle h = alloc_at(6 * MIB, &addr);
    char perms[5], flags[512];
    CHECK(mapping_of(addr + 6 * MIB, perms, flags));
    CHECK(strcmp(perms, "---p") == 0);
    fflush(NULL);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        if (freopen("/dev/null", "w", stderr) == NULL) /* the ASan report is expected */
            _exit(2);
        ((volatile unsigned char *)(uintptr_t)addr)[6 * MIB] = 1;
        _exit(0);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 2));
    CHECK_OK(ncs_buffer_release(h));
}

static void test_cache_off_by_default(void)
{
    uint64_t reuses = stat_value(NCS_STAT_CACHE_REUSES), addr;
    CHECK_OK(ncs_buffer_release(alloc_at(6 * MIB, &addr)));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0);
    CHECK_OK(ncs_buffer_release(alloc_at(6 * MIB, &addr)));
    CHECK(stat_value(NCS_STAT_CACHE_REUSES) == reuses);
    CHECK(ncs_buffer_cache_trim(0) == 0);
}

/* A freed large block serves the next allocation of the same rounded size, not another size
   and not a small buffer; what is cached is not live. */
static void test_cache_reuses_the_same_size(void)
{
    ncs_set_buffer_cache_limit(64 * MIB);
    uint64_t reuses = stat_value(NCS_STAT_CACHE_REUSES), first, again, other;
    CHECK_OK(ncs_buffer_release(alloc_at(6 * MIB, &first)));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 6 * MIB);
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 0 && stat_value(NCS_STAT_LIVE_BUFFERS) == 0);
    ncs_handle h = alloc_at(6 * MIB - 100, &again); /* rounds up to the same 6 MiB */
    CHECK(again == first);
    CHECK(stat_value(NCS_STAT_CACHE_REUSES) == reuses + 1);
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0);
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 6 * MIB - 100);
    ncs_handle big = alloc_at(8 * MIB, &other);
    CHECK(other != first);
    CHECK_OK(ncs_buffer_release(h));
    ncs_handle small = alloc_at(MIB, &other); /* small buffers never come from the cache */
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 6 * MIB);
    CHECK_OK(ncs_buffer_release(small));
    CHECK_OK(ncs_buffer_release(big));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 14 * MIB);
    CHECK(stat_value(NCS_STAT_CACHE_REUSES) == reuses + 1);
    CHECK(ncs_buffer_cache_trim(0) == 14 * MIB);
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0);
    ncs_set_buffer_cache_limit(0);
}

/* The cache keeps at most its limit: the least recently freed block goes first, the most
   recently freed is reused first, and lowering the limit gives back what is over it. */
static void test_cache_limit_and_order(void)
{
    ncs_set_buffer_cache_limit(16 * MIB);
    uint64_t a_addr, b_addr, c_addr, addr;
    ncs_handle a = alloc_at(6 * MIB, &a_addr), b = alloc_at(6 * MIB, &b_addr),
               c = alloc_at(6 * MIB, &c_addr);
    CHECK_OK(ncs_buffer_release(a));
    CHECK_OK(ncs_buffer_release(b));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 12 * MIB);
    CHECK_OK(ncs_buffer_release(c)); /* 18 MiB would pass the limit: a goes */
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 12 * MIB);
    ncs_handle x = alloc_at(6 * MIB, &addr);
    CHECK(addr == c_addr);
    ncs_handle y = alloc_at(6 * MIB, &addr);
    CHECK(addr == b_addr);
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0);
    CHECK_OK(ncs_buffer_release(x));
    CHECK_OK(ncs_buffer_release(y));
    ncs_handle huge = alloc_at(18 * MIB, &addr);
    CHECK_OK(ncs_buffer_release(huge)); /* larger than the whole cache: given back at once */
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 12 * MIB);
    ncs_set_buffer_cache_limit(7 * MIB);
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 6 * MIB);
    ncs_set_buffer_cache_limit(0);
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0);
}

/* The memory budget covers cached bytes: cached blocks are given back before live plus cached
   would pass it, so the cache never makes an allocation fail. */
static void test_cache_within_the_budget(void)
{
    ncs_set_buffer_cache_limit(64 * MIB);
    ncs_set_memory_limit(20 * MIB);
    uint64_t addr, b_addr, d_addr, again;
    ncs_handle a = alloc_at(6 * MIB, &addr), b = alloc_at(6 * MIB, &b_addr);
    CHECK_OK(ncs_buffer_release(a));
    CHECK_OK(ncs_buffer_release(b));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 12 * MIB);
    ncs_handle c = alloc_at(9 * MIB, &addr); /* 9 live + 12 cached > 20: the older block goes */
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 6 * MIB);
    ncs_handle d = alloc_at(5 * MIB, &d_addr); /* rounds up to 6 MiB: b's block */
    CHECK(d_addr == b_addr);
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0);
    CHECK_OK(ncs_buffer_release(alloc_at(4 * MIB, &addr)));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 4 * MIB);
    ncs_handle y = alloc_at(2 * MIB, &addr); /* 16 live + 4 cached: at the budget */
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 4 * MIB);
    /* d's block takes 6 MiB: 11 live + 4 + 6 cached would pass the budget, so the 4 MiB goes */
    CHECK_OK(ncs_buffer_release(d));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 6 * MIB);
    ncs_handle e = alloc_at(6 * MIB, &again);
    CHECK(again == d_addr);
    CHECK_OK(ncs_buffer_release(e));
    CHECK_OK(ncs_buffer_release(y));
    CHECK_OK(ncs_buffer_release(c));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 16 * MIB);
    ncs_handle whole = alloc_at(20 * MIB, &addr); /* the whole budget: the cache empties */
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0);
    CHECK_OK(ncs_buffer_release(whole)); /* cached: 20 MiB fits the budget with nothing live */
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 20 * MIB);
    ncs_handle small = alloc_at(MIB, &addr); /* 1 live + 20 cached > 20 */
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0);
    CHECK_OK(ncs_buffer_release(small));
    CHECK_OK(ncs_buffer_release(alloc_at(6 * MIB, &addr)));
    CHECK_OK(ncs_buffer_release(alloc_at(8 * MIB, &addr)));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 14 * MIB);
    ncs_set_memory_limit(10 * MIB); /* a lowered budget: the older block no longer fits */
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 8 * MIB);
    ncs_set_memory_limit(0);
    ncs_set_buffer_cache_limit(0);
}

#if !defined(__SANITIZE_ADDRESS__) /* ASan reserves terabytes of address space up front */
/* VmSize of this process, in bytes. */
static uint64_t address_space_used(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    CHECK(status != NULL);
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, status) != NULL && sscanf(line, "VmSize: %llu kB", &kib) != 1) {
    }
    fclose(status);
    CHECK(kib > 0);
    return (uint64_t)kib * 1024;
}

/* When the system has no memory left for an allocation, the cache is given back and the
   allocation tried again: here the address space is capped so that 48 MiB fit only once the
   64 MiB the cache holds are returned. */
static void test_cache_gives_way_when_the_system_has_no_memory(void)
{
    ncs_set_buffer_cache_limit(64 * MIB);
    uint64_t addr;
    ncs_handle blocks[8];
    for (int i = 0; i < 8; i++)
        blocks[i] = alloc_at(8 * MIB, &addr);
    for (int i = 0; i < 8; i++)
        CHECK_OK(ncs_buffer_release(blocks[i]));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 64 * MIB);
    struct rlimit before, capped;
    CHECK(getrlimit(RLIMIT_AS, &before) == 0);
    capped = before;
    capped.rlim_cur = (rlim_t)(address_space_used() + 32 * MIB);
    CHECK(setrlimit(RLIMIT_AS, &capped) == 0);
    ncs_handle big;
    int status = ncs_buffer_alloc(48 * MIB, &big);
    CHECK(setrlimit(RLIMIT_AS, &before) == 0);
    CHECK_OK(status);
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0);
    CHECK_OK(ncs_buffer_release(big));
    ncs_set_buffer_cache_limit(0);
}
#endif

/* Trimming gives back blocks idle for at least the given time, least recently freed first. */
static void test_cache_trim_by_idle_time(void)
{
    ncs_set_buffer_cache_limit(64 * MIB);
    uint64_t addr;
    CHECK_OK(ncs_buffer_release(alloc_at(6 * MIB, &addr)));
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 30 * 1000000L};
    nanosleep(&pause, NULL);
    CHECK_OK(ncs_buffer_release(alloc_at(8 * MIB, &addr)));
    CHECK(ncs_buffer_cache_trim(60000) == 0);
    CHECK(ncs_buffer_cache_trim(20) == 6 * MIB);
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 8 * MIB);
    CHECK(ncs_buffer_cache_trim(UINT64_MAX) == 0);
    CHECK(ncs_buffer_cache_trim(0) == 8 * MIB);
    ncs_set_buffer_cache_limit(0);
}

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* Under AddressSanitizer a cached block is poisoned, and so are the bytes of a reused block
   past its buffer's size: touching either is reported as it would be without the cache. */
static void test_cache_poisons_under_asan(void)
{
    ncs_set_buffer_cache_limit(64 * MIB);
    uint64_t addr, again;
    CHECK_OK(ncs_buffer_release(alloc_at(6 * MIB, &addr)));
    CHECK(__asan_address_is_poisoned((void *)(uintptr_t)addr));
    CHECK(__asan_address_is_poisoned((void *)(uintptr_t)(addr + 6 * MIB - 1)));
    ncs_handle h = alloc_at(5 * MIB, &again);
    CHECK(again == addr);
    CHECK(!__asan_address_is_poisoned((void *)(uintptr_t)(addr + 5 * MIB - 1)));
    CHECK(__asan_address_is_poisoned((void *)(uintptr_t)(addr + 5 * MIB)));
    CHECK_OK(ncs_buffer_release(h));
    ncs_set_buffer_cache_limit(0);
}
#endif

/* ---- concurrency ----------------------------------------------------------------------- */

#define THREADS 4
#define ITERATIONS 20000
#define SHARED 16

static ncs_handle shared[SHARED];
static atomic_int stale_resurrections;

static void *hammer(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 7919 + 1;
    ncs_handle retired[8] = {0};
    for (int i = 0; i < ITERATIONS; i++) {
        ncs_handle h = shared[(int)(test_random(&seed) * SHARED)];
        uint32_t count;
        uint64_t addr, size;
        CHECK_OK(ncs_buffer_retain(h));
        CHECK_OK(ncs_buffer_refcount(h, &count));
        CHECK(count >= 2);
        CHECK_OK(ncs_buffer_data(h, &addr, &size));
        CHECK(size == 64);
        CHECK_OK(ncs_buffer_release(h));
        /* Private buffers come and go, recycling slots other threads just freed. */
        ncs_handle mine;
        CHECK_OK(ncs_buffer_alloc(1 + (uint64_t)(test_random(&seed) * 256), &mine));
        CHECK_OK(ncs_buffer_release(mine));
        /* A handle once freed stays dead even when its slot is reused. */
        ncs_handle old = retired[i % 8];
        if (old != 0 && ncs_buffer_retain(old) != NCS_E_STALE_HANDLE)
            atomic_fetch_add(&stale_resurrections, 1);
        retired[i % 8] = mine;
    }
    return NULL;
}

static void test_concurrency(void)
{
    for (int i = 0; i < SHARED; i++)
        CHECK_OK(ncs_buffer_alloc(64, &shared[i]));
    uint64_t retains = stat_value(NCS_STAT_RETAINS), releases = stat_value(NCS_STAT_RELEASES);
    uint64_t allocations = stat_value(NCS_STAT_ALLOCATIONS), frees = stat_value(NCS_STAT_FREES);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&threads[t], NULL, hammer, (void *)(uintptr_t)t) == 0);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_join(threads[t], NULL) == 0);
    CHECK(atomic_load(&stale_resurrections) == 0);
    for (int i = 0; i < SHARED; i++) {
        uint32_t count;
        CHECK_OK(ncs_buffer_refcount(shared[i], &count));
        CHECK(count == 1);
        CHECK_OK(ncs_buffer_release(shared[i]));
    }
    uint64_t n = (uint64_t)THREADS * ITERATIONS;
    CHECK(stat_value(NCS_STAT_RETAINS) == retains + n);
    CHECK(stat_value(NCS_STAT_ALLOCATIONS) == allocations + n);
    CHECK(stat_value(NCS_STAT_FREES) == frees + n + SHARED);
    CHECK(stat_value(NCS_STAT_RELEASES) == releases + 2 * n + SHARED);
}

/* Concurrent allocations under a budget: the live bytes never exceed the limit. */
static void *allocate_under_budget(void *arg)
{
    (void)arg;
    for (int i = 0; i < ITERATIONS / 4; i++) {
        ncs_handle h;
        int status = ncs_buffer_alloc(300, &h);
        CHECK(status == NCS_OK || status == NCS_E_OUT_OF_MEMORY);
        CHECK(stat_value(NCS_STAT_LIVE_BYTES) <= 1000);
        if (status == NCS_OK)
            CHECK_OK(ncs_buffer_release(h));
    }
    return NULL;
}

static void test_budget_concurrency(void)
{
    uint64_t peak_before = stat_value(NCS_STAT_PEAK_BYTES);
    CHECK(peak_before >= 1000); /* earlier tests went above 1000 bytes */
    ncs_set_memory_limit(1000);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&threads[t], NULL, allocate_under_budget, NULL) == 0);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_join(threads[t], NULL) == 0);
    ncs_set_memory_limit(0);
}

/* Threads allocating and freeing large buffers of three sizes through a small cache under a
   budget: no two live buffers share memory (each checks its own token at both ends after the
   others had time to write theirs), and the cache stays within its limit. */
static void *cache_hammer(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 104729 + 7;
    for (int i = 0; i < 300; i++) {
        uint64_t size = (4 + 2 * (uint64_t)(test_random(&seed) * 3)) * MIB -
                        (uint64_t)(test_random(&seed) * 4096);
        ncs_handle h;
        int status = ncs_buffer_alloc(size, &h);
        CHECK(status == NCS_OK || status == NCS_E_OUT_OF_MEMORY);
        if (status != NCS_OK)
            continue;
        uint64_t addr, got, token = seed;
        CHECK_OK(ncs_buffer_data(h, &addr, &got));
        unsigned char *p = (unsigned char *)(uintptr_t)addr;
        memcpy(p, &token, sizeof token);
        memcpy(p + size - sizeof token, &token, sizeof token);
        sched_yield();
        uint64_t first, last;
        memcpy(&first, p, sizeof first);
        memcpy(&last, p + size - sizeof last, sizeof last);
        CHECK(first == token && last == token);
        CHECK(stat_value(NCS_STAT_CACHED_BYTES) <= 24 * MIB);
        CHECK_OK(ncs_buffer_release(h));
    }
    return NULL;
}

static void test_cache_concurrency(void)
{
    uint64_t reuses = stat_value(NCS_STAT_CACHE_REUSES);
    ncs_set_buffer_cache_limit(24 * MIB);
    ncs_set_memory_limit(48 * MIB);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&threads[t], NULL, cache_hammer, (void *)(uintptr_t)(t + 1)) == 0);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_join(threads[t], NULL) == 0);
    CHECK(stat_value(NCS_STAT_CACHE_REUSES) > reuses);
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) <= 24 * MIB);
    ncs_set_memory_limit(0);
    ncs_set_buffer_cache_limit(0);
}

/* A deferred buffer counts only what its owner committed: against the budget, as live bytes,
   in the snapshot; committing past the budget fails and changes nothing; the free gives back
   exactly what was charged; it never takes a cached block (fresh memory costs nothing until
   written); a call refuses it as an input until it is fully committed. */
static void test_deferred_buffers(void)
{
    ncs_set_buffer_cache_limit(64 * MIB);
    ncs_set_memory_limit(16 * MIB);
    uint64_t cached_block;
    CHECK_OK(ncs_buffer_release(alloc_at(12 * MIB, &cached_block)));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 12 * MIB);
    uint64_t reuses = stat_value(NCS_STAT_CACHE_REUSES),
             failed = stat_value(NCS_STAT_FAILED_ALLOCATIONS);
    ncs_handle h, other;
    CHECK_OK(ncs_buffer_alloc_deferred(12 * MIB, &h));
    CHECK(stat_value(NCS_STAT_CACHE_REUSES) == reuses);
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 0 && stat_value(NCS_STAT_LIVE_BUFFERS) == 1);
    uint64_t addr, size;
    CHECK_OK(ncs_buffer_data(h, &addr, &size));
    CHECK(size == 12 * MIB && addr != cached_block && addr % (2 * MIB) == 0);
    CHECK_OK(ncs_buffer_commit(h, MIB));
    memset((void *)(uintptr_t)addr, 7, MIB);
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == MIB);
    CHECK_OK(ncs_buffer_commit(h, 100)); /* never lowers */
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == MIB);
    /* Another buffer takes most of the budget (the cached block gives way): committing the
       rest no longer fits, and nothing changes. */
    CHECK_OK(ncs_buffer_alloc(14 * MIB, &other));
    CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0);
    CHECK_STATUS(ncs_buffer_commit(h, 12 * MIB), NCS_E_OUT_OF_MEMORY);
    CHECK(stat_value(NCS_STAT_FAILED_ALLOCATIONS) == failed + 1);
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 15 * MIB);
    CHECK_STATUS(ncs_buffer_commit(h, 12 * MIB + 1), NCS_E_INVALID_ARGUMENT);
    char snapshot[512];
    size_t needed;
    CHECK_OK(ncs_buffer_snapshot(snapshot, sizeof snapshot, &needed));
    CHECK(strstr(snapshot, "\"bytes\":15728640") != NULL);

    /* A call takes it only when all of it is committed. */
    CHECK_OK(ncs_buffer_release(other));
    ncs_call *call;
    int64_t shape[1] = {(int64_t)(12 * MIB / 8)};
    CHECK_OK(ncs_call_create("identity", &call));
    CHECK_STATUS(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, shape, h), NCS_E_INVALID_ARGUMENT);
    CHECK(strstr(ncs_call_error(call), "not fully committed") != NULL);
    CHECK_OK(ncs_buffer_commit(h, 12 * MIB));
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 12 * MIB);
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, shape, h));
    ncs_call_destroy(call, NULL, NULL);
    CHECK_OK(ncs_buffer_release(h));
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 0 && stat_value(NCS_STAT_LIVE_BUFFERS) == 0);
    CHECK_STATUS(ncs_buffer_commit(h, 1), NCS_E_STALE_HANDLE);

    /* Small ones too; a buffer from ncs_buffer_alloc is committed already. */
    CHECK_OK(ncs_buffer_alloc_deferred(1000, &h));
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 0);
    CHECK_OK(ncs_buffer_commit(h, 1000));
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 1000);
    CHECK_OK(ncs_buffer_alloc(10, &other));
    CHECK_OK(ncs_buffer_commit(other, 10));
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 1010);
    CHECK_OK(ncs_buffer_release(other));
    CHECK_OK(ncs_buffer_release(h));
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 0);
    ncs_set_memory_limit(0);
    ncs_buffer_cache_trim(0);
    ncs_set_buffer_cache_limit(0);
}

int main(void)
{
    RUN_TEST(test_version_status_dtype);
    RUN_TEST(test_alloc_retain_release);
    RUN_TEST(test_stale_handle);
    RUN_TEST(test_double_release);
    RUN_TEST(test_generation_reuse);
    RUN_TEST(test_budget);
    RUN_TEST(test_peak_and_size_zero);
    RUN_TEST(test_large_buffers_ask_for_huge_pages);
    RUN_TEST(test_large_buffers_end_at_a_guard_page);
    RUN_TEST(test_cache_off_by_default);
    RUN_TEST(test_cache_reuses_the_same_size);
    RUN_TEST(test_cache_limit_and_order);
    RUN_TEST(test_cache_within_the_budget);
    RUN_TEST(test_cache_trim_by_idle_time);
    RUN_TEST(test_deferred_buffers);
#if defined(__SANITIZE_ADDRESS__)
    RUN_TEST(test_cache_poisons_under_asan);
#else
    RUN_TEST(test_cache_gives_way_when_the_system_has_no_memory);
#endif
    RUN_TEST(test_concurrency);
    RUN_TEST(test_budget_concurrency);
    RUN_TEST(test_cache_concurrency);
    return 0;
}
