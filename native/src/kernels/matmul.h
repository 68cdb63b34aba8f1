/*
 * matmul.h -- test hooks of the matmul kernel (internal: never exported, called by the C tests
 * that link the runtime's objects).
 */
#ifndef NCS_KERNELS_MATMUL_H
#define NCS_KERNELS_MATMUL_H

/** Micro-kernel paths of matmul; NCS_MATMUL_BEST picks the best the CPU has (the default). */
enum {
    NCS_MATMUL_BEST = 0,
    NCS_MATMUL_PORTABLE = 1, /* plain C */
    NCS_MATMUL_AVX2 = 2,     /* AVX2 + FMA */
    NCS_MATMUL_AVX512 = 3    /* AVX-512F */
};

/**
 * Test hook: makes every later matmul call use micro-kernel path `path` (process-wide).
 * NCS_E_UNSUPPORTED when this CPU lacks the instructions of that path (nothing changes),
 * NCS_E_INVALID_ARGUMENT for an unknown path.
 */
int ncs_matmul_force_path(int path);

#endif /* NCS_KERNELS_MATMUL_H */
