/*
 * fuzz_buffers.c -- libFuzzer target for the buffer API of ncs.h (argument validation and
 * reference counting).
 *
 * The input is a program: each byte picks an operation (alloc within a small memory budget,
 * retain, release, a stale use or double release of a freed handle, a forged handle, refcount
 * and data, set_owner with arbitrary text, snapshot, stats, a new budget, NULL arguments) and
 * the bytes after it its operands. A model of the live buffers (handle, references, size,
 * owner) predicts every status and every counter: after each operation the library's live
 * buffers and bytes equal the model's and each counter moved exactly as the operation says
 * (a stale use counted once, a double release once, a refused allocation once). Snapshots are
 * parsed as strict JSON and compared group by group with the model (owners cut like
 * ncs_buffer_set_owner documents; valid UTF-8 in stays valid UTF-8 out). The buffer cache is in
 * the program too (cache limits, trims, a budget large enough for 4-12 MiB buffers): cached bytes
 * stay within the cache limit, after every allocation live plus cached bytes fit the budget (or
 * nothing is cached), and the byte past every buffer is poisoned for ASan, reused or not. At the
 * end everything is released, the cache emptied, and the library must report no live buffer, no
 * live bytes and nothing cached.
 */
#include <sanitizer/asan_interface.h>
#include <stdbool.h>

#include "fuzz_common.h"

#define MAX_LIVE 16
#define MAX_DEAD 32
#define DEFAULT_LIMIT (64u << 10)
#define MIB ((uint64_t)1 << 20)
#define LARGE_LIMIT (48 * MIB) /* a budget that admits large buffers, the cache's business */

typedef struct live_buffer {
    ncs_handle h;
    uint32_t refs;
    uint64_t size;
    char owner[NCS_OWNER_MAX + 1]; /* as the library should store it */
} live_buffer;

typedef struct model {
    live_buffer live[MAX_LIVE];
    int nlive;
    ncs_handle dead[MAX_DEAD]; /* freed handles, never valid again */
    int ndead;
    uint64_t limit;
    uint64_t cache_limit;
    uint64_t reuses;                   /* NCS_STAT_CACHE_REUSES as last read: it only grows */
    uint64_t expected[NCS_STAT_COUNT]; /* counters as they must read now */
} model;

static uint64_t live_bytes(const model *m)
{
    uint64_t sum = 0;
    for (int i = 0; i < m->nlive; i++)
        sum += m->live[i].size;
    return sum;
}

/* Compares the library's counters with the model's expectations. */
static void check_counters(const model *m, const char *after)
{
    uint64_t now[NCS_STAT_COUNT];
    fz_stats(now);
    FZ_CHECK(now[NCS_STAT_LIVE_BUFFERS] == (uint64_t)m->nlive,
             "after %s: %llu live buffers, model %d", after,
             (unsigned long long)now[NCS_STAT_LIVE_BUFFERS], m->nlive);
    FZ_CHECK(now[NCS_STAT_LIVE_BYTES] == live_bytes(m), "after %s: %llu live bytes, model %llu",
             after, (unsigned long long)now[NCS_STAT_LIVE_BYTES],
             (unsigned long long)live_bytes(m));
    FZ_CHECK(now[NCS_STAT_PEAK_BYTES] >= now[NCS_STAT_LIVE_BYTES], "after %s: peak below live",
             after);
    FZ_CHECK(now[NCS_STAT_LIMIT_BYTES] == m->limit, "after %s: limit %llu, model %llu", after,
             (unsigned long long)now[NCS_STAT_LIMIT_BYTES], (unsigned long long)m->limit);
    static const int counted[] = {NCS_STAT_ALLOCATIONS,       NCS_STAT_FREES,
                                  NCS_STAT_RETAINS,           NCS_STAT_RELEASES,
                                  NCS_STAT_STALE_HANDLE_USES, NCS_STAT_DOUBLE_RELEASES,
                                  NCS_STAT_KERNEL_LEAKS,      NCS_STAT_FAILED_ALLOCATIONS};
    for (size_t i = 0; i < sizeof counted / sizeof counted[0]; i++) {
        int c = counted[i];
        FZ_CHECK(now[c] == m->expected[c], "after %s: counter %d is %llu, model %llu", after, c,
                 (unsigned long long)now[c], (unsigned long long)m->expected[c]);
    }
    FZ_CHECK(now[NCS_STAT_ALLOCATIONS] - now[NCS_STAT_FREES] == now[NCS_STAT_LIVE_BUFFERS],
             "after %s: allocations - frees != live buffers", after);
    FZ_CHECK(now[NCS_STAT_CACHED_BYTES] <= m->cache_limit,
             "after %s: %llu cached bytes, cache limit %llu", after,
             (unsigned long long)now[NCS_STAT_CACHED_BYTES], (unsigned long long)m->cache_limit);
    FZ_CHECK(now[NCS_STAT_CACHE_REUSES] >= m->reuses, "after %s: cache reuses went down", after);
}

/* After an allocation: whatever is cached fits the budget beside the live bytes. */
static void check_cache_within_budget(const model *m)
{
    uint64_t cached = fz_stat(NCS_STAT_CACHED_BYTES);
    FZ_CHECK(m->limit == 0 || cached == 0 || live_bytes(m) + cached <= m->limit,
             "%llu live + %llu cached bytes pass the budget of %llu",
             (unsigned long long)live_bytes(m), (unsigned long long)cached,
             (unsigned long long)m->limit);
}

static void forget_dead_overflow(model *m)
{
    if (m->ndead == MAX_DEAD) {
        memmove(m->dead, m->dead + 1, (MAX_DEAD - 1) * sizeof m->dead[0]);
        m->ndead--;
    }
}

/* The owner text the library must keep for `owner`: at most NCS_OWNER_MAX bytes, cut before a
   UTF-8 sequence that would be split (unless the bytes before the cut are not UTF-8 at all). */
static void expected_owner(const char *owner, char out[NCS_OWNER_MAX + 1])
{
    size_t n = strlen(owner);
    if (n > NCS_OWNER_MAX) {
        /* owner[NCS_OWNER_MAX] is the first byte dropped. If it continues a sequence, the cut
           moves back to that sequence's lead byte, found among the 4 bytes a sequence spans;
           when none of them is one, the text is not UTF-8 there and the cut stays. */
        size_t lead = NCS_OWNER_MAX;
        while (lead > NCS_OWNER_MAX - 4 && ((unsigned char)owner[lead] & 0xc0) == 0x80)
            lead--;
        n = lead > NCS_OWNER_MAX - 4 ? lead : NCS_OWNER_MAX;
    }
    memcpy(out, owner, n);
    out[n] = '\0';
}

static live_buffer *pick_live(model *m, fz_in *in)
{
    return m->nlive ? &m->live[fz_u8(in) % m->nlive] : NULL;
}

static void drop_live(model *m, live_buffer *b)
{
    forget_dead_overflow(m);
    m->dead[m->ndead++] = b->h;
    *b = m->live[--m->nlive];
}

static bool is_live(const model *m, ncs_handle h)
{
    for (int i = 0; i < m->nlive; i++) {
        if (m->live[i].h == h)
            return true;
    }
    return false;
}

static void op_alloc(model *m, fz_in *in)
{
    uint8_t kind = fz_u8(in);
    uint64_t size;
    switch (kind % 8) {
    case 0: size = 0; break;
    case 1: size = m->limit ? m->limit - live_bytes(m) : 64; break; /* exactly what is left */
    case 2: size = m->limit ? m->limit - live_bytes(m) + 1 : 65; break;
    case 3: size = m->limit ? UINT64_MAX - (kind >> 3) : 1; break; /* overflows the reservation */
    case 4: size = (4 + fz_u8(in) % 9) * MIB - fz_u16(in) % 4096; break; /* large: the cache's */
    default: size = fz_u16(in) % (DEFAULT_LIMIT / 2); break;
    }
    bool fits = m->limit == 0 ? true : (size <= m->limit && live_bytes(m) <= m->limit - size);
    if (m->nlive == MAX_LIVE)
        return;
    ncs_handle h = 0;
    int status = ncs_buffer_alloc(size, &h);
    if (!fits) {
        FZ_CHECK(status == NCS_E_OUT_OF_MEMORY, "alloc of %llu over the budget returned %d",
                 (unsigned long long)size, status);
        FZ_CHECK(h == 0, "refused alloc wrote its handle");
        m->expected[NCS_STAT_FAILED_ALLOCATIONS]++;
        return;
    }
    FZ_CHECK(status == NCS_OK, "alloc of %llu within the budget returned %d",
             (unsigned long long)size, status);
    FZ_CHECK(h != 0 && !is_live(m, h), "alloc returned handle %llu, 0 or already live",
             (unsigned long long)h);
    for (int i = 0; i < m->ndead; i++)
        FZ_CHECK(m->dead[i] != h, "alloc reissued a freed handle %llu", (unsigned long long)h);
    live_buffer *b = &m->live[m->nlive++];
    b->h = h;
    b->refs = 1;
    b->size = size;
    strcpy(b->owner, "host");
    m->expected[NCS_STAT_ALLOCATIONS]++;
    check_cache_within_budget(m);
}

static void op_release(model *m, live_buffer *b)
{
    FZ_CHECK(ncs_buffer_release(b->h) == NCS_OK, "release of a live handle failed");
    m->expected[NCS_STAT_RELEASES]++;
    if (--b->refs == 0) {
        m->expected[NCS_STAT_FREES]++;
        drop_live(m, b);
    }
}

/* Reads and writes every byte of a live buffer (of a large one, the first and last 64 KiB): ASan
   catches a size that lies, and the byte past the end must be poisoned. */
static void op_inspect(model *m, live_buffer *b, uint8_t fill)
{
    uint32_t refs = 0;
    FZ_CHECK(ncs_buffer_refcount(b->h, &refs) == NCS_OK, "refcount of a live handle failed");
    FZ_CHECK(refs == b->refs, "refcount %u, model %u", refs, b->refs);
    uint64_t addr = 0, size = 1;
    FZ_CHECK(ncs_buffer_data(b->h, &addr, &size) == NCS_OK, "data of a live handle failed");
    FZ_CHECK(size == b->size, "size %llu, model %llu", (unsigned long long)size,
             (unsigned long long)b->size);
    FZ_CHECK(size == 0 || addr % 64 == 0, "buffer at %llx is not 64-byte aligned",
             (unsigned long long)addr);
    unsigned char *p = (unsigned char *)(uintptr_t)addr;
    if (size > 0) {
        size_t edge = 64u << 10;
        if (size <= 2 * edge) {
            memset(p, fill, (size_t)size);
        } else {
            memset(p, fill, edge);
            memset(p + size - edge, fill, edge);
        }
        FZ_CHECK(p[0] == fill && p[size - 1] == fill,
                 "buffer memory does not hold what was written");
        FZ_CHECK(__asan_address_is_poisoned(p + size),
                 "the byte past a buffer of %llu is not poisoned", (unsigned long long)size);
    }
    (void)m;
}

/* Uses of a freed handle: every one refused and counted. */
static void op_stale(model *m, fz_in *in)
{
    if (m->ndead == 0)
        return;
    ncs_handle h = m->dead[fz_u8(in) % m->ndead];
    uint32_t refs;
    uint64_t addr, size;
    switch (fz_u8(in) % 5) {
    case 0:
        FZ_CHECK(ncs_buffer_release(h) == NCS_E_DOUBLE_RELEASE, "double release not refused");
        m->expected[NCS_STAT_DOUBLE_RELEASES]++;
        break;
    case 1:
        FZ_CHECK(ncs_buffer_retain(h) == NCS_E_STALE_HANDLE,
                 "retain of a freed handle not refused");
        m->expected[NCS_STAT_STALE_HANDLE_USES]++;
        break;
    case 2:
        FZ_CHECK(ncs_buffer_refcount(h, &refs) == NCS_E_STALE_HANDLE, "refcount of a freed handle");
        m->expected[NCS_STAT_STALE_HANDLE_USES]++;
        break;
    case 3:
        FZ_CHECK(ncs_buffer_data(h, &addr, &size) == NCS_E_STALE_HANDLE, "data of a freed handle");
        m->expected[NCS_STAT_STALE_HANDLE_USES]++;
        break;
    default:
        FZ_CHECK(ncs_buffer_set_owner(h, "late") == NCS_E_STALE_HANDLE,
                 "set_owner of a freed handle");
        m->expected[NCS_STAT_STALE_HANDLE_USES]++;
        break;
    }
}

/* A handle made up from input bytes (or a live handle with another generation or slot): never
   accepted unless it happens to be live; a stale answer is counted, an invalid one is not. */
static void op_forged(model *m, fz_in *in)
{
    ncs_handle h;
    uint8_t how = fz_u8(in);
    if (how % 3 == 0 && m->nlive > 0) {
        ncs_handle base = m->live[fz_u8(in) % m->nlive].h;
        h = base ^ ((uint64_t)fz_u16(in) << (how & 1 ? 32 : 0));
    } else if (how % 3 == 1) {
        h = fz_u8(in) % 4; /* 0, or a low slot of generation 0 */
    } else {
        h = fz_u64(in);
    }
    if (is_live(m, h))
        return;
    uint32_t refs = 7;
    uint64_t addr = 7, size = 7;
    int status;
    int op = fz_u8(in) % 5;
    switch (op) {
    case 0: status = ncs_buffer_retain(h); break;
    case 1: status = ncs_buffer_release(h); break;
    case 2: status = ncs_buffer_refcount(h, &refs); break;
    case 3: status = ncs_buffer_data(h, &addr, &size); break;
    default: status = ncs_buffer_set_owner(h, "forged"); break;
    }
    FZ_CHECK(status != NCS_OK, "operation %d accepted handle %llx that is not live", op,
             (unsigned long long)h);
    FZ_CHECK(refs == 7 && addr == 7 && size == 7, "refused call wrote its out-parameters");
    if (h == 0)
        FZ_CHECK(status == NCS_E_INVALID_ARGUMENT, "handle 0 gave %d", status);
    if (op == 1) {
        FZ_CHECK(status == NCS_E_DOUBLE_RELEASE || status == NCS_E_INVALID_ARGUMENT,
                 "release of a forged handle gave %d", status);
        if (status == NCS_E_DOUBLE_RELEASE)
            m->expected[NCS_STAT_DOUBLE_RELEASES]++;
    } else {
        FZ_CHECK(status == NCS_E_STALE_HANDLE || status == NCS_E_INVALID_ARGUMENT,
                 "operation %d on a forged handle gave %d", op, status);
        if (status == NCS_E_STALE_HANDLE)
            m->expected[NCS_STAT_STALE_HANDLE_USES]++;
    }
}

static void op_set_owner(model *m, fz_in *in)
{
    live_buffer *b = pick_live(m, in);
    if (b == NULL)
        return;
    char text[NCS_OWNER_MAX + 40];
    size_t len = fz_u8(in) % sizeof text;
    fz_bytes(in, text, len);
    text[len] = '\0';
    FZ_CHECK(ncs_buffer_set_owner(b->h, text) == NCS_OK, "set_owner of a live handle failed");
    expected_owner(text, b->owner);
    if (fz_utf8_valid((const unsigned char *)text, strlen(text)))
        FZ_CHECK(fz_utf8_valid((const unsigned char *)b->owner, strlen(b->owner)),
                 "model cut valid UTF-8 into invalid UTF-8");
}

/* Parses one {"owner":...,"count":N,"bytes":N} group at j->at. */
static int parse_group(fz_json *j, char *owner, size_t cap, uint64_t *count, uint64_t *bytes)
{
    static const char *const keys[] = {"owner", "count", "bytes"};
    if (j->s[j->at++] != '{')
        return 0;
    for (int k = 0; k < 3; k++) {
        char key[8];
        if (!fz_json_string(j, key, sizeof key, NULL) || strcmp(key, keys[k]) != 0)
            return 0;
        if (j->s[j->at++] != ':')
            return 0;
        if (k == 0) {
            size_t len;
            if (!fz_json_string(j, owner, cap, &len) || len != strlen(owner))
                return 0; /* an escaped NUL would be a lie */
        } else {
            char *end;
            if (j->s[j->at] < '0' || j->s[j->at] > '9')
                return 0;
            unsigned long long v = strtoull(j->s + j->at, &end, 10);
            j->at = (size_t)(end - j->s);
            *(k == 1 ? count : bytes) = v;
        }
        if (j->s[j->at++] != (k == 2 ? '}' : ','))
            return 0;
    }
    return 1;
}

static void op_snapshot(model *m, fz_in *in)
{
    size_t needed = 0;
    FZ_CHECK(ncs_buffer_snapshot(NULL, 0, &needed) == NCS_E_INVALID_ARGUMENT,
             "size query not refused");
    FZ_CHECK(needed >= 3, "needed %zu", needed);
    uint8_t shortfall = fz_u8(in);
    if (shortfall % 4 == 0) { /* too small by 1..needed bytes: nothing written */
        size_t size = needed - 1 - (shortfall >> 2) % needed;
        char *small = malloc(size + 1);
        memset(small, 'x', size + 1);
        size_t again = 0;
        FZ_CHECK(ncs_buffer_snapshot(size ? small : NULL, size, &again) == NCS_E_INVALID_ARGUMENT,
                 "snapshot into %zu of %zu bytes not refused", size, needed);
        FZ_CHECK(again == needed, "needed %zu then %zu", needed, again);
        for (size_t i = 0; i <= size; i++)
            FZ_CHECK(small[i] == 'x', "refused snapshot wrote byte %zu", i);
        free(small);
        return;
    }
    char *text = malloc(needed);
    size_t again = 0;
    FZ_CHECK(ncs_buffer_snapshot(text, needed, &again) == NCS_OK,
             "snapshot into exactly %zu bytes failed", needed);
    FZ_CHECK(again == needed && strlen(text) + 1 == needed, "needed %zu, wrote %zu", needed,
             strlen(text) + 1);
    FZ_CHECK(fz_json_valid(text), "snapshot is not JSON: %s", text);
    /* Group the model by owner and compare. */
    bool matched[MAX_LIVE] = {false};
    uint64_t total_count = 0;
    uint64_t previous_bytes = UINT64_MAX;
    char previous_owner[NCS_OWNER_MAX + 1] = "";
    fz_json j = {.s = text};
    FZ_CHECK(text[j.at++] == '[', "snapshot does not start with [");
    int groups = 0;
    while (text[j.at] != ']') {
        if (groups > 0)
            FZ_CHECK(text[j.at++] == ',', "groups not separated by commas: %s", text);
        char owner[NCS_OWNER_MAX + 1];
        uint64_t count = 0, bytes = 0;
        FZ_CHECK(parse_group(&j, owner, sizeof owner, &count, &bytes), "malformed group in %s",
                 text);
        uint64_t want_count = 0, want_bytes = 0;
        for (int i = 0; i < m->nlive; i++) {
            if (strcmp(m->live[i].owner, owner) == 0) {
                FZ_CHECK(!matched[i], "owner '%s' listed twice", owner);
                matched[i] = true;
                want_count++;
                want_bytes += m->live[i].size;
            }
        }
        FZ_CHECK(count == want_count && bytes == want_bytes,
                 "group '%s': %llu buffers / %llu bytes, model %llu / %llu", owner,
                 (unsigned long long)count, (unsigned long long)bytes,
                 (unsigned long long)want_count, (unsigned long long)want_bytes);
        FZ_CHECK(bytes < previous_bytes ||
                     (bytes == previous_bytes && strcmp(previous_owner, owner) < 0),
                 "groups out of order at '%s' in %s", owner, text);
        previous_bytes = bytes;
        strcpy(previous_owner, owner);
        total_count += count;
        groups++;
    }
    FZ_CHECK(text[j.at + 1] == '\0', "text after the array: %s", text);
    FZ_CHECK(total_count == (uint64_t)m->nlive, "snapshot counts %llu buffers, model %d",
             (unsigned long long)total_count, m->nlive);
    free(text);
}

static void op_limit(model *m, fz_in *in)
{
    uint8_t b = fz_u8(in);
    m->limit = b == 0 ? DEFAULT_LIMIT : (uint64_t)b * 512;
    ncs_set_memory_limit(m->limit);
}

/* The buffer cache: its limit (which gives back what is over it), trims, and a budget large
   enough for large buffers to come and go through it. */
static void op_cache(model *m, fz_in *in)
{
    static const uint64_t limits[] = {0, 8 * MIB, 24 * MIB, 64 * MIB};
    uint8_t how = fz_u8(in);
    switch (how % 4) {
    case 0:
        m->cache_limit = limits[(how >> 2) % 4];
        ncs_set_buffer_cache_limit(m->cache_limit);
        FZ_CHECK(fz_stat(NCS_STAT_CACHED_BYTES) <= m->cache_limit, "cache over its new limit");
        break;
    case 1: {
        uint64_t cached = fz_stat(NCS_STAT_CACHED_BYTES);
        FZ_CHECK(ncs_buffer_cache_trim(0) == cached,
                 "trim(0) gave back other than the %llu cached bytes", (unsigned long long)cached);
        FZ_CHECK(fz_stat(NCS_STAT_CACHED_BYTES) == 0, "trim(0) left bytes cached");
        break;
    }
    case 2:
        FZ_CHECK(ncs_buffer_cache_trim(UINT64_MAX) == 0,
                 "trim of blocks idle for ages gave something back");
        break;
    default:
        m->limit = LARGE_LIMIT;
        ncs_set_memory_limit(m->limit);
        break;
    }
}

static void op_null_arguments(model *m, fz_in *in)
{
    live_buffer *b = pick_live(m, in);
    FZ_CHECK(ncs_buffer_alloc(16, NULL) == NCS_E_INVALID_ARGUMENT, "alloc with NULL out");
    FZ_CHECK(ncs_buffer_release(0) == NCS_E_INVALID_ARGUMENT, "release of handle 0");
    FZ_CHECK(ncs_buffer_retain(0) == NCS_E_INVALID_ARGUMENT, "retain of handle 0");
    FZ_CHECK(ncs_buffer_set_owner(0, "x") == NCS_E_INVALID_ARGUMENT, "set_owner of handle 0");
    if (b != NULL) {
        uint64_t v;
        FZ_CHECK(ncs_buffer_set_owner(b->h, NULL) == NCS_E_INVALID_ARGUMENT, "NULL owner");
        FZ_CHECK(ncs_buffer_refcount(b->h, NULL) == NCS_E_INVALID_ARGUMENT, "refcount into NULL");
        FZ_CHECK(ncs_buffer_data(b->h, NULL, &v) == NCS_E_INVALID_ARGUMENT, "data into NULL");
        FZ_CHECK(ncs_buffer_data(b->h, &v, NULL) == NCS_E_INVALID_ARGUMENT, "size into NULL");
    }
    uint64_t values[NCS_STAT_COUNT + 4];
    int n = (int)(fz_u8(in) % (NCS_STAT_COUNT + 6)) - 2; /* -2 .. COUNT + 3 */
    int want = n <= 0 ? 0 : (n < NCS_STAT_COUNT ? n : NCS_STAT_COUNT);
    FZ_CHECK(ncs_stats_read(values, n) == want, "stats_read(%d) != %d", n, want);
    FZ_CHECK(ncs_stats_read(NULL, 4) == 0, "stats_read into NULL");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static model m;
    memset(&m, 0, sizeof m);
    fz_in in = {data, size};
    m.limit = DEFAULT_LIMIT;
    ncs_set_memory_limit(m.limit);
    fz_stats(m.expected);
    FZ_CHECK(m.expected[NCS_STAT_LIVE_BUFFERS] == 0, "buffers live before the input ran");
    for (int steps = 0; in.n > 0 && steps < 256; steps++) {
        uint8_t op = fz_u8(&in);
        live_buffer *b;
        switch (op % 13) {
        case 0:
        case 1: op_alloc(&m, &in); break;
        case 2:
            if ((b = pick_live(&m, &in)) != NULL && b->refs < 1000) {
                FZ_CHECK(ncs_buffer_retain(b->h) == NCS_OK, "retain of a live handle failed");
                b->refs++;
                m.expected[NCS_STAT_RETAINS]++;
            }
            break;
        case 3:
        case 4:
            if ((b = pick_live(&m, &in)) != NULL)
                op_release(&m, b);
            break;
        case 5: op_stale(&m, &in); break;
        case 6: op_forged(&m, &in); break;
        case 7:
            if ((b = pick_live(&m, &in)) != NULL)
                op_inspect(&m, b, fz_u8(&in));
            break;
        case 8: op_set_owner(&m, &in); break;
        case 9: op_snapshot(&m, &in); break;
        case 10: op_limit(&m, &in); break;
        case 11: op_cache(&m, &in); break;
        default: op_null_arguments(&m, &in); break;
        }
        check_counters(&m, "an operation");
        m.reuses = fz_stat(NCS_STAT_CACHE_REUSES);
    }
    while (m.nlive > 0)
        op_release(&m, &m.live[0]);
    check_counters(&m, "releasing everything");
    ncs_set_buffer_cache_limit(0);
    FZ_CHECK(fz_stat(NCS_STAT_CACHED_BYTES) == 0, "bytes cached with a cache limit of 0");
    FZ_CHECK(fz_stat(NCS_STAT_LIVE_BUFFERS) == 0 && fz_stat(NCS_STAT_LIVE_BYTES) == 0,
             "buffers left alive");
    char empty[3];
    FZ_CHECK(ncs_buffer_snapshot(empty, sizeof empty, NULL) == NCS_OK && strcmp(empty, "[]") == 0,
             "snapshot of nothing is not []");
    return 0;
}
