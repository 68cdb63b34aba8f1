/*
 * test_handles.c -- the end of a slot's generations: a stale handle is never accepted again,
 * however often its slot is reused. Uses the internal test hook ncs_buffer_test_set_generation
 * to reach the last generation without 2^32 allocations, so it links the runtime's objects.
 */
#include "check.h"
#include "internal.h"

#define SLOT_BITS 0xffffffffull

static ncs_handle slot_handle(ncs_handle h, uint32_t generation)
{
    return ((uint64_t)generation << 32) | (h & SLOT_BITS);
}

/* Every way of using handle `h` is refused as stale (or as a double release). */
static void check_refused(ncs_handle h)
{
    uint32_t count;
    uint64_t addr, size;
    CHECK_STATUS(ncs_buffer_retain(h), NCS_E_STALE_HANDLE);
    CHECK_STATUS(ncs_buffer_refcount(h, &count), NCS_E_STALE_HANDLE);
    CHECK_STATUS(ncs_buffer_data(h, &addr, &size), NCS_E_STALE_HANDLE);
    CHECK_STATUS(ncs_buffer_release(h), NCS_E_DOUBLE_RELEASE);
}

static void test_handle_zero_never_valid(void)
{
    uint32_t count;
    uint64_t addr, size;
    CHECK_STATUS(ncs_buffer_retain(0), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_release(0), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_refcount(0, &count), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_data(0, &addr, &size), NCS_E_INVALID_ARGUMENT);
    /* generation bits without a slot are no handle either */
    CHECK_STATUS(ncs_buffer_retain(0xffffffff00000000ull), NCS_E_INVALID_ARGUMENT);
}

static void test_hook(void)
{
    ncs_handle h, moved;
    uint32_t count;
    CHECK_OK(ncs_buffer_alloc(8, &h));
    CHECK_STATUS(ncs_buffer_test_set_generation(h, 7, NULL), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_test_set_generation(0, 7, &moved), NCS_E_INVALID_ARGUMENT);
    CHECK_OK(ncs_buffer_test_set_generation(h, 7, &moved));
    CHECK(moved == slot_handle(h, 7) && moved != h);
    CHECK_STATUS(ncs_buffer_test_set_generation(h, 9, &moved), NCS_E_STALE_HANDLE);
    check_refused(h);
    CHECK_OK(ncs_buffer_refcount(moved, &count));
    CHECK(count == 1);
    CHECK_OK(ncs_buffer_release(moved));
}

/* The slot's last generation is usable once; after it the slot is retired for good, so no
   handle of it (the wrapped generation 0 included) is ever valid again. */
static void test_last_generation_retires_slot(void)
{
    ncs_handle first, h, last, later[8];
    uint32_t count;
    uint64_t addr, size;

    /* The free list is LIFO: a freed slot is the next one handed out. */
    CHECK_OK(ncs_buffer_alloc(16, &first));
    CHECK_OK(ncs_buffer_release(first));
    CHECK_OK(ncs_buffer_alloc(16, &h));
    CHECK((h & SLOT_BITS) == (first & SLOT_BITS) && h != first);

    /* Two generations before the end. */
    CHECK_OK(ncs_buffer_test_set_generation(h, UINT32_MAX - 1, &h));
    CHECK_OK(ncs_buffer_retain(h));
    CHECK_OK(ncs_buffer_release(h));
    CHECK_OK(ncs_buffer_release(h));
    check_refused(h);

    /* The last generation is handed out and works like any other. */
    CHECK_OK(ncs_buffer_alloc(24, &last));
    CHECK(last == slot_handle(first, UINT32_MAX));
    CHECK_OK(ncs_buffer_retain(last));
    CHECK_OK(ncs_buffer_refcount(last, &count));
    CHECK(count == 2);
    CHECK_OK(ncs_buffer_data(last, &addr, &size));
    CHECK(size == 24 && addr != 0);
    CHECK_OK(ncs_buffer_release(last));
    CHECK_OK(ncs_buffer_release(last));
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 0 && stat_value(NCS_STAT_LIVE_BYTES) == 0);

    /* Retired: the slot is never handed out again, so no generation of it comes back. */
    uint64_t stale = stat_value(NCS_STAT_STALE_HANDLE_USES);
    for (int i = 0; i < 8; i++) {
        CHECK_OK(ncs_buffer_alloc(8, &later[i]));
        CHECK((later[i] & SLOT_BITS) != (first & SLOT_BITS));
        CHECK(later[i] != first && later[i] != h && later[i] != last);
    }
    check_refused(first);
    check_refused(h);
    check_refused(last);
    check_refused(slot_handle(first, 0)); /* where a wrapped generation would land */
    check_refused(slot_handle(first, 1));
    CHECK(stat_value(NCS_STAT_STALE_HANDLE_USES) == stale + 5 * 3);
    for (int i = 0; i < 8; i++)
        CHECK_OK(ncs_buffer_release(later[i]));

    /* Freed slots other than the retired one are still reused. */
    ncs_handle again;
    CHECK_OK(ncs_buffer_alloc(8, &again));
    CHECK((again & SLOT_BITS) == (later[7] & SLOT_BITS) && again != later[7]);
    check_refused(later[7]);
    CHECK_OK(ncs_buffer_release(again));
}

int main(void)
{
    RUN_TEST(test_handle_zero_never_valid);
    RUN_TEST(test_hook);
    RUN_TEST(test_last_generation_retires_slot);
    return 0;
}
