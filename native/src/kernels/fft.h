/*
 * fft.h -- internal declarations of the "fft" kernel (src/kernels/fft.c) for its C tests.
 * Nothing here is exported from libncs.
 */
#ifndef NCS_KERNELS_FFT_H
#define NCS_KERNELS_FFT_H

/** Test hook: non-zero makes fft use its portable butterflies even on AVX2+FMA CPUs. */
void ncs_fft_force_portable(int on);

#endif /* NCS_KERNELS_FFT_H */
