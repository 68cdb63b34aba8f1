/*
 * ncs.h -- host API of libncs, the native runtime of the Native Compute Service.
 *
 * This header is the manual. It is what the Java service (through JNA) and the C tests call:
 * buffers, statistics, the kernel catalog, calls and kernel libraries. Kernels are written
 * against ncs_plugin.h instead; the types both share are in ncs_types.h, and the socket lookups
 * the service's HTTP layer uses are in ncs_net.h.
 *
 * Conventions (they hold for every function below unless its comment says otherwise):
 *
 *  - Every call that can fail returns an ncs_status; NCS_OK (0) is success. A failed call has
 *    no side effects: it allocates nothing, retains nothing and leaves its out-parameters
 *    untouched.
 *  - Buffers are addressed by 64-bit handles. A handle names one slot and one generation of
 *    that slot; once the buffer is freed the slot's generation moves on, so the old handle is
 *    refused with NCS_E_STALE_HANDLE (counted in NCS_STAT_STALE_HANDLE_USES) instead of
 *    touching freed memory. Generations never wrap: a slot whose last generation is freed is
 *    retired for good, so a handle, once stale, is never valid again. Handle 0 is never valid.
 *  - Reference counts follow CPython's words: a call that "returns a new reference" gives the
 *    caller one reference that the caller must release; a call that "borrows" a reference does
 *    not change the count and relies on the caller holding one for the duration of the call.
 *  - All functions are thread-safe unless marked otherwise.
 *  - Strings passed in are borrowed for the duration of the call only. Strings returned are
 *    owned by the library and live as stated per function; never free them.
 */
#ifndef NCS_NCS_H
#define NCS_NCS_H

#include <stddef.h>
#include <stdint.h>

#include "ncs_types.h" /* status codes, dtypes, ncs_handle: shared with ncs_plugin.h */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NCS_API __attribute__((visibility("default")))
#else
#define NCS_API
#endif

/* ---------------------------------------------------------------------------------------- */
/* Version                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/*
 * The library's version, defined here and nowhere else: the build reads these three lines for the
 * CMake project version, the shared library's file names and SONAME (libncs.so.MAJOR), and the
 * record of the version the service jar was built for (the service refuses to load a libncs whose
 * ncs_version_number() differs from it).
 *
 * Versioning policy of this host API (ncs.h, ncs_net.h and the types of ncs_types.h; the kernel
 * ABI of ncs_plugin.h has its own version, NCS_PLUGIN_ABI_MAJOR/MINOR):
 *  - From 1.0 on: MAJOR changes when a function is removed or changes its signature or meaning
 *    (the SONAME changes with it, so an old program never binds to an incompatible library);
 *    MINOR grows when functions, status codes, dtypes or counters are appended (existing callers
 *    keep working); PATCH grows for fixes that change no declaration.
 *  - While MAJOR is 0 (now) the API is still settling: a MINOR release may also remove or change
 *    functions, and says which below; PATCH releases only fix. The SONAME stays libncs.so.0, so
 *    a 0.x caller must check ncs_version_number() (the service requires the exact version it was
 *    built for). Values of status codes, dtypes and counters never change meaning, even in 0.x.
 *  - Functions are never versioned by suffix (no _v2): at 0.x a signature is changed in place.
 * Changes:
 *   0.1.0  the first API.
 *   0.2.0  ncs_call_destroy takes a third argument, leaked_bytes (ncs_call_destroy_v2 is gone);
 *          ncs_tcp_state and ncs_tcp_send moved to ncs_net.h (still exported by libncs); the
 *          status codes, dtypes and ncs_handle moved to ncs_types.h (included here).
 *   0.3.0  shared-memory regions (ncs_region_register, ncs_region_unregister, ncs_region_status,
 *          ncs_set_region_limits, ncs_buffer_wrap_region); counters NCS_STAT_REGIONS_MAPPED
 *          and NCS_STAT_MAPPED_BYTES appended; the snapshot lists regions as owners.
 */
#define NCS_VERSION_MAJOR 0
#define NCS_VERSION_MINOR 3
#define NCS_VERSION_PATCH 0
/** Compile-time version as one number: major * 10000 + minor * 100 + patch. */
#define NCS_VERSION_NUMBER (NCS_VERSION_MAJOR * 10000 + NCS_VERSION_MINOR * 100 + NCS_VERSION_PATCH)

/** Run-time version of the loaded library, encoded like NCS_VERSION_NUMBER. */
NCS_API uint32_t ncs_version_number(void);

/** Run-time version as "major.minor.patch". Static string, never freed. */
NCS_API const char *ncs_version_string(void);

/* ---------------------------------------------------------------------------------------- */
/* Status codes and data types (their values are in ncs_types.h)                             */
/* ---------------------------------------------------------------------------------------- */

/** Static English name of a status ("invalid argument", ...); "unknown status" for values
 *  outside the enum. Never NULL, never freed. */
NCS_API const char *ncs_status_str(int status);

/** Size in bytes of one element, or 0 for BYTES (variable) and invalid values. */
NCS_API size_t ncs_dtype_size(int dtype);

/** Protocol name ("FP64", ...) or NULL for an invalid value. Static, never freed. The same as
 *  ncs_dtype_text (ncs_types.h), exported for bindings that cannot use an inline function. */
NCS_API const char *ncs_dtype_name(int dtype);

/** NCS_MAX_RANK of the loaded library, for bindings that cannot read the macro: they mirror it by
 *  hand and check their copy against this. */
NCS_API int ncs_max_rank(void);

/* ---------------------------------------------------------------------------------------- */
/* Buffers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/**
 * Constructor. Allocates a buffer of `size` bytes (64-byte aligned, 2 MiB aligned from 4 MiB
 * up, contents unspecified; size 0 is allowed and yields a valid buffer with no bytes). Large
 * buffers may reuse the memory of freed ones (see "The buffer cache" below).
 * On success *out receives a handle holding a new reference (refcount 1).
 * Returns NCS_E_OUT_OF_MEMORY when live bytes + size would exceed the memory limit or the
 * system allocator fails; NCS_E_INVALID_ARGUMENT when out is NULL.
 */
NCS_API int ncs_buffer_alloc(uint64_t size, ncs_handle *out);

/**
 * Constructor, for memory filled as its data arrives (an upload whose declared size is only a
 * promise until its bytes come). Like ncs_buffer_alloc, but none of the `size` bytes is charged
 * to the memory limit yet: the owner charges them with ncs_buffer_commit as it goes, and only
 * committed bytes count as live bytes (and in the snapshot). The memory is never a cached
 * block: from 4 MiB up it is a fresh mapping, whose pages cost the system nothing until they
 * are first written. The owner must not write past the bytes it has committed. A kernel call
 * refuses the buffer as an input until all of it is committed. Returns what ncs_buffer_alloc
 * returns (NCS_E_OUT_OF_MEMORY only when the system has no memory or address space left).
 */
NCS_API int ncs_buffer_alloc_deferred(uint64_t size, ncs_handle *out);

/**
 * Charges the deferred buffer `h` for its first `committed` bytes: raises its live bytes to
 * `committed` (never lowers them: committing fewer bytes than before does nothing). Any buffer
 * may be passed; one from ncs_buffer_alloc is fully committed already. Returns
 * NCS_E_OUT_OF_MEMORY when the memory limit has no room for the difference (nothing changes),
 * NCS_E_INVALID_ARGUMENT when `committed` exceeds the buffer's size, NCS_E_STALE_HANDLE when
 * it was freed. The caller holds a reference; commits of one buffer may race safely.
 */
NCS_API int ncs_buffer_commit(ncs_handle h, uint64_t committed);

/** Adds one reference (atomic). NCS_E_STALE_HANDLE if the buffer was freed. */
NCS_API int ncs_buffer_retain(ncs_handle h);

/**
 * Destructor when the count reaches zero. Drops one reference (atomic); the call that drops
 * the last one frees the memory and retires the handle. Releasing a handle whose buffer is
 * already freed returns NCS_E_DOUBLE_RELEASE and is counted in NCS_STAT_DOUBLE_RELEASES;
 * it never touches freed memory. Handle 0 returns NCS_E_INVALID_ARGUMENT.
 */
NCS_API int ncs_buffer_release(ncs_handle h);

/** Current reference count into *out. NCS_E_STALE_HANDLE if freed. */
NCS_API int ncs_buffer_refcount(ncs_handle h, uint32_t *out);

/**
 * Borrows the buffer's memory: *addr receives its address (as an integer, for bindings that
 * pass pointers as numbers) and *size its length in bytes. The address stays valid for as long
 * as the caller holds a reference; it must not be used after the caller's last release.
 */
NCS_API int ncs_buffer_data(ncs_handle h, uint64_t *addr, uint64_t *size);

/* ---------------------------------------------------------------------------------------- */
/* Statistics: all counters in one call                                                      */
/* ---------------------------------------------------------------------------------------- */

typedef enum ncs_stat {
    NCS_STAT_LIVE_BUFFERS = 0,
    NCS_STAT_LIVE_BYTES = 1,
    NCS_STAT_PEAK_BYTES = 2,
    NCS_STAT_LIMIT_BYTES = 3, /* 0 = unlimited */
    NCS_STAT_ALLOCATIONS = 4,
    NCS_STAT_FREES = 5,
    NCS_STAT_RETAINS = 6,  /* successful ncs_buffer_retain calls */
    NCS_STAT_RELEASES = 7, /* successful ncs_buffer_release calls */
    NCS_STAT_STALE_HANDLE_USES = 8,
    NCS_STAT_DOUBLE_RELEASES = 9,
    NCS_STAT_KERNEL_LEAKS = 10, /* buffers reclaimed from kernel calls that leaked them */
    NCS_STAT_FAILED_ALLOCATIONS = 11,
    NCS_STAT_CACHED_BYTES = 12,   /* freed large buffers' memory kept for reuse (not live) */
    NCS_STAT_CACHE_REUSES = 13,   /* allocations served from that cache */
    NCS_STAT_REGIONS_MAPPED = 14, /* shared-memory regions mapped (registered or still borrowed) */
    NCS_STAT_MAPPED_BYTES = 15,   /* bytes of those mappings (not live bytes: not the budget's) */
    NCS_STAT_COUNT = 16           /* number of counters; grows when counters are appended */
} ncs_stat;

/**
 * Copies min(n, NCS_STAT_COUNT) counters into out[0..], indexed by ncs_stat, and returns the
 * number copied. Each counter is read atomically; the set is not one atomic snapshot.
 */
NCS_API int ncs_stats_read(uint64_t *out, int n);

/**
 * Sets the live-bytes budget (0 = unlimited). Allocations already made are kept. The budget also
 * covers the buffer cache: cached blocks are freed before an allocation would take live plus
 * cached bytes past it (and at once, when a lowered budget no longer holds them), and when the
 * system itself has no memory left the whole cache is given back and the allocation tried
 * again, so a cache never makes an allocation fail.
 */
NCS_API void ncs_set_memory_limit(uint64_t bytes);

/* ---------------------------------------------------------------------------------------- */
/* The buffer cache                                                                          */
/* ---------------------------------------------------------------------------------------- */

/*
 * Large buffers (4 MiB and more) take their memory straight from the system, rounded up to
 * 2 MiB and advised to use transparent huge pages. Fresh memory is costly to touch the first
 * time: the kernel zeroes it, and in a virtual machine that hands freed memory back to its host
 * (free page reporting) the host must map it in again, which was measured at under 1 GB/s. So
 * when a cache limit is set, the memory of a freed large buffer is kept, up to that many bytes,
 * and handed to the next allocation of the same rounded size (most recently freed first; the
 * least recently freed is given back when room is needed). A reused buffer's contents are
 * unspecified, as ever: they are whatever the previous owner left. Cached bytes are not live
 * (NCS_STAT_LIVE_BYTES) and are counted apart (NCS_STAT_CACHED_BYTES). Thread-safe.
 */

/**
 * Sets the most bytes of freed large buffers kept for reuse; 0 (the default) keeps none, and
 * lowering the limit gives back at once whatever is over it.
 */
NCS_API void ncs_set_buffer_cache_limit(uint64_t bytes);

/**
 * Gives cached memory back to the system: every block unused for at least `min_idle_ms`
 * milliseconds (0: all of them). Returns the number of bytes given back. A host calls it
 * periodically so that memory cached during a burst is returned once the service goes idle.
 */
NCS_API uint64_t ncs_buffer_cache_trim(uint64_t min_idle_ms);

/* ---------------------------------------------------------------------------------------- */
/* Kernels: the catalog                                                                      */
/* ---------------------------------------------------------------------------------------- */

/** Number of registered kernels. Built-in kernels are registered when the library loads. */
NCS_API int ncs_kernel_count(void);

/**
 * Name of kernel `index` (0 <= index < ncs_kernel_count()), or NULL when out of range.
 * The string lives as long as the library stays loaded.
 */
NCS_API const char *ncs_kernel_name(int index);

/**
 * The kernel's descriptor as a JSON document, or NULL when no kernel has that name:
 *   {"name", "doc", "thread_safe": bool, "library",
 *    "inputs":  [{"name", "doc", "datatypes": ["FP64", ...], "shape": [-1, ...] or null}],
 *    "outputs": [same],
 *    "parameters": [{"name", "type": "bool"|"int"|"double"|"string", "default", "doc"}]}
 * "shape" null means any rank; -1 marks a dimension of any size. A parameter's "default" is a
 * JSON string holding the default as text, parsed like a request value ("false", "3", "nan").
 * Every input and output listed is required / always produced. The string lives as long as the
 * library stays loaded.
 */
NCS_API const char *ncs_kernel_metadata_json(const char *name);

/* ---------------------------------------------------------------------------------------- */
/* Kernel calls                                                                              */
/*                                                                                           */
/* A call runs one kernel once:                                                              */
/*   ncs_call_create -> ncs_call_set_input (each input) -> ncs_call_set_param (any)           */
/*   -> ncs_call_prepare -> ncs_call_run_part (each part, from any threads, concurrently)     */
/*   -> ncs_call_finish -> ncs_call_take_output (each output wanted) -> ncs_call_destroy      */
/* A call is used by one thread at a time, except ncs_call_run_part (distinct parts may run   */
/* concurrently), ncs_call_cancel and ncs_call_progress (any thread, any time before destroy) */
/* and ncs_call_error (any thread, also while parts run).                                     */
/* ---------------------------------------------------------------------------------------- */

typedef struct ncs_call ncs_call; /* opaque */

/**
 * Constructor. Starts a call of kernel `kernel`. *out receives the call, owned by the caller
 * and freed with ncs_call_destroy. NCS_E_NOT_FOUND when no kernel has that name.
 */
NCS_API int ncs_call_create(const char *kernel, ncs_call **out);

/**
 * Binds input `index` (the descriptor's order) to buffer `buffer` with the given dtype and
 * shape (`rank` dims read from `shape`). The call retains the buffer (new reference owned by
 * the call, released by ncs_call_destroy); the caller keeps its own reference.
 * NCS_E_INVALID_ARGUMENT when the index, dtype, rank or dims are invalid, when a dimension is
 * negative, when the element count overflows, or when the buffer is smaller than
 * element count * dtype size (the message from ncs_call_error says which).
 * For NCS_DTYPE_BYTES the whole buffer is the serialized tensor (format above, near ncs_dtype)
 * and its framing is checked: it must hold exactly element-count elements, each length must fit
 * in the bytes that remain, and the elements must end exactly at the buffer's end. Otherwise
 * NCS_E_INVALID_ARGUMENT, with a message naming the input and the element where the framing
 * breaks ("input 'x': BYTES element 3 declares 100 bytes but only 7 remain").
 * NCS_E_STALE_HANDLE when the buffer was freed.
 * An input whose buffer borrows a shared-memory region (ncs_buffer_wrap_region) is copied
 * first to a private buffer (owner "kernel:<name>/input", charged to the budget: without room,
 * NCS_E_OUT_OF_MEMORY) and the call checks and binds that copy when it is BYTES (so a client
 * writing the region cannot change the framing after it was checked) or when the kernel lacks
 * NCS_KERNEL_SHARED_INPUTS (ncs_plugin.h). Otherwise it is bound in place, its bytes are not
 * counted in ncs_call_bytes_needed, and the call's output buffers are zeroed when
 * ncs_call_prepare allocates them, so a kernel that stops short of writing every output byte
 * because a client changed an input meanwhile never hands back the stale bytes of a freed
 * buffer's memory.
 */
NCS_API int ncs_call_set_input(ncs_call *call, int index, int dtype, int rank, const int64_t *shape,
                               ncs_handle buffer);

/**
 * Sets kernel parameter `key` to the text `value` (the protocol's strings, numbers and
 * booleans arrive as text: "true", "3", "2.5", "abc"). Unknown keys, and values that do not
 * parse as the parameter's declared type, return NCS_E_INVALID_ARGUMENT. Both strings are copied.
 */
NCS_API int ncs_call_set_param(ncs_call *call, const char *key, const char *value);

/**
 * Validates the inputs and parameters (the kernel's own checks), computes the outputs' dtypes
 * and shapes, allocates the output buffers (owned by the call until taken) and the kernel's
 * workspace (the scratch of every part), and decides how many parts the work splits into, at
 * most `max_parts` (>= 1).
 * *out_parts receives that number. Fails with NCS_E_INVALID_ARGUMENT (message in
 * ncs_call_error), NCS_E_OUT_OF_MEMORY (budget; ncs_call_bytes_needed tells whether the whole
 * budget could ever hold the call), or NCS_E_INVALID_ARGUMENT if an input is unset.
 * After a failure the call can only be destroyed.
 */
NCS_API int ncs_call_prepare(ncs_call *call, int max_parts, int *out_parts);

/**
 * The native memory, in bytes, the call needs at once: its inputs' buffers (whole, and a buffer
 * set as several inputs counted once), its outputs and its workspace, which holds the scratch of
 * every part. Known once the kernel's prepare has succeeded, including when ncs_call_prepare then
 * failed with NCS_E_OUT_OF_MEMORY; 0 before that (and for NULL). For the built-in kernels it is
 * the call's whole peak: they take nothing more after prepare, so it holds whether the parts run
 * at the same time or one after the other, and a budget with that much free runs the call. It
 * depends on the number of parts (each has its own scratch) and, for matmul, on the CPU (its
 * AVX-512 blocks are larger). A plugin kernel's allocations during run or finish (ncs_plugin.h,
 * alloc) are not included. A caller compares it with the budget to tell "not now" (it fits the
 * whole budget) from "never".
 */
NCS_API uint64_t ncs_call_bytes_needed(const ncs_call *call);

/**
 * Runs part `part` of the `nparts` decided by ncs_call_prepare. Distinct parts may run at the
 * same time on different threads. Returns NCS_E_CANCELLED when the cancellation flag was seen.
 * A part that fails with any other status sets the call's cancellation flag (after recording
 * its message), so the parts still running or not yet run stop early with NCS_E_CANCELLED;
 * ncs_call_error then names the part that failed first, not the cancelled siblings.
 */
NCS_API int ncs_call_run_part(ncs_call *call, int part);

/**
 * Merges the parts' results (if the kernel needs it). Call once after every part returned
 * NCS_OK, also for kernels that have no merge step. Then checks the framing of every BYTES
 * output the kernel produced: malformed BYTES are a kernel bug and give NCS_E_INTERNAL (message
 * in ncs_call_error), after which the call can only be destroyed and no output can be taken.
 */
NCS_API int ncs_call_finish(ncs_call *call);

/** Number of outputs (the descriptor's count). */
NCS_API int ncs_call_output_count(const ncs_call *call);

/**
 * Describes output `index` after a successful prepare: *dtype, *rank and shape[0..rank-1]
 * (the caller provides NCS_MAX_RANK slots). For a BYTES output the shape counts elements, not
 * bytes; ncs_call_output_nbytes gives its size.
 */
NCS_API int ncs_call_output_info(const ncs_call *call, int index, int *dtype, int *rank,
                                 int64_t *shape);

/**
 * Size in bytes of output `index`'s buffer, into *nbytes, after a successful prepare (until the
 * call is destroyed, also after the output was taken). For fixed-size dtypes it is element
 * count * ncs_dtype_size; for BYTES it is the serialized size the kernel declared, which is
 * also the exact size of the buffer ncs_call_take_output hands over.
 * NCS_E_INVALID_ARGUMENT when call or nbytes is NULL, the index is out of range, or the call
 * has not been prepared successfully (or its prepare or finish failed); *nbytes is then untouched.
 */
NCS_API int ncs_call_output_nbytes(const ncs_call *call, int index, uint64_t *nbytes);

/**
 * Transfers the call's reference to output `index` to the caller (*out; the caller must
 * release it). Allowed once per output, after ncs_call_finish returned NCS_OK; outputs not
 * taken are released by ncs_call_destroy.
 */
NCS_API int ncs_call_take_output(ncs_call *call, int index, ncs_handle *out);

/** Sets the call's cancellation flag. Kernels poll it; running parts return NCS_E_CANCELLED.
 *  A part failing with a status other than NCS_E_CANCELLED sets it too. */
NCS_API void ncs_call_cancel(ncs_call *call);

/** Work units reported done by the kernel so far (its own unit, e.g. rows or elements). */
NCS_API uint64_t ncs_call_progress(const ncs_call *call);

/**
 * The message of the call's first failure ("" when none) since the last single-threaded entry
 * point, i.e. the last call on `call` other than ncs_call_run_part, ncs_call_cancel,
 * ncs_call_progress, ncs_call_error and the read-only ncs_call_output_* functions (each such
 * call starts afresh). A failure's message is kept: a later failure does not replace it, except
 * that the first failure other than NCS_E_CANCELLED replaces a cancellation's message (a part
 * that stopped because a sibling failed is not the cause). A kernel's messages count only when
 * its step fails; those of a step that succeeds are dropped.
 * Safe to call from any thread while parts run (e.g. from a part's thread right after its part
 * failed). The string is owned by the call and never changes; it stays valid until the next
 * single-threaded entry point on `call` (see above) or ncs_call_destroy.
 */
NCS_API const char *ncs_call_error(const ncs_call *call);

/**
 * Destructor. Releases every reference the call holds (inputs, outputs not taken, workspace).
 * Buffers the kernel allocated through its context and neither released nor returned are
 * leaks: they are freed and counted in NCS_STAT_KERNEL_LEAKS; *leaked receives their number and
 * *leaked_bytes their total size in bytes (either pointer may be NULL: nothing is written there).
 * Accepts a NULL call (does nothing, writes nothing).
 * Must not run while an ncs_call_run_part on the call has not returned, nor concurrently with
 * any other function on the call. An ncs_call_run_part still under way is a bug of the host
 * (like freeing memory in use): the call is then not freed, a message goes to stderr and the
 * process aborts (SIGABRT). Wait for every part to return, and cancel first to make that quick.
 */
NCS_API void ncs_call_destroy(ncs_call *call, uint64_t *leaked, uint64_t *leaked_bytes);

/* ---------------------------------------------------------------------------------------- */
/* Buffer owners and the native-memory snapshot                                              */
/* ---------------------------------------------------------------------------------------- */

/** Longest owner text kept, in bytes (longer ones are truncated, at a UTF-8 boundary). */
#define NCS_OWNER_MAX 63

/*
 * Every live buffer carries an owner: a short text saying who holds it, for the snapshot below
 * (like tracemalloc's statistics grouped by owner). Defaults:
 *   "host"                        ncs_buffer_alloc
 *   "kernel:<name>"               scratch a kernel allocated through its context (ctx->api->alloc)
 *   "kernel:<name>/output"        an output buffer of a call of kernel <name> (also once taken)
 *   "kernel:<name>/workspace"     a call's workspace
 * (kernel names are cut like any owner text: at NCS_OWNER_MAX bytes). The owner is stored in the
 * buffer's slot: setting it allocates nothing.
 */

/**
 * Sets the owner of the live buffer `h` to a copy of `owner` (truncated to NCS_OWNER_MAX bytes,
 * cut before an incomplete UTF-8 sequence). Any text is accepted; the snapshot escapes it.
 * Returns NCS_E_STALE_HANDLE (counted in NCS_STAT_STALE_HANDLE_USES) when the buffer was freed,
 * NCS_E_INVALID_ARGUMENT for handle 0, a handle never issued, or a NULL owner. Safe to call
 * concurrently with any buffer function, also on the same buffer (one of the owners wins).
 */
NCS_API int ncs_buffer_set_owner(ncs_handle h, const char *owner);

/**
 * Writes a snapshot of the live buffers grouped by owner into out[0..size) as a NUL-terminated
 * JSON array, largest groups first (by bytes, then by owner text):
 *   [{"owner":"kernel:leaky","count":3,"bytes":12288},{"owner":"host","count":1,"bytes":64}]
 * ("[]" when no buffer is live). *needed (when needed is not NULL) receives the size the text
 * needs, terminating NUL included, on success and when `size` is too small; in that case the
 * call returns NCS_E_INVALID_ARGUMENT and writes nothing to `out` (out may be NULL with size 0
 * to ask for the size). Buffers come and go: ask again with some room to spare (say needed +
 * 4096). NCS_E_OUT_OF_MEMORY when the grouping table cannot be allocated.
 * Concurrency: safe at any time. Each buffer counted was live, with that owner and size, at
 * one moment during the call; a buffer allocated or freed while the scan runs may or may not be
 * counted, but no buffer is counted twice and no owner text is ever torn. Costs one pass over
 * the buffer table (cheap next to a JSON encoding of the result on the Java side).
 */
NCS_API int ncs_buffer_snapshot(char *out, size_t size, size_t *needed);

/* ---------------------------------------------------------------------------------------- */
/* Shared-memory regions                                                                     */
/* ---------------------------------------------------------------------------------------- */

/*
 * A client on the same host puts tensors in a POSIX shared-memory object it created
 * (shm_open), and the host registers a range of it under a name (Triton's system shared-memory
 * extension). libncs maps the range once (MAP_SHARED, read and write) and lends its bytes to
 * buffers without a copy (ncs_buffer_wrap_region). libncs never creates, resizes or unlinks an
 * object: the client owns it.
 *
 * Ownership. A region is reference-counted: the registry holds one reference from
 * ncs_region_register until ncs_region_unregister, and every buffer that borrows the region
 * holds one until the buffer is freed. Unregistering removes the name at once (a later wrap of
 * it is NCS_E_NOT_FOUND, and the name may be registered again); the mapping stays until the
 * last borrowing buffer is freed, and only then is it unmapped. So a kernel never reads an
 * unmapped region, and a region never outlives its last user.
 *
 * Accounting. Mapped bytes are not the budget's bytes: they count in NCS_STAT_MAPPED_BYTES and
 * NCS_STAT_REGIONS_MAPPED, never in NCS_STAT_LIVE_BYTES, and a borrowing buffer's bytes are not
 * live bytes (it does count in NCS_STAT_LIVE_BUFFERS, ALLOCATIONS and FREES like any buffer).
 * The snapshot (ncs_buffer_snapshot) shows each mapped region as an owner "region:<name>" whose
 * "count" is the number of buffers borrowing it and "bytes" its mapped bytes; the borrowing
 * buffers are not listed again under their own owners.
 *
 * Hostile clients. The client can write the region at any time, also while a kernel reads or
 * writes it: results are then unspecified, but libncs does not read or write outside the
 * mapping. A kernel reads a fixed-size input in place only when its descriptor has the flag
 * NCS_KERNEL_SHARED_INPUTS (ncs_plugin.h: it stays in bounds whatever the input's bytes become;
 * the built-in identity, describe, matmul, fft and conv2d have it); for any other kernel
 * (sort, histogram, sha256, plugins without the flag) ncs_call_set_input binds a private copy
 * of the bytes instead. A BYTES tensor is never framed in place: a BYTES input from a region is
 * always copied and its framing checked on the copy, which is what the kernel reads. Outputs
 * of a call with an input read in place start zeroed (ncs_call_set_input).
 * A client that shrinks the object (ftruncate) below the registered range makes any access to
 * the pages past its new end raise SIGBUS; every ncs_buffer_wrap_region therefore checks the
 * object's size again (fstat) and refuses a shrunk region. Residual risk: a shrink after that
 * check and before the kernel is done (a race the client must win within one request) raises
 * SIGBUS in the thread touching the page, which the host process does not survive (the JVM
 * treats a SIGBUS in native code as a crash). Run only clients trusted not to shrink their
 * objects; shared memory is a privilege the host grants (off unless configured).
 */

/** Longest region name, in bytes. */
#define NCS_REGION_NAME_MAX 127
/** Longest shared-memory key, in bytes, its leading '/' included. */
#define NCS_REGION_KEY_MAX 255

/**
 * Registers bytes [offset, offset + byte_size) of the POSIX shared-memory object `key` (as for
 * shm_open: "/" then 1 to 254 bytes without "/") under the region name `name` (1 to
 * NCS_REGION_NAME_MAX bytes without control characters). The object is opened read-write
 * without following symbolic links; it must be a regular object at least offset + byte_size
 * bytes long (fstat; the sum is overflow-checked) and byte_size at least 1. The range is mapped
 * once; the registry holds its reference (see above). The host checks which keys a client may
 * name (a prefix) before calling.
 * Returns NCS_E_INVALID_ARGUMENT for a bad name, key, range or size, for a name registered
 * already, or when the object cannot be mapped; NCS_E_NOT_FOUND when no object has that key;
 * NCS_E_OUT_OF_MEMORY when the limits of ncs_set_region_limits would be passed (mapped regions
 * include unregistered ones still borrowed). `error` receives an English message on failure,
 * "" on success (truncated to error_size; may be NULL when error_size is 0). A failure maps and
 * keeps nothing.
 */
NCS_API int ncs_region_register(const char *name, const char *key, uint64_t offset,
                                uint64_t byte_size, char *error, size_t error_size);

/**
 * Removes region `name` from the registry and drops the registry's reference: the name is free
 * at once, the mapping goes when the last borrowing buffer is freed. NULL unregisters every
 * region. NCS_E_NOT_FOUND when no region has that name (NULL always succeeds).
 */
NCS_API int ncs_region_unregister(const char *name);

/**
 * Writes the registered regions (all of them, or only `name` when it is not NULL) into
 * out[0..size) as a NUL-terminated JSON array, newest registration first:
 *   [{"name":"a","key":"/ncs-a","offset":0,"byte_size":4096,"buffers":1}]
 * ("buffers": how many buffers borrow it now). Unregistered regions still mapped are not listed
 * (they are in the snapshot). *needed (when needed is not NULL) receives the size the text needs,
 * terminating NUL included; when `size` is too small the call returns NCS_E_INVALID_ARGUMENT and
 * writes nothing to `out` (out may be NULL with size 0 to ask). NCS_E_NOT_FOUND when `name` is
 * given and no region has it; NCS_E_OUT_OF_MEMORY when the text cannot be allocated. Regions come
 * and go: ask again with room to spare.
 */
NCS_API int ncs_region_status(const char *name, char *out, size_t size, size_t *needed);

/**
 * Sets the most regions mapped at once and the most bytes they map (each 0 = no limit, the
 * default). Regions mapped already are kept; the limits apply to the next registrations.
 * Mapped bytes are whole pages from the page holding the region's first byte.
 */
NCS_API void ncs_set_region_limits(uint64_t max_regions, uint64_t max_mapped_bytes);

/**
 * Constructor. A buffer whose memory is bytes [offset, offset + size) of the registered region
 * `name` (offset relative to the region's start), borrowed, not copied. On success *out
 * receives a handle holding a new reference (refcount 1) that retain, release, ncs_buffer_data,
 * ncs_call_set_input and the stale-handle and double-release checks treat like any buffer's;
 * the buffer holds a reference to the region, dropped when the buffer is freed (its last
 * release). No bytes are charged to the budget, and the buffer is fully committed.
 * The range is checked against the region (overflow-checked) and the object's size is checked
 * again (fstat), so a region whose object shrank is refused.
 * Returns NCS_E_NOT_FOUND when no region has that name (also after it was unregistered),
 * NCS_E_INVALID_ARGUMENT for a range outside the region, a shrunk object or NULL arguments,
 * NCS_E_OUT_OF_MEMORY when the buffer table is full, NCS_E_INTERNAL when fstat fails. `error` as for ncs_region_register.
 */
NCS_API int ncs_buffer_wrap_region(const char *name, uint64_t offset, uint64_t size,
                                   ncs_handle *out, char *error, size_t error_size);

/* ---------------------------------------------------------------------------------------- */
/* Plugins: kernel libraries loaded from files                                               */
/* ---------------------------------------------------------------------------------------- */

/**
 * Loads the kernel library (plugin) at `path` and registers its kernels, which then appear in
 * ncs_kernel_count / ncs_kernel_name / ncs_kernel_metadata_json and are called like built-ins.
 * The library's name, reported as "library" in their metadata and by ncs_library_name, is the
 * file name without a leading "lib" and a trailing ".so" ("/opt/ncs/plugins/libfoo.so" is
 * "foo"); it must be 1 to 64 characters of [A-Za-z0-9_-].
 *
 * Checks, in order, each refusing with NCS_E_INVALID_ARGUMENT and a message in `error`:
 *  - the directory holding the file is not group- or world-writable;
 *  - the file itself (opened without following a symbolic link: a symlink is refused) is a
 *    regular file and not group- or world-writable. Both are checked with fstat on the opened
 *    descriptors; after dlopen the path must still name the file that was checked (same device
 *    and inode), so swapping it in between is refused too;
 *  - no library of that name is registered yet (the built-in one is "builtin");
 *  - dlopen(RTLD_NOW | RTLD_LOCAL) succeeds (dlerror's text in the message) and the library
 *    exports the entry point NCS_PLUGIN_ENTRY (ncs_plugin.h).
 * Then its entry point runs, once, and registration is all-or-nothing: if the entry point
 * returns an error (that status is returned), or refuses a kernel for a wrong ABI version
 * (NCS_E_UNSUPPORTED: the majors must be equal and the library's minor at most this host's),
 * a malformed descriptor or a name already taken (NCS_E_INVALID_ARGUMENT), even one it chose to
 * ignore, or registers no kernel at all (NCS_E_INVALID_ARGUMENT), none of its kernels is
 * registered and the library is closed again (dlclose). Note that dlopen runs the library's
 * constructors before these checks: the file checks above are what keeps foreign code out.
 *
 * `error` receives a NUL-terminated English message on failure (truncated to error_size) and
 * "" on success; it may be NULL when error_size is 0. A loaded library stays loaded until the
 * process exits; there is no unload. Thread-safe (loads and registrations are serialised), but
 * meant for start-up: a kernel becomes callable the moment this returns NCS_OK.
 */
NCS_API int ncs_plugin_load(const char *path, char *error, size_t error_size);

/* ---------------------------------------------------------------------------------------- */
/* Kernel libraries and their locks                                                          */
/*                                                                                           */
/* Every kernel belongs to a library: "builtin", a loaded plugin, or one registered in-process.*/
/* The kernels of a library registered without NCS_KERNEL_THREAD_SAFE share one lock per     */
/* library that the host holds around their prepare, each run part and finish (a kernel can   */
/* release it around pure computation: NCS_BEGIN_ALLOW_THREADS in ncs_plugin.h). Its          */
/* statistics are read below; thread-safe kernels never take it.                              */
/* ---------------------------------------------------------------------------------------- */

typedef enum ncs_lock_stat {
    NCS_LOCK_STAT_ACQUISITIONS =
        0,                     /* times the lock was taken (prepare, parts, finish, reacquire) */
    NCS_LOCK_STAT_WAIT_NS = 1, /* total nanoseconds spent waiting to take it */
    NCS_LOCK_STAT_HELD_NS = 2, /* total nanoseconds it was held (never more than wall time) */
    NCS_LOCK_STAT_COUNT = 3    /* number of values; grows when values are appended */
} ncs_lock_stat;

/** Number of registered libraries ("builtin" included). Libraries are never removed, so an
 *  index, once valid, names the same library for the life of the process. */
NCS_API int ncs_library_count(void);

/** Name of library `index` (0 <= index < ncs_library_count()), or NULL when out of range.
 *  The string lives until the process exits. */
NCS_API const char *ncs_library_name(int index);

/**
 * Copies min(n, NCS_LOCK_STAT_COUNT) lock statistics of library `index` into out[0..], indexed
 * by ncs_lock_stat, and returns the number copied: 0 when the index is out of range, out is
 * NULL or n < 1. All are totals since start-up (monotonic; the caller takes deltas). A library
 * whose kernels are all thread-safe reports zeros. Each value is read atomically; the set is
 * not one atomic snapshot.
 */
NCS_API int ncs_library_lock_stats(int index, uint64_t *out, int n);

#ifdef __cplusplus
}
#endif

#endif /* NCS_NCS_H */
