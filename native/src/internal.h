/*
 * internal.h -- declarations shared by libncs's runtime files. Nothing here is exported: the
 * library is built with -fvisibility=hidden and only NCS_API functions leave it. The C tests
 * that need these functions link the runtime's object files directly.
 *
 * The modules split out with their own header: budget.h (the memory budget), block_cache.c
 * (below), library.h (kernel libraries and their locks), clock.h, json.h, cpu.h (the kernels'
 * instruction choice) and call.h (a call's files). tests/check_layers.sh proves that their calls
 * and includes form no cycle.
 */
#ifndef NCS_INTERNAL_H
#define NCS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ncs/ncs.h"
#include "ncs/ncs_plugin.h"

/** Most inputs, outputs and parameters one kernel may declare. */
#define NCS_MAX_TENSORS 32
#define NCS_MAX_PARAMS 32
/** Longest kernel, tensor or parameter name, in bytes. */
#define NCS_MAX_NAME 64

/* ---- status.c: failing with a message --------------------------------------------------- */

/* Writes a printf-style message into error[0..error_size) (nothing when error is NULL or
 * error_size is 0, truncated to fit) and returns status: the one way a function with an error
 * buffer fails (status.c). */
int ncs_status_fail(int status, char *error, size_t error_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- stats.c: process-wide counters ---------------------------------------------------- */

/** Adds `delta` to counter `which` (relaxed atomic). Not for the budget's figures (live, peak,
 *  limit and cached bytes), which budget.h keeps. */
void ncs_stat_add(ncs_stat which, uint64_t delta);
/** Subtracts `delta` from counter `which` (relaxed atomic). */
void ncs_stat_sub(ncs_stat which, uint64_t delta);

/* ---- block_cache.c: the memory behind buffers ------------------------------------------ */

/** Constructor. Memory for a buffer of `size` > 0 bytes (64-byte aligned; from 4 MiB up 2 MiB
 *  aligned, huge-page advised, and, if `reuse`, possibly a cached block of a freed buffer,
 *  contents unspecified), or NULL when the system has none. The caller has reserved the live
 *  bytes it charges already; cached blocks that no longer fit the budget beside them are given
 *  back. Without `reuse` a large block is a fresh mapping: its pages cost memory only once
 *  touched (a deferred buffer's, see ncs_buffer_alloc_deferred). */
void *ncs_block_get(uint64_t size, int reuse);
/** Destructor. Takes back memory from ncs_block_get for a buffer of `size` bytes (NULL: nothing),
 *  after the caller gave back the live bytes: a large block is kept for reuse if the cache limit
 *  and the budget allow, else returned to the system. */
void ncs_block_put(void *data, uint64_t size);

/* ---- buffer.c ------------------------------------------------------------------------- */

/** Like ncs_buffer_data, but counts nothing: checks that `h` names a live buffer and reports its
 *  memory. Returns NCS_OK, NCS_E_STALE_HANDLE or NCS_E_INVALID_ARGUMENT. */
int ncs_buffer_peek(ncs_handle h, void **data, uint64_t *size);

/** An extra reference on a live buffer, not counted as a retain: its memory stays the buffer's
 *  until ncs_buffer_unpin. NCS_E_STALE_HANDLE (counted as a stale use) when it was freed,
 *  NCS_E_INVALID_ARGUMENT for a handle never issued or a count at its limit. */
int ncs_buffer_pin(ncs_handle h);
/** Drops a pin (not counted as a release); frees the buffer when that was its last reference. */
void ncs_buffer_unpin(ncs_handle h);

/** An owner text prepared for the allocator: NUL-padded to whole 8-byte words, of which the
 *  first `words` (up to the one holding the terminating NUL) are stored in a slot. */
typedef struct ncs_owner {
    union {
        uint64_t words[(NCS_OWNER_MAX + 1) / 8];
        char bytes[NCS_OWNER_MAX + 1];
    } text;
    int words;
} ncs_owner;

/** Prepares `owner` (cut like ncs_buffer_set_owner does) into *prepared. */
void ncs_owner_prepare(ncs_owner *prepared, const char *owner);

/** ncs_buffer_alloc with a prepared owner (see ncs_buffer_set_owner), written before the buffer
 *  becomes visible. */
int ncs_buffer_alloc_owned(uint64_t size, const ncs_owner *owner, ncs_handle *out);

/** Whether `h` names a buffer made by ncs_buffer_wrap_region (its memory is a region's, which
 *  the client can write at any time). The caller holds a reference. */
int ncs_buffer_borrows_region(ncs_handle h);

/** Whether the live buffer `h` has all its bytes committed (any buffer not made by
 *  ncs_buffer_alloc_deferred has). The caller holds a reference. */
int ncs_buffer_fully_committed(ncs_handle h);

/**
 * Test hook, for the C tests that link the runtime's objects (never exported, never called by
 * the library): moves the live buffer `h` to generation `generation` of the same slot, as if
 * the slot had been reused that often, and stores the buffer's new handle in *renamed (`h`
 * becomes stale). Lets a test reach the end of a slot's generations without 2^32 allocations.
 * NCS_E_STALE_HANDLE when `h` is not live; NCS_E_INVALID_ARGUMENT for a foreign handle or NULL.
 */
int ncs_buffer_test_set_generation(ncs_handle h, uint32_t generation, ncs_handle *renamed);

/* ---- dtype.c -------------------------------------------------------------------------- */

/** 1 when `dtype` is one of the ncs_dtype values other than NCS_DTYPE_INVALID. */
int ncs_dtype_valid(int dtype);
/** Mask of every valid dtype's NCS_DTYPE_BIT. */
uint32_t ncs_dtype_all_mask(void);

/* ---- param.c: parameter values arrive as text ------------------------------------------ */

/** Parse `text` as the parameter type `type`; 1 when it parses completely, else 0. */
int ncs_param_text_valid(int type, const char *text);
/** "true"/"1" -> 1, "false"/"0" -> 0. Returns 0 when `text` is not one of those. */
int ncs_param_parse_bool(const char *text, int *out);
/** Whole-string decimal integer (optional sign). Returns 0 on junk or overflow. */
int ncs_param_parse_int(const char *text, int64_t *out);
/** Whole-string floating-point number, "nan" and "inf" included. Returns 0 on junk or
 *  overflow. */
int ncs_param_parse_double(const char *text, double *out);
/** "bool", "int", "double", "string", or NULL for an unknown type. */
const char *ncs_param_type_name(int type);

/* ---- catalog.c ------------------------------------------------------------------------ */

/** A kernel library ("builtin", a plugin, or one registered in-process): library.h. */
typedef struct ncs_library ncs_library;

/** One registered kernel. Entries are never freed or moved, so pointers to them stay valid
 *  for as long as the library is loaded. */
typedef struct ncs_kernel_entry {
    ncs_kernel_desc desc; /* copied; the tensor and parameter tables stay borrowed */
    ncs_library *library;
    char *metadata_json;
} ncs_kernel_entry;

/** The kernel named `name`, or NULL. Registers the built-in kernels on first use. */
const ncs_kernel_entry *ncs_catalog_find(const char *name);

/**
 * Runs a kernel library's entry point with a registrar named `library`. The kernels it adds
 * become visible together when the entry point returns NCS_OK; when it fails, none of them is
 * registered and its status is returned. Registrations are serialised.
 */
int ncs_catalog_register_library(const char *library, ncs_plugin_register_fn entry);

/**
 * The registration behind both: runs `entry` for library `library`. With `exclusive` set (a
 * plugin file), a library of that name must not exist yet and must register at least one
 * kernel; without it, kernels join an existing library of that name (same lock). Any kernel the
 * registrar refuses fails the whole library, even if the entry point ignores that status.
 * A failure's message goes to error[0..error_size) ("" on success; error may be NULL when
 * error_size is 0).
 */
int ncs_catalog_register(const char *library, ncs_plugin_register_fn entry, int exclusive,
                         char *error, size_t error_size);

/** 1 when a library named `name` is registered. */
int ncs_catalog_library_exists(const char *name);

/* ---- kernels/ ------------------------------------------------------------------------- */

/** Entry point of the built-in kernels (registered as library "builtin"). */
int ncs_builtin_register(ncs_registrar *registrar);

#endif /* NCS_INTERNAL_H */
