/*
 * tensor.c -- checks of a call's tensors: dtype, rank and dims against the kernel's descriptor
 * (inputs for the caller, outputs for the kernel, each side blamed for its own), and the framing
 * of BYTES tensors.
 */
#include <stdio.h>
#include <string.h>

#include "call.h"

/* "FP64, FP32"-style list of the dtypes in a mask. */
static const char *dtype_list(uint32_t mask, char *text, size_t capacity)
{
    size_t used = 0;
    text[0] = '\0';
    for (int d = NCS_DTYPE_INVALID + 1; ncs_dtype_valid(d) && used < capacity; d++) {
        if (mask & NCS_DTYPE_BIT(d))
            used += (size_t)snprintf(text + used, capacity - used, "%s%s", used ? ", " : "",
                                     ncs_dtype_text(d));
    }
    return text;
}

const char *ncs_shape_text(int rank, const int64_t *dims, char *text, size_t capacity)
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

int ncs_tensor_check(ncs_call *c, ncs_tensor_role role, const ncs_tensor_desc *d, int dtype,
                     int rank, const int64_t *dims, ncs_tensor_view *view)
{
    /* Inputs are checked for the caller (ncs_call_set_input), outputs for the kernel (host
       services): each side is blamed for its own tensors. */
    ncs_fault side = role == NCS_TENSOR_OUTPUT ? NCS_FAULT_KERNEL : NCS_FAULT_CALLER;
    const char *what = role == NCS_TENSOR_OUTPUT ? "output" : "input";
    const char *kernel = c->kernel->desc.name;
    char list[160];
    if (!ncs_dtype_valid(dtype))
        return ncs_fault_record(c, side, NCS_E_INVALID_ARGUMENT, "%s '%s': %d is not a datatype",
                                what, d->name, dtype);
    if (!(d->dtypes & NCS_DTYPE_BIT(dtype)))
        return ncs_fault_record(
            c, side, NCS_E_INVALID_ARGUMENT, "%s '%s' is %s but kernel '%s' accepts %s", what,
            d->name, ncs_dtype_text(dtype), kernel, dtype_list(d->dtypes, list, sizeof list));
    if (rank < 0 || rank > NCS_MAX_RANK)
        return ncs_fault_record(c, side, NCS_E_INVALID_ARGUMENT,
                                "%s '%s' has rank %d: ranks go from 0 to %d", what, d->name, rank,
                                NCS_MAX_RANK);
    if (d->rank != NCS_RANK_ANY && rank != d->rank)
        return ncs_fault_record(c, side, NCS_E_INVALID_ARGUMENT,
                                "%s '%s' has rank %d but kernel '%s' needs rank %d", what, d->name,
                                rank, kernel, d->rank);
    if (rank > 0 && dims == NULL)
        return ncs_fault_record(c, side, NCS_E_INVALID_ARGUMENT, "%s '%s': the shape is NULL", what,
                                d->name);
    int64_t count = 1;
    for (int r = 0; r < rank; r++) {
        if (dims[r] < 0)
            return ncs_fault_record(
                c, side, NCS_E_INVALID_ARGUMENT,
                "%s '%s' has dimension %lld at axis %d: dimensions cannot be negative", what,
                d->name, (long long)dims[r], r);
        if (d->rank != NCS_RANK_ANY && d->dims[r] != NCS_DIM_ANY && dims[r] != d->dims[r])
            return ncs_fault_record(
                c, side, NCS_E_INVALID_ARGUMENT,
                "%s '%s' has dimension %lld at axis %d but kernel '%s' needs %lld", what, d->name,
                (long long)dims[r], r, kernel, (long long)d->dims[r]);
    }
    for (int r = 0; r < rank; r++) {
        if (__builtin_mul_overflow(count, dims[r], &count))
            return ncs_fault_record(c, side, NCS_E_INVALID_ARGUMENT,
                                    "%s '%s' with shape %s has more elements than fit in 64 bits",
                                    what, d->name, ncs_shape_text(rank, dims, list, sizeof list));
    }
    uint64_t nbytes = 0;
    if (dtype != NCS_DTYPE_BYTES &&
        __builtin_mul_overflow((uint64_t)count, (uint64_t)ncs_dtype_size(dtype), &nbytes))
        return ncs_fault_record(c, side, NCS_E_INVALID_ARGUMENT,
                                "%s '%s' with shape %s has more bytes than fit in 64 bits", what,
                                d->name, ncs_shape_text(rank, dims, list, sizeof list));
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

/* BYTES elements: a 4-byte little-endian length, then that many bytes. */
int ncs_bytes_framing_valid(const unsigned char *data, uint64_t size, int64_t count, char *why,
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
