/*
 * kernels.h -- the built-in kernels. They are written against ncs_plugin.h: every host service
 * reaches them through ctx->api, exactly as in a third-party plugin. The one part of the runtime
 * they call is cpu.h, for their run-time choice of instructions (tests/check_layers.sh checks).
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

#endif /* NCS_KERNELS_H */
