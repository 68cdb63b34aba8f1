/*
 * call.c -- kernel calls, the public API of ncs.h (ncs_call_*): create, bind inputs and
 * parameters, prepare, run parts, finish, take outputs, destroy. The kernel-facing services are
 * in host_api.c, the error recording in call_fault.c, the tensor checks in tensor.c (call.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"

/* Prepares the owner of the call's buffers: "kernel:<name><suffix>", cut to NCS_OWNER_MAX. */
static const ncs_owner *owner_of(const ncs_call *c, const char *suffix, ncs_owner *owner)
{
    char text[NCS_MAX_NAME + 32];
    snprintf(text, sizeof text, "kernel:%s%s", c->kernel->desc.name, suffix);
    ncs_owner_prepare(owner, text);
    return owner;
}

/* ---- the public call API --------------------------------------------------------------- */

/* A single-threaded entry point on `call` begins: it forgets the call's last failure (see
   ncs_call_error) and refuses, as the caller's fault, a call not in `state` (`refusal` says why). */
static int begin(ncs_call *call, int state, const char *refusal)
{
    if (call == NULL)
        return NCS_E_INVALID_ARGUMENT;
    ncs_fault_clear(call);
    if (call->state != state)
        return ncs_fault_record(call, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT, "%s", refusal);
    return NCS_OK;
}

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
    c->ctx.api = &ncs_call_host_api;
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

/* Replaces the pinned region buffer *buffer (its bytes at *data, `size` of them) by a private
   copy owned by the call ("kernel:<name>/input"), pinned likewise, and unpins the original. The
   copy is a snapshot of bytes the client may be writing: checks then hold for what the kernel
   reads. */
static int private_copy(ncs_call *c, const ncs_tensor_desc *d, ncs_handle *buffer, void **data,
                        uint64_t size)
{
    char text[NCS_OWNER_MAX + 1];
    snprintf(text, sizeof text, "kernel:%s/input", c->kernel->desc.name);
    ncs_owner owner;
    ncs_owner_prepare(&owner, text);
    ncs_handle copy;
    if (ncs_buffer_alloc_owned(size, &owner, &copy) != NCS_OK) {
        ncs_buffer_unpin(*buffer);
        return ncs_fault_record(
            c, NCS_FAULT_CALLER, NCS_E_OUT_OF_MEMORY,
            "input '%s': no room in the memory budget for a private copy of its %llu "
            "bytes from a shared-memory region",
            d->name, (unsigned long long)size);
    }
    void *copy_data;
    uint64_t copy_size;
    ncs_buffer_peek(copy, &copy_data, &copy_size); /* our own reference: cannot fail */
    if (size > 0)
        memcpy(copy_data, *data, (size_t)size);
    ncs_buffer_unpin(*buffer);
    *buffer = copy;
    *data = copy_data;
    return NCS_OK;
}

NCS_API int ncs_call_set_input(ncs_call *call, int index, int dtype, int rank, const int64_t *shape,
                               ncs_handle buffer)
{
    int status = begin(call, CALL_CREATED, "inputs can only be set before prepare");
    if (status != NCS_OK)
        return status;
    ncs_call *c = call;
    const ncs_kernel_desc *k = &c->kernel->desc;
    if (index < 0 || index >= k->n_inputs)
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "input index %d is out of range: kernel '%s' has %d inputs", index,
                                k->name, k->n_inputs);
    const ncs_tensor_desc *d = &k->inputs[index];
    ncs_tensor_view view;
    status = ncs_tensor_check(c, NCS_TENSOR_INPUT, d, dtype, rank, shape, &view);
    if (status != NCS_OK)
        return status;
    /* Pinned before its memory is read, so a concurrent release cannot free it (and hand the
       memory to another buffer) while it is checked. */
    status = ncs_buffer_pin(buffer); /* counts the stale use if freed */
    if (status == NCS_E_STALE_HANDLE)
        return ncs_fault_record(c, NCS_FAULT_CALLER, status,
                                "input '%s': buffer %llu was already freed (stale handle)", d->name,
                                (unsigned long long)buffer);
    if (status != NCS_OK)
        return ncs_fault_record(c, NCS_FAULT_CALLER, status,
                                "input '%s': %llu is not a buffer handle", d->name,
                                (unsigned long long)buffer);
    if (!ncs_buffer_fully_committed(buffer)) {
        ncs_buffer_unpin(buffer);
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "input '%s': buffer %llu is not fully committed "
                                "(ncs_buffer_commit its whole size once its bytes are written)",
                                d->name, (unsigned long long)buffer);
    }
    void *data;
    uint64_t size;
    ncs_buffer_peek(buffer, &data, &size); /* pinned: cannot fail */
    if (ncs_buffer_borrows_region(buffer) &&
        (dtype == NCS_DTYPE_BYTES || !(k->flags & NCS_KERNEL_SHARED_INPUTS))) {
        /* The client can rewrite a region at any time: BYTES are framed on a private copy, and a
           kernel that does not tolerate changing inputs reads a private copy. */
        status = private_copy(c, d, &buffer, &data, size);
        if (status != NCS_OK)
            return status;
    }
    if (dtype != NCS_DTYPE_BYTES && size < view.nbytes) {
        ncs_buffer_unpin(buffer);
        char text[160];
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "input '%s' (%s %s) needs %llu bytes but its buffer has %llu",
                                d->name, ncs_dtype_text(dtype),
                                ncs_shape_text(rank, shape, text, sizeof text),
                                (unsigned long long)view.nbytes, (unsigned long long)size);
    }
    char why[200];
    if (dtype == NCS_DTYPE_BYTES &&
        !ncs_bytes_framing_valid(data, size, view.count, why, sizeof why)) {
        ncs_buffer_unpin(buffer);
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT, "input '%s': %s",
                                d->name, why);
    }
    ncs_stat_add(NCS_STAT_RETAINS,
                 1); /* the pin is the call's reference: a retain like any other */
    if (dtype == NCS_DTYPE_BYTES)
        view.nbytes = size;
    view.data = view.nbytes ? data : NULL;
    call_input *in = &c->inputs[index];
    if (in->set)
        ncs_buffer_release(in->buffer);
    in->set = 1;
    in->buffer = buffer;
    in->buffer_bytes = ncs_buffer_borrows_region(buffer)
                           ? 0
                           : size; /* a region's are not the budget's */
    c->borrowed_input |= ncs_buffer_borrows_region(buffer);
    in->view = view;
    return NCS_OK;
}

NCS_API uint64_t ncs_call_bytes_needed(const ncs_call *call)
{
    return call == NULL ? 0 : call->bytes_needed;
}

NCS_API int ncs_call_set_param(ncs_call *call, const char *key, const char *value)
{
    int status = begin(call, CALL_CREATED, "parameters can only be set before prepare");
    if (status != NCS_OK)
        return status;
    ncs_call *c = call;
    const ncs_kernel_desc *k = &c->kernel->desc;
    if (key == NULL || value == NULL)
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "parameter key and value must not be NULL");
    int index = -1;
    for (int i = 0; i < k->n_params && index < 0; i++) {
        if (strcmp(k->params[i].name, key) == 0)
            index = i;
    }
    if (index < 0)
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "kernel '%s' has no parameter '%.64s'", k->name, key);
    const ncs_param_desc *p = &k->params[index];
    if (!ncs_param_text_valid(p->type, value)) {
        static const char *expected[] = {
            [NCS_PARAM_BOOL] = "true, false, 1 or 0",
            [NCS_PARAM_INT] = "a decimal integer that fits in 64 bits",
            [NCS_PARAM_DOUBLE] = "a number",
            [NCS_PARAM_STRING] = "text",
        };
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "parameter '%s' is %s: expected %s, got '%.64s'", p->name,
                                ncs_param_type_name(p->type), expected[p->type], value);
    }
    char *copy = strdup(value);
    if (copy == NULL)
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_OUT_OF_MEMORY,
                                "out of memory copying parameter '%s'", p->name);
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
            !ncs_bytes_framing_valid(v->data, v->nbytes, v->count, why, sizeof why))
            return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INTERNAL,
                                    "kernel '%s' produced malformed BYTES output '%s': %s", k->name,
                                    k->outputs[i].name, why);
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
            return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INTERNAL,
                                    "kernel '%s' did not declare output '%s' in prepare", k->name,
                                    k->outputs[i].name);
        ncs_owner owner;
        int status = ncs_buffer_alloc_owned(o->view.nbytes, owner_of(c, "/output", &owner),
                                            &o->buffer);
        if (status != NCS_OK) {
            o->buffer = 0;
            return ncs_fault_record(c, NCS_FAULT_CALLER, status, "output '%s' needs %llu bytes: %s",
                                    k->outputs[i].name, (unsigned long long)o->view.nbytes,
                                    ncs_status_str(status));
        }
        uint64_t size;
        ncs_buffer_peek(o->buffer, &o->view.data, &size);
        if (o->view.nbytes == 0)
            o->view.data = NULL;
        else if (c->borrowed_input) /* see ncs_call_set_input: no stale bytes for a racing client */
            memset(o->view.data, 0, (size_t)o->view.nbytes);
    }
    if (c->workspace_bytes > 0) {
        ncs_owner owner;
        int status = ncs_buffer_alloc_owned(c->workspace_bytes, owner_of(c, "/workspace", &owner),
                                            &c->workspace);
        if (status != NCS_OK) {
            c->workspace = 0;
            return ncs_fault_record(c, NCS_FAULT_CALLER, status,
                                    "kernel '%s' needs %llu bytes of workspace: %s", k->name,
                                    (unsigned long long)c->workspace_bytes, ncs_status_str(status));
        }
        uint64_t size;
        ncs_buffer_peek(c->workspace, &c->workspace_data, &size);
    }
    c->parts = calloc((size_t)c->nparts, sizeof *c->parts);
    if (c->parts == NULL)
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_OUT_OF_MEMORY,
                                "out of memory for %d parts", c->nparts);
    return NCS_OK;
}

NCS_API int ncs_call_prepare(ncs_call *call, int max_parts, int *out_parts)
{
    int status = begin(call, CALL_CREATED, "prepare runs once per call, before any part");
    if (status != NCS_OK)
        return status;
    ncs_call *c = call;
    const ncs_kernel_desc *k = &c->kernel->desc;
    if (out_parts == NULL || max_parts < 1)
        status = ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                  "prepare needs max_parts >= 1 and an out_parts pointer");
    for (int i = 0; i < k->n_inputs && status == NCS_OK; i++) {
        if (!c->inputs[i].set)
            status = ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                      "input '%s' of kernel '%s' is not set", k->inputs[i].name,
                                      k->name);
    }
    if (status == NCS_OK) {
        c->max_parts = max_parts;
        c->nparts = 1;
        c->state = CALL_PREPARING;
        kernel_scope scope;
        ncs_scope_enter(&scope, c);
        status = ncs_kernel_status(k->prepare(&c->ctx, max_parts));
        ncs_scope_leave(&scope, "prepare", status);
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
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "parts run after a successful prepare and before finish");
    if (part < 0 || part >= c->nparts)
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "part %d is out of range: the call has %d parts", part, c->nparts);
    unsigned char expected = PART_PENDING;
    if (!atomic_compare_exchange_strong(&c->parts[part], &expected, PART_RUNNING))
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT, "part %d already ran",
                                part);
    int status;
    if (atomic_load_explicit(&c->cancelled, memory_order_acquire)) {
        status = ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_CANCELLED, "the call was cancelled");
    } else {
        kernel_scope scope;
        ncs_scope_enter(&scope, c);
        status = ncs_kernel_status(c->kernel->desc.run(&c->ctx, part, c->nparts));
        ncs_scope_leave(&scope, "run", status);
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
    int status = begin(call, CALL_PREPARED, "finish runs once, after a successful prepare");
    if (status != NCS_OK)
        return status;
    ncs_call *c = call;
    for (int i = 0; i < c->nparts; i++) {
        if (atomic_load(&c->parts[i]) != PART_DONE)
            return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                    "part %d of %d has not completed successfully", i, c->nparts);
    }
    if (atomic_load_explicit(&c->cancelled, memory_order_acquire)) {
        status = ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_CANCELLED, "the call was cancelled");
    } else if (c->kernel->desc.finish != NULL) {
        c->state = CALL_FINISHING;
        kernel_scope scope;
        ncs_scope_enter(&scope, c);
        status = ncs_kernel_status(c->kernel->desc.finish(&c->ctx));
        ncs_scope_leave(&scope, "finish", status);
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

NCS_API int ncs_call_output_info(const ncs_call *call, int index, int *dtype, int *rank,
                                 int64_t *shape)
{
    if (call == NULL || dtype == NULL || rank == NULL || shape == NULL || index < 0 ||
        index >= call->kernel->desc.n_outputs)
        return NCS_E_INVALID_ARGUMENT;
    if (call->state != CALL_PREPARED && call->state != CALL_FINISHING &&
        call->state != CALL_FINISHED)
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
    if (call->state != CALL_PREPARED && call->state != CALL_FINISHING &&
        call->state != CALL_FINISHED)
        return NCS_E_INVALID_ARGUMENT;
    *nbytes = call->outputs[index].view.nbytes;
    return NCS_OK;
}

NCS_API int ncs_call_take_output(ncs_call *call, int index, ncs_handle *out)
{
    if (call == NULL)
        return NCS_E_INVALID_ARGUMENT;
    ncs_call *c = call;
    ncs_fault_clear(c);
    const ncs_kernel_desc *k = &c->kernel->desc;
    if (out == NULL)
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "take_output needs an out pointer");
    if (c->state != CALL_FINISHED)
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "outputs can be taken only after finish succeeded");
    if (index < 0 || index >= k->n_outputs)
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "output index %d is out of range: kernel '%s' has %d outputs",
                                index, k->name, k->n_outputs);
    call_output *o = &c->outputs[index];
    if (o->taken)
        return ncs_fault_record(c, NCS_FAULT_CALLER, NCS_E_INVALID_ARGUMENT,
                                "output '%s' was already taken", k->outputs[index].name);
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
