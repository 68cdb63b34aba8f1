/*
 * call_fault.c -- error recording of kernel calls: who is at fault, and which message the call
 * reports.
 *
 * ncs_call_error shows the call's first failure since the last single-threaded entry point
 * (which clears it). A failure is recorded once its status is final: a failure blamed on the
 * caller (NCS_FAULT_CALLER: the host's entry points) at once, and one blamed on the kernel
 * (NCS_FAULT_KERNEL: a kernel callback, or a host service refusing it) when its step (prepare, a
 * part's run, finish) returns a failure. While a callback runs, the messages it (or a host
 * service on its behalf) records are only tentative, kept in a kernel_scope on the calling
 * thread's stack: the last one is recorded if the callback fails and dropped if it succeeds, so
 * parts cannot overwrite each other's messages. The first failure wins, except that a real
 * failure replaces an NCS_E_CANCELLED one (a sibling that stopped because of it is not the
 * cause). The recorded text lives in one of two buffers, each written at most once between
 * clears, and is published through an atomic pointer, so ncs_call_error can be read by a part's
 * thread while other parts still run.
 *
 * The library lock. A kernel registered without NCS_KERNEL_THREAD_SAFE runs each step holding
 * its library's lock, taken when the step's kernel_scope is entered and given back when it is
 * left. The scope also records whether the step has released the lock (release_lock /
 * reacquire_lock in host_api.c): a step that returns with the lock released is simply not
 * unlocked again.
 */
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "library.h"

static _Thread_local kernel_scope *current_scope;

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

void ncs_fault_note_v(ncs_call *c, const char *fmt, va_list ap)
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

int ncs_fault_record(ncs_call *c, ncs_fault side, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (side == NCS_FAULT_KERNEL) {
        ncs_fault_note_v(c, fmt, ap);
    } else {
        char text[ERROR_CAPACITY];
        vsnprintf(text, sizeof text, fmt, ap);
        record_failure(c, status, text);
    }
    va_end(ap);
    return status;
}

void ncs_fault_clear(ncs_call *c)
{
    pthread_mutex_lock(&c->lock);
    c->failure = NCS_OK;
    c->has_stray = 0;
    atomic_store_explicit(&c->error, "", memory_order_release);
    pthread_mutex_unlock(&c->lock);
}

void ncs_scope_enter(kernel_scope *scope, ncs_call *c)
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

kernel_scope *ncs_scope_of(const ncs_call *c)
{
    for (kernel_scope *scope = current_scope; scope != NULL; scope = scope->outer) {
        if (scope->call == c)
            return scope;
    }
    return NULL;
}

void ncs_scope_leave(kernel_scope *scope, const char *phase, int status)
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

int ncs_kernel_status(int status)
{
    return (status >= NCS_OK && status <= NCS_E_INTERNAL) ? status : NCS_E_INTERNAL;
}
