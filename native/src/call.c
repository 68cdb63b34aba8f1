/*
 * call.c -- kernel calls (ncs_call_*) and the host services a kernel reaches through its
 * context (ncs_host_api).
 *
 * An ncs_call embeds its ncs_ctx as first member, so a kernel's ctx is the call itself. Every
 * host service checks its context and its phase: a kernel that calls set_output during run, or
 * passes NULL, gets an error status instead of crashing the process.
 *
 * Error messages. ncs_call_error shows the call's first failure since the last single-threaded
 * entry point (which clears it). A failure is recorded once its status is final: directly by the
 * host's entry points, and for a kernel callback (prepare, a part's run, finish) when it returns
 * a failure. While a callback runs, the messages it (or a host service on its behalf) records are
 * only tentative, kept in a kernel_scope on the calling thread's stack: the last one is recorded
 * if the callback fails and dropped if it succeeds, so parts cannot overwrite each other's
 * messages. The first failure wins, except that a real failure replaces an NCS_E_CANCELLED one
 * (a sibling that stopped because of it is not the cause). The recorded text lives in one of two
 * buffers, each written at most once between clears, and is published through an atomic pointer,
 * so ncs_call_error can be read by a part's thread while other parts still run. A part that fails
 * for real sets the cancellation flag (after recording) so its siblings stop early.
 *
 * The library lock. A kernel registered without NCS_KERNEL_THREAD_SAFE runs each step (prepare,
 * a part, finish) holding its library's lock, taken when the step's kernel_scope is entered and
 * given back when it is left. The scope also records whether the step has released the lock
 * (release_lock / reacquire_lock, the NCS_*_ALLOW_THREADS macros): while it has, the host
 * buffer services refuse that step, and a step that returns with the lock released is simply
 * not unlocked again.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "library.h"

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

/* The messages of one kernel callback on one thread (see the top of the file). */
typedef struct kernel_scope {
    struct ncs_call *call;
    struct kernel_scope *outer; /* the scope this thread was in before (normally none) */
    ncs_library *library;       /* the lock held around this step; NULL for thread-safe kernels */
    int released;               /* the step released the lock (NCS_BEGIN_ALLOW_THREADS) */
    uint64_t acquired_at;       /* when the lock was (re)taken, for the held time */
    int has_message;
    char message[ERROR_CAPACITY];
} kernel_scope;

static _Thread_local kernel_scope *current_scope;

typedef struct call_input {
    int set;
    ncs_handle buffer;     /* reference owned by the call */
    uint64_t buffer_bytes; /* the whole buffer's size: what it holds of the budget */
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
    ncs_library *library_lock; /* the library whose lock guards the kernel's steps; NULL: thread-safe */
    ncs_owner scratch_owner;   /* "kernel:<name>", for api->alloc (prepared once per call) */
    int state; /* enum call_state; changes only in single-threaded entry points */
    int max_parts;
    int nparts;
    call_input inputs[NCS_MAX_TENSORS];
    call_output outputs[NCS_MAX_TENSORS];
    char *params[NCS_MAX_PARAMS]; /* NULL: the declared default */
    uint64_t workspace_bytes;
    uint64_t bytes_needed; /* inputs, outputs and workspace at once; 0 until prepare sized them */
    ncs_handle workspace;
    void *workspace_data;
    _Atomic unsigned char *parts; /* enum part_state per part */
    atomic_int cancelled;
    atomic_int active;    /* ncs_call_run_part calls under way: destroy must not free the call */
    _Atomic uint64_t progress;
    pthread_mutex_t lock; /* guards allocs and the messages below, which parts touch concurrently */
    ncs_handle *allocs;   /* kernel scratch buffers not yet released */
    size_t alloc_count;
    size_t alloc_capacity;
    int failure;          /* status of the recorded failure; NCS_OK when none */
    int has_stray;        /* a kernel-side message from a thread outside any scope */
    char stray[ERROR_CAPACITY];
    char failure_text[2][ERROR_CAPACITY]; /* each written at most once between clears */
    _Atomic(const char *) error;          /* what ncs_call_error returns: "" or failure_text */
};

static const ncs_host_api host_api;

/* ---- messages -------------------------------------------------------------------------- */

/* Records a failure of the call unless an earlier one is kept: the first failure wins, but a
   real failure replaces a cancellation. */
static void record_failure(ncs_call *c, int status, const char *text)
{
    if (status == NCS_OK)
        status = NCS_E_INTERNAL; /* only failures are recorded */
    pthread_mutex_lock(&c->lock);
    char *slot = NULL;
    if (c->failure == NCS_OK)
        slot = c->failure_text[0];
    else if (c->failure == NCS_E_CANCELLED && status != NCS_E_CANCELLED)
        slot = c->failure_text[1];
    if (slot != NULL) {
        snprintf(slot, ERROR_CAPACITY, "%s", text);
        c->failure = status;
        atomic_store_explicit(&c->error, slot, memory_order_release);
    }
    pthread_mutex_unlock(&c->lock);
}

/* Host entry points: records a failure of the call and returns `status`. */
__attribute__((format(printf, 3, 4))) static int fail(ncs_call *c, int status, const char *fmt, ...)
{
    char text[ERROR_CAPACITY];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    record_failure(c, status, text);
    return status;
}

/* Kernel side (api->fail and host services): a tentative message for the running callback. */
__attribute__((format(printf, 2, 0))) static void note_v(ncs_call *c, const char *fmt, va_list ap)
{
    for (kernel_scope *scope = current_scope; scope != NULL; scope = scope->outer) {
        if (scope->call == c) {
            vsnprintf(scope->message, sizeof scope->message, fmt, ap);
            scope->has_message = 1;
            return;
        }
    }
    /* A thread of the kernel's own, or a callback that has already returned. */
    pthread_mutex_lock(&c->lock);
    vsnprintf(c->stray, sizeof c->stray, fmt, ap);
    c->has_stray = 1;
    pthread_mutex_unlock(&c->lock);
}

/* Kernel side: notes a tentative message and returns `status`. */
__attribute__((format(printf, 3, 4))) static int kfail(ncs_call *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note_v(c, fmt, ap);
    va_end(ap);
    return status;
}

/* kfail when `kernel_side`, else fail. */
__attribute__((format(printf, 4, 5))) static int note(ncs_call *c, int kernel_side, int status,
                                                      const char *fmt, ...)
{
    char text[ERROR_CAPACITY];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return kernel_side ? kfail(c, status, "%s", text) : fail(c, status, "%s", text);
}

/* Single-threaded entry points start with a clean slate. */
static void clear_error(ncs_call *c)
{
    pthread_mutex_lock(&c->lock);
    c->failure = NCS_OK;
    c->has_stray = 0;
    atomic_store_explicit(&c->error, "", memory_order_release);
    pthread_mutex_unlock(&c->lock);
}

/* Before a kernel callback: its messages go to `scope` from now on, and the library lock of a
   kernel that is not thread-safe is held. */
static void enter_scope(kernel_scope *scope, ncs_call *c)
{
    scope->call = c;
    scope->outer = current_scope;
    scope->library = c->library_lock;
    scope->released = 0;
    scope->acquired_at = 0;
    scope->has_message = 0;
    scope->message[0] = '\0';
    current_scope = scope;
    if (scope->library != NULL)
        scope->acquired_at = ncs_library_lock(scope->library);
}

/* The scope of the step of `c` running on this thread, or NULL (a thread of the kernel's own,
   or no step running). */
static kernel_scope *scope_of(const ncs_call *c)
{
    for (kernel_scope *scope = current_scope; scope != NULL; scope = scope->outer) {
        if (scope->call == c)
            return scope;
    }
    return NULL;
}

/* After a kernel callback returned `status`: a failure is recorded with the callback's last
   message (or a stray one, or a generic one); the messages of a success are dropped. */
static void leave_scope(kernel_scope *scope, const char *phase, int status)
{
    ncs_call *c = scope->call;
    current_scope = scope->outer;
    if (scope->library != NULL && !scope->released)
        ncs_library_unlock(scope->library, scope->acquired_at);
    if (status == NCS_OK)
        return;
    if (!scope->has_message) {
        pthread_mutex_lock(&c->lock);
        if (c->has_stray) {
            memcpy(scope->message, c->stray, sizeof scope->message);
            scope->has_message = 1;
            c->has_stray = 0;
        }
        pthread_mutex_unlock(&c->lock);
    }
    if (!scope->has_message)
        snprintf(scope->message, sizeof scope->message, "kernel '%s' failed in %s: %s",
                 c->kernel->desc.name, phase, ncs_status_str(status));
    record_failure(c, status, scope->message);
}

/* A kernel's status, with values outside the enum treated as a kernel bug. */
static int kernel_status(int status)
{
    return (status >= NCS_OK && status <= NCS_E_INTERNAL) ? status : NCS_E_INTERNAL;
}

/* "FP64, FP32"-style list of the dtypes in a mask. */
static const char *dtype_list(uint32_t mask, char *text, size_t capacity)
{
    size_t used = 0;
    text[0] = '\0';
    for (int d = NCS_DTYPE_INVALID + 1; ncs_dtype_valid(d) && used < capacity; d++) {
        if (mask & NCS_DTYPE_BIT(d))
            used += (size_t)snprintf(text + used, capacity - used, "%s%s", used ? ", " : "",
                                     ncs_dtype_name(d));
    }
    return text;
}

/* "[2,3]"-style text of a shape. */
static const char *shape_text(int rank, const int64_t *dims, char *text, size_t capacity)
{
    size_t used = (size_t)snprintf(text, capacity, "[");
    for (int r = 0; r < rank && used < capacity; r++)
        used += (size_t)snprintf(text + used, capacity - used, "%s%lld", r ? "," : "",
                                 (long long)dims[r]);
    if (used < capacity)
        snprintf(text + used, capacity - used, "]");
    return text;
}

/* ---- shapes ---------------------------------------------------------------------------- */

/*
 * Checks a tensor's dtype, rank and dims against its descriptor and fills view->dtype, rank,
 * dims, count and (except for BYTES) nbytes. `what` is "input" or "output".
 */
static int check_tensor(ncs_call *c, const char *what, const ncs_tensor_desc *d, int dtype,
                        int rank, const int64_t *dims, ncs_tensor_view *view)
{
    /* Inputs are checked by ncs_call_set_input, outputs for the kernel (host services). */
    int kernel_side = strcmp(what, "output") == 0;
    const char *kernel = c->kernel->desc.name;
    char list[160];
    if (!ncs_dtype_valid(dtype))
        return note(c, kernel_side, NCS_E_INVALID_ARGUMENT, "%s '%s': %d is not a datatype", what, d->name,
                    dtype);
    if (!(d->dtypes & NCS_DTYPE_BIT(dtype)))
        return note(c, kernel_side, NCS_E_INVALID_ARGUMENT, "%s '%s' is %s but kernel '%s' accepts %s", what,
                    d->name, ncs_dtype_name(dtype), kernel, dtype_list(d->dtypes, list, sizeof list));
    if (rank < 0 || rank > NCS_MAX_RANK)
        return note(c, kernel_side, NCS_E_INVALID_ARGUMENT, "%s '%s' has rank %d: ranks go from 0 to %d", what,
                    d->name, rank, NCS_MAX_RANK);
    if (d->rank != NCS_RANK_ANY && rank != d->rank)
        return note(c, kernel_side, NCS_E_INVALID_ARGUMENT, "%s '%s' has rank %d but kernel '%s' needs rank %d",
                    what, d->name, rank, kernel, d->rank);
    if (rank > 0 && dims == NULL)
        return note(c, kernel_side, NCS_E_INVALID_ARGUMENT, "%s '%s': the shape is NULL", what, d->name);
    int64_t count = 1;
    for (int r = 0; r < rank; r++) {
        if (dims[r] < 0)
            return note(c, kernel_side, NCS_E_INVALID_ARGUMENT,
                        "%s '%s' has dimension %lld at axis %d: dimensions cannot be negative",
                        what, d->name, (long long)dims[r], r);
        if (d->rank != NCS_RANK_ANY && d->dims[r] != NCS_DIM_ANY && dims[r] != d->dims[r])
            return note(c, kernel_side, NCS_E_INVALID_ARGUMENT,
                        "%s '%s' has dimension %lld at axis %d but kernel '%s' needs %lld", what,
                        d->name, (long long)dims[r], r, kernel, (long long)d->dims[r]);
    }
    for (int r = 0; r < rank; r++) {
        if (__builtin_mul_overflow(count, dims[r], &count))
            return note(c, kernel_side, NCS_E_INVALID_ARGUMENT,
                        "%s '%s' with shape %s has more elements than fit in 64 bits", what,
                        d->name, shape_text(rank, dims, list, sizeof list));
    }
    uint64_t nbytes = 0;
    if (dtype != NCS_DTYPE_BYTES &&
        __builtin_mul_overflow((uint64_t)count, (uint64_t)ncs_dtype_size(dtype), &nbytes))
        return note(c, kernel_side, NCS_E_INVALID_ARGUMENT, "%s '%s' with shape %s has more bytes than fit in 64 bits",
                    what, d->name, shape_text(rank, dims, list, sizeof list));
    memset(view, 0, sizeof *view);
    view->dtype = dtype;
    view->rank = rank;
    for (int r = 0; r < rank; r++)
        view->dims[r] = dims[r];
    view->count = count;
    view->nbytes = nbytes;
    return NCS_OK;
}

/* ---- BYTES framing ---------------------------------------------------------------------- */

/*
 * Checks that data[0..size) holds exactly `count` BYTES elements (4-byte little-endian length,
 * then that many bytes) and nothing else. Returns 1 when it does; otherwise 0 with a sentence
 * naming the element where the framing breaks in why[0..capacity).
 */
static int bytes_framing_valid(const unsigned char *data, uint64_t size, int64_t count, char *why,
                               size_t capacity)
{
    uint64_t at = 0;
    for (int64_t i = 0; i < count; i++) {
        uint64_t left = size - at;
        if (left == 0) {
            snprintf(why, capacity,
                     "BYTES element %lld is missing: the %llu bytes hold %lld of the %lld elements "
                     "the shape needs",
                     (long long)i, (unsigned long long)size, (long long)i, (long long)count);
            return 0;
        }
        if (left < 4) {
            snprintf(why, capacity,
                     "BYTES element %lld's 4-byte length is cut off: only %llu bytes remain",
                     (long long)i, (unsigned long long)left);
            return 0;
        }
        const unsigned char *p = data + at;
        uint64_t length = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
                          (uint64_t)p[3] << 24;
        if (length > left - 4) {
            snprintf(why, capacity, "BYTES element %lld declares %llu bytes but only %llu remain",
                     (long long)i, (unsigned long long)length, (unsigned long long)(left - 4));
            return 0;
        }
        at += 4 + length;
    }
    if (at != size) {
        if (count == 0)
            snprintf(why, capacity, "a BYTES tensor with no elements has 0 bytes, not %llu",
                     (unsigned long long)size);
        else
            snprintf(why, capacity,
                     "BYTES element %lld, the last, ends at byte %llu but %llu more bytes follow",
                     (long long)(count - 1), (unsigned long long)at,
                     (unsigned long long)(size - at));
        return 0;
    }
    return 1;
}

/* ---- the host API for kernels ---------------------------------------------------------- */

/* Prepares the owner of the call's buffers: "kernel:<name><suffix>", cut to NCS_OWNER_MAX. */
static const ncs_owner *owner_of(const ncs_call *c, const char *suffix, ncs_owner *owner)
{
    char text[NCS_MAX_NAME + 32];
    snprintf(text, sizeof text, "kernel:%s%s", c->kernel->desc.name, suffix);
    ncs_owner_prepare(owner, text);
    return owner;
}

static ncs_call *call_of(ncs_ctx *ctx)
{
    if (ctx == NULL || ctx->api != &host_api)
        return NULL;
    ncs_call *c = (ncs_call *)ctx;
    return c->magic == CALL_MAGIC ? c : NULL;
}

static int in_kernel(const ncs_call *c)
{
    return c->state == CALL_PREPARING || c->state == CALL_PREPARED || c->state == CALL_FINISHING;
}

static int running(const ncs_call *c)
{
    return c->state == CALL_PREPARED || c->state == CALL_FINISHING;
}

static int misuse(ncs_call *c, const char *service, const char *allowed)
{
    return kfail(c, NCS_E_INTERNAL, "kernel '%s' called %s outside %s", c->kernel->desc.name,
                service, allowed);
}

/* 1 when the step of `c` on this thread has released the library lock: the host buffer
   services then refuse it (unlocked() says so) instead of racing. */
static int lock_released(const ncs_call *c)
{
    if (c->library_lock == NULL)
        return 0;
    const kernel_scope *scope = scope_of(c);
    return scope != NULL && scope->released;
}

static int unlocked(ncs_call *c, const char *service)
{
    return kfail(c, NCS_E_INTERNAL,
                 "kernel '%s' called %s: host API called while the library lock is released "
                 "(call it before NCS_BEGIN_ALLOW_THREADS or after NCS_END_ALLOW_THREADS)",
                 c->kernel->desc.name, service);
}

static int api_input(ncs_ctx *ctx, int index, ncs_tensor_view *view)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || view == NULL || index < 0 || index >= c->kernel->desc.n_inputs)
        return NCS_E_INVALID_ARGUMENT;
    if (lock_released(c))
        return unlocked(c, "input");
    if (!in_kernel(c))
        return misuse(c, "input", "prepare, run and finish");
    *view = c->inputs[index].view;
    return NCS_OK;
}

static int api_set_output(ncs_ctx *ctx, int index, int dtype, int rank, const int64_t *dims)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || index < 0 || index >= c->kernel->desc.n_outputs)
        return NCS_E_INVALID_ARGUMENT;
    if (lock_released(c))
        return unlocked(c, "set_output");
    if (c->state != CALL_PREPARING)
        return misuse(c, "set_output", "prepare");
    if (dtype == NCS_DTYPE_BYTES)
        return kfail(c, NCS_E_INVALID_ARGUMENT,
                    "kernel '%s' declared BYTES output '%s' with set_output: BYTES outputs have no "
                    "element size, declare them with set_output_bytes",
                    c->kernel->desc.name, c->kernel->desc.outputs[index].name);
    call_output *o = &c->outputs[index];
    int status = check_tensor(c, "output", &c->kernel->desc.outputs[index], dtype, rank, dims, &o->view);
    o->declared = status == NCS_OK;
    return status;
}

static int api_set_output_bytes(ncs_ctx *ctx, int index, int rank, const int64_t *dims,
                                uint64_t nbytes)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || index < 0 || index >= c->kernel->desc.n_outputs)
        return NCS_E_INVALID_ARGUMENT;
    if (lock_released(c))
        return unlocked(c, "set_output_bytes");
    if (c->state != CALL_PREPARING)
        return misuse(c, "set_output_bytes", "prepare");
    const ncs_tensor_desc *d = &c->kernel->desc.outputs[index];
    ncs_tensor_view view;
    int status = check_tensor(c, "output", d, NCS_DTYPE_BYTES, rank, dims, &view);
    if (status != NCS_OK)
        return status;
    uint64_t prefixes;
    if (__builtin_mul_overflow((uint64_t)view.count, (uint64_t)4, &prefixes) || nbytes < prefixes) {
        char text[160];
        return kfail(c, NCS_E_INVALID_ARGUMENT,
                    "kernel '%s' declared BYTES output '%s' %s with %llu bytes, fewer than the "
                    "4-byte lengths of its %lld elements need",
                    c->kernel->desc.name, d->name, shape_text(rank, dims, text, sizeof text),
                    (unsigned long long)nbytes, (long long)view.count);
    }
    view.nbytes = nbytes;
    call_output *o = &c->outputs[index];
    o->view = view;
    o->declared = 1;
    return NCS_OK;
}

static int api_output(ncs_ctx *ctx, int index, ncs_tensor_view *view)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || view == NULL || index < 0 || index >= c->kernel->desc.n_outputs)
        return NCS_E_INVALID_ARGUMENT;
    if (lock_released(c))
        return unlocked(c, "output");
    if (!running(c))
        return misuse(c, "output", "run and finish");
    *view = c->outputs[index].view;
    return NCS_OK;
}

static int api_set_workspace(ncs_ctx *ctx, uint64_t bytes)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return NCS_E_INVALID_ARGUMENT;
    if (lock_released(c))
        return unlocked(c, "set_workspace");
    if (c->state != CALL_PREPARING)
        return misuse(c, "set_workspace", "prepare");
    c->workspace_bytes = bytes;
    return NCS_OK;
}

static void *api_workspace(ncs_ctx *ctx)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return NULL;
    if (lock_released(c)) {
        unlocked(c, "workspace");
        return NULL;
    }
    if (!running(c)) {
        misuse(c, "workspace", "run and finish");
        return NULL;
    }
    return c->workspace_data;
}

static int api_set_parts(ncs_ctx *ctx, int nparts)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return NCS_E_INVALID_ARGUMENT;
    if (lock_released(c))
        return unlocked(c, "set_parts");
    if (c->state != CALL_PREPARING)
        return misuse(c, "set_parts", "prepare");
    if (nparts < 1 || nparts > c->max_parts)
        return kfail(c, NCS_E_INVALID_ARGUMENT, "kernel '%s' asked for %d parts but at most %d are allowed",
                    c->kernel->desc.name, nparts, c->max_parts);
    c->nparts = nparts;
    return NCS_OK;
}

/* The text of parameter `name` (set or default) if it is declared with type `type`. */
static int param_text(ncs_ctx *ctx, const char *name, int type, const void *out, const char **text)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || name == NULL || out == NULL)
        return NCS_E_INVALID_ARGUMENT;
    const ncs_kernel_desc *k = &c->kernel->desc;
    for (int i = 0; i < k->n_params; i++) {
        if (strcmp(k->params[i].name, name) == 0) {
            if (k->params[i].type != type)
                return kfail(c, NCS_E_INVALID_ARGUMENT, "kernel '%s' read parameter '%s' as %s but declared it %s",
                            k->name, name, ncs_param_type_name(type), ncs_param_type_name(k->params[i].type));
            *text = c->params[i] ? c->params[i] : k->params[i].default_value;
            return NCS_OK;
        }
    }
    return kfail(c, NCS_E_INVALID_ARGUMENT, "kernel '%s' read parameter '%s', which it does not declare",
                k->name, name);
}

static int api_param_bool(ncs_ctx *ctx, const char *name, int *out)
{
    const char *text;
    int status = param_text(ctx, name, NCS_PARAM_BOOL, out, &text);
    if (status == NCS_OK && !ncs_param_parse_bool(text, out))
        status = NCS_E_INTERNAL;
    return status;
}

static int api_param_int(ncs_ctx *ctx, const char *name, int64_t *out)
{
    const char *text;
    int status = param_text(ctx, name, NCS_PARAM_INT, out, &text);
    if (status == NCS_OK && !ncs_param_parse_int(text, out))
        status = NCS_E_INTERNAL;
    return status;
}

static int api_param_double(ncs_ctx *ctx, const char *name, double *out)
{
    const char *text;
    int status = param_text(ctx, name, NCS_PARAM_DOUBLE, out, &text);
    if (status == NCS_OK && !ncs_param_parse_double(text, out))
        status = NCS_E_INTERNAL;
    return status;
}

static int api_param_string(ncs_ctx *ctx, const char *name, const char **out)
{
    const char *text;
    int status = param_text(ctx, name, NCS_PARAM_STRING, out, &text);
    if (status == NCS_OK)
        *out = text;
    return status;
}

static int api_param_is_set(ncs_ctx *ctx, const char *name, int *out)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || name == NULL || out == NULL)
        return NCS_E_INVALID_ARGUMENT;
    const ncs_kernel_desc *k = &c->kernel->desc;
    for (int i = 0; i < k->n_params; i++) {
        if (strcmp(k->params[i].name, name) == 0) {
            *out = c->params[i] != NULL;
            return NCS_OK;
        }
    }
    return kfail(c, NCS_E_INVALID_ARGUMENT, "kernel '%s' asked about parameter '%s', which it does not declare",
                k->name, name);
}

static int api_cancelled(ncs_ctx *ctx)
{
    ncs_call *c = call_of(ctx);
    /* A broken context stops the kernel rather than letting it run on. */
    return c == NULL || atomic_load_explicit(&c->cancelled, memory_order_acquire);
}

static void api_progress(ncs_ctx *ctx, uint64_t units)
{
    ncs_call *c = call_of(ctx);
    if (c != NULL)
        atomic_fetch_add_explicit(&c->progress, units, memory_order_relaxed);
}

__attribute__((format(printf, 3, 4))) static int api_fail(ncs_ctx *ctx, int status, const char *fmt, ...)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return status;
    if (fmt == NULL)
        return kfail(c, status, "%s", ncs_status_str(status));
    va_list ap;
    va_start(ap, fmt);
    note_v(c, fmt, ap);
    va_end(ap);
    return status;
}

static int track(ncs_call *c, ncs_handle h)
{
    int status = NCS_OK;
    pthread_mutex_lock(&c->lock);
    if (c->alloc_count == c->alloc_capacity) {
        size_t capacity = c->alloc_capacity ? 2 * c->alloc_capacity : 8;
        ncs_handle *grown = realloc(c->allocs, capacity * sizeof *grown);
        if (grown != NULL) {
            c->allocs = grown;
            c->alloc_capacity = capacity;
        } else {
            status = NCS_E_OUT_OF_MEMORY;
        }
    }
    if (status == NCS_OK)
        c->allocs[c->alloc_count++] = h;
    pthread_mutex_unlock(&c->lock);
    return status;
}

static int untrack(ncs_call *c, ncs_handle h)
{
    int found = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->alloc_count; i++) {
        if (c->allocs[i] == h) {
            c->allocs[i] = c->allocs[--c->alloc_count];
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

static int api_alloc(ncs_ctx *ctx, uint64_t bytes, ncs_handle *out, void **data)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || out == NULL)
        return NCS_E_INVALID_ARGUMENT;
    if (lock_released(c))
        return unlocked(c, "alloc");
    if (!in_kernel(c))
        return misuse(c, "alloc", "prepare, run and finish");
    ncs_handle h;
    int status = ncs_buffer_alloc_owned(bytes, &c->scratch_owner, &h);
    if (status != NCS_OK)
        return kfail(c, status, "kernel '%s' could not get %llu bytes of scratch memory: %s",
                    c->kernel->desc.name, (unsigned long long)bytes, ncs_status_str(status));
    status = track(c, h);
    void *memory = NULL;
    uint64_t size;
    if (status == NCS_OK)
        status = ncs_buffer_peek(h, &memory, &size);
    if (status != NCS_OK) {
        untrack(c, h);
        ncs_buffer_release(h);
        return status;
    }
    *out = h;
    if (data != NULL)
        *data = memory;
    return NCS_OK;
}

static int api_release(ncs_ctx *ctx, ncs_handle h)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return NCS_E_INVALID_ARGUMENT;
    if (lock_released(c))
        return unlocked(c, "release");
    if (!untrack(c, h))
        return kfail(c, NCS_E_INVALID_ARGUMENT,
                    "kernel '%s' released buffer %llu, which it did not allocate or already released",
                    c->kernel->desc.name, (unsigned long long)h);
    return ncs_buffer_release(h);
}

static int api_release_lock(ncs_ctx *ctx)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return NCS_E_INVALID_ARGUMENT;
    if (c->library_lock == NULL)
        return NCS_OK; /* thread-safe kernel: nothing to release */
    kernel_scope *scope = scope_of(c);
    if (scope == NULL)
        return kfail(c, NCS_E_INTERNAL,
                     "kernel '%s' called release_lock on a thread that is not running one of its steps",
                     c->kernel->desc.name);
    if (scope->released)
        return kfail(c, NCS_E_INTERNAL, "kernel '%s' called release_lock twice without reacquire_lock",
                     c->kernel->desc.name);
    scope->released = 1;
    ncs_library_unlock(scope->library, scope->acquired_at);
    return NCS_OK;
}

static int api_reacquire_lock(ncs_ctx *ctx)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return NCS_E_INVALID_ARGUMENT;
    if (c->library_lock == NULL)
        return NCS_OK;
    kernel_scope *scope = scope_of(c);
    if (scope == NULL || !scope->released)
        return kfail(c, NCS_E_INTERNAL, "kernel '%s' called reacquire_lock without release_lock",
                     c->kernel->desc.name);
    scope->acquired_at = ncs_library_lock(scope->library);
    scope->released = 0;
    return NCS_OK;
}

static const ncs_host_api host_api = {
    .struct_size = sizeof(ncs_host_api),
    .input = api_input,
    .set_output = api_set_output,
    .output = api_output,
    .set_workspace = api_set_workspace,
    .workspace = api_workspace,
    .set_parts = api_set_parts,
    .param_bool = api_param_bool,
    .param_int = api_param_int,
    .param_double = api_param_double,
    .param_string = api_param_string,
    .cancelled = api_cancelled,
    .progress = api_progress,
    .fail = api_fail,
    .alloc = api_alloc,
    .release = api_release,
    .set_output_bytes = api_set_output_bytes,
    .release_lock = api_release_lock,
    .reacquire_lock = api_reacquire_lock,
    .param_is_set = api_param_is_set,
};

/* ---- the public call API --------------------------------------------------------------- */

NCS_API int ncs_call_create(const char *kernel, ncs_call **out)
{
    if (kernel == NULL || out == NULL)
        return NCS_E_INVALID_ARGUMENT;
    const ncs_kernel_entry *entry = ncs_catalog_find(kernel);
    if (entry == NULL)
        return NCS_E_NOT_FOUND;
    ncs_call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NCS_E_OUT_OF_MEMORY;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NCS_E_OUT_OF_MEMORY;
    }
    c->ctx.api = &host_api;
    c->magic = CALL_MAGIC;
    c->kernel = entry;
    owner_of(c, "", &c->scratch_owner);
    c->library_lock = (entry->desc.flags & NCS_KERNEL_THREAD_SAFE) ? NULL : entry->library;
    c->state = CALL_CREATED;
    c->nparts = 1;
    atomic_init(&c->cancelled, 0);
    atomic_init(&c->active, 0);
    atomic_init(&c->progress, 0);
    c->failure = NCS_OK;
    atomic_init(&c->error, "");
    *out = c;
    return NCS_OK;
}

NCS_API int ncs_call_set_input(ncs_call *call, int index, int dtype, int rank, const int64_t *shape,
                               ncs_handle buffer)
{
    if (call == NULL)
        return NCS_E_INVALID_ARGUMENT;
    ncs_call *c = call;
    clear_error(c);
    const ncs_kernel_desc *k = &c->kernel->desc;
    if (c->state != CALL_CREATED)
        return fail(c, NCS_E_INVALID_ARGUMENT, "inputs can only be set before prepare");
    if (index < 0 || index >= k->n_inputs)
        return fail(c, NCS_E_INVALID_ARGUMENT, "input index %d is out of range: kernel '%s' has %d inputs",
                    index, k->name, k->n_inputs);
    const ncs_tensor_desc *d = &k->inputs[index];
    ncs_tensor_view view;
    int status = check_tensor(c, "input", d, dtype, rank, shape, &view);
    if (status != NCS_OK)
        return status;
    /* Pinned before its memory is read, so a concurrent release cannot free it (and hand the
       memory to another buffer) while it is checked. */
    status = ncs_buffer_pin(buffer); /* counts the stale use if freed */
    if (status == NCS_E_STALE_HANDLE)
        return fail(c, status, "input '%s': buffer %llu was already freed (stale handle)", d->name,
                    (unsigned long long)buffer);
    if (status != NCS_OK)
        return fail(c, status, "input '%s': %llu is not a buffer handle", d->name,
                    (unsigned long long)buffer);
    if (!ncs_buffer_fully_committed(buffer)) {
        ncs_buffer_unpin(buffer);
        return fail(c, NCS_E_INVALID_ARGUMENT, "input '%s': buffer %llu is not fully committed "
                    "(ncs_buffer_commit its whole size once its bytes are written)", d->name,
                    (unsigned long long)buffer);
    }
    void *data;
    uint64_t size;
    ncs_buffer_peek(buffer, &data, &size); /* pinned: cannot fail */
    if (dtype != NCS_DTYPE_BYTES && size < view.nbytes) {
        ncs_buffer_unpin(buffer);
        char text[160];
        return fail(c, NCS_E_INVALID_ARGUMENT, "input '%s' (%s %s) needs %llu bytes but its buffer has %llu",
                    d->name, ncs_dtype_name(dtype), shape_text(rank, shape, text, sizeof text),
                    (unsigned long long)view.nbytes, (unsigned long long)size);
    }
    char why[200];
    if (dtype == NCS_DTYPE_BYTES && !bytes_framing_valid(data, size, view.count, why, sizeof why)) {
        ncs_buffer_unpin(buffer);
        return fail(c, NCS_E_INVALID_ARGUMENT, "input '%s': %s", d->name, why);
    }
    ncs_stat_add(NCS_STAT_RETAINS, 1); /* the pin is the call's reference: a retain like any other */
    if (dtype == NCS_DTYPE_BYTES)
        view.nbytes = size;
    view.data = view.nbytes ? data : NULL;
    call_input *in = &c->inputs[index];
    if (in->set)
        ncs_buffer_release(in->buffer);
    in->set = 1;
    in->buffer = buffer;
    in->buffer_bytes = size;
    in->view = view;
    return NCS_OK;
}

NCS_API uint64_t ncs_call_bytes_needed(const ncs_call *call)
{
    return call == NULL ? 0 : call->bytes_needed;
}

NCS_API int ncs_call_set_param(ncs_call *call, const char *key, const char *value)
{
    if (call == NULL)
        return NCS_E_INVALID_ARGUMENT;
    ncs_call *c = call;
    clear_error(c);
    const ncs_kernel_desc *k = &c->kernel->desc;
    if (c->state != CALL_CREATED)
        return fail(c, NCS_E_INVALID_ARGUMENT, "parameters can only be set before prepare");
    if (key == NULL || value == NULL)
        return fail(c, NCS_E_INVALID_ARGUMENT, "parameter key and value must not be NULL");
    int index = -1;
    for (int i = 0; i < k->n_params && index < 0; i++) {
        if (strcmp(k->params[i].name, key) == 0)
            index = i;
    }
    if (index < 0)
        return fail(c, NCS_E_INVALID_ARGUMENT, "kernel '%s' has no parameter '%.64s'", k->name, key);
    const ncs_param_desc *p = &k->params[index];
    if (!ncs_param_text_valid(p->type, value)) {
        static const char *expected[] = {
            [NCS_PARAM_BOOL] = "true, false, 1 or 0",
            [NCS_PARAM_INT] = "a decimal integer that fits in 64 bits",
            [NCS_PARAM_DOUBLE] = "a number",
            [NCS_PARAM_STRING] = "text",
        };
        return fail(c, NCS_E_INVALID_ARGUMENT, "parameter '%s' is %s: expected %s, got '%.64s'",
                    p->name, ncs_param_type_name(p->type), expected[p->type], value);
    }
    char *copy = strdup(value);
    if (copy == NULL)
        return fail(c, NCS_E_OUT_OF_MEMORY, "out of memory copying parameter '%s'", p->name);
    free(c->params[index]);
    c->params[index] = copy;
    return NCS_OK;
}

/* Releases the outputs' and workspace's buffers (those not taken). */
static void release_outputs(ncs_call *c)
{
    for (int i = 0; i < c->kernel->desc.n_outputs; i++) {
        call_output *o = &c->outputs[i];
        if (o->buffer != 0)
            ncs_buffer_release(o->buffer);
        o->buffer = 0;
        o->view.data = NULL;
    }
    if (c->workspace != 0)
        ncs_buffer_release(c->workspace);
    c->workspace = 0;
    c->workspace_data = NULL;
}

/* After the kernel's last step: refuses BYTES outputs whose framing is broken. */
static int check_bytes_outputs(ncs_call *c)
{
    const ncs_kernel_desc *k = &c->kernel->desc;
    for (int i = 0; i < k->n_outputs; i++) {
        const ncs_tensor_view *v = &c->outputs[i].view;
        char why[200];
        if (v->dtype == NCS_DTYPE_BYTES &&
            !bytes_framing_valid(v->data, v->nbytes, v->count, why, sizeof why))
            return fail(c, NCS_E_INTERNAL, "kernel '%s' produced malformed BYTES output '%s': %s",
                        k->name, k->outputs[i].name, why);
    }
    return NCS_OK;
}

static uint64_t saturating_add(uint64_t a, uint64_t b)
{
    uint64_t sum;
    return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

/* The native memory the call needs at once: its inputs' buffers (each once, whole), its outputs
   and its workspace (where kernels keep every part's scratch). */
static uint64_t bytes_needed(const ncs_call *c)
{
    const ncs_kernel_desc *k = &c->kernel->desc;
    uint64_t total = c->workspace_bytes;
    for (int i = 0; i < k->n_inputs; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = c->inputs[j].set && c->inputs[j].buffer == c->inputs[i].buffer;
        if (c->inputs[i].set && !seen)
            total = saturating_add(total, c->inputs[i].buffer_bytes);
    }
    for (int i = 0; i < k->n_outputs; i++)
        total = saturating_add(total, c->outputs[i].view.nbytes);
    return total;
}

/* Allocates the declared outputs, the workspace and the part table. */
static int allocate_results(ncs_call *c)
{
    const ncs_kernel_desc *k = &c->kernel->desc;
    c->bytes_needed = bytes_needed(c);
    for (int i = 0; i < k->n_outputs; i++) {
        call_output *o = &c->outputs[i];
        if (!o->declared)
            return fail(c, NCS_E_INTERNAL, "kernel '%s' did not declare output '%s' in prepare",
                        k->name, k->outputs[i].name);
        ncs_owner owner;
        int status = ncs_buffer_alloc_owned(o->view.nbytes, owner_of(c, "/output", &owner), &o->buffer);
        if (status != NCS_OK) {
            o->buffer = 0;
            return fail(c, status, "output '%s' needs %llu bytes: %s", k->outputs[i].name,
                        (unsigned long long)o->view.nbytes, ncs_status_str(status));
        }
        uint64_t size;
        ncs_buffer_peek(o->buffer, &o->view.data, &size);
        if (o->view.nbytes == 0)
            o->view.data = NULL;
    }
    if (c->workspace_bytes > 0) {
        ncs_owner owner;
        int status = ncs_buffer_alloc_owned(c->workspace_bytes, owner_of(c, "/workspace", &owner),
                                            &c->workspace);
        if (status != NCS_OK) {
            c->workspace = 0;
            return fail(c, status, "kernel '%s' needs %llu bytes of workspace: %s", k->name,
                        (unsigned long long)c->workspace_bytes, ncs_status_str(status));
        }
        uint64_t size;
        ncs_buffer_peek(c->workspace, &c->workspace_data, &size);
    }
    c->parts = calloc((size_t)c->nparts, sizeof *c->parts);
    if (c->parts == NULL)
        return fail(c, NCS_E_OUT_OF_MEMORY, "out of memory for %d parts", c->nparts);
    return NCS_OK;
}

NCS_API int ncs_call_prepare(ncs_call *call, int max_parts, int *out_parts)
{
    if (call == NULL)
        return NCS_E_INVALID_ARGUMENT;
    ncs_call *c = call;
    clear_error(c);
    const ncs_kernel_desc *k = &c->kernel->desc;
    if (c->state != CALL_CREATED)
        return fail(c, NCS_E_INVALID_ARGUMENT, "prepare runs once per call, before any part");
    int status = NCS_OK;
    if (out_parts == NULL || max_parts < 1)
        status = fail(c, NCS_E_INVALID_ARGUMENT, "prepare needs max_parts >= 1 and an out_parts pointer");
    for (int i = 0; i < k->n_inputs && status == NCS_OK; i++) {
        if (!c->inputs[i].set)
            status = fail(c, NCS_E_INVALID_ARGUMENT, "input '%s' of kernel '%s' is not set",
                          k->inputs[i].name, k->name);
    }
    if (status == NCS_OK) {
        c->max_parts = max_parts;
        c->nparts = 1;
        c->state = CALL_PREPARING;
        kernel_scope scope;
        enter_scope(&scope, c);
        status = kernel_status(k->prepare(&c->ctx, max_parts));
        leave_scope(&scope, "prepare", status);
        if (status == NCS_OK)
            status = allocate_results(c);
    }
    if (status != NCS_OK) {
        release_outputs(c);
        c->state = CALL_FAILED;
        return status;
    }
    c->state = CALL_PREPARED;
    *out_parts = c->nparts;
    return NCS_OK;
}

static int run_part(ncs_call *c, int part)
{
    if (c->state != CALL_PREPARED)
        return fail(c, NCS_E_INVALID_ARGUMENT, "parts run after a successful prepare and before finish");
    if (part < 0 || part >= c->nparts)
        return fail(c, NCS_E_INVALID_ARGUMENT, "part %d is out of range: the call has %d parts", part,
                    c->nparts);
    unsigned char expected = PART_PENDING;
    if (!atomic_compare_exchange_strong(&c->parts[part], &expected, PART_RUNNING))
        return fail(c, NCS_E_INVALID_ARGUMENT, "part %d already ran", part);
    int status;
    if (atomic_load_explicit(&c->cancelled, memory_order_acquire)) {
        status = fail(c, NCS_E_CANCELLED, "the call was cancelled");
    } else {
        kernel_scope scope;
        enter_scope(&scope, c);
        status = kernel_status(c->kernel->desc.run(&c->ctx, part, c->nparts));
        leave_scope(&scope, "run", status);
    }
    /* A real failure stops the siblings; it is recorded first (release), so a sibling that
       sees the flag and returns NCS_E_CANCELLED cannot be taken for the cause. */
    if (status != NCS_OK && status != NCS_E_CANCELLED)
        atomic_store_explicit(&c->cancelled, 1, memory_order_release);
    atomic_store(&c->parts[part], status == NCS_OK ? PART_DONE : PART_FAILED);
    return status;
}

NCS_API int ncs_call_run_part(ncs_call *call, int part)
{
    if (call == NULL)
        return NCS_E_INVALID_ARGUMENT;
    /* Counts the whole call, failures included, so destroy can tell that the call is in use. */
    atomic_fetch_add_explicit(&call->active, 1, memory_order_relaxed);
    int status = run_part(call, part);
    atomic_fetch_sub_explicit(&call->active, 1, memory_order_release); /* last touch of call */
    return status;
}

NCS_API int ncs_call_finish(ncs_call *call)
{
    if (call == NULL)
        return NCS_E_INVALID_ARGUMENT;
    ncs_call *c = call;
    clear_error(c);
    if (c->state != CALL_PREPARED)
        return fail(c, NCS_E_INVALID_ARGUMENT, "finish runs once, after a successful prepare");
    for (int i = 0; i < c->nparts; i++) {
        if (atomic_load(&c->parts[i]) != PART_DONE)
            return fail(c, NCS_E_INVALID_ARGUMENT, "part %d of %d has not completed successfully", i,
                        c->nparts);
    }
    int status = NCS_OK;
    if (atomic_load_explicit(&c->cancelled, memory_order_acquire)) {
        status = fail(c, NCS_E_CANCELLED, "the call was cancelled");
    } else if (c->kernel->desc.finish != NULL) {
        c->state = CALL_FINISHING;
        kernel_scope scope;
        enter_scope(&scope, c);
        status = kernel_status(c->kernel->desc.finish(&c->ctx));
        leave_scope(&scope, "finish", status);
    }
    if (status == NCS_OK) {
        status = check_bytes_outputs(c);
        if (status != NCS_OK)
            release_outputs(c); /* never hand malformed data to anyone */
    }
    c->state = status == NCS_OK ? CALL_FINISHED : CALL_FAILED;
    return status;
}

NCS_API int ncs_call_output_count(const ncs_call *call)
{
    return call ? call->kernel->desc.n_outputs : 0;
}

NCS_API int ncs_call_output_info(const ncs_call *call, int index, int *dtype, int *rank, int64_t *shape)
{
    if (call == NULL || dtype == NULL || rank == NULL || shape == NULL || index < 0 ||
        index >= call->kernel->desc.n_outputs)
        return NCS_E_INVALID_ARGUMENT;
    if (call->state != CALL_PREPARED && call->state != CALL_FINISHING && call->state != CALL_FINISHED)
        return NCS_E_INVALID_ARGUMENT;
    const ncs_tensor_view *v = &call->outputs[index].view;
    *dtype = v->dtype;
    *rank = v->rank;
    for (int r = 0; r < v->rank; r++)
        shape[r] = v->dims[r];
    return NCS_OK;
}

NCS_API int ncs_call_output_nbytes(const ncs_call *call, int index, uint64_t *nbytes)
{
    if (call == NULL || nbytes == NULL || index < 0 || index >= call->kernel->desc.n_outputs)
        return NCS_E_INVALID_ARGUMENT;
    if (call->state != CALL_PREPARED && call->state != CALL_FINISHING && call->state != CALL_FINISHED)
        return NCS_E_INVALID_ARGUMENT;
    *nbytes = call->outputs[index].view.nbytes;
    return NCS_OK;
}

NCS_API int ncs_call_take_output(ncs_call *call, int index, ncs_handle *out)
{
    if (call == NULL)
        return NCS_E_INVALID_ARGUMENT;
    ncs_call *c = call;
    clear_error(c);
    const ncs_kernel_desc *k = &c->kernel->desc;
    if (out == NULL)
        return fail(c, NCS_E_INVALID_ARGUMENT, "take_output needs an out pointer");
    if (c->state != CALL_FINISHED)
        return fail(c, NCS_E_INVALID_ARGUMENT, "outputs can be taken only after finish succeeded");
    if (index < 0 || index >= k->n_outputs)
        return fail(c, NCS_E_INVALID_ARGUMENT, "output index %d is out of range: kernel '%s' has %d outputs",
                    index, k->name, k->n_outputs);
    call_output *o = &c->outputs[index];
    if (o->taken)
        return fail(c, NCS_E_INVALID_ARGUMENT, "output '%s' was already taken", k->outputs[index].name);
    *out = o->buffer;
    o->buffer = 0;
    o->taken = 1;
    return NCS_OK;
}

NCS_API void ncs_call_cancel(ncs_call *call)
{
    if (call != NULL)
        atomic_store_explicit(&call->cancelled, 1, memory_order_release);
}

NCS_API uint64_t ncs_call_progress(const ncs_call *call)
{
    return call ? atomic_load_explicit(&((ncs_call *)call)->progress, memory_order_relaxed) : 0;
}

NCS_API const char *ncs_call_error(const ncs_call *call)
{
    /* The text behind the pointer is never written again until the next clear, which only a
       single-threaded entry point does. */
    return call ? atomic_load_explicit(&((ncs_call *)call)->error, memory_order_acquire) : "";
}

NCS_API void ncs_call_destroy(ncs_call *call, uint64_t *leaked, uint64_t *leaked_bytes)
{
    if (call == NULL)
        return;
    ncs_call *c = call;
    const ncs_kernel_desc *k = &c->kernel->desc;
    int active = atomic_load_explicit(&c->active, memory_order_acquire);
    if (active != 0) {
        /* Freeing the call would pull it from under the running parts (a use after free that
           shows up much later, elsewhere): stop here, where the bug is. */
        fprintf(stderr,
                "libncs: fatal: ncs_call_destroy on a call of kernel '%s' while %d "
                "ncs_call_run_part call(s) still run on it; the host must wait for every part "
                "to return before destroying the call\n",
                k->name, active);
        fflush(stderr);
        abort();
    }
    for (int i = 0; i < k->n_inputs; i++) {
        if (c->inputs[i].set)
            ncs_buffer_release(c->inputs[i].buffer);
    }
    release_outputs(c);
    uint64_t bytes = 0;
    for (size_t i = 0; i < c->alloc_count; i++) {
        void *data;
        uint64_t size;
        if (ncs_buffer_peek(c->allocs[i], &data, &size) == NCS_OK)
            bytes += size;
        ncs_buffer_release(c->allocs[i]);
    }
    if (c->alloc_count > 0)
        ncs_stat_add(NCS_STAT_KERNEL_LEAKS, c->alloc_count);
    if (leaked != NULL)
        *leaked = c->alloc_count;
    if (leaked_bytes != NULL)
        *leaked_bytes = bytes;
    for (int i = 0; i < k->n_params; i++)
        free(c->params[i]);
    free(c->allocs);
    free(c->parts);
    pthread_mutex_destroy(&c->lock);
    c->magic = 0;
    free(c);
}
