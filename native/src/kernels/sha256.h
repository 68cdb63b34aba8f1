/*
 * sha256.h -- test hooks of the "sha256" kernel (sha256.c). Internal: never exported, never
 * called by the library itself; the C tests that link the runtime's objects use them to cover
 * both compression functions on any CPU.
 */
#ifndef NCS_KERNELS_SHA256_H
#define NCS_KERNELS_SHA256_H

/** Test hook: non-zero makes sha256 use its portable C compression function even on CPUs with
 *  the SHA extensions (SHA-NI); zero restores the run-time choice. */
void ncs_sha256_force_portable(int on);

/** 1 when sha256 would now use the SHA-NI compression function (the CPU has SHA and SSE4.1 and
 *  the portable path is not forced), else 0. */
int ncs_sha256_uses_sha_ni(void);

#endif /* NCS_KERNELS_SHA256_H */
