/*
 * library.h -- kernel libraries and their locks (library.c). Internal to libncs.
 *
 * Every kernel belongs to a library: "builtin", a loaded plugin, or one registered in-process.
 * The kernels of a library registered without NCS_KERNEL_THREAD_SAFE share the library's lock,
 * which the host (call.c, host_api.c) holds around each of their steps. Records are never
 * freed or moved once published, so pointers to them stay valid for the life of the process.
 */
#ifndef NCS_LIBRARY_H
#define NCS_LIBRARY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct ncs_library {
    char *name;
    pthread_mutex_t lock; /* the library lock of its kernels without NCS_KERNEL_THREAD_SAFE */
    _Atomic uint64_t acquisitions;
    _Atomic uint64_t wait_ns;
    _Atomic uint64_t held_ns;
} ncs_library;

/** Constructor: a record named `name` (copied), not yet published; NULL when out of memory. */
ncs_library *ncs_library_new(const char *name);
/** Destructor of a record never published (NULL: nothing). */
void ncs_library_free(ncs_library *library);
/** Publishes `library`: it gets the next index and is never removed. NCS_E_OUT_OF_MEMORY
 *  (nothing changes) when the table cannot grow. */
int ncs_library_publish(ncs_library *library);
/** The published library named `name`, or NULL. */
ncs_library *ncs_library_find(const char *name);
/** Number of published libraries. */
int ncs_library_published(void);
/** Published library `index`, or NULL when out of range. */
ncs_library *ncs_library_at(int index);

/** Takes `library`'s lock, counting the acquisition and the wait. Returns the monotonic time
 *  (ns) it was acquired, to pass to ncs_library_unlock. */
uint64_t ncs_library_lock(ncs_library *library);
/** Counts the time held since `acquired_at` and gives the lock back. */
void ncs_library_unlock(ncs_library *library, uint64_t acquired_at);
/** ncs_library_lock_stats (ncs.h) of one record: copies min(n, NCS_LOCK_STAT_COUNT) values. */
int ncs_library_read_lock_stats(const ncs_library *library, uint64_t *out, int n);

#endif /* NCS_LIBRARY_H */
