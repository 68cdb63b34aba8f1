/*
 * kernels.h -- the built-in kernels. They are written against ncs_plugin.h only: every host
 * service reaches them through ctx->api, exactly as in a third-party plugin.
 */
#ifndef NCS_KERNELS_H
#define NCS_KERNELS_H

#include <stdint.h>

#include "ncs/ncs_plugin.h"

extern const ncs_kernel_desc ncs_matmul_kernel;
extern const ncs_kernel_desc ncs_describe_kernel;
extern const ncs_kernel_desc ncs_sort_kernel;
extern const ncs_kernel_desc ncs_identity_kernel;
extern const ncs_kernel_desc ncs_conv2d_kernel;
extern const ncs_kernel_desc ncs_histogram_kernel;
extern const ncs_kernel_desc ncs_sha256_kernel;
extern const ncs_kernel_desc ncs_fft_kernel;

/** Test hook: non-zero makes matmul use its portable micro-kernel even on AVX2+FMA CPUs. */
void ncs_matmul_force_portable(int on);
/** Test hooks: non-zero makes conv2d / histogram use their portable loops even on AVX2 CPUs. */
void ncs_conv2d_force_portable(int on);
void ncs_histogram_force_portable(int on);
/** Test hook: non-zero makes describe use its portable loops even on AVX2+FMA CPUs. */
void ncs_describe_force_portable(int on);

/** Protocol name of the dtypes the built-in kernels handle, for messages. */
static inline const char *ncs_kernel_dtype_text(int dtype)
{
    switch (dtype) {
    case NCS_DTYPE_INT32: return "INT32";
    case NCS_DTYPE_INT64: return "INT64";
    case NCS_DTYPE_FP32: return "FP32";
    case NCS_DTYPE_FP64: return "FP64";
    default: return "an unsupported datatype";
    }
}

/** Splits n items into nparts near-equal contiguous ranges; part `part` gets [*lo, *hi). */
static inline void ncs_kernel_part_range(int64_t n, int part, int nparts, int64_t *lo, int64_t *hi)
{
    int64_t base = n / nparts, extra = n % nparts;
    *lo = base * part + (part < extra ? part : extra);
    *hi = *lo + base + (part < extra ? 1 : 0);
}

#endif /* NCS_KERNELS_H */
