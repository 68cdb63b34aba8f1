/*
 * library.c -- the table of kernel libraries and the library lock.
 *
 * The library lock is a plain mutex per library. The host takes it around each step of a kernel
 * registered without NCS_KERNEL_THREAD_SAFE and counts the acquisitions, the time spent waiting
 * and the time held. A held interval runs from just after the acquisition to just before the
 * release, so the held times of one library never add up to more than the wall time.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "library.h"
#include "ncs/ncs.h"

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static ncs_library **libraries; /* guarded by table_lock */
static int count;               /* guarded by table_lock */
static int capacity;            /* guarded by table_lock */

ncs_library *ncs_library_new(const char *name)
{
    ncs_library *library = calloc(1, sizeof *library);
    if (library == NULL)
        return NULL;
    library->name = strdup(name);
    if (library->name == NULL || pthread_mutex_init(&library->lock, NULL) != 0) {
        free(library->name);
        free(library);
        return NULL;
    }
    atomic_init(&library->acquisitions, 0);
    atomic_init(&library->wait_ns, 0);
    atomic_init(&library->held_ns, 0);
    return library;
}

void ncs_library_free(ncs_library *library)
{
    if (library != NULL) {
        pthread_mutex_destroy(&library->lock);
        free(library->name);
        free(library);
    }
}

int ncs_library_publish(ncs_library *library)
{
    int status = NCS_OK;
    pthread_mutex_lock(&table_lock);
    if (count == capacity) {
        int grown_capacity = capacity ? 2 * capacity : 8;
        ncs_library **grown = realloc(libraries, (size_t)grown_capacity * sizeof *grown);
        if (grown == NULL) {
            status = NCS_E_OUT_OF_MEMORY;
        } else {
            libraries = grown;
            capacity = grown_capacity;
        }
    }
    if (status == NCS_OK)
        libraries[count++] = library;
    pthread_mutex_unlock(&table_lock);
    return status;
}

ncs_library *ncs_library_find(const char *name)
{
    ncs_library *found = NULL;
    pthread_mutex_lock(&table_lock);
    for (int i = 0; i < count && found == NULL; i++) {
        if (strcmp(libraries[i]->name, name) == 0)
            found = libraries[i];
    }
    pthread_mutex_unlock(&table_lock);
    return found;
}

int ncs_library_published(void)
{
    pthread_mutex_lock(&table_lock);
    int n = count;
    pthread_mutex_unlock(&table_lock);
    return n;
}

ncs_library *ncs_library_at(int index)
{
    pthread_mutex_lock(&table_lock);
    ncs_library *library = (index >= 0 && index < count) ? libraries[index] : NULL;
    pthread_mutex_unlock(&table_lock);
    return library;
}

uint64_t ncs_library_lock(ncs_library *library)
{
    uint64_t acquired;
    if (pthread_mutex_trylock(&library->lock) == 0) {
        acquired = ncs_clock_ns();
    } else {
        uint64_t start = ncs_clock_ns();
        pthread_mutex_lock(&library->lock);
        acquired = ncs_clock_ns();
        atomic_fetch_add_explicit(&library->wait_ns, acquired - start, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&library->acquisitions, 1, memory_order_relaxed);
    return acquired;
}

void ncs_library_unlock(ncs_library *library, uint64_t acquired_at)
{
    uint64_t held = ncs_clock_ns() - acquired_at;
    pthread_mutex_unlock(&library->lock);
    atomic_fetch_add_explicit(&library->held_ns, held, memory_order_relaxed);
}

int ncs_library_read_lock_stats(const ncs_library *library, uint64_t *out, int n)
{
    if (library == NULL || out == NULL || n < 1)
        return 0;
    uint64_t values[NCS_LOCK_STAT_COUNT] = {
        [NCS_LOCK_STAT_ACQUISITIONS] = atomic_load_explicit(&library->acquisitions,
                                                            memory_order_relaxed),
        [NCS_LOCK_STAT_WAIT_NS] = atomic_load_explicit(&library->wait_ns, memory_order_relaxed),
        [NCS_LOCK_STAT_HELD_NS] = atomic_load_explicit(&library->held_ns, memory_order_relaxed),
    };
    int copied = n < NCS_LOCK_STAT_COUNT ? n : NCS_LOCK_STAT_COUNT;
    for (int i = 0; i < copied; i++)
        out[i] = values[i];
    return copied;
}
