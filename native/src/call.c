/*
 * call.c -- kernel calls (ncs_call_*) and the host services a kernel reaches through its
 * context (ncs_host_api).
 *
 * An ncs_call embeds its ncs_ctx as first member, so a kernel's ctx is the call itself. Every
 * host service checks its context and its phase: a kernel that calls set_output during run, or
 * passes NULL, gets an error status instead of crashing the process.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct call_input {
    int set;
    ncs_handle buffer; /* reference owned by the call */
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
    int state; /* enum call_state; changes only in single-threaded entry points */
    int max_parts;
    int nparts;
    call_input inputs[NCS_MAX_TENSORS];
    call_output outputs[NCS_MAX_TENSORS];
    char *params[NCS_MAX_PARAMS]; /* NULL: the declared default */
    uint64_t workspace_bytes;
    ncs_handle workspace;
    void *workspace_data;
    _Atomic unsigned char *parts; /* enum part_state per part */
    atomic_int cancelled;
    _Atomic uint64_t progress;
    pthread_mutex_t lock; /* guards allocs and error, which parts touch concurrently */
    ncs_handle *allocs;   /* kernel scratch buffers not yet released */
    size_t alloc_count;
    size_t alloc_capacity;
    char error[ERROR_CAPACITY];
};

static const ncs_host_api host_api;

/* ---- messages -------------------------------------------------------------------------- */

__attribute__((format(printf, 2, 0))) static void set_error_v(ncs_call *c, const char *fmt,
                                                                  va_list ap)
{
    pthread_mutex_lock(&c->lock);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    pthread_mutex_unlock(&c->lock);
}

/* Records a message and returns `status`. */
__attribute__((format(printf, 3, 4))) static int fail(ncs_call *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error_v(c, fmt, ap);
    va_end(ap);
    return status;
}

static void clear_error(ncs_call *c)
{
    c->error[0] = '\0';
}

/* After a kernel callback failed: make sure the client gets some message. */
static void ensure_error(ncs_call *c, const char *phase, int status)
{
    pthread_mutex_lock(&c->lock);
    if (c->error[0] == '\0')
        snprintf(c->error, sizeof c->error, "kernel '%s' failed in %s: %s", c->kernel->desc.name,
                 phase, ncs_status_str(status));
    pthread_mutex_unlock(&c->lock);
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
    const char *kernel = c->kernel->desc.name;
    char list[160];
    if (!ncs_dtype_valid(dtype))
        return fail(c, NCS_E_INVALID_ARGUMENT, "%s '%s': %d is not a datatype", what, d->name,
                    dtype);
    if (!(d->dtypes & NCS_DTYPE_BIT(dtype)))
        return fail(c, NCS_E_INVALID_ARGUMENT, "%s '%s' is %s but kernel '%s' accepts %s", what,
                    d->name, ncs_dtype_name(dtype), kernel, dtype_list(d->dtypes, list, sizeof list));
    if (rank < 0 || rank > NCS_MAX_RANK)
        return fail(c, NCS_E_INVALID_ARGUMENT, "%s '%s' has rank %d: ranks go from 0 to %d", what,
                    d->name, rank, NCS_MAX_RANK);
    if (d->rank != NCS_RANK_ANY && rank != d->rank)
        return fail(c, NCS_E_INVALID_ARGUMENT, "%s '%s' has rank %d but kernel '%s' needs rank %d",
                    what, d->name, rank, kernel, d->rank);
    if (rank > 0 && dims == NULL)
        return fail(c, NCS_E_INVALID_ARGUMENT, "%s '%s': the shape is NULL", what, d->name);
    int64_t count = 1;
    for (int r = 0; r < rank; r++) {
        if (dims[r] < 0)
            return fail(c, NCS_E_INVALID_ARGUMENT,
                        "%s '%s' has dimension %lld at axis %d: dimensions cannot be negative",
                        what, d->name, (long long)dims[r], r);
        if (d->rank != NCS_RANK_ANY && d->dims[r] != NCS_DIM_ANY && dims[r] != d->dims[r])
            return fail(c, NCS_E_INVALID_ARGUMENT,
                        "%s '%s' has dimension %lld at axis %d but kernel '%s' needs %lld", what,
                        d->name, (long long)dims[r], r, kernel, (long long)d->dims[r]);
    }
    for (int r = 0; r < rank; r++) {
        if (__builtin_mul_overflow(count, dims[r], &count))
            return fail(c, NCS_E_INVALID_ARGUMENT,
                        "%s '%s' with shape %s has more elements than fit in 64 bits", what,
                        d->name, shape_text(rank, dims, list, sizeof list));
    }
    uint64_t nbytes = 0;
    if (dtype != NCS_DTYPE_BYTES &&
        __builtin_mul_overflow((uint64_t)count, (uint64_t)ncs_dtype_size(dtype), &nbytes))
        return fail(c, NCS_E_INVALID_ARGUMENT, "%s '%s' with shape %s has more bytes than fit in 64 bits",
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

/* ---- the host API for kernels ---------------------------------------------------------- */

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
    return fail(c, NCS_E_INTERNAL, "kernel '%s' called %s outside %s", c->kernel->desc.name,
                service, allowed);
}

static int api_input(ncs_ctx *ctx, int index, ncs_tensor_view *view)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || view == NULL || index < 0 || index >= c->kernel->desc.n_inputs)
        return NCS_E_INVALID_ARGUMENT;
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
    if (c->state != CALL_PREPARING)
        return misuse(c, "set_output", "prepare");
    call_output *o = &c->outputs[index];
    int status = check_tensor(c, "output", &c->kernel->desc.outputs[index], dtype, rank, dims, &o->view);
    o->declared = status == NCS_OK;
    return status;
}

static int api_output(ncs_ctx *ctx, int index, ncs_tensor_view *view)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || view == NULL || index < 0 || index >= c->kernel->desc.n_outputs)
        return NCS_E_INVALID_ARGUMENT;
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
    if (c->state != CALL_PREPARING)
        return misuse(c, "set_parts", "prepare");
    if (nparts < 1 || nparts > c->max_parts)
        return fail(c, NCS_E_INVALID_ARGUMENT, "kernel '%s' asked for %d parts but at most %d are allowed",
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
                return fail(c, NCS_E_INVALID_ARGUMENT, "kernel '%s' read parameter '%s' as %s but declared it %s",
                            k->name, name, ncs_param_type_name(type), ncs_param_type_name(k->params[i].type));
            *text = c->params[i] ? c->params[i] : k->params[i].default_value;
            return NCS_OK;
        }
    }
    return fail(c, NCS_E_INVALID_ARGUMENT, "kernel '%s' read parameter '%s', which it does not declare",
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

static int api_cancelled(ncs_ctx *ctx)
{
    ncs_call *c = call_of(ctx);
    /* A broken context stops the kernel rather than letting it run on. */
    return c == NULL || atomic_load_explicit(&c->cancelled, memory_order_relaxed);
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
        return fail(c, status, "%s", ncs_status_str(status));
    va_list ap;
    va_start(ap, fmt);
    set_error_v(c, fmt, ap);
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
    if (!in_kernel(c))
        return misuse(c, "alloc", "prepare, run and finish");
    ncs_handle h;
    int status = ncs_buffer_alloc(bytes, &h);
    if (status != NCS_OK)
        return fail(c, status, "kernel '%s' could not get %llu bytes of scratch memory: %s",
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
    if (!untrack(c, h))
        return fail(c, NCS_E_INVALID_ARGUMENT,
                    "kernel '%s' released buffer %llu, which it did not allocate or already released",
                    c->kernel->desc.name, (unsigned long long)h);
    return ncs_buffer_release(h);
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
    c->state = CALL_CREATED;
    c->nparts = 1;
    atomic_init(&c->cancelled, 0);
    atomic_init(&c->progress, 0);
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
    void *data;
    uint64_t size;
    status = ncs_buffer_peek(buffer, &data, &size);
    if (status == NCS_OK && dtype != NCS_DTYPE_BYTES && size < view.nbytes) {
        char text[160];
        return fail(c, NCS_E_INVALID_ARGUMENT, "input '%s' (%s %s) needs %llu bytes but its buffer has %llu",
                    d->name, ncs_dtype_name(dtype), shape_text(rank, shape, text, sizeof text),
                    (unsigned long long)view.nbytes, (unsigned long long)size);
    }
    if (status == NCS_OK)
        status = ncs_buffer_retain(buffer); /* counts the stale use if freed meanwhile */
    else if (status == NCS_E_STALE_HANDLE)
        ncs_stat_add(NCS_STAT_STALE_HANDLE_USES, 1);
    if (status == NCS_E_STALE_HANDLE)
        return fail(c, status, "input '%s': buffer %llu was already freed (stale handle)", d->name,
                    (unsigned long long)buffer);
    if (status != NCS_OK)
        return fail(c, status, "input '%s': %llu is not a buffer handle", d->name,
                    (unsigned long long)buffer);
    if (dtype == NCS_DTYPE_BYTES)
        view.nbytes = size;
    view.data = view.nbytes ? data : NULL;
    call_input *in = &c->inputs[index];
    if (in->set)
        ncs_buffer_release(in->buffer);
    in->set = 1;
    in->buffer = buffer;
    in->view = view;
    return NCS_OK;
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

/* Allocates the declared outputs, the workspace and the part table. */
static int allocate_results(ncs_call *c)
{
    const ncs_kernel_desc *k = &c->kernel->desc;
    for (int i = 0; i < k->n_outputs; i++) {
        call_output *o = &c->outputs[i];
        if (!o->declared)
            return fail(c, NCS_E_INTERNAL, "kernel '%s' did not declare output '%s' in prepare",
                        k->name, k->outputs[i].name);
        int status = ncs_buffer_alloc(o->view.nbytes, &o->buffer);
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
        int status = ncs_buffer_alloc(c->workspace_bytes, &c->workspace);
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
        status = kernel_status(k->prepare(&c->ctx, max_parts));
        if (status != NCS_OK)
            ensure_error(c, "prepare", status);
        else
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

NCS_API int ncs_call_run_part(ncs_call *call, int part)
{
    if (call == NULL)
        return NCS_E_INVALID_ARGUMENT;
    ncs_call *c = call;
    if (c->state != CALL_PREPARED)
        return fail(c, NCS_E_INVALID_ARGUMENT, "parts run after a successful prepare and before finish");
    if (part < 0 || part >= c->nparts)
        return fail(c, NCS_E_INVALID_ARGUMENT, "part %d is out of range: the call has %d parts", part,
                    c->nparts);
    unsigned char expected = PART_PENDING;
    if (!atomic_compare_exchange_strong(&c->parts[part], &expected, PART_RUNNING))
        return fail(c, NCS_E_INVALID_ARGUMENT, "part %d already ran", part);
    int status;
    if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
        status = fail(c, NCS_E_CANCELLED, "the call was cancelled");
    else
        status = kernel_status(c->kernel->desc.run(&c->ctx, part, c->nparts));
    if (status != NCS_OK)
        ensure_error(c, "run", status);
    atomic_store(&c->parts[part], status == NCS_OK ? PART_DONE : PART_FAILED);
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
    if (atomic_load_explicit(&c->cancelled, memory_order_relaxed)) {
        status = fail(c, NCS_E_CANCELLED, "the call was cancelled");
    } else if (c->kernel->desc.finish != NULL) {
        c->state = CALL_FINISHING;
        status = kernel_status(c->kernel->desc.finish(&c->ctx));
        if (status != NCS_OK)
            ensure_error(c, "finish", status);
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
        atomic_store_explicit(&call->cancelled, 1, memory_order_relaxed);
}

NCS_API uint64_t ncs_call_progress(const ncs_call *call)
{
    return call ? atomic_load_explicit(&((ncs_call *)call)->progress, memory_order_relaxed) : 0;
}

NCS_API const char *ncs_call_error(const ncs_call *call)
{
    return call ? call->error : "";
}

NCS_API void ncs_call_destroy(ncs_call *call, uint64_t *leaked)
{
    if (call == NULL)
        return;
    ncs_call *c = call;
    const ncs_kernel_desc *k = &c->kernel->desc;
    for (int i = 0; i < k->n_inputs; i++) {
        if (c->inputs[i].set)
            ncs_buffer_release(c->inputs[i].buffer);
    }
    release_outputs(c);
    for (size_t i = 0; i < c->alloc_count; i++)
        ncs_buffer_release(c->allocs[i]);
    if (c->alloc_count > 0)
        ncs_stat_add(NCS_STAT_KERNEL_LEAKS, c->alloc_count);
    if (leaked != NULL)
        *leaked = c->alloc_count;
    for (int i = 0; i < k->n_params; i++)
        free(c->params[i]);
    free(c->allocs);
    free(c->parts);
    pthread_mutex_destroy(&c->lock);
    c->magic = 0;
    free(c);
}
