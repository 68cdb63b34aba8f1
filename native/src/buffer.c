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
 *
 * Owners. Each slot has room for its buffer's owner text: up to 64 bytes as eight atomic words,
 * in an array beside the slots in the slot's chunk, so no allocation per buffer. Only the words
 * through the one holding the NUL are written and read (the text is NUL-padded within it). The
 * allocator writes the owner before publishing the state; later changes (ncs_buffer_set_owner)
 * pin the buffer with an extra reference so its slot cannot be reused under the write, and take
 * owner_lock, which the snapshot also holds: owner texts are never read torn. The snapshot reads each slot seqlock-style like ncs_buffer_peek (state,
 * fields, state again) and skips a slot whose buffer changed meanwhile.
 *
 * Borrowed memory. A buffer made by ncs_buffer_wrap_region has no memory of its own: its slot
 * names the region (region.c) whose bytes it borrows and holds one reference to it, dropped
 * where other buffers give their memory back. It is charged nothing, so it is always fully
 * committed, and the snapshot counts it under its region rather than under an owner.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "internal.h"
#include "json.h"
#include "region.h"

#define CHUNK_BITS 12
#define CHUNK_SLOTS (1u << CHUNK_BITS)
#define MAX_CHUNKS 16384u /* 2^26 slots at most */
#define NO_SLOT UINT32_MAX
#define OWNER_WORDS 8 /* (NCS_OWNER_MAX + 1) / 8 */

typedef struct slot {
    _Atomic uint64_t state; /* generation << 32 | reference count */
    _Atomic uintptr_t data;
    _Atomic uint64_t size;
    _Atomic uint64_t charged;     /* live bytes charged for it: size, or less while deferred */
    _Atomic(ncs_region *) region; /* the region a borrowing buffer's memory belongs to, else NULL */
    uint32_t next_free;           /* guarded by table_lock */
} slot;

/* A slot's owner text (see the top of the file); kept apart from the slots so that retain and
   release touch the same compact slot table as before owners existed. */
typedef struct slot_owner {
    _Atomic uint64_t words[OWNER_WORDS];
} slot_owner;

typedef struct slot_chunk {
    slot slots[CHUNK_SLOTS];
    slot_owner owners[CHUNK_SLOTS];
} slot_chunk;

_Static_assert(OWNER_WORDS * 8 == NCS_OWNER_MAX + 1, "owner words hold NCS_OWNER_MAX + NUL");

static pthread_mutex_t owner_lock = PTHREAD_MUTEX_INITIALIZER; /* owner changes vs snapshots */

static _Atomic(slot_chunk *) chunks[MAX_CHUNKS];
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
    slot_chunk *c = atomic_load_explicit(&chunks[index >> CHUNK_BITS], memory_order_acquire);
    return &c->slots[index & (CHUNK_SLOTS - 1)];
}

static slot_owner *owner_at(uint32_t index)
{
    slot_chunk *c = atomic_load_explicit(&chunks[index >> CHUNK_BITS], memory_order_acquire);
    return &c->owners[index & (CHUNK_SLOTS - 1)];
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
            slot_chunk *fresh = aligned_alloc(64,
                                              sizeof(slot_chunk)); /* owners on whole cache lines */
            if (fresh != NULL) {
                memset(fresh, 0, sizeof *fresh);
                atomic_store_explicit(&chunks[chunk], fresh, memory_order_release);
            } else
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

/* Copies `owner` into prepared->text (NUL-padded), cut to NCS_OWNER_MAX bytes without
   splitting a UTF-8 sequence. */
void ncs_owner_prepare(ncs_owner *prepared, const char *owner)
{
    char text[OWNER_WORDS * 8];
    memset(text, 0, sizeof text);
    size_t n = strnlen(owner, NCS_OWNER_MAX + 1);
    if (n > NCS_OWNER_MAX) {
        /* owner[n] is the first byte cut off: if it continues a UTF-8 sequence, drop that
           sequence's first bytes too (at most 3: sequences are 4 bytes long at most). */
        n = NCS_OWNER_MAX;
        size_t back = 0;
        while (back < 4 && n > 0 && ((unsigned char)owner[n] & 0xc0) == 0x80) {
            n--;
            back++;
        }
        if (back == 4) /* not UTF-8 after all: cut where the limit says */
            n = NCS_OWNER_MAX;
    }
    memcpy(text, owner, n);
    memcpy(prepared->text.bytes, text, sizeof text);
    prepared->words = (int)(n / 8) + 1; /* through the word holding the NUL */
}

/* Stores the words of the owner text through the one holding its NUL: readers stop there. */
static void store_owner(uint32_t index, const ncs_owner *owner)
{
    slot_owner *o = owner_at(index);
    for (int i = 0; i < owner->words; i++)
        atomic_store_explicit(&o->words[i], owner->text.words[i], memory_order_relaxed);
}

/* 1 when one of the 8 bytes of `word` is zero. */
static int has_zero_byte(uint64_t word)
{
    return ((word - 0x0101010101010101u) & ~word & 0x8080808080808080u) != 0;
}

static const ncs_owner host_owner = {.text.bytes = "host", .words = 1};

static int refuse_allocation(void)
{
    ncs_stat_add(NCS_STAT_FAILED_ALLOCATIONS, 1);
    return NCS_E_OUT_OF_MEMORY;
}

NCS_API int ncs_buffer_alloc(uint64_t size, ncs_handle *out)
{
    return ncs_buffer_alloc_owned(size, &host_owner, out);
}

static ncs_handle publish(uint32_t index, void *data, uint64_t size, uint64_t charged,
                          ncs_region *region, const ncs_owner *owner);

/* Allocates a buffer of `size` bytes charged `charged` (size, or 0 for a deferred one, whose
   large memory is then a fresh mapping rather than a cached block). */
static int alloc_buffer(uint64_t size, uint64_t charged, const ncs_owner *owner, ncs_handle *out)
{
    if (out == NULL || owner == NULL)
        return NCS_E_INVALID_ARGUMENT;
#if SIZE_MAX < UINT64_MAX
    if (size > SIZE_MAX)
        return refuse_allocation();
#endif
    if (!ncs_budget_reserve(charged))
        return refuse_allocation();
    void *data = NULL;
    if (size > 0 && (data = ncs_block_get(size, charged == size)) == NULL) {
        ncs_budget_unreserve(charged);
        return refuse_allocation();
    }
    uint32_t index;
    if (!take_slot(&index)) {
        ncs_budget_unreserve(charged);
        ncs_block_put(data, size);
        return refuse_allocation();
    }
    *out = publish(index, data, size, charged, NULL, owner);
    return NCS_OK;
}

/* Fills the free slot `index` with a buffer and makes it live with refcount 1; returns its
   handle. */
static ncs_handle publish(uint32_t index, void *data, uint64_t size, uint64_t charged,
                          ncs_region *region, const ncs_owner *owner)
{
    slot *s = slot_at(index);
    /* Orders the slot's earlier free (seen through take_slot) before the new data and size, for
       ncs_buffer_peek's re-check on a reader that still holds an old state. */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->data, (uintptr_t)data, memory_order_relaxed);
    atomic_store_explicit(&s->size, size, memory_order_relaxed);
    atomic_store_explicit(&s->charged, charged, memory_order_relaxed);
    atomic_store_explicit(&s->region, region, memory_order_relaxed);
    store_owner(index, owner);
    uint32_t generation = state_generation(atomic_load_explicit(&s->state, memory_order_relaxed));
    atomic_store_explicit(&s->state, make_state(generation, 1), memory_order_release);
    ncs_stat_add(NCS_STAT_LIVE_BUFFERS, 1);
    ncs_stat_add(NCS_STAT_ALLOCATIONS, 1);
    return ((uint64_t)generation << 32) | ((uint64_t)index + 1);
}

int ncs_buffer_alloc_owned(uint64_t size, const ncs_owner *owner, ncs_handle *out)
{
    return alloc_buffer(size, size, owner, out);
}

NCS_API int ncs_buffer_alloc_deferred(uint64_t size, ncs_handle *out)
{
    return alloc_buffer(size, 0, &host_owner, out);
}

NCS_API int ncs_buffer_wrap_region(const char *name, uint64_t offset, uint64_t size,
                                   ncs_handle *out, char *error, size_t error_size)
{
    if (error != NULL && error_size > 0)
        error[0] = '\0';
    if (name == NULL || out == NULL)
        return NCS_E_INVALID_ARGUMENT;
    ncs_region *region;
    void *data;
    int status = ncs_region_borrow(name, offset, size, &region, &data, error, error_size);
    if (status != NCS_OK)
        return status;
    uint32_t index;
    if (!take_slot(&index)) {
        ncs_region_drop(region);
        if (error != NULL && error_size > 0)
            snprintf(error, error_size, "the buffer table is full");
        return refuse_allocation();
    }
    ncs_owner owner;
    char text[NCS_OWNER_MAX + 1];
    snprintf(text, sizeof text, "region:%s", name);
    ncs_owner_prepare(&owner, text);
    *out = publish(index, size ? data : NULL, size, 0, region, &owner);
    return NCS_OK;
}

int ncs_buffer_borrows_region(ncs_handle h)
{
    slot *s = slot_of(h);
    return s != NULL && atomic_load_explicit(&s->region, memory_order_relaxed) != NULL;
}

/* The slot of a live buffer `h`, or NULL (a stale use is counted). */
static slot *live_slot(ncs_handle h, int *status)
{
    slot *s = slot_of(h);
    if (s == NULL) {
        *status = NCS_E_INVALID_ARGUMENT;
        return NULL;
    }
    uint64_t state = atomic_load_explicit(&s->state, memory_order_acquire);
    if (state_generation(state) != handle_generation(h) || state_count(state) == 0) {
        ncs_stat_add(NCS_STAT_STALE_HANDLE_USES, 1);
        *status = NCS_E_STALE_HANDLE;
        return NULL;
    }
    return s;
}

NCS_API int ncs_buffer_commit(ncs_handle h, uint64_t committed)
{
    int status = NCS_OK;
    slot *s = live_slot(h, &status);
    if (s == NULL)
        return status;
    if (committed > atomic_load_explicit(&s->size, memory_order_relaxed))
        return NCS_E_INVALID_ARGUMENT;
    if (atomic_load_explicit(&s->region, memory_order_relaxed) != NULL)
        return NCS_OK; /* borrowed: nothing to charge */
    uint64_t charged = atomic_load_explicit(&s->charged, memory_order_relaxed);
    while (committed > charged) {
        if (!ncs_budget_reserve(committed - charged))
            return refuse_allocation();
        if (atomic_compare_exchange_weak_explicit(&s->charged, &charged, committed,
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
        ncs_budget_unreserve(committed - charged); /* another commit moved it: try again */
    }
    return NCS_OK;
}

int ncs_buffer_fully_committed(ncs_handle h)
{
    slot *s = slot_of(h);
    return s != NULL && (atomic_load_explicit(&s->region, memory_order_relaxed) != NULL ||
                         atomic_load_explicit(&s->charged, memory_order_relaxed) ==
                             atomic_load_explicit(&s->size, memory_order_relaxed));
}

/* Adds a reference to the live buffer `h` (see ncs_buffer_retain, which also counts it). */
static int add_reference(ncs_handle h)
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
    return NCS_OK;
}

NCS_API int ncs_buffer_retain(ncs_handle h)
{
    int status = add_reference(h);
    if (status == NCS_OK)
        ncs_stat_add(NCS_STAT_RETAINS, 1);
    return status;
}

/* Frees the memory of a slot whose last reference was just dropped (the generation has
   already moved on, or the slot is retired, so no handle reaches it any more) and recycles the
   slot unless it is retired. */
static void free_slot(slot *s, uint32_t index, int retire)
{
    void *data = (void *)atomic_load_explicit(&s->data, memory_order_relaxed);
    uint64_t size = atomic_load_explicit(&s->size, memory_order_relaxed);
    uint64_t charged = atomic_load_explicit(&s->charged, memory_order_relaxed);
    ncs_region *region = atomic_load_explicit(&s->region, memory_order_relaxed);
    /* The state change that retired the handle is ordered before these stores, for
       ncs_buffer_peek's re-check (seqlock writer side). */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->data, (uintptr_t)0, memory_order_relaxed);
    atomic_store_explicit(&s->size, 0, memory_order_relaxed);
    atomic_store_explicit(&s->charged, 0, memory_order_relaxed);
    atomic_store_explicit(&s->region, NULL, memory_order_relaxed);
    if (region != NULL) {
        ncs_region_drop(region); /* the last borrower unmaps it */
    } else {
        ncs_budget_unreserve(charged);
        ncs_block_put(data, size);
    }
    ncs_stat_sub(NCS_STAT_LIVE_BUFFERS, 1);
    ncs_stat_add(NCS_STAT_FREES, 1);
    if (!retire)
        put_slot(index);
}

/* Drops one reference; `counted`: a caller's release (counted in the statistics), else the
   host's own pin. */
static int drop_reference(ncs_handle h, int counted)
{
    slot *s = slot_of(h);
    if (s == NULL)
        return NCS_E_INVALID_ARGUMENT;
    uint64_t state = atomic_load_explicit(&s->state, memory_order_acquire);
    uint64_t next;
    do {
        if (state_generation(state) != handle_generation(h) || state_count(state) == 0) {
            if (counted)
                ncs_stat_add(NCS_STAT_DOUBLE_RELEASES, 1);
            return NCS_E_DOUBLE_RELEASE;
        }
        if (state_count(state) > 1)
            next = state - 1;
        else if (state_generation(state) == LAST_GENERATION)
            next = make_state(LAST_GENERATION, 0); /* retired: count 0 refuses every handle */
        else
            next = make_state(state_generation(state) + 1, 0);
    } while (!atomic_compare_exchange_weak_explicit(&s->state, &state, next, memory_order_acq_rel,
                                                    memory_order_acquire));
    if (counted)
        ncs_stat_add(NCS_STAT_RELEASES, 1);
    if (state_count(next) == 0)
        free_slot(s, (uint32_t)((h & 0xffffffffu) - 1), state_generation(state) == LAST_GENERATION);
    return NCS_OK;
}

NCS_API int ncs_buffer_release(ncs_handle h)
{
    return drop_reference(h, 1);
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

/* ---- owners and the snapshot ------------------------------------------------------------- */

int ncs_buffer_pin(ncs_handle h)
{
    return add_reference(h);
}

void ncs_buffer_unpin(ncs_handle h)
{
    drop_reference(h, 0);
}

NCS_API int ncs_buffer_set_owner(ncs_handle h, const char *owner)
{
    if (owner == NULL)
        return NCS_E_INVALID_ARGUMENT;
    /* The pin keeps the slot from being freed and reused while its owner is written. */
    int status = ncs_buffer_pin(h);
    if (status != NCS_OK)
        return status;
    ncs_owner prepared;
    ncs_owner_prepare(&prepared, owner);
    pthread_mutex_lock(&owner_lock);
    store_owner((uint32_t)((h & 0xffffffffu) - 1), &prepared);
    pthread_mutex_unlock(&owner_lock);
    ncs_buffer_unpin(h); /* frees the buffer if its holder released it meanwhile */
    return NCS_OK;
}

typedef struct owner_group {
    uint64_t words[OWNER_WORDS]; /* the owner text; all zero marks an empty table entry... */
    int used;                    /* ...so this tells them apart (an owner may be "") */
    uint64_t count;
    uint64_t bytes;
} owner_group;

typedef struct group_table {
    owner_group *groups;
    size_t capacity; /* a power of two */
    size_t used;
} group_table;

static uint64_t owner_hash(const uint64_t words[OWNER_WORDS])
{
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < OWNER_WORDS; i++) {
        h ^= words[i];
        h *= 0xff51afd7ed558ccdu;
        h ^= h >> 33;
    }
    return h;
}

/* Doubles the table (open addressing, linear probing), moving the groups over. */
static int table_grow(group_table *t)
{
    size_t capacity = t->capacity ? 2 * t->capacity : 64;
    owner_group *groups = calloc(capacity, sizeof *groups);
    if (groups == NULL)
        return 0;
    for (size_t i = 0; i < t->capacity; i++) {
        if (!t->groups[i].used)
            continue;
        size_t k = owner_hash(t->groups[i].words) & (capacity - 1);
        while (groups[k].used)
            k = (k + 1) & (capacity - 1);
        groups[k] = t->groups[i];
    }
    free(t->groups);
    t->groups = groups;
    t->capacity = capacity;
    return 1;
}

/* Adds `count` buffers of `bytes` in all to their owner's group. Returns 0 when out of memory. */
static int table_insert(group_table *t, const uint64_t words[OWNER_WORDS], uint64_t count,
                        uint64_t bytes)
{
    if (2 * (t->used + 1) > t->capacity && !table_grow(t))
        return 0;
    size_t mask = t->capacity - 1;
    for (size_t k = owner_hash(words) & mask;; k = (k + 1) & mask) {
        owner_group *g = &t->groups[k];
        if (!g->used) {
            memcpy(g->words, words, sizeof g->words);
            g->used = 1;
            g->count = count;
            g->bytes = bytes;
            t->used++;
            return 1;
        }
        if (memcmp(g->words, words, sizeof g->words) == 0) {
            g->count += count;
            g->bytes += bytes;
            return 1;
        }
    }
}

/* The snapshot's table while ncs_region_each adds the regions to it. */
typedef struct region_groups {
    group_table *table;
    int ok;
} region_groups;

/* A mapped region as an owner: its borrowing buffers and its mapped bytes. */
static void add_region_group(void *arg, const char *owner, uint64_t buffers, uint64_t bytes)
{
    region_groups *g = arg;
    ncs_owner prepared;
    ncs_owner_prepare(&prepared, owner);
    if (g->ok)
        g->ok = table_insert(g->table, prepared.text.words, buffers, bytes);
}

/* Largest groups first, then by owner text. */
static int group_order(const void *a, const void *b)
{
    const owner_group *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return strncmp((const char *)x->words, (const char *)y->words, sizeof x->words);
}

NCS_API int ncs_buffer_snapshot(char *out, size_t size, size_t *needed)
{
    group_table table = {0};
    int ok = 1;
    pthread_mutex_lock(&owner_lock);
    pthread_mutex_lock(&table_lock);
    uint32_t slots = next_unused;
    pthread_mutex_unlock(&table_lock);
    for (uint32_t index = 0; index < slots && ok; index++) {
        slot *s = slot_at(index);
        uint64_t state = atomic_load_explicit(&s->state, memory_order_acquire);
        if (state_count(state) == 0)
            continue;
        if (atomic_load_explicit(&s->region, memory_order_relaxed) != NULL)
            continue; /* counted under its region, below */
        uint64_t bytes = atomic_load_explicit(&s->charged,
                                              memory_order_relaxed); /* as live bytes */
        uint64_t words[OWNER_WORDS] = {0};
        slot_owner *o = owner_at(index);
        for (int i = 0; i < OWNER_WORDS; i++) { /* through the word holding the NUL */
            words[i] = atomic_load_explicit(&o->words[i], memory_order_relaxed);
            if (has_zero_byte(words[i]))
                break;
        }
        /* Seqlock-style re-check (see ncs_buffer_peek): skip a buffer freed or replaced while
           its fields were read. */
        atomic_thread_fence(memory_order_acquire);
        uint64_t again = atomic_load_explicit(&s->state, memory_order_relaxed);
        if (state_generation(again) != state_generation(state) || state_count(again) == 0)
            continue;
        ((char *)words)[NCS_OWNER_MAX] = '\0';
        ok = table_insert(&table, words, 1, bytes);
    }
    pthread_mutex_unlock(&owner_lock);
    region_groups groups = {&table, ok};
    ncs_region_each(add_region_group, &groups);
    ok = groups.ok;
    if (!ok) {
        free(table.groups);
        return NCS_E_OUT_OF_MEMORY;
    }
    /* Compact and sort the groups. */
    size_t n = 0;
    for (size_t i = 0; i < table.capacity; i++) {
        if (table.groups[i].used)
            table.groups[n++] = table.groups[i];
    }
    if (n > 1)
        qsort(table.groups, n, sizeof *table.groups, group_order);
    ncs_json text = {0};
    ncs_json_lit(&text, "[");
    for (size_t i = 0; i < n; i++) {
        const owner_group *g = &table.groups[i];
        ncs_json_lit(&text, i ? ",{\"owner\":" : "{\"owner\":");
        ncs_json_string(&text, (const char *)g->words);
        ncs_json_lit(&text, ",\"count\":");
        ncs_json_uint(&text, g->count);
        ncs_json_lit(&text, ",\"bytes\":");
        ncs_json_uint(&text, g->bytes);
        ncs_json_lit(&text, "}");
    }
    ncs_json_lit(&text, "]");
    free(table.groups);
    size_t length = text.length;
    char *json = ncs_json_take(&text);
    if (json == NULL)
        return NCS_E_OUT_OF_MEMORY;
    if (needed != NULL)
        *needed = length + 1;
    int status = NCS_E_INVALID_ARGUMENT;
    if (out != NULL && length + 1 <= size) {
        memcpy(out, json, length + 1);
        status = NCS_OK;
    }
    free(json);
    return status;
}
