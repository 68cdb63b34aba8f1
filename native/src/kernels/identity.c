/*
 * identity.c -- the "identity" kernel: output y is input x, byte for byte, for every dtype and
 * rank (like Triton's identity model). It exists to test clients, encodings and the transport.
 *
 * Fixed-size dtypes: the output has x's dtype and shape, and parts are contiguous byte ranges of
 * at least IDENTITY_MIN_PART bytes (nbytes / IDENTITY_MIN_PART parts, at least 1, at most
 * max_parts). BYTES: the output is declared with set_output_bytes at x's serialized size and
 * copied by one part (the host has checked x's framing, and checks y's again after the call).
 * Every part copies its range with memcpy in IDENTITY_CHUNK pieces, polling cancellation
 * before each piece and reporting progress in bytes after it.
 */
#include <string.h>

#include "kernels.h"

#define IDENTITY_MIN_PART ((uint64_t)8 << 20) /* bytes */
#define IDENTITY_CHUNK ((uint64_t)4 << 20)    /* bytes between cancellation checks */

/* Every dtype of the protocol. */
#define IDENTITY_DTYPES                                                  \
    (NCS_DTYPE_BIT(NCS_DTYPE_BOOL) | NCS_DTYPE_BIT(NCS_DTYPE_UINT8) |    \
     NCS_DTYPE_BIT(NCS_DTYPE_UINT16) | NCS_DTYPE_BIT(NCS_DTYPE_UINT32) | \
     NCS_DTYPE_BIT(NCS_DTYPE_UINT64) | NCS_DTYPE_BIT(NCS_DTYPE_INT8) |   \
     NCS_DTYPE_BIT(NCS_DTYPE_INT16) | NCS_DTYPE_BIT(NCS_DTYPE_INT32) |   \
     NCS_DTYPE_BIT(NCS_DTYPE_INT64) | NCS_DTYPE_BIT(NCS_DTYPE_FP16) |    \
     NCS_DTYPE_BIT(NCS_DTYPE_FP32) | NCS_DTYPE_BIT(NCS_DTYPE_FP64) |     \
     NCS_DTYPE_BIT(NCS_DTYPE_BYTES) | NCS_DTYPE_BIT(NCS_DTYPE_BF16))

static int identity_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int status = api->input(ctx, 0, &x);
    if (status != NCS_OK)
        return status;
    if (x.dtype == NCS_DTYPE_BYTES)
        return api->set_output_bytes(ctx, 0, x.rank, x.dims, x.nbytes); /* one part */
    status = api->set_output(ctx, 0, x.dtype, x.rank, x.dims);
    if (status != NCS_OK)
        return status;
    uint64_t parts = x.nbytes / IDENTITY_MIN_PART;
    if (parts > (uint64_t)max_parts)
        parts = (uint64_t)max_parts;
    if (parts < 1)
        parts = 1;
    return api->set_parts(ctx, (int)parts);
}

static int identity_run(ncs_ctx *ctx, int part, int nparts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x, y;
    int status = api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = api->output(ctx, 0, &y);
    if (status != NCS_OK)
        return status;
    if (y.nbytes != x.nbytes)
        return api->fail(ctx, NCS_E_INTERNAL, "identity: output has %llu bytes but input has %llu",
                         (unsigned long long)y.nbytes, (unsigned long long)x.nbytes);
    int64_t lo, hi;
    ncs_part_range((int64_t)x.nbytes, part, nparts, &lo, &hi);
    const unsigned char *src = x.data;
    unsigned char *dst = y.data;
    for (uint64_t at = (uint64_t)lo, end = (uint64_t)hi; at < end;) {
        if (api->cancelled(ctx))
            return NCS_E_CANCELLED;
        uint64_t n = end - at < IDENTITY_CHUNK ? end - at : IDENTITY_CHUNK;
        memcpy(dst + at, src + at, (size_t)n);
        at += n;
        api->progress(ctx, n);
    }
    return NCS_OK;
}

static const ncs_tensor_desc identity_inputs[] = {
    {.name = "x",
     .doc = "any tensor: every datatype, any rank",
     .dtypes = IDENTITY_DTYPES,
     .rank = NCS_RANK_ANY},
};

static const ncs_tensor_desc identity_outputs[] = {
    {.name = "y",
     .doc = "x unchanged: same datatype, same shape, same bytes",
     .dtypes = IDENTITY_DTYPES,
     .rank = NCS_RANK_ANY},
};

const ncs_kernel_desc ncs_identity_kernel = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "identity",
    .doc = "returns its input unchanged: for testing clients, encodings and the transport "
           "(like Triton's identity model)",
    .flags = NCS_KERNEL_THREAD_SAFE | NCS_KERNEL_SHARED_INPUTS,
    .n_inputs = 1,
    .inputs = identity_inputs,
    .n_outputs = 1,
    .outputs = identity_outputs,
    .n_params = 0,
    .params = NULL,
    .prepare = identity_prepare,
    .run = identity_run,
    .finish = NULL,
};
