/*
 * call.h -- what the three files behind a kernel call share (internal to libncs):
 *   call.c        the public call API of ncs.h (ncs_call_*), for the host;
 *   host_api.c    the ncs_host_api table a kernel reaches through its ncs_ctx;
 *   call_fault.c  error recording: who is at fault, which message the call reports, and the
 *                 step scope (messages and library lock) around each kernel callback;
 *   tensor.c      checks of tensors against their descriptors and of BYTES framing.
 * An ncs_call embeds its ncs_ctx as first member, so a kernel's ctx is the call itself.
 */
#ifndef NCS_CALL_H
#define NCS_CALL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define CALL_MAGIC 0x6e637363u /* "ncsc" */
#define ERROR_CAPACITY 512

enum call_state {
    CALL_CREATED,   /* inputs and parameters may be set */
    CALL_PREPARING, /* inside the kernel's prepare */
    CALL_PREPARED,  /* outputs allocated; parts may run */
    CALL_FINISHING, /* inside the kernel's finish */
    CALL_FINISHED,  /* outputs may be taken */
    CALL_FAILED     /* prepare or finish failed: only destroy remains */
};

enum part_state { PART_PENDING, PART_RUNNING, PART_DONE, PART_FAILED };

/* The messages of one kernel callback (a step: prepare, a part, finish) on one thread, and the
   library lock around it (see call_fault.c). */
typedef struct kernel_scope {
    struct ncs_call *call;
    struct kernel_scope *outer; /* the scope this thread was in before (normally none) */
    ncs_library *library;       /* the lock held around this step; NULL for thread-safe kernels */
    int released;               /* the step released the lock (NCS_BEGIN_ALLOW_THREADS) */
    uint64_t acquired_at;       /* when the lock was (re)taken, for the held time */
    int has_message;
    char message[ERROR_CAPACITY];
} kernel_scope;

typedef struct call_input {
    int set;
    ncs_handle buffer;     /* reference owned by the call */
    uint64_t buffer_bytes; /* what the buffer holds of the budget: its size (0 when borrowed) */
    ncs_tensor_view view;
} call_input;

typedef struct call_output {
    int declared;
    int taken;
    ncs_handle buffer; /* reference owned by the call until taken; 0 before prepare */
    ncs_tensor_view view;
} call_output;

struct ncs_call {
    ncs_ctx ctx; /* first member: ctx -> call is a cast */
    uint32_t magic;
    const ncs_kernel_entry *kernel;
    ncs_library
        *library_lock; /* the library whose lock guards the kernel's steps; NULL: thread-safe */
    ncs_owner scratch_owner; /* "kernel:<name>", for api->alloc (prepared once per call) */
    int state;               /* enum call_state; changes only in single-threaded entry points */
    int max_parts;
    int nparts;
    int borrowed_input; /* an input borrows a shared-memory region: outputs start zeroed */
    call_input inputs[NCS_MAX_TENSORS];
    call_output outputs[NCS_MAX_TENSORS];
    char *params[NCS_MAX_PARAMS]; /* NULL: the declared default */
    uint64_t workspace_bytes;
    uint64_t bytes_needed; /* inputs, outputs and workspace at once; 0 until prepare sized them */
    ncs_handle workspace;
    void *workspace_data;
    _Atomic unsigned char *parts; /* enum part_state per part */
    atomic_int cancelled;
    atomic_int active; /* ncs_call_run_part calls under way: destroy must not free the call */
    _Atomic uint64_t progress;
    pthread_mutex_t lock; /* guards allocs and the messages below, which parts touch concurrently */
    ncs_handle *allocs;   /* kernel scratch buffers not yet released */
    size_t alloc_count;
    size_t alloc_capacity;
    int failure;   /* status of the recorded failure; NCS_OK when none */
    int has_stray; /* a kernel-side message from a thread outside any scope */
    char stray[ERROR_CAPACITY];
    char failure_text[2][ERROR_CAPACITY]; /* each written at most once between clears */
    _Atomic(const char *) error;          /* what ncs_call_error returns: "" or failure_text */
};

/* ---- call_fault.c ---------------------------------------------------------------------- */

/** Who a failure is blamed on, which decides how it is recorded. */
typedef enum ncs_fault {
    /** The host's request (ncs_call_* arguments, an input tensor): recorded at once as the
     *  call's failure. */
    NCS_FAULT_CALLER = 0,
    /** The kernel (its prepare, run or finish, or its use of a host service such as an output
     *  it declared): a tentative message of the running step, reported only if the step fails. */
    NCS_FAULT_KERNEL = 1
} ncs_fault;

/** Records a failure blamed on `side` (printf format) and returns `status`. */
__attribute__((format(printf, 4, 5))) int ncs_fault_record(ncs_call *c, ncs_fault side, int status,
                                                           const char *fmt, ...);
/** ncs_fault_record(c, NCS_FAULT_KERNEL, ...) with a va_list (api->fail). */
__attribute__((format(printf, 2, 0))) void ncs_fault_note_v(ncs_call *c, const char *fmt,
                                                            va_list ap);
/** Single-threaded entry points start with a clean slate: forgets the recorded failure. */
void ncs_fault_clear(ncs_call *c);

/** Before a kernel callback: its messages go to `scope` from now on, and the library lock of a
 *  kernel that is not thread-safe is held. */
void ncs_scope_enter(kernel_scope *scope, ncs_call *c);
/** After a kernel callback returned `status` in `phase` ("prepare", "run", "finish"): a failure
 *  is recorded with the callback's last message; the messages of a success are dropped. */
void ncs_scope_leave(kernel_scope *scope, const char *phase, int status);
/** The scope of the step of `c` running on this thread, or NULL. */
kernel_scope *ncs_scope_of(const ncs_call *c);
/** A kernel's status, with values outside the enum treated as a kernel bug. */
int ncs_kernel_status(int status);

/* ---- tensor.c --------------------------------------------------------------------------- */

/** Which tensor a check is about: an input (the caller's, NCS_FAULT_CALLER) or an output a
 *  kernel declares (NCS_FAULT_KERNEL). */
typedef enum ncs_tensor_role { NCS_TENSOR_INPUT = 0, NCS_TENSOR_OUTPUT = 1 } ncs_tensor_role;

/** Checks a tensor's dtype, rank and dims against its descriptor and fills view->dtype, rank,
 *  dims, count and (except for BYTES) nbytes; a failure is blamed as `role` says. */
int ncs_tensor_check(ncs_call *c, ncs_tensor_role role, const ncs_tensor_desc *d, int dtype,
                     int rank, const int64_t *dims, ncs_tensor_view *view);
/** Checks that data[0..size) holds exactly `count` BYTES elements and nothing else. Returns 1
 *  when it does; otherwise 0 with a sentence naming where the framing breaks in why. */
int ncs_bytes_framing_valid(const unsigned char *data, uint64_t size, int64_t count, char *why,
                            size_t capacity);
/** "[2,3]"-style text of a shape, in text[0..capacity). Returns text. */
const char *ncs_shape_text(int rank, const int64_t *dims, char *text, size_t capacity);

/* ---- host_api.c ------------------------------------------------------------------------- */

/** The host services every call's ctx points to. */
extern const ncs_host_api ncs_call_host_api;

#endif /* NCS_CALL_H */
