/*
 * region.h -- shared-memory regions (region.c): the registry of named regions, each a POSIX
 * shared-memory object mapped once, and the references buffers hold on them. Internal to
 * libncs; the host's functions are in ncs.h ("Shared-memory regions").
 *
 * A region lives while it has references: the registry's own (from ncs_region_register until
 * ncs_region_unregister) and one per buffer that borrows its memory (ncs_region_borrow, dropped
 * by ncs_region_drop when the buffer is freed). The last drop unmaps it and closes its object.
 */
#ifndef NCS_REGION_H
#define NCS_REGION_H

#include <stddef.h>
#include <stdint.h>

typedef struct ncs_region ncs_region;

/**
 * New reference. Looks up the registered region `name` and borrows bytes [offset, offset + size)
 * of it: checks the range against the region (overflow-checked) and the object's current size
 * (fstat: an object shrunk under the mapping is refused, as touching it would raise SIGBUS).
 * On success *region holds a new reference (release it with ncs_region_drop) and *data the
 * address of the range, valid until that drop. On failure (NCS_E_NOT_FOUND: no such name;
 * NCS_E_INVALID_ARGUMENT: out of range or shrunk; NCS_E_INTERNAL: fstat failed) nothing is retained and why[] says what.
 */
int ncs_region_borrow(const char *name, uint64_t offset, uint64_t size, ncs_region **region,
                      void **data, char *why, size_t capacity);

/** Drops a reference from ncs_region_borrow; the last one unmaps the region. */
void ncs_region_drop(ncs_region *region);

/** Calls fn(arg, owner, buffers, mapped_bytes) for every mapped region (registered or not; owner
 *  text "region:<name>"), under the registry's lock: fn must not call back into region.c. */
void ncs_region_each(void (*fn)(void *arg, const char *owner, uint64_t buffers, uint64_t bytes),
                     void *arg);

#endif /* NCS_REGION_H */
