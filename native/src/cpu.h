/*
 * cpu.h -- what the CPU offers the built-in kernels, and the one switch the tests use to make
 * every kernel take a slower path (cpu.c). Internal to libncs: never exported.
 *
 * libncs is built for baseline x86-64; a kernel compiles its wider code in functions marked
 * __attribute__((target(...))) and calls them only when ncs_cpu_has says the CPU runs them.
 */
#ifndef NCS_CPU_H
#define NCS_CPU_H

/** Instruction-set features the kernels dispatch on. */
typedef enum ncs_cpu_feature {
    NCS_CPU_AVX2 = 0,     /* AVX2 */
    NCS_CPU_AVX2_FMA = 1, /* AVX2 and FMA */
    NCS_CPU_AVX512F = 2,  /* AVX-512 Foundation */
    NCS_CPU_SHA_NI = 3    /* the SHA extensions and SSE4.1 (sha256's compression function) */
} ncs_cpu_feature;

/** How far the test switch lets kernels go: each level allows the features of those below it. */
typedef enum ncs_cpu_level {
    NCS_CPU_LEVEL_PORTABLE = 0, /* no feature: every kernel runs its plain C code */
    NCS_CPU_LEVEL_AVX2 = 1,     /* AVX2, AVX2+FMA and SHA-NI, not AVX-512 */
    NCS_CPU_LEVEL_BEST = 2      /* whatever the CPU has (the default) */
} ncs_cpu_level;

/** 1 when the CPU has `feature` and the test switch allows it, else 0. Cheap (cached). */
int ncs_cpu_has(ncs_cpu_feature feature);

/** 1 when the CPU has `feature`, whatever the test switch says (for sizes that must hold for
 *  every path a later call could take). */
int ncs_cpu_detected(ncs_cpu_feature feature);

/**
 * Test hook, the only one for CPU dispatch: from now on ncs_cpu_has reports only the features of
 * `level` and below (process-wide; NCS_CPU_LEVEL_BEST restores the default). Never called by the
 * library itself. NCS_E_UNSUPPORTED when this CPU lacks what the level is about (AVX2 and FMA
 * for NCS_CPU_LEVEL_AVX2: nothing changes), NCS_E_INVALID_ARGUMENT for an unknown level.
 */
int ncs_cpu_test_limit(int level);

#endif /* NCS_CPU_H */
