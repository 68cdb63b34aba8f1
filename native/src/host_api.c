/*
 * host_api.c -- the host services a kernel reaches through its context (ncs_host_api, see
 * ncs_plugin.h).
 *
 * Every service checks its context and its phase: a kernel that calls set_output during run, or
 * passes NULL, gets an error status (blamed on the kernel, NCS_FAULT_KERNEL) instead of crashing
 * the process. While a step of a kernel that is not thread-safe has released its library's lock
 * (release_lock, NCS_BEGIN_ALLOW_THREADS), the buffer services refuse that step instead of
 * racing.
 */
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "library.h"

static ncs_call *call_of(ncs_ctx *ctx)
{
    if (ctx == NULL || ctx->api != &ncs_call_host_api)
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
    return ncs_fault_record(c, NCS_FAULT_KERNEL, NCS_E_INTERNAL, "kernel '%s' called %s outside %s",
                            c->kernel->desc.name, service, allowed);
}

/* 1 when the step of `c` on this thread has released the library lock: the host buffer
   services then refuse it (unlocked() says so) instead of racing. */
static int lock_released(const ncs_call *c)
{
    if (c->library_lock == NULL)
        return 0;
    const kernel_scope *scope = ncs_scope_of(c);
    return scope != NULL && scope->released;
}

static int unlocked(ncs_call *c, const char *service)
{
    return ncs_fault_record(
        c, NCS_FAULT_KERNEL, NCS_E_INTERNAL,
        "kernel '%s' called %s: host API called while the library lock is released "
        "(call it before NCS_BEGIN_ALLOW_THREADS or after NCS_END_ALLOW_THREADS)",
        c->kernel->desc.name, service);
}

/* The steps a buffer service serves. */
typedef enum serves { SERVES_PREPARE = 0, SERVES_RUN = 1, SERVES_ANY_STEP = 2 } serves;

/* NCS_OK when buffer service `service` may serve the step of `c` running now: the step holds its
   library lock (see lock_released) and is one `when` allows. Else the refusal, the kernel's fault. */
static int may_serve(ncs_call *c, const char *service, serves when)
{
    static const char *const allowed[] = {"prepare", "run and finish", "prepare, run and finish"};
    if (lock_released(c))
        return unlocked(c, service);
    int ok = when == SERVES_PREPARE ? c->state == CALL_PREPARING
             : when == SERVES_RUN   ? running(c)
                                    : in_kernel(c);
    return ok ? NCS_OK : misuse(c, service, allowed[when]);
}

/* A copy of the host's view of input or output `index` (outputs in run and finish only). */
static int view_of(ncs_ctx *ctx, ncs_tensor_role role, int index, ncs_tensor_view *view)
{
    ncs_call *c = call_of(ctx);
    int output = role == NCS_TENSOR_OUTPUT;
    if (c == NULL || view == NULL || index < 0 ||
        index >= (output ? c->kernel->desc.n_outputs : c->kernel->desc.n_inputs))
        return NCS_E_INVALID_ARGUMENT;
    int status = may_serve(c, output ? "output" : "input", output ? SERVES_RUN : SERVES_ANY_STEP);
    if (status == NCS_OK)
        *view = output ? c->outputs[index].view : c->inputs[index].view;
    return status;
}

static int api_input(ncs_ctx *ctx, int index, ncs_tensor_view *view)
{
    return view_of(ctx, NCS_TENSOR_INPUT, index, view);
}

static int api_set_output(ncs_ctx *ctx, int index, int dtype, int rank, const int64_t *dims)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || index < 0 || index >= c->kernel->desc.n_outputs)
        return NCS_E_INVALID_ARGUMENT;
    int status = may_serve(c, "set_output", SERVES_PREPARE);
    if (status != NCS_OK)
        return status;
    if (dtype == NCS_DTYPE_BYTES)
        return ncs_fault_record(
            c, NCS_FAULT_KERNEL, NCS_E_INVALID_ARGUMENT,
            "kernel '%s' declared BYTES output '%s' with set_output: BYTES outputs have no "
            "element size, declare them with set_output_bytes",
            c->kernel->desc.name, c->kernel->desc.outputs[index].name);
    call_output *o = &c->outputs[index];
    status = ncs_tensor_check(c, NCS_TENSOR_OUTPUT, &c->kernel->desc.outputs[index], dtype, rank,
                              dims, &o->view);
    o->declared = status == NCS_OK;
    return status;
}

static int api_set_output_bytes(ncs_ctx *ctx, int index, int rank, const int64_t *dims,
                                uint64_t nbytes)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL || index < 0 || index >= c->kernel->desc.n_outputs)
        return NCS_E_INVALID_ARGUMENT;
    int status = may_serve(c, "set_output_bytes", SERVES_PREPARE);
    if (status != NCS_OK)
        return status;
    const ncs_tensor_desc *d = &c->kernel->desc.outputs[index];
    ncs_tensor_view view;
    status = ncs_tensor_check(c, NCS_TENSOR_OUTPUT, d, NCS_DTYPE_BYTES, rank, dims, &view);
    if (status != NCS_OK)
        return status;
    uint64_t prefixes;
    if (__builtin_mul_overflow((uint64_t)view.count, (uint64_t)4, &prefixes) || nbytes < prefixes) {
        char text[160];
        return ncs_fault_record(
            c, NCS_FAULT_KERNEL, NCS_E_INVALID_ARGUMENT,
            "kernel '%s' declared BYTES output '%s' %s with %llu bytes, fewer than the "
            "4-byte lengths of its %lld elements need",
            c->kernel->desc.name, d->name, ncs_shape_text(rank, dims, text, sizeof text),
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
    return view_of(ctx, NCS_TENSOR_OUTPUT, index, view);
}

static int api_set_workspace(ncs_ctx *ctx, uint64_t bytes)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return NCS_E_INVALID_ARGUMENT;
    int status = may_serve(c, "set_workspace", SERVES_PREPARE);
    if (status != NCS_OK)
        return status;
    c->workspace_bytes = bytes;
    return NCS_OK;
}

static void *api_workspace(ncs_ctx *ctx)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return NULL;
    if (may_serve(c, "workspace", SERVES_RUN) != NCS_OK)
        return NULL;
    return c->workspace_data;
}

static int api_set_parts(ncs_ctx *ctx, int nparts)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return NCS_E_INVALID_ARGUMENT;
    int status = may_serve(c, "set_parts", SERVES_PREPARE);
    if (status != NCS_OK)
        return status;
    if (nparts < 1 || nparts > c->max_parts)
        return ncs_fault_record(c, NCS_FAULT_KERNEL, NCS_E_INVALID_ARGUMENT,
                                "kernel '%s' asked for %d parts but at most %d are allowed",
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
                return ncs_fault_record(c, NCS_FAULT_KERNEL, NCS_E_INVALID_ARGUMENT,
                                        "kernel '%s' read parameter '%s' as %s but declared it %s",
                                        k->name, name, ncs_param_type_name(type),
                                        ncs_param_type_name(k->params[i].type));
            *text = c->params[i] ? c->params[i] : k->params[i].default_value;
            return NCS_OK;
        }
    }
    return ncs_fault_record(c, NCS_FAULT_KERNEL, NCS_E_INVALID_ARGUMENT,
                            "kernel '%s' read parameter '%s', which it does not declare", k->name,
                            name);
}

/* Parameter `name`, declared with type `type`, parsed into *out (an int, int64_t or double). */
static int param_value(ncs_ctx *ctx, const char *name, int type, void *out)
{
    const char *text;
    int status = param_text(ctx, name, type, out, &text);
    if (status != NCS_OK)
        return status;
    int parsed = type == NCS_PARAM_BOOL  ? ncs_param_parse_bool(text, out)
                 : type == NCS_PARAM_INT ? ncs_param_parse_int(text, out)
                                         : ncs_param_parse_double(text, out);
    return parsed ? NCS_OK : NCS_E_INTERNAL; /* the text was checked when it was set */
}

static int api_param_bool(ncs_ctx *ctx, const char *name, int *out)
{
    return param_value(ctx, name, NCS_PARAM_BOOL, out);
}

static int api_param_int(ncs_ctx *ctx, const char *name, int64_t *out)
{
    return param_value(ctx, name, NCS_PARAM_INT, out);
}

static int api_param_double(ncs_ctx *ctx, const char *name, double *out)
{
    return param_value(ctx, name, NCS_PARAM_DOUBLE, out);
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
    return ncs_fault_record(c, NCS_FAULT_KERNEL, NCS_E_INVALID_ARGUMENT,
                            "kernel '%s' asked about parameter '%s', which it does not declare",
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

__attribute__((format(printf, 3, 4))) static int api_fail(ncs_ctx *ctx, int status, const char *fmt,
                                                          ...)
{
    ncs_call *c = call_of(ctx);
    if (c == NULL)
        return status;
    if (fmt == NULL)
        return ncs_fault_record(c, NCS_FAULT_KERNEL, status, "%s", ncs_status_str(status));
    va_list ap;
    va_start(ap, fmt);
    ncs_fault_note_v(c, fmt, ap);
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
    int status = may_serve(c, "alloc", SERVES_ANY_STEP);
    if (status != NCS_OK)
        return status;
    ncs_handle h;
    status = ncs_buffer_alloc_owned(bytes, &c->scratch_owner, &h);
    if (status != NCS_OK)
        return ncs_fault_record(c, NCS_FAULT_KERNEL, status,
                                "kernel '%s' could not get %llu bytes of scratch memory: %s",
                                c->kernel->desc.name, (unsigned long long)bytes,
                                ncs_status_str(status));
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
        return ncs_fault_record(
            c, NCS_FAULT_KERNEL, NCS_E_INVALID_ARGUMENT,
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
    kernel_scope *scope = ncs_scope_of(c);
    if (scope == NULL)
        return ncs_fault_record(
            c, NCS_FAULT_KERNEL, NCS_E_INTERNAL,
            "kernel '%s' called release_lock on a thread that is not running one of its steps",
            c->kernel->desc.name);
    if (scope->released)
        return ncs_fault_record(c, NCS_FAULT_KERNEL, NCS_E_INTERNAL,
                                "kernel '%s' called release_lock twice without reacquire_lock",
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
    kernel_scope *scope = ncs_scope_of(c);
    if (scope == NULL || !scope->released)
        return ncs_fault_record(c, NCS_FAULT_KERNEL, NCS_E_INTERNAL,
                                "kernel '%s' called reacquire_lock without release_lock",
                                c->kernel->desc.name);
    scope->acquired_at = ncs_library_lock(scope->library);
    scope->released = 0;
    return NCS_OK;
}

const ncs_host_api ncs_call_host_api = {
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
