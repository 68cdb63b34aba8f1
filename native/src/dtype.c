/*
 * dtype.c -- element sizes and protocol names of the data types, and the largest tensor rank.
 */
#include "internal.h"

/* Element sizes; the names are ncs_dtype_text's (ncs_types.h), shared with the kernels. */
static const size_t sizes[] = {
    [NCS_DTYPE_BOOL] = 1,   [NCS_DTYPE_UINT8] = 1, [NCS_DTYPE_UINT16] = 2, [NCS_DTYPE_UINT32] = 4,
    [NCS_DTYPE_UINT64] = 8, [NCS_DTYPE_INT8] = 1,  [NCS_DTYPE_INT16] = 2,  [NCS_DTYPE_INT32] = 4,
    [NCS_DTYPE_INT64] = 8,  [NCS_DTYPE_FP16] = 2,  [NCS_DTYPE_FP32] = 4,   [NCS_DTYPE_FP64] = 8,
    [NCS_DTYPE_BYTES] = 0,  [NCS_DTYPE_BF16] = 2,
};

#define NCS_DTYPE_LAST NCS_DTYPE_BF16

int ncs_dtype_valid(int dtype)
{
    return dtype > NCS_DTYPE_INVALID && dtype <= NCS_DTYPE_LAST;
}

uint32_t ncs_dtype_all_mask(void)
{
    uint32_t mask = 0;
    for (int d = NCS_DTYPE_INVALID + 1; d <= NCS_DTYPE_LAST; d++)
        mask |= NCS_DTYPE_BIT(d);
    return mask;
}

NCS_API size_t ncs_dtype_size(int dtype)
{
    return ncs_dtype_valid(dtype) ? sizes[dtype] : 0;
}

NCS_API const char *ncs_dtype_name(int dtype)
{
    return ncs_dtype_text(dtype);
}

NCS_API int ncs_max_rank(void)
{
    return NCS_MAX_RANK;
}
