/*
 * ncs_plugin.h -- the kernel ABI of libncs.
 *
 * A kernel is described by an ncs_kernel_desc and registered through an ncs_registrar. The
 * built-in kernels of libncs use exactly this ABI. A kernel never links against libncs: every
 * host service it needs reaches it through the function table in its ncs_ctx, so a kernel
 * library built against this header works with any host of the same ABI major version. This
 * header therefore declares no host function: it includes ncs_types.h (status codes, dtypes,
 * handles), not ncs.h, and a kernel that calls a function of ncs.h (ncs_buffer_alloc,
 * ncs_dtype_name, ...) does not compile. What a kernel may use besides ctx->api is inline and
 * compiles into the kernel: ncs_dtype_text (ncs_types.h) and ncs_part_range (below).
 *
 * Versioning: NCS_PLUGIN_ABI_MAJOR changes only for breaking changes; NCS_PLUGIN_ABI_MINOR
 * grows when fields or functions are appended. A host accepts a kernel library when the majors
 * are equal and the host's minor is >= the library's minor.
 *   1.0  the first ABI.
 *   1.1  BYTES outputs: ncs_host_api.set_output_bytes appended; a tensor descriptor may list
 *        NCS_DTYPE_BYTES among an output's dtypes (only for kernels registered as 1.1 or later).
 *   1.2  The library lock: ncs_host_api.release_lock and reacquire_lock appended, with the
 *        macros NCS_BEGIN_ALLOW_THREADS / NCS_END_ALLOW_THREADS; NCS_PLUGIN_EXPORT and the
 *        entry point's prototype. A library using the macros must register as 1.2 or later
 *        (NCS_ADD_KERNEL does), so an older host refuses it instead of calling a missing slot.
 *   1.3  ncs_host_api.param_is_set appended: whether the request set a parameter, so a kernel can
 *        tell "not given" from any value a client may send (such as NaN).
 *   1.4  Kernel flag NCS_KERNEL_SHARED_INPUTS: the kernel may read inputs that a client of a
 *        shared-memory region can change while it runs (only for kernels registered as 1.4 or
 *        later); without it the host hands such inputs to the kernel as private copies.
 * Header changes that leave the ABI as it is (no version change; a kernel built against the
 * earlier header loads and runs unchanged):
 *   1.3  this header includes ncs_types.h instead of ncs.h, so the host API is no longer
 *        declared to kernels (it never was callable: kernels do not link libncs); the inline
 *        helpers ncs_dtype_text (ncs_types.h) and ncs_part_range appear.
 *
 * How a call runs (host side, see ncs.h):
 *   1. prepare(ctx, max_parts): check inputs and parameters, declare every output's dtype and
 *      shape (api->set_output; api->set_output_bytes for BYTES outputs), optionally ask for a
 *      workspace, and choose the number of parts (1 <= parts <= max_parts). Runs once,
 *      single-threaded. Returning an error with a message (api->fail) rejects the request;
 *      nothing runs. Then the host allocates the outputs and the workspace against the memory
 *      budget, all or nothing (see "The memory budget" below).
 *   2. run(ctx, part, nparts): compute one part. Parts run concurrently on different threads
 *      and must write disjoint memory (disjoint output ranges, or their own workspace slice).
 *      Poll api->cancelled often (about every 10 ms of work) and return NCS_E_CANCELLED when
 *      it is set (by the client, or by the host when a sibling part failed).
 *   3. finish(ctx): optional, single-threaded, after every part succeeded: merge the parts.
 *      Then (also when there is no finish) the host checks the framing of every BYTES output;
 *      a kernel that wrote malformed BYTES fails the call with NCS_E_INTERNAL and the client
 *      never sees the data.
 *
 * The memory budget: the host refuses a call at prepare when the budget cannot hold the native
 * memory it needs at once, ncs_call_bytes_needed (ncs.h): inputs, outputs and workspace. Whether
 * it answers "retry later" or "never fits" depends on that figure, so it must be the call's whole
 * peak. Put all scratch whose size prepare can compute in the workspace, each part in its own
 * slice (set_workspace), rather than allocating it in run: the budget then holds every part's
 * scratch before any part runs, whether the parts later overlap or run one after the other.
 * Memory taken with alloc is not in that figure: it counts against the budget only as it is
 * taken, so a call admitted at prepare can still fail in run or finish with NCS_E_OUT_OF_MEMORY
 * (and the host cannot tell whether a retry could ever succeed). Keep alloc for sizes only run or
 * finish can learn. The built-in kernels take nothing from the budget after prepare.
 *
 * BYTES tensors (variable-length elements) are serialized, inputs and outputs alike: for each
 * element, in row-major order, a 4-byte little-endian unsigned length followed by that many
 * bytes; no padding. The view's `count` is the number of elements (product of dims) and
 * `nbytes` the serialized size, exactly the sum of (4 + length) over the elements; an empty
 * tensor has 0 bytes. The host has checked an input's framing before prepare, so a kernel may
 * walk it without bounds surprises (lengths are unaligned: read them bytewise or with memcpy).
 *
 * Threading and the library lock: a kernel registered with NCS_KERNEL_THREAD_SAFE may run any
 * number of its steps at once (its own calls' parts, and other calls). A kernel registered
 * without it is protected by its library's lock, one mutex shared by all such kernels of the
 * library: the host holds it around prepare, each run part and finish, so at most one of those
 * steps of the library runs at a time and library-global state (statics, a non-reentrant
 * third-party library) is safe. Parts of such a kernel therefore run one after the other unless
 * the kernel releases the lock around pure computation, like CPython's Py_BEGIN_ALLOW_THREADS:
 *
 *     update_global_bookkeeping();          // lock held
 *     NCS_BEGIN_ALLOW_THREADS(ctx)
 *     compute(x, y, n);                     // lock released: other steps of the library run
 *     NCS_END_ALLOW_THREADS(ctx)
 *
 * While released, the step must not touch library-global state, and the host buffer API
 * (input, output, set_output, set_output_bytes, set_workspace, workspace, set_parts, alloc,
 * release) refuses to serve it: such a call returns NCS_E_INTERNAL with the message "host API
 * called while the library lock is released" (workspace returns NULL) instead of racing. Read
 * the views and pointers you need before NCS_BEGIN_ALLOW_THREADS. cancelled, progress, fail and
 * the param_* functions stay allowed. Do not return from inside the block (the host copes, but
 * the rest of the step then runs without the lock). Parts of a non-thread-safe kernel must
 * never wait for each other while holding the lock. For a thread-safe kernel the macros do
 * nothing. Lock wait and hold times are reported per library (ncs_library_lock_stats, ncs.h).
 *
 * Ownership: input views are borrowed for the duration of the call; their memory must not be
 * written. Output memory is written by the kernel and owned by the host. Buffers allocated with
 * ncs_ctx_alloc belong to the call: release them with ncs_ctx_release; any still live when the
 * call ends is a kernel-side leak, reclaimed and counted by the host.
 */
#ifndef NCS_NCS_PLUGIN_H
#define NCS_NCS_PLUGIN_H

#include "ncs_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NCS_PLUGIN_ABI_MAJOR 1
#define NCS_PLUGIN_ABI_MINOR 4

/** Marks the entry point exported when the library is built with -fvisibility=hidden. */
#if defined(__GNUC__)
#define NCS_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define NCS_PLUGIN_EXPORT
#endif

/* ---------------------------------------------------------------------------------------- */
/* Descriptors: static data owned by the kernel library, alive while it is loaded.           */
/* ---------------------------------------------------------------------------------------- */

/** A rank of NCS_RANK_ANY in a tensor descriptor accepts tensors of any rank (0..NCS_MAX_RANK). */
#define NCS_RANK_ANY (-1)
/** A dimension of NCS_DIM_ANY accepts any size >= 0. */
#define NCS_DIM_ANY (-1)

typedef struct ncs_tensor_desc {
    const char *name; /* tensor name, part of the kernel's contract */
    const char *doc;  /* one line for humans */
    uint32_t dtypes;  /* mask of NCS_DTYPE_BIT(dtype) accepted (inputs) / produced (outputs);
                                 BYTES outputs need ABI 1.1 (see set_output_bytes) */
    int32_t rank;     /* number of dims, or NCS_RANK_ANY */
    int64_t dims[NCS_MAX_RANK]; /* first `rank` entries: a size or NCS_DIM_ANY */
} ncs_tensor_desc;

typedef enum ncs_param_type {
    NCS_PARAM_BOOL = 1,
    NCS_PARAM_INT = 2,
    NCS_PARAM_DOUBLE = 3,
    NCS_PARAM_STRING = 4
} ncs_param_type;

typedef struct ncs_param_desc {
    const char *name;
    int32_t type;              /* ncs_param_type */
    const char *default_value; /* as text, parsed like a request value */
    const char *doc;
} ncs_param_desc;

/** Kernel flag: the kernel's steps may run on several threads at once. Without it the host
 *  serialises the kernel's steps with its library's lock (see the top of this file). */
#define NCS_KERNEL_THREAD_SAFE 1u

/** Kernel flag (ABI 1.4): the kernel stays inside its buffers whatever an input's bytes become
 *  while its steps run: it takes no address, size or count from an input's values without
 *  checking the value it loaded, and nothing it does depends on two reads of an input agreeing
 *  (the results may then be wrong, never out of bounds). The host then lets it read, in place,
 *  fixed-size inputs that live in a client's shared-memory region (ncs_buffer_wrap_region in
 *  ncs.h), which the client can write at any time. Without the flag such inputs are copied to
 *  private buffers first (charged to the budget). BYTES inputs from a region are always copied,
 *  flag or not. */
#define NCS_KERNEL_SHARED_INPUTS 2u

typedef struct ncs_ctx ncs_ctx;

typedef struct ncs_kernel_desc {
    uint32_t struct_size; /* sizeof(ncs_kernel_desc) as the kernel library saw it */
    const char *name;     /* unique; [a-z0-9_-], at most 64 characters */
    const char *doc;
    uint32_t flags; /* NCS_KERNEL_* */
    int32_t n_inputs;
    const ncs_tensor_desc *inputs;
    int32_t n_outputs;
    const ncs_tensor_desc *outputs;
    int32_t n_params;
    const ncs_param_desc *params;
    int (*prepare)(ncs_ctx *ctx, int max_parts);
    int (*run)(ncs_ctx *ctx, int part, int nparts);
    int (*finish)(ncs_ctx *ctx); /* may be NULL */
} ncs_kernel_desc;

/* ---------------------------------------------------------------------------------------- */
/* The per-call context: host services for a kernel                                          */
/* ---------------------------------------------------------------------------------------- */

/** A borrowed view of a tensor. `data` is NULL only when the tensor has no bytes. */
typedef struct ncs_tensor_view {
    int32_t dtype;
    int32_t rank;
    int64_t dims[NCS_MAX_RANK];
    int64_t count;   /* product of dims (1 for rank 0); for BYTES, the element count */
    uint64_t nbytes; /* count * dtype size; for BYTES, the serialized size */
    void *data;
} ncs_tensor_view;

typedef struct ncs_host_api {
    uint32_t struct_size; /* sizeof(ncs_host_api) as the host saw it: check before using
                                 a function appended in a later minor version */
    /* Inputs: fills *view with input `index`. */
    int (*input)(ncs_ctx *ctx, int index, ncs_tensor_view *view);
    /* prepare only: declares output `index`'s dtype and shape; the host allocates count * dtype
       size bytes after prepare. NCS_DTYPE_BYTES is refused (NCS_E_INVALID_ARGUMENT): its size
       does not follow from the shape, declare it with set_output_bytes. */
    int (*set_output)(ncs_ctx *ctx, int index, int dtype, int rank, const int64_t *dims);
    /* run / finish only: fills *view with output `index` (memory is writable). */
    int (*output)(ncs_ctx *ctx, int index, ncs_tensor_view *view);
    /* prepare only: asks for `bytes` of workspace (the last call counts), 64-byte aligned, shared
       by all parts and owned by the host. It is allocated after prepare, with the outputs, and
       counted in ncs_call_bytes_needed; when the budget cannot hold it, the call fails with
       NCS_E_OUT_OF_MEMORY before any part runs. Scratch that every part needs goes here: ask for
       nparts slices of a multiple of 64 bytes each (so each stays aligned) and let part p use
       the p-th slice (no two parts may write the same slice). Large workspaces come from the
       same allocator as every buffer, so they reuse freed memory through the buffer cache. */
    int (*set_workspace)(ncs_ctx *ctx, uint64_t bytes);
    /* run / finish only: the workspace's address (NULL when none was asked for). */
    void *(*workspace)(ncs_ctx *ctx);
    /* prepare only: sets the number of parts (default 1). */
    int (*set_parts)(ncs_ctx *ctx, int nparts);
    /* Parameters (declared in the descriptor; unset ones give the declared default). */
    int (*param_bool)(ncs_ctx *ctx, const char *name, int *out);
    int (*param_int)(ncs_ctx *ctx, const char *name, int64_t *out);
    int (*param_double)(ncs_ctx *ctx, const char *name, double *out);
    /* The string is owned by the host and valid for the call's duration. */
    int (*param_string)(ncs_ctx *ctx, const char *name, const char **out);
    /* Non-zero once the call was cancelled. Cheap: poll it often. */
    int (*cancelled)(ncs_ctx *ctx);
    /* Adds `units` to the call's progress counter (atomic). */
    void (*progress)(ncs_ctx *ctx, uint64_t units);
    /* Records a message for the client (printf format) and returns `status`, so a kernel can
       write `return ctx->api->fail(ctx, NCS_E_INVALID_ARGUMENT, "...", ...);`. The message
       belongs to the current prepare / part / finish (on the calling thread): the last one is
       reported when that step returns a failure, and dropped when it succeeds (so are the
       messages of host services that refused a request). Each part has its own, so parts do
       not overwrite each other's messages; the call reports its first failure. */
    int (*fail)(ncs_ctx *ctx, int status, const char *fmt, ...);
    /* Scratch memory tracked per call (owner "kernel:<name>"), counted against the memory budget
       when it is allocated: NCS_E_OUT_OF_MEMORY when the budget cannot hold it now. It is not in
       ncs_call_bytes_needed (prepare's figure): for scratch prepare can size, use the workspace
       (see "The memory budget" at the top of this file). */
    int (*alloc)(ncs_ctx *ctx, uint64_t bytes, ncs_handle *out, void **data);
    int (*release)(ncs_ctx *ctx, ncs_handle h);

    /* ---- ABI 1.1 ---- */
    /* prepare only: declares output `index` as a BYTES tensor of shape dims[0..rank-1] whose
       serialized size (format above) is exactly `nbytes`. The descriptor must list
       NCS_DTYPE_BYTES for that output, and nbytes must be at least 4 * element count (every
       element has its length prefix), else NCS_E_INVALID_ARGUMENT; outside prepare,
       NCS_E_INTERNAL. The host allocates exactly nbytes (owned by the host, counted against the
       memory budget like every output); the kernel fills all of it during run/finish with
       exactly element-count well-framed elements. After finish the host checks the framing:
       a mismatch fails the call with NCS_E_INTERNAL and the buffer is freed, never handed out.
       A kernel that must know its output size before computing it can compute into scratch
       memory (alloc) in prepare and copy in run. */
    int (*set_output_bytes)(ncs_ctx *ctx, int index, int rank, const int64_t *dims,
                            uint64_t nbytes);

    /* ---- ABI 1.2 ---- */
    /* Releases the library lock held around the current step (prepare, a part, finish) on the
       calling thread; use NCS_BEGIN_ALLOW_THREADS rather than calling it directly. Until
       reacquire_lock, the host buffer API refuses this step (see the top of this file).
       NCS_OK and nothing else for a thread-safe kernel. NCS_E_INTERNAL when called from a
       thread that is not running a step of this call, or when the lock is already released. */
    int (*release_lock)(ncs_ctx *ctx);
    /* Takes the library lock back (waiting for it; the wait is counted in the library's lock
       statistics). NCS_OK and nothing else for a thread-safe kernel; NCS_E_INTERNAL when the
       step had not released it. */
    int (*reacquire_lock)(ncs_ctx *ctx);

    /* ---- ABI 1.3 ---- */
    /* Sets *out to 1 when the request set parameter `name` (whatever its value, the default's text
       included), 0 when the declared default applies. NCS_E_INVALID_ARGUMENT when the kernel does
       not declare `name`, or a NULL argument. Any step. */
    int (*param_is_set)(ncs_ctx *ctx, const char *name, int *out);
} ncs_host_api;

/**
 * Releases the library lock until the matching NCS_END_ALLOW_THREADS: a block, so the two must
 * pair up in the same scope (like CPython's Py_BEGIN_ALLOW_THREADS / Py_END_ALLOW_THREADS).
 * No-ops for thread-safe kernels. `ctx` is evaluated once by each macro.
 */
#define NCS_BEGIN_ALLOW_THREADS(ctx)               \
    {                                              \
        ncs_ctx *const ncs_allow_threads_ = (ctx); \
        (void)ncs_allow_threads_->api->release_lock(ncs_allow_threads_);
/** Takes the library lock back; closes the block opened by NCS_BEGIN_ALLOW_THREADS. */
#define NCS_END_ALLOW_THREADS(ctx)                                     \
    (void)(ctx);                                                       \
    (void)ncs_allow_threads_->api->reacquire_lock(ncs_allow_threads_); \
    }

/**
 * The range of `n` items that part `part` of `nparts` (0 <= part < nparts) works on: [*begin,
 * *end), contiguous, in part order, sizes differing by at most one (the first n % nparts parts
 * get one more). The parts' ranges cover [0, n) exactly once. Inline: no host call.
 */
static inline void ncs_part_range(int64_t n, int part, int nparts, int64_t *begin, int64_t *end)
{
    int64_t base = n / nparts, extra = n % nparts;
    *begin = base * part + (part < extra ? part : extra);
    *end = *begin + base + (part < extra ? 1 : 0);
}

/** The context. Kernels read `api` and never touch anything else (the host's private state
 *  follows it in memory). */
struct ncs_ctx {
    const ncs_host_api *api;
};

/* ---------------------------------------------------------------------------------------- */
/* Registration                                                                              */
/* ---------------------------------------------------------------------------------------- */

typedef struct ncs_registrar ncs_registrar;
struct ncs_registrar {
    /* Registers a kernel built against ABI abi_major.abi_minor (pass NCS_PLUGIN_ABI_MAJOR and
       NCS_PLUGIN_ABI_MINOR, or use NCS_ADD_KERNEL). The descriptor is borrowed for as long as the
       library is loaded. NCS_E_UNSUPPORTED when the ABI does not match the host's (majors differ,
       or the library's minor is newer); NCS_E_INVALID_ARGUMENT for a malformed descriptor or a
       name already taken (a BYTES output in a kernel registered as ABI 1.0 is malformed: that
       ABI has no set_output_bytes). */
    int (*add_kernel)(ncs_registrar *registrar, int abi_major, int abi_minor,
                      const ncs_kernel_desc *kernel);
    const char *library; /* name of the library being registered (for metadata and logs) */
};

/** Registers `kernel` (a const ncs_kernel_desc *) with this header's ABI version. */
#define NCS_ADD_KERNEL(registrar, kernel) \
    ((registrar)->add_kernel((registrar), NCS_PLUGIN_ABI_MAJOR, NCS_PLUGIN_ABI_MINOR, (kernel)))

/** Name of the entry point a kernel library exports. */
#define NCS_PLUGIN_ENTRY "ncs_plugin_register"

/** Signature of the entry point: registers the library's kernels, returns NCS_OK or the first
 *  failing status (the host then unloads the library and none of its kernels stay registered).
 *  Registration is all-or-nothing: a kernel the registrar refused fails the whole library even
 *  when the entry point ignores that status and returns NCS_OK. */
typedef int (*ncs_plugin_register_fn)(ncs_registrar *registrar);

/** The entry point, as a kernel library defines it:
 *      NCS_PLUGIN_EXPORT int ncs_plugin_register(ncs_registrar *registrar)
 *      { return NCS_ADD_KERNEL(registrar, &my_kernel); }
 *  Declared here so the compiler checks the definition; the host never defines it. */
NCS_PLUGIN_EXPORT int ncs_plugin_register(ncs_registrar *registrar);

#ifdef __cplusplus
}
#endif

#endif /* NCS_NCS_PLUGIN_H */
