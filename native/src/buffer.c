/*
 * buffer.c -- the buffer registry.
 *
 * A handle is (generation << 32) | (slot index + 1), so handle 0 is never valid. Each slot keeps
 * its generation and reference count together in one atomic word: retain and release are a
 * single compare-and-swap that checks the generation and the count at once, so a freed buffer
 * can never be resurrected. The release that drops the last reference moves the generation on
 * in that same swap; only then is the memory freed and the slot pushed on the free list.
 *
 * Generations only grow, so a handle is valid for one buffer only, ever. A slot whose last
 * generation (UINT32_MAX) is released is retired instead: its state stays (UINT32_MAX, count 0)
 * and it never returns to the free list, because the next generation would wrap to 0 and bring
 * the slot's oldest handles back to life. (The free list is LIFO, so one busy slot can be reused
 * 2^32 times; retiring it costs one slot's metadata.)
 *
 * Slots live in fixed-size chunks allocated on demand and never moved or freed, so a reader
 * can look a slot up without a lock while another thread grows the table. Only the free list
 * (and growing) takes a mutex. Slot metadata outlives the buffers: a stale handle reads its
 * slot's state, never the freed data.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

#define CHUNK_BITS 12
#define CHUNK_SLOTS (1u << CHUNK_BITS)
#define MAX_CHUNKS 16384u /* 2^26 slots at most */
#define NO_SLOT UINT32_MAX
#define ALIGNMENT 64

typedef struct slot {
    _Atomic uint64_t state; /* generation << 32 | reference count */
    _Atomic uintptr_t data;
    _Atomic uint64_t size;
    uint32_t next_free; /* guarded by table_lock */
} slot;

static _Atomic(slot *) chunks[MAX_CHUNKS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t free_head = NO_SLOT; /* guarded by table_lock */
static uint32_t next_unused;         /* guarded by table_lock */
#define LAST_GENERATION UINT32_MAX

static uint64_t make_state(uint32_t generation, uint32_t count)
{
    return ((uint64_t)generation << 32) | count;
}

static uint32_t state_generation(uint64_t state)
{
    return (uint32_t)(state >> 32);
}

static uint32_t state_count(uint64_t state)
{
    return (uint32_t)state;
}

static slot *slot_at(uint32_t index)
{
    slot *chunk = atomic_load_explicit(&chunks[index >> CHUNK_BITS], memory_order_acquire);
    return &chunk[index & (CHUNK_SLOTS - 1)];
}

/* The slot a handle names, or NULL when the handle was never issued by this registry. */
static slot *slot_of(ncs_handle h)
{
    uint64_t low = h & 0xffffffffu;
    if (low == 0 || ((low - 1) >> CHUNK_BITS) >= MAX_CHUNKS)
        return NULL;
    uint32_t index = (uint32_t)(low - 1);
    if (atomic_load_explicit(&chunks[index >> CHUNK_BITS], memory_order_acquire) == NULL)
        return NULL;
    return slot_at(index);
}

static uint32_t handle_generation(ncs_handle h)
{
    return (uint32_t)(h >> 32);
}

/* Pops a free slot, growing the table when the free list is empty. Returns 0 when the table
   is full or a new chunk cannot be allocated. */
static int take_slot(uint32_t *index)
{
    int ok = 1;
    pthread_mutex_lock(&table_lock);
    if (free_head != NO_SLOT) {
        *index = free_head;
        free_head = slot_at(free_head)->next_free;
    } else if ((next_unused >> CHUNK_BITS) < MAX_CHUNKS) {
        uint32_t chunk = next_unused >> CHUNK_BITS;
        if (atomic_load_explicit(&chunks[chunk], memory_order_relaxed) == NULL) {
            slot *fresh = calloc(CHUNK_SLOTS, sizeof(slot));
            if (fresh != NULL)
                atomic_store_explicit(&chunks[chunk], fresh, memory_order_release);
            else
                ok = 0;
        }
        if (ok)
            *index = next_unused++;
    } else {
        ok = 0;
    }
    pthread_mutex_unlock(&table_lock);
    return ok;
}

static void put_slot(uint32_t index)
{
    pthread_mutex_lock(&table_lock);
    slot_at(index)->next_free = free_head;
    free_head = index;
    pthread_mutex_unlock(&table_lock);
}

static int refuse_allocation(void)
{
    ncs_stat_add(NCS_STAT_FAILED_ALLOCATIONS, 1);
    return NCS_E_OUT_OF_MEMORY;
}

NCS_API int ncs_buffer_alloc(uint64_t size, ncs_handle *out)
{
    if (out == NULL)
        return NCS_E_INVALID_ARGUMENT;
#if SIZE_MAX < UINT64_MAX
    if (size > SIZE_MAX)
        return refuse_allocation();
#endif
    if (!ncs_stat_reserve_bytes(size))
        return refuse_allocation();
    void *data = NULL;
    if (size > 0 && posix_memalign(&data, ALIGNMENT, (size_t)size) != 0) {
        ncs_stat_unreserve_bytes(size);
        return refuse_allocation();
    }
    uint32_t index;
    if (!take_slot(&index)) {
        free(data);
        ncs_stat_unreserve_bytes(size);
        return refuse_allocation();
    }
    slot *s = slot_at(index);
    /* Orders the slot's earlier free (seen through take_slot) before the new data and size, for
       ncs_buffer_peek's re-check on a reader that still holds an old state. */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->data, (uintptr_t)data, memory_order_relaxed);
    atomic_store_explicit(&s->size, size, memory_order_relaxed);
    uint32_t generation = state_generation(atomic_load_explicit(&s->state, memory_order_relaxed));
    atomic_store_explicit(&s->state, make_state(generation, 1), memory_order_release);
    ncs_stat_add(NCS_STAT_LIVE_BUFFERS, 1);
    ncs_stat_add(NCS_STAT_ALLOCATIONS, 1);
    *out = ((uint64_t)generation << 32) | ((uint64_t)index + 1);
    return NCS_OK;
}

NCS_API int ncs_buffer_retain(ncs_handle h)
{
    slot *s = slot_of(h);
    if (s == NULL)
        return NCS_E_INVALID_ARGUMENT;
    uint64_t state = atomic_load_explicit(&s->state, memory_order_acquire);
    do {
        if (state_generation(state) != handle_generation(h) || state_count(state) == 0) {
            ncs_stat_add(NCS_STAT_STALE_HANDLE_USES, 1);
            return NCS_E_STALE_HANDLE;
        }
        if (state_count(state) == UINT32_MAX)
            return NCS_E_INVALID_ARGUMENT;
    } while (!atomic_compare_exchange_weak_explicit(&s->state, &state, state + 1,
                                                    memory_order_acq_rel, memory_order_acquire));
    ncs_stat_add(NCS_STAT_RETAINS, 1);
    return NCS_OK;
}

/* Frees the memory of a slot whose last reference was just dropped (the generation has
   already moved on, or the slot is retired, so no handle reaches it any more) and recycles the
   slot unless it is retired. */
static void free_slot(slot *s, uint32_t index, int retire)
{
    void *data = (void *)atomic_load_explicit(&s->data, memory_order_relaxed);
    uint64_t size = atomic_load_explicit(&s->size, memory_order_relaxed);
    /* The state change that retired the handle is ordered before these stores, for
       ncs_buffer_peek's re-check (seqlock writer side). */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->data, (uintptr_t)0, memory_order_relaxed);
    atomic_store_explicit(&s->size, 0, memory_order_relaxed);
    free(data);
    ncs_stat_unreserve_bytes(size);
    ncs_stat_sub(NCS_STAT_LIVE_BUFFERS, 1);
    ncs_stat_add(NCS_STAT_FREES, 1);
    if (!retire)
        put_slot(index);
}

NCS_API int ncs_buffer_release(ncs_handle h)
{
    slot *s = slot_of(h);
    if (s == NULL)
        return NCS_E_INVALID_ARGUMENT;
    uint64_t state = atomic_load_explicit(&s->state, memory_order_acquire);
    uint64_t next;
    do {
        if (state_generation(state) != handle_generation(h) || state_count(state) == 0) {
            ncs_stat_add(NCS_STAT_DOUBLE_RELEASES, 1);
            return NCS_E_DOUBLE_RELEASE;
        }
        if (state_count(state) > 1)
            next = state - 1;
        else if (state_generation(state) == LAST_GENERATION)
            next = make_state(LAST_GENERATION, 0); /* retired: count 0 refuses every handle */
        else
            next = make_state(state_generation(state) + 1, 0);
    } while (!atomic_compare_exchange_weak_explicit(&s->state, &state, next,
                                                    memory_order_acq_rel, memory_order_acquire));
    ncs_stat_add(NCS_STAT_RELEASES, 1);
    if (state_count(next) == 0)
        free_slot(s, (uint32_t)((h & 0xffffffffu) - 1),
                  state_generation(state) == LAST_GENERATION);
    return NCS_OK;
}

NCS_API int ncs_buffer_refcount(ncs_handle h, uint32_t *out)
{
    if (out == NULL)
        return NCS_E_INVALID_ARGUMENT;
    slot *s = slot_of(h);
    if (s == NULL)
        return NCS_E_INVALID_ARGUMENT;
    uint64_t state = atomic_load_explicit(&s->state, memory_order_acquire);
    if (state_generation(state) != handle_generation(h) || state_count(state) == 0) {
        ncs_stat_add(NCS_STAT_STALE_HANDLE_USES, 1);
        return NCS_E_STALE_HANDLE;
    }
    *out = state_count(state);
    return NCS_OK;
}

int ncs_buffer_peek(ncs_handle h, void **data, uint64_t *size)
{
    slot *s = slot_of(h);
    if (s == NULL)
        return NCS_E_INVALID_ARGUMENT;
    uint64_t state = atomic_load_explicit(&s->state, memory_order_acquire);
    if (state_generation(state) != handle_generation(h) || state_count(state) == 0)
        return NCS_E_STALE_HANDLE;
    void *d = (void *)atomic_load_explicit(&s->data, memory_order_relaxed);
    uint64_t n = atomic_load_explicit(&s->size, memory_order_relaxed);
    /* Seqlock-style re-check: if the buffer was freed (and perhaps its slot reused) while the
       fields were read, the generation has moved on and what was read is not reported. */
    atomic_thread_fence(memory_order_acquire);
    state = atomic_load_explicit(&s->state, memory_order_relaxed);
    if (state_generation(state) != handle_generation(h) || state_count(state) == 0)
        return NCS_E_STALE_HANDLE;
    *data = d;
    *size = n;
    return NCS_OK;
}

NCS_API int ncs_buffer_data(ncs_handle h, uint64_t *addr, uint64_t *size)
{
    if (addr == NULL || size == NULL)
        return NCS_E_INVALID_ARGUMENT;
    void *data;
    uint64_t n;
    int status = ncs_buffer_peek(h, &data, &n);
    if (status == NCS_E_STALE_HANDLE)
        ncs_stat_add(NCS_STAT_STALE_HANDLE_USES, 1);
    if (status != NCS_OK)
        return status;
    *addr = (uint64_t)(uintptr_t)data;
    *size = n;
    return NCS_OK;
}

int ncs_buffer_test_set_generation(ncs_handle h, uint32_t generation, ncs_handle *renamed)
{
    slot *s = slot_of(h);
    if (s == NULL || renamed == NULL)
        return NCS_E_INVALID_ARGUMENT;
    uint64_t state = atomic_load_explicit(&s->state, memory_order_acquire);
    do {
        if (state_generation(state) != handle_generation(h) || state_count(state) == 0)
            return NCS_E_STALE_HANDLE;
    } while (!atomic_compare_exchange_weak_explicit(&s->state, &state,
                                                    make_state(generation, state_count(state)),
                                                    memory_order_acq_rel, memory_order_acquire));
    *renamed = ((uint64_t)generation << 32) | (h & 0xffffffffu);
    return NCS_OK;
}
