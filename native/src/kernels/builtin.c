/*
 * builtin.c -- entry point of the built-in kernel library, used like any plugin's.
 */
#include "../internal.h"
#include "kernels.h"

int ncs_builtin_register(ncs_registrar *registrar)
{
    const ncs_kernel_desc *kernels[] = {
        &ncs_matmul_kernel, &ncs_describe_kernel,  &ncs_sort_kernel,   &ncs_identity_kernel,
        &ncs_conv2d_kernel, &ncs_histogram_kernel, &ncs_sha256_kernel, &ncs_fft_kernel};
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
        int status = NCS_ADD_KERNEL(registrar, kernels[i]);
        if (status != NCS_OK)
            return status;
    }
    return NCS_OK;
}
