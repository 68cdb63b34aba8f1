/*
 * region.c -- shared-memory regions: POSIX shared-memory objects a client created, registered
 * under a name, mapped once (MAP_SHARED, read and write) and lent to buffers (buffer.c) without
 * a copy.
 *
 * Every mapped region is on one list, registered or not, guarded by `lock`; a registered region
 * also answers to its name. A region's reference count (`refs`, guarded by `lock` too) is the
 * registry's reference plus one per borrowing buffer, so unregistering removes the name at once
 * while the mapping stays until the last buffer is freed. Borrowing is rare next to a kernel's
 * work (once per tensor bound), so one mutex is enough.
 *
 * The object's descriptor stays open for as long as the region is mapped, so each borrow can
 * fstat it again: a client that shrinks the object (ftruncate) makes touching the pages past its
 * new end raise SIGBUS, and a borrow after the shrink is refused instead (see ncs.h for what
 * remains).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "json.h"
#include "region.h"

struct ncs_region {
    char name[NCS_REGION_NAME_MAX + 1];
    char key[NCS_REGION_KEY_MAX + 1];
    int fd;
    uint64_t offset;    /* of the region in the object */
    uint64_t byte_size; /* of the region */
    void *map;          /* the mapping: from `offset` rounded down to a page */
    size_t map_length;
    unsigned char *base;     /* the region's first byte, inside the mapping */
    uint64_t refs;           /* guarded by lock */
    int registered;          /* guarded by lock */
    struct ncs_region *next; /* guarded by lock */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ncs_region *regions;       /* every mapped region; guarded by lock */
static uint64_t mapped_count;     /* guarded by lock */
static uint64_t mapped_bytes;     /* guarded by lock */
static uint64_t max_regions;      /* 0: no limit; guarded by lock */
static uint64_t max_mapped_bytes; /* 0: no limit; guarded by lock */

/* The registered region `name`, or NULL (lock held). */
static ncs_region *find_registered(const char *name)
{
    for (ncs_region *r = regions; r != NULL; r = r->next) {
        if (r->registered && strcmp(r->name, name) == 0)
            return r;
    }
    return NULL;
}

/* 1 when `text` is 1..max bytes without control characters. */
static int text_valid(const char *text, size_t max)
{
    size_t n = strnlen(text, max + 1);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return 0;
    }
    return 1;
}

/* Unmaps a region no reference reaches any more (already off the list, counters lowered). */
static void unmap_region(ncs_region *r)
{
    munmap(r->map, r->map_length);
    close(r->fd);
    free(r);
}

NCS_API void ncs_set_region_limits(uint64_t regions_max, uint64_t mapped_bytes_max)
{
    pthread_mutex_lock(&lock);
    max_regions = regions_max;
    max_mapped_bytes = mapped_bytes_max;
    pthread_mutex_unlock(&lock);
}

NCS_API int ncs_region_register(const char *name, const char *key, uint64_t offset,
                                uint64_t byte_size, char *error, size_t error_size)
{
    if (error != NULL && error_size > 0)
        error[0] = '\0';
    if (name == NULL || !text_valid(name, NCS_REGION_NAME_MAX))
        return ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                               "a region name is 1 to %d bytes without control characters",
                               NCS_REGION_NAME_MAX);
    if (key == NULL || key[0] != '/' || !text_valid(key, NCS_REGION_KEY_MAX) ||
        strchr(key + 1, '/') != NULL || key[1] == '\0')
        return ncs_status_fail(
            NCS_E_INVALID_ARGUMENT, error, error_size,
            "region '%s': a shared-memory key is '/' then 1 to %d bytes without '/' or control "
            "characters",
            name, NCS_REGION_KEY_MAX - 1);
    uint64_t end;
    if (byte_size == 0)
        return ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                               "region '%s': byte_size must be at least 1", name);
    if (__builtin_add_overflow(offset, byte_size, &end) || end > (uint64_t)INT64_MAX)
        return ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                               "region '%s': offset %llu + byte_size %llu overflows", name,
                               (unsigned long long)offset, (unsigned long long)byte_size);
    int fd = shm_open(key, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        return ncs_status_fail(err == ENOENT ? NCS_E_NOT_FOUND : NCS_E_INVALID_ARGUMENT, error,
                               error_size, "region '%s': cannot open shared-memory object '%s': %s",
                               name, key, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                               "region '%s': '%s' is not a shared-memory object", name, key);
    }
    if ((uint64_t)st.st_size < end) {
        close(fd);
        return ncs_status_fail(
            NCS_E_INVALID_ARGUMENT, error, error_size,
            "region '%s': offset %llu + byte_size %llu passes the end of '%s' (%lld bytes)", name,
            (unsigned long long)offset, (unsigned long long)byte_size, key, (long long)st.st_size);
    }
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = offset / page * page;
    size_t length = (size_t)(end - start);
    ncs_region *r = calloc(1, sizeof *r);
    if (r == NULL) {
        close(fd);
        return ncs_status_fail(NCS_E_OUT_OF_MEMORY, error, error_size, "region '%s': out of memory",
                               name);
    }
    pthread_mutex_lock(&lock);
    int status = NCS_OK;
    if (find_registered(name) != NULL)
        status = ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                                 "region '%s' is registered already: unregister it first", name);
    else if (max_regions != 0 && mapped_count + 1 > max_regions)
        status = ncs_status_fail(NCS_E_OUT_OF_MEMORY, error, error_size,
                                 "region '%s': %llu regions are mapped, the most allowed", name,
                                 (unsigned long long)mapped_count);
    else if (max_mapped_bytes != 0 &&
             (length > max_mapped_bytes || mapped_bytes > max_mapped_bytes - length))
        status = ncs_status_fail(
            NCS_E_OUT_OF_MEMORY, error, error_size,
            "region '%s': mapping %llu bytes more would pass the limit of %llu mapped bytes "
            "(%llu mapped now)",
            name, (unsigned long long)length, (unsigned long long)max_mapped_bytes,
            (unsigned long long)mapped_bytes);
    if (status == NCS_OK) {
        r->map = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)start);
        if (r->map == MAP_FAILED)
            status = ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                                     "region '%s': cannot map '%s': %s", name, key,
                                     strerror(errno));
    }
    if (status != NCS_OK) {
        pthread_mutex_unlock(&lock);
        close(fd);
        free(r);
        return status;
    }
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->key, sizeof r->key, "%s", key);
    r->fd = fd;
    r->offset = offset;
    r->byte_size = byte_size;
    r->map_length = length;
    r->base = (unsigned char *)r->map + (offset - start);
    r->refs = 1;
    r->registered = 1;
    r->next = regions;
    regions = r;
    mapped_count++;
    mapped_bytes += length;
    ncs_stat_add(NCS_STAT_REGIONS_MAPPED, 1);
    ncs_stat_add(NCS_STAT_MAPPED_BYTES, length);
    pthread_mutex_unlock(&lock);
    return NCS_OK;
}

/* Drops one reference (lock held); returns the region when that was the last, taken off the
   list, for the caller to unmap once the lock is released. */
static ncs_region *unref_locked(ncs_region *r)
{
    if (--r->refs > 0)
        return NULL;
    for (ncs_region **p = &regions; *p != NULL; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    mapped_count--;
    mapped_bytes -= r->map_length;
    ncs_stat_sub(NCS_STAT_REGIONS_MAPPED, 1);
    ncs_stat_sub(NCS_STAT_MAPPED_BYTES, r->map_length);
    return r;
}

NCS_API int ncs_region_unregister(const char *name)
{
    ncs_region *unmapped = NULL;
    int status = NCS_OK;
    pthread_mutex_lock(&lock);
    if (name != NULL) {
        ncs_region *r = find_registered(name);
        if (r == NULL) {
            status = NCS_E_NOT_FOUND;
        } else {
            r->registered = 0;
            unmapped = unref_locked(r);
        }
    } else {
        ncs_region *r = regions;
        while (r != NULL) {
            ncs_region *next = r->next;
            if (r->registered) {
                r->registered = 0;
                ncs_region *gone = unref_locked(r);
                if (gone != NULL) {
                    gone->next = unmapped;
                    unmapped = gone;
                }
            }
            r = next;
        }
    }
    pthread_mutex_unlock(&lock);
    while (unmapped != NULL) {
        ncs_region *next = name != NULL ? NULL : unmapped->next;
        unmap_region(unmapped);
        unmapped = next;
    }
    return status;
}

int ncs_region_borrow(const char *name, uint64_t offset, uint64_t size, ncs_region **region,
                      void **data, char *why, size_t capacity)
{
    uint64_t end;
    pthread_mutex_lock(&lock);
    ncs_region *r = find_registered(name);
    int status = NCS_OK;
    if (r == NULL) {
        status = ncs_status_fail(NCS_E_NOT_FOUND, why, capacity,
                                 "no shared-memory region '%s' is registered", name);
    } else if (__builtin_add_overflow(offset, size, &end) || end > r->byte_size) {
        status = ncs_status_fail(
            NCS_E_INVALID_ARGUMENT, why, capacity,
            "offset %llu + byte size %llu passes the end of region '%s' (%llu bytes)",
            (unsigned long long)offset, (unsigned long long)size, name,
            (unsigned long long)r->byte_size);
    } else {
        struct stat st;
        if (fstat(r->fd, &st) != 0)
            status = ncs_status_fail(NCS_E_INTERNAL, why, capacity,
                                     "region '%s': fstat of '%s' failed: %s", name, r->key,
                                     strerror(errno));
        else if ((uint64_t)st.st_size < r->offset + r->byte_size)
            status = ncs_status_fail(
                NCS_E_INVALID_ARGUMENT, why, capacity,
                "region '%s': its shared-memory object '%s' shrank to %lld bytes, short of the "
                "%llu registered: unregister it",
                name, r->key, (long long)st.st_size,
                (unsigned long long)(r->offset + r->byte_size));
    }
    if (status == NCS_OK) {
        r->refs++;
        *region = r;
        *data = r->base + offset;
    }
    pthread_mutex_unlock(&lock);
    return status;
}

void ncs_region_drop(ncs_region *region)
{
    pthread_mutex_lock(&lock);
    ncs_region *gone = unref_locked(region);
    pthread_mutex_unlock(&lock);
    if (gone != NULL)
        unmap_region(gone);
}

void ncs_region_each(void (*fn)(void *arg, const char *owner, uint64_t buffers, uint64_t bytes),
                     void *arg)
{
    char owner[NCS_REGION_NAME_MAX + 16];
    pthread_mutex_lock(&lock);
    for (ncs_region *r = regions; r != NULL; r = r->next) {
        snprintf(owner, sizeof owner, "region:%s", r->name);
        fn(arg, owner, r->refs - (uint64_t)r->registered, r->map_length);
    }
    pthread_mutex_unlock(&lock);
}

NCS_API int ncs_region_status(const char *name, char *out, size_t size, size_t *needed)
{
    ncs_json text = {0};
    int found = 0;
    ncs_json_lit(&text, "[");
    pthread_mutex_lock(&lock);
    for (ncs_region *r = regions; r != NULL; r = r->next) {
        if (!r->registered || (name != NULL && strcmp(r->name, name) != 0))
            continue;
        ncs_json_lit(&text, found++ ? ",{\"name\":" : "{\"name\":");
        ncs_json_string(&text, r->name);
        ncs_json_lit(&text, ",\"key\":");
        ncs_json_string(&text, r->key);
        ncs_json_lit(&text, ",\"offset\":");
        ncs_json_uint(&text, r->offset);
        ncs_json_lit(&text, ",\"byte_size\":");
        ncs_json_uint(&text, r->byte_size);
        ncs_json_lit(&text, ",\"buffers\":");
        ncs_json_uint(&text, r->refs - 1); /* the registry's reference is not a buffer's */
        ncs_json_lit(&text, "}");
    }
    pthread_mutex_unlock(&lock);
    ncs_json_lit(&text, "]");
    size_t length = text.length;
    char *json = ncs_json_take(&text);
    if (json == NULL)
        return NCS_E_OUT_OF_MEMORY;
    int status = NCS_E_INVALID_ARGUMENT;
    if (name != NULL && found == 0) {
        status = NCS_E_NOT_FOUND;
    } else {
        if (needed != NULL)
            *needed = length + 1;
        if (out != NULL && length + 1 <= size) {
            memcpy(out, json, length + 1);
            status = NCS_OK;
        }
    }
    free(json);
    return status;
}
