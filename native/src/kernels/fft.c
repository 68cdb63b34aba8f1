/*
 * fft.c -- the "fft" kernel: discrete Fourier transform of complex FP64 or FP32 data
 * [..., n, 2] over the n axis, batched over the leading axes, with numpy.fft's conventions
 * (forward: y_k = sum_j x_j exp(-2 pi i jk/n), unnormalised; inverse: +i and divided by n).
 *
 * Arithmetic is always FP64: FP32 values are widened on load and rounded once on store, so FP32
 * results are more accurate than numpy's float32 transforms (their error is that one rounding).
 * The inverse transform is conj(FFT(conj(x))) / n, so every algorithm below only runs forward.
 *
 * Algorithms, by the prime factors of n:
 *  - Only factors 2, 3, 5, 7, 11, 13 ("smooth" n): mixed-radix Stockham passes (radix 4 first,
 *    then 2, 3, 5 and a generic odd-radix butterfly for 7, 11 and 13), out of place between two
 *    buffers, no bit reversal. Radix 2, 3, 4 and 5 passes have AVX2+FMA versions chosen at run
 *    time; the portable ones are plain C (ncs_cpu_test_limit, cpu.h, selects them for the tests).
 *    Up to FFT_SMALL_MAX points the passes run on the whole transform, in cache. Longer
 *    transforms use the four-step algorithm: n = n1 n2 with n2 the largest divisor <= sqrt(n);
 *    phase 1 runs the n1 column FFTs (length n2, on FFT_BLOCK columns at once, so every
 *    butterfly works on contiguous vectors), multiplies by the twiddles w_n^(j1 k2) and stores
 *    the rows of an intermediate matrix; phase 2 runs the n2 FFTs of length n1 on blocks of
 *    columns of that matrix and stores them to the result. Phase 2 reads and writes the same
 *    column block, so when the result is an FP64 array (the output tensor, a part's own slots of
 *    it, or a Bluestein buffer) it is also the intermediate and no extra memory is needed (FP32
 *    outputs use a workspace intermediate). Strided rows are prefetched a few rows ahead.
 *  - Any prime factor > 13: Bluestein's algorithm, a circular convolution of length m (the
 *    power of two >= 2n - 1) done with the power-of-two FFT above: chirp c_k = exp(-i pi k^2/n)
 *    (k^2 reduced modulo 2n in integers, updated incrementally, so the angle is exact),
 *    y = c * (conj(c) conv (x c)).
 * Twiddles come from two tables of about sqrt(N) roots each (w^t = hi[t >> s] lo[t & mask]),
 * every root computed by sin/cos of an angle folded into the first octant, so twiddles are
 * accurate to an ulp or two and a plan costs O(sqrt n) sin/cos calls plus O(n) multiplies.
 *
 * Parts and plans: prepare only sizes things. Each part builds its own plans (factorisation,
 * twiddles, Bluestein chirp tables and the chirp's transform) in its own slice of the workspace
 * (nothing is cached across calls) and then runs its share of "units". With several transforms
 * (batch b) that divide evenly over the parts or outnumber them four to one, a unit is one
 * transform. Otherwise (a single transform, [2^20, 2] say, or a few) each transform is split S
 * ways (S <= 8 divides n, or m for Bluestein; see choose_split, S may exceed the parts: 3 ways
 * over 2 parts for n = 3^k) by one decimation-in-frequency step: unit r computes
 *     z_r[j] = w_n^(jr) sum_q x[j + q n/S] w_S^(qr),  j < n/S,
 * whose FFT of length n/S is exactly the outputs y[S k + r]. So every unit reads the whole input
 * (fused into the four-step's first load: one row pass per range q, then the combination), and
 * transforms an independent sub-problem with no barrier between parts: no phase waits for
 * another part, so parts may run concurrently or one after the other. Unit r uses its own
 * output slots y[S k + r] as its intermediate; units start both phases at different blocks
 * (r/S of the way through) so concurrent parts do not write the same cache lines at once.
 * A split Bluestein transform does the same to both length-m FFTs (the chirp's, the data's) and
 * the inverse FFT of their product per residue r; the last radix-S step of that inverse (a
 * pass over the n outputs that needs every residue) is done by finish. That is the only work
 * finish does.
 *
 * Cancellation is polled once per block of FFT_BLOCK columns in the four-step algorithm and
 * every FFT_POLL_POINTS points of small transforms; progress counts transformed points (the
 * total is batch * n).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"

#define FFT_SMALL_MAX (1 << 13)        /* longest transform done by direct Stockham passes */
#define FFT_BLOCK 16                   /* columns per block of the four-step algorithm */
#define FFT_GENERIC_MAX 13             /* largest prime done by a radix pass; larger: Bluestein */
#define FFT_MAX_SPLIT 8                /* most ways one transform is split across parts */
#define FFT_MIN_PART_POINTS (1 << 15)  /* fewest points per part */
#define FFT_MIN_SPLIT_POINTS (1 << 12) /* shortest sub-transform of a split transform */
#define FFT_POLL_POINTS (1 << 16)      /* points of small transforms between cancellation checks */
#define FFT_MAX_FACTORS 64
#define FFT_PREFETCH_ROWS 8        /* rows ahead the four-step algorithm prefetches */
#define FFT_PREFETCH_NEXT_MAX 4096 /* longest transform whose successor is prefetched whole */
#define FFT_CHUNK 64               /* complex values per step of the split loader */
#define FFT_HEADER 64              /* workspace bytes before the shared area */
#define FFT_BLUE_MAX_N (INT64_C(1) << 31) /* k^2 mod 2n is computed in 64-bit integers */

#define FFT_TWO_PI 6.283185307179586476925286766559005768

#define AVX2_FMA __attribute__((target("avx2,fma")))

/* ---- bump allocation in a workspace slice ---------------------------------------------- */

/* With base == NULL it only measures: every take returns NULL and nothing is computed. */
typedef struct fft_arena {
    unsigned char *base;
    uint64_t used;
} fft_arena;

static double *arena_take(fft_arena *a, uint64_t complex_count)
{
    uint64_t offset = (a->used + 63) & ~(uint64_t)63;
    a->used = offset + complex_count * 16;
    return a->base ? (double *)(void *)(a->base + offset) : NULL;
}

/* ---- roots of unity -------------------------------------------------------------------- */

/* exp(-2 pi i t / n) for 0 <= t < n: the angle is folded into [0, pi/4] with exact integer
   arithmetic on 8t and 8n, so sin and cos see a small, correctly scaled argument. */
static void unit_root(int64_t t, int64_t n, double *re, double *im)
{
    int64_t a = 8 * t, full = 8 * n;
    int neg_sin = 0, neg_cos = 0, swap = 0;
    if (a > full / 2) {
        a = full - a;
        neg_sin = 1;
    }
    if (a > full / 4) {
        a = full / 2 - a;
        neg_cos = 1;
    }
    if (a > full / 8) {
        a = full / 4 - a;
        swap = 1;
    }
    double theta = FFT_TWO_PI * ((double)a / (double)full);
    double c = cos(theta), s = sin(theta);
    if (swap) {
        double tmp = c;
        c = s;
        s = tmp;
    }
    *re = neg_cos ? -c : c;
    *im = neg_sin ? s : -s;
}

/* w^t = exp(-2 pi i t / n) as hi[t >> shift] * lo[t & mask]. */
typedef struct fft_roots {
    int64_t n;
    int shift;
    int64_t mask;
    double *lo, *hi;
} fft_roots;

static void roots_init(fft_roots *r, fft_arena *a, int64_t n)
{
    int bits = 0;
    while ((INT64_C(1) << bits) < n)
        bits++;
    r->n = n;
    r->shift = (bits + 1) / 2;
    r->mask = (INT64_C(1) << r->shift) - 1;
    int64_t nlo = r->mask + 1, nhi = (n + r->mask) >> r->shift;
    r->lo = arena_take(a, (uint64_t)nlo);
    r->hi = arena_take(a, (uint64_t)nhi);
    if (a->base == NULL)
        return;
    for (int64_t t = 0; t < nlo; t++)
        unit_root(t % n, n, &r->lo[2 * t], &r->lo[2 * t + 1]);
    for (int64_t t = 0; t < nhi; t++)
        unit_root(t << r->shift, n, &r->hi[2 * t], &r->hi[2 * t + 1]);
}

static inline void root_get(const fft_roots *r, int64_t t, double *re, double *im)
{
    const double *l = r->lo + 2 * (t & r->mask), *h = r->hi + 2 * (t >> r->shift);
    *re = h[0] * l[0] - h[1] * l[1];
    *im = h[0] * l[1] + h[1] * l[0];
}

/* ---- factorisation ---------------------------------------------------------------------- */

static const int fft_primes[] = {2, 3, 5, 7, 11, 13};

/* The part of n made of primes > FFT_GENERIC_MAX (1 when n is smooth). */
static int64_t rough_part(int64_t n)
{
    for (size_t i = 0; i < sizeof fft_primes / sizeof fft_primes[0]; i++)
        while (n % fft_primes[i] == 0)
            n /= fft_primes[i];
    return n;
}

/* Radices of a smooth n, in pass order: 4s, then one 2 (first, where ido is largest), then
   3, 5, 7, 11, 13. */
static int factorize(int64_t n, int *fac)
{
    int count = 0;
    while (n % 4 == 0) {
        fac[count++] = 4;
        n /= 4;
    }
    if (n % 2 == 0) {
        n /= 2;
        for (int i = count; i > 0; i--)
            fac[i] = fac[i - 1];
        fac[0] = 2;
        count++;
    }
    for (size_t i = 1; i < sizeof fft_primes / sizeof fft_primes[0]; i++) {
        while (n % fft_primes[i] == 0) {
            fac[count++] = fft_primes[i];
            n /= fft_primes[i];
        }
    }
    return count;
}

/* Largest divisor of the smooth n that is <= sqrt(n): a search over the exponents of each
   prime (at most a few thousand divisors for any n that fits in memory). */
static int64_t divisor_search(const int64_t *exps, size_t i, int64_t d, int64_t n)
{
    if (i == sizeof fft_primes / sizeof fft_primes[0])
        return d;
    int64_t best = divisor_search(exps, i + 1, d, n);
    for (int64_t e = 1; e <= exps[i] && d * fft_primes[i] <= n / (d * fft_primes[i]); e++) {
        d *= fft_primes[i];
        int64_t with = divisor_search(exps, i + 1, d, n);
        if (with > best)
            best = with;
    }
    return best;
}

static int64_t best_divisor(int64_t n)
{
    int64_t exps[sizeof fft_primes / sizeof fft_primes[0]] = {0}, rest = n;
    for (size_t i = 0; i < sizeof fft_primes / sizeof fft_primes[0]; i++)
        for (; rest % fft_primes[i] == 0; rest /= fft_primes[i])
            exps[i]++;
    return divisor_search(exps, 0, 1, n);
}

/* ---- Stockham plans -------------------------------------------------------------------- */

/* Pass s with radix p = fac[s] on l1 = fac[0] ... fac[s-1] and ido = n / (l1 p) reads
   cc[i + ido (j + p k)] and writes ch[i + ido (k + l1 j)] (j < p, k < l1, i < ido); each index
   names a vector of V complex values (V columns transformed together). Output j >= 1 is
   multiplied by tw[s][(j-1) ido + i] = w_n^(j l1 i); generic radices keep their p roots
   w_p^t after those. */
typedef struct fft_small {
    int64_t n;
    int nfac;
    int fac[FFT_MAX_FACTORS];
    double *tw[FFT_MAX_FACTORS];
} fft_small;

static void small_init(fft_small *p, fft_arena *a, int64_t n)
{
    p->n = n;
    p->nfac = factorize(n, p->fac);
    fft_roots r;
    roots_init(&r, a, n);
    int64_t l1 = 1;
    for (int s = 0; s < p->nfac; s++) {
        int ip = p->fac[s];
        int64_t ido = n / (l1 * ip);
        int generic = ip > 5;
        p->tw[s] = arena_take(a, (uint64_t)((ip - 1) * ido + (generic ? ip : 0)));
        if (a->base != NULL) {
            double *w = p->tw[s];
            for (int j = 1; j < ip; j++)
                for (int64_t i = 0; i < ido; i++)
                    root_get(&r, j * l1 * i, &w[2 * ((j - 1) * ido + i)],
                             &w[2 * ((j - 1) * ido + i) + 1]);
            if (generic) {
                double *rt = w + 2 * (ip - 1) * ido;
                for (int t = 0; t < ip; t++)
                    unit_root(t, ip, &rt[2 * t], &rt[2 * t + 1]);
            }
        }
        l1 *= ip;
    }
}

/* ---- scalar butterflies (portable passes, and the AVX2 passes' odd leftovers) ----------- */
/* x_j = x + j xs, y_q = y + q ys (strides in doubles); y_q for q >= 1 is multiplied by
   w + (q-1) ws when w is not NULL. */

static inline void twiddle_store(double *y, double re, double im, const double *w)
{
    if (w) {
        y[0] = re * w[0] - im * w[1];
        y[1] = re * w[1] + im * w[0];
    } else {
        y[0] = re;
        y[1] = im;
    }
}

static inline void bf2_scalar(const double *x, int64_t xs, double *y, int64_t ys, const double *w,
                              int64_t ws)
{
    (void)ws;
    double ar = x[0], ai = x[1], br = x[xs], bi = x[xs + 1];
    y[0] = ar + br;
    y[1] = ai + bi;
    twiddle_store(y + ys, ar - br, ai - bi, w);
}

static inline void bf3_scalar(const double *x, int64_t xs, double *y, int64_t ys, const double *w,
                              int64_t ws)
{
    const double tw1i = -0.866025403784438646763723170752936183; /* -sin(2 pi / 3) */
    double x0r = x[0], x0i = x[1];
    double t1r = x[xs] + x[2 * xs], t1i = x[xs + 1] + x[2 * xs + 1];
    double t2r = x[xs] - x[2 * xs], t2i = x[xs + 1] - x[2 * xs + 1];
    y[0] = x0r + t1r;
    y[1] = x0i + t1i;
    double car = x0r - 0.5 * t1r, cai = x0i - 0.5 * t1i;
    double cbr = -tw1i * t2i, cbi = tw1i * t2r;
    twiddle_store(y + ys, car + cbr, cai + cbi, w);
    twiddle_store(y + 2 * ys, car - cbr, cai - cbi, w ? w + ws : NULL);
}

static inline void bf4_scalar(const double *x, int64_t xs, double *y, int64_t ys, const double *w,
                              int64_t ws)
{
    double t0r = x[0] + x[2 * xs], t0i = x[1] + x[2 * xs + 1];
    double t1r = x[0] - x[2 * xs], t1i = x[1] - x[2 * xs + 1];
    double t2r = x[xs] + x[3 * xs], t2i = x[xs + 1] + x[3 * xs + 1];
    /* t3 = (x1 - x3) * (-i) */
    double t3r = x[xs + 1] - x[3 * xs + 1], t3i = x[3 * xs] - x[xs];
    y[0] = t0r + t2r;
    y[1] = t0i + t2i;
    twiddle_store(y + ys, t1r + t3r, t1i + t3i, w);
    twiddle_store(y + 2 * ys, t0r - t2r, t0i - t2i, w ? w + ws : NULL);
    twiddle_store(y + 3 * ys, t1r - t3r, t1i - t3i, w ? w + 2 * ws : NULL);
}

static inline void bf5_scalar(const double *x, int64_t xs, double *y, int64_t ys, const double *w,
                              int64_t ws)
{
    const double tw1r = 0.309016994374947424102293417182819059;  /* cos(2 pi / 5) */
    const double tw1i = -0.951056516295153572116439333379382143; /* -sin(2 pi / 5) */
    const double tw2r = -0.809016994374947424102293417182819059; /* cos(4 pi / 5) */
    const double tw2i = -0.587785252292473129168705954639072769; /* -sin(4 pi / 5) */
    double t0r = x[0], t0i = x[1];
    double t1r = x[xs] + x[4 * xs], t1i = x[xs + 1] + x[4 * xs + 1];
    double t4r = x[xs] - x[4 * xs], t4i = x[xs + 1] - x[4 * xs + 1];
    double t2r = x[2 * xs] + x[3 * xs], t2i = x[2 * xs + 1] + x[3 * xs + 1];
    double t3r = x[2 * xs] - x[3 * xs], t3i = x[2 * xs + 1] - x[3 * xs + 1];
    y[0] = t0r + t1r + t2r;
    y[1] = t0i + t1i + t2i;
    double car = t0r + tw1r * t1r + tw2r * t2r, cai = t0i + tw1r * t1i + tw2r * t2i;
    double cbr = -(tw1i * t4i + tw2i * t3i), cbi = tw1i * t4r + tw2i * t3r;
    double ccr = t0r + tw2r * t1r + tw1r * t2r, cci = t0i + tw2r * t1i + tw1r * t2i;
    double cdr = -(tw2i * t4i - tw1i * t3i), cdi = tw2i * t4r - tw1i * t3r;
    twiddle_store(y + ys, car + cbr, cai + cbi, w);
    twiddle_store(y + 2 * ys, ccr + cdr, cci + cdi, w ? w + ws : NULL);
    twiddle_store(y + 3 * ys, ccr - cdr, cci - cdi, w ? w + 2 * ws : NULL);
    twiddle_store(y + 4 * ys, car - cbr, cai - cbi, w ? w + 3 * ws : NULL);
}

/* Odd prime p <= FFT_GENERIC_MAX; rt[t] = w_p^t. Pairs j, p - j share their cosines. */
static inline void bfg_scalar(int p, const double *x, int64_t xs, double *y, int64_t ys,
                              const double *w, int64_t ws, const double *rt)
{
    double xr[FFT_GENERIC_MAX], xi[FFT_GENERIC_MAX];
    double y0r = 0, y0i = 0;
    for (int j = 0; j < p; j++) {
        xr[j] = x[j * xs];
        xi[j] = x[j * xs + 1];
        y0r += xr[j];
        y0i += xi[j];
    }
    y[0] = y0r;
    y[1] = y0i;
    int h = (p - 1) / 2;
    for (int q = 1; q <= h; q++) {
        double ar = xr[0], ai = xi[0], br = 0, bi = 0;
        for (int j = 1; j <= h; j++) {
            int t = (j * q) % p;
            double c = rt[2 * t], s = rt[2 * t + 1];
            ar += c * (xr[j] + xr[p - j]);
            ai += c * (xi[j] + xi[p - j]);
            br += s * (xr[j] - xr[p - j]);
            bi += s * (xi[j] - xi[p - j]);
        }
        twiddle_store(y + q * ys, ar - bi, ai + br, w ? w + (q - 1) * ws : NULL);
        twiddle_store(y + (p - q) * ys, ar + bi, ai - br, w ? w + (p - q - 1) * ws : NULL);
    }
}

/* ---- portable passes -------------------------------------------------------------------- */

static void pass_portable(int ip, int64_t ido, int64_t l1, int64_t V, const double *cc, double *ch,
                          const double *wa)
{
    const int64_t xs = 2 * V * ido, ys = 2 * V * ido * l1, ws = 2 * ido;
    const double *rt = wa + 2 * (ip - 1) * ido;
    for (int64_t k = 0; k < l1; k++) {
        for (int64_t i = 0; i < ido; i++) {
            const double *x = cc + 2 * V * (i + ido * ip * k);
            double *y = ch + 2 * V * (i + ido * k);
            const double *w = i ? wa + 2 * i : NULL;
            switch (ip) {
            case 2:
                for (int64_t v = 0; v < V; v++)
                    bf2_scalar(x + 2 * v, xs, y + 2 * v, ys, w, ws);
                break;
            case 3:
                for (int64_t v = 0; v < V; v++)
                    bf3_scalar(x + 2 * v, xs, y + 2 * v, ys, w, ws);
                break;
            case 4:
                for (int64_t v = 0; v < V; v++)
                    bf4_scalar(x + 2 * v, xs, y + 2 * v, ys, w, ws);
                break;
            case 5:
                for (int64_t v = 0; v < V; v++)
                    bf5_scalar(x + 2 * v, xs, y + 2 * v, ys, w, ws);
                break;
            default:
                for (int64_t v = 0; v < V; v++)
                    bfg_scalar(ip, x + 2 * v, xs, y + 2 * v, ys, w, ws, rt);
                break;
            }
        }
    }
}

/* ---- AVX2+FMA passes (radix 2 and 4; two complex values per vector) --------------------- */

AVX2_FMA static inline __m256d v_cmul(__m256d a, __m256d w)
{
    __m256d wr = _mm256_movedup_pd(w), wi = _mm256_permute_pd(w, 0xF);
    return _mm256_fmaddsub_pd(a, wr, _mm256_mul_pd(_mm256_permute_pd(a, 0x5), wi));
}

/* a * (-i) = (im, -re) */
AVX2_FMA static inline __m256d v_negi(__m256d a)
{
    return _mm256_xor_pd(_mm256_permute_pd(a, 0x5), _mm256_set_pd(-0.0, 0.0, -0.0, 0.0));
}

AVX2_FMA static inline __m256d v_load2(const double *p0, const double *p1)
{
    return _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(p0)), _mm_loadu_pd(p1), 1);
}

/* a * i = (-im, re) */
AVX2_FMA static inline __m256d v_posi(__m256d a)
{
    return _mm256_xor_pd(_mm256_permute_pd(a, 0x5), _mm256_set_pd(0.0, -0.0, 0.0, -0.0));
}

/* Butterflies on vectors of two complex values, same formulas as the scalar ones. */
AVX2_FMA static inline void v_bf2(const __m256d *x, __m256d *y)
{
    y[0] = _mm256_add_pd(x[0], x[1]);
    y[1] = _mm256_sub_pd(x[0], x[1]);
}

AVX2_FMA static inline void v_bf3(const __m256d *x, __m256d *y)
{
    const __m256d half = _mm256_set1_pd(0.5),
                  tw1i = _mm256_set1_pd(-0.866025403784438646763723170752936183);
    __m256d t1 = _mm256_add_pd(x[1], x[2]), t2 = _mm256_sub_pd(x[1], x[2]);
    y[0] = _mm256_add_pd(x[0], t1);
    __m256d ca = _mm256_fnmadd_pd(half, t1, x[0]), cb = v_posi(_mm256_mul_pd(tw1i, t2));
    y[1] = _mm256_add_pd(ca, cb);
    y[2] = _mm256_sub_pd(ca, cb);
}

AVX2_FMA static inline void v_bf4(const __m256d *x, __m256d *y)
{
    __m256d t0 = _mm256_add_pd(x[0], x[2]), t1 = _mm256_sub_pd(x[0], x[2]);
    __m256d t2 = _mm256_add_pd(x[1], x[3]), t3 = v_negi(_mm256_sub_pd(x[1], x[3]));
    y[0] = _mm256_add_pd(t0, t2);
    y[1] = _mm256_add_pd(t1, t3);
    y[2] = _mm256_sub_pd(t0, t2);
    y[3] = _mm256_sub_pd(t1, t3);
}

AVX2_FMA static inline void v_bf5(const __m256d *x, __m256d *y)
{
    const __m256d tw1r = _mm256_set1_pd(0.309016994374947424102293417182819059);
    const __m256d tw1i = _mm256_set1_pd(-0.951056516295153572116439333379382143);
    const __m256d tw2r = _mm256_set1_pd(-0.809016994374947424102293417182819059);
    const __m256d tw2i = _mm256_set1_pd(-0.587785252292473129168705954639072769);
    __m256d t1 = _mm256_add_pd(x[1], x[4]), t4 = _mm256_sub_pd(x[1], x[4]);
    __m256d t2 = _mm256_add_pd(x[2], x[3]), t3 = _mm256_sub_pd(x[2], x[3]);
    y[0] = _mm256_add_pd(x[0], _mm256_add_pd(t1, t2));
    __m256d ca = _mm256_fmadd_pd(tw2r, t2, _mm256_fmadd_pd(tw1r, t1, x[0]));
    __m256d cb = v_posi(_mm256_fmadd_pd(tw2i, t3, _mm256_mul_pd(tw1i, t4)));
    __m256d cc = _mm256_fmadd_pd(tw1r, t2, _mm256_fmadd_pd(tw2r, t1, x[0]));
    __m256d cd = v_posi(_mm256_fnmadd_pd(tw1i, t3, _mm256_mul_pd(tw2i, t4)));
    y[1] = _mm256_add_pd(ca, cb);
    y[4] = _mm256_sub_pd(ca, cb);
    y[2] = _mm256_add_pd(cc, cd);
    y[3] = _mm256_sub_pd(cc, cd);
}

/*
 * AVX2 pass of radix P (same layout as pass_portable). Three shapes: the last pass of a single
 * column (V = 1, ido = 1: vectors along k, inputs from two places), single columns (V = 1:
 * vectors along i, twiddles loaded per i) and column blocks (V even: vectors along the
 * columns, twiddles broadcast). Odd V > 1 (a narrow last block) uses the portable pass.
 */
#define DEFINE_PASS_AVX2(P)                                                                   \
    AVX2_FMA static void pass##P##_avx2(int64_t ido, int64_t l1, int64_t V, const double *cc, \
                                        double *ch, const double *wa)                         \
    {                                                                                         \
        const int64_t xs = 2 * V * ido, ys = 2 * V * ido * l1, ws = 2 * ido;                  \
        __m256d x[P], y[P];                                                                   \
        if (V == 1 && ido == 1) { /* x_j(k) = cc[j + P k], y_q(k) = ch[k + l1 q] */           \
            int64_t k = 0;                                                                    \
            for (; k + 2 <= l1; k += 2) {                                                     \
                const double *p = cc + 2 * P * k;                                             \
                for (int j = 0; j < P; j++)                                                   \
                    x[j] = v_load2(p + 2 * j, p + 2 * P + 2 * j);                             \
                v_bf##P(x, y);                                                                \
                for (int q = 0; q < P; q++)                                                   \
                    _mm256_storeu_pd(ch + 2 * (k + l1 * q), y[q]);                            \
            }                                                                                 \
            for (; k < l1; k++)                                                               \
                bf##P##_scalar(cc + 2 * P * k, 2, ch + 2 * k, 2 * l1, NULL, 0);               \
            return;                                                                           \
        }                                                                                     \
        if (V == 1) {                                                                         \
            for (int64_t k = 0; k < l1; k++) {                                                \
                const double *p = cc + 2 * ido * P * k;                                       \
                double *o = ch + 2 * ido * k;                                                 \
                int64_t i = 0;                                                                \
                for (; i + 2 <= ido; i += 2) {                                                \
                    for (int j = 0; j < P; j++)                                               \
                        x[j] = _mm256_loadu_pd(p + 2 * i + j * xs);                           \
                    v_bf##P(x, y);                                                            \
                    _mm256_storeu_pd(o + 2 * i, y[0]);                                        \
                    for (int q = 1; q < P; q++)                                               \
                        _mm256_storeu_pd(                                                     \
                            o + 2 * i + q * ys,                                               \
                            v_cmul(y[q], _mm256_loadu_pd(wa + 2 * i + (q - 1) * ws)));        \
                }                                                                             \
                for (; i < ido; i++)                                                          \
                    bf##P##_scalar(p + 2 * i, xs, o + 2 * i, ys, i ? wa + 2 * i : NULL, ws);  \
            }                                                                                 \
            return;                                                                           \
        }                                                                                     \
        if (V % 2) {                                                                          \
            pass_portable(P, ido, l1, V, cc, ch, wa);                                         \
            return;                                                                           \
        }                                                                                     \
        __m256d w[P];                                                                         \
        for (int64_t k = 0; k < l1; k++) {                                                    \
            for (int64_t i = 0; i < ido; i++) {                                               \
                const double *p = cc + 2 * V * (i + ido * P * k);                             \
                double *o = ch + 2 * V * (i + ido * k);                                       \
                for (int q = 1; q < P; q++)                                                   \
                    w[q] = _mm256_broadcast_pd(                                               \
                        (const __m128d *)(const void *)(wa + 2 * i + (q - 1) * ws));          \
                for (int64_t v = 0; v < 2 * V; v += 4) {                                      \
                    for (int j = 0; j < P; j++)                                               \
                        x[j] = _mm256_loadu_pd(p + v + j * xs);                               \
                    v_bf##P(x, y);                                                            \
                    _mm256_storeu_pd(o + v, y[0]);                                            \
                    for (int q = 1; q < P; q++)                                               \
                        _mm256_storeu_pd(o + v + q * ys, i ? v_cmul(y[q], w[q]) : y[q]);      \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }

DEFINE_PASS_AVX2(2)
DEFINE_PASS_AVX2(3)
DEFINE_PASS_AVX2(4)
DEFINE_PASS_AVX2(5)

/* Runs the passes of p on V interleaved columns held in a; b is scratch of the same size.
   Returns the buffer holding the result (a or b). */
static double *small_run(const fft_small *p, int64_t V, double *a, double *b, int avx)
{
    double *in = a, *out = b;
    int64_t l1 = 1;
    for (int s = 0; s < p->nfac; s++) {
        int ip = p->fac[s];
        int64_t ido = p->n / (l1 * ip);
        const double *tw = p->tw[s];
        if (avx && ip == 4)
            pass4_avx2(ido, l1, V, in, out, tw);
        else if (avx && ip == 2)
            pass2_avx2(ido, l1, V, in, out, tw);
        else if (avx && ip == 3)
            pass3_avx2(ido, l1, V, in, out, tw);
        else if (avx && ip == 5)
            pass5_avx2(ido, l1, V, in, out, tw);
        else
            pass_portable(ip, ido, l1, V, in, out, tw);
        double *t = in;
        in = out;
        out = t;
        l1 *= ip;
    }
    return in;
}

/* ---- sources and destinations of one transform ------------------------------------------ */

enum { SRC_TENSOR, SRC_BLUE_A, SRC_BLUE_B, SRC_CONJ_BUF };

/* Where a transform's input sequence comes from. With split > 1 the sequence is the
   decimation-in-frequency residue r of the base sequence (of length len):
   z[j] = w_len^(jr) sum_q base[j + q len/split] w_split^(qr). */
typedef struct fft_src {
    int kind;
    int fp32, conj;         /* tensor: FP32 (else FP64); conjugate its values */
    const void *x;          /* tensor: the transform's first complex value */
    const double *buf;      /* SRC_CONJ_BUF: conj(buf[j]) */
    int64_t n, m;           /* Bluestein: transform length, convolution length */
    const fft_roots *chirp; /* Bluestein: roots of order 2n; chirp_k = w_2n^(k^2 mod 2n) */
    int64_t split, r, len;
    int avx; /* split: AVX2+FMA arithmetic */
    const fft_roots *wlen;
    const double *wsplit; /* w_split^t, t < split */
} fft_src;

enum { DST_TENSOR, DST_BUF, DST_CONJ_BUF, DST_MULB, DST_BLUE_OUT };

/* Where a transform's result v_k goes. */
typedef struct fft_dst {
    int kind;
    int fp32, inverse; /* tensor: FP32 (else FP64); store conj(v) / n */
    void *y;           /* tensor: complex value k goes to y[k stride + offset] */
    int64_t stride, offset;
    double scale; /* 1/n */
    double *buf;  /* DST_BUF: v; DST_CONJ_BUF: conj(v); DST_MULB: v * mul[k] */
    const double *mul;
    int64_t n, m; /* DST_BLUE_OUT: y_k = conj(v_k) chirp_k / m for k < n */
    const fft_roots *chirp;
    double *direct; /* an FP64 array where value k lands at [2 k direct_stride], or NULL */
    int64_t direct_stride;
} fft_dst;

/* out[i] = chirp_k for k = k0 + dir * i (dir = 1 or -1), i < len: k^2 mod 2n is updated
   incrementally, so only the first one divides. */
static void chirp_fill(const fft_roots *chirp, int64_t k0, int64_t len, int dir, double *out)
{
    int64_t mod = chirp->n, k = k0;
    int64_t sq = (int64_t)(((uint64_t)k0 * (uint64_t)k0) % (uint64_t)mod);
    for (int64_t i = 0; i < len; i++) {
        root_get(chirp, sq, &out[2 * i], &out[2 * i + 1]);
        if (dir > 0) { /* (k+1)^2 = k^2 + 2k + 1, and 2k + 1 < 2n */
            sq += 2 * k + 1;
            if (sq >= mod)
                sq -= mod;
            k++;
        } else if (k > 0) { /* (k-1)^2 = k^2 - (2k - 1) */
            sq -= 2 * k - 1;
            if (sq < 0)
                sq += mod;
            k--;
        }
    }
}

static void tensor_load(const fft_src *s, int64_t start, int64_t len, double *out)
{
    if (len <= 0)
        return;
    if (s->fp32) {
        const float *p = (const float *)s->x + 2 * start;
        for (int64_t i = 0; i < 2 * len; i++)
            out[i] = p[i];
    } else {
        memcpy(out, (const double *)s->x + 2 * start, (size_t)len * 16);
    }
    if (s->conj)
        for (int64_t i = 0; i < len; i++)
            out[2 * i + 1] = -out[2 * i + 1];
}

static void base_load(const fft_src *s, int64_t start, int64_t len, double *out)
{
    switch (s->kind) {
    case SRC_TENSOR: tensor_load(s, start, len, out); break;
    case SRC_BLUE_A: {
        int64_t inside = start >= s->n ? 0 : (start + len <= s->n ? len : s->n - start);
        double ch[2 * FFT_CHUNK];
        for (int64_t c = 0; c < inside; c += FFT_CHUNK) {
            int64_t cl = inside - c < FFT_CHUNK ? inside - c : FFT_CHUNK;
            double *o = out + 2 * c;
            tensor_load(s, start + c, cl, o);
            chirp_fill(s->chirp, start + c, cl, 1, ch);
            for (int64_t i = 0; i < cl; i++) {
                double xr = o[2 * i], xi = o[2 * i + 1];
                o[2 * i] = xr * ch[2 * i] - xi * ch[2 * i + 1];
                o[2 * i + 1] = xr * ch[2 * i + 1] + xi * ch[2 * i];
            }
        }
        for (int64_t i = inside; i < len; i++)
            out[2 * i] = out[2 * i + 1] = 0.0;
        break;
    }
    case SRC_BLUE_B: {
        /* conj(chirp_j) for j < n, conj(chirp_(m-j)) for m - j < n, zero between */
        int64_t i = 0;
        if (start < s->n) {
            i = start + len <= s->n ? len : s->n - start;
            chirp_fill(s->chirp, start, i, 1, out);
        }
        int64_t tail = s->m - s->n + 1; /* first j with m - j < n */
        for (; i < len && start + i < tail; i++)
            out[2 * i] = out[2 * i + 1] = 0.0;
        if (i < len)
            chirp_fill(s->chirp, s->m - (start + i), len - i, -1, out + 2 * i);
        for (int64_t k = 0; k < len; k++)
            out[2 * k + 1] = -out[2 * k + 1];
        break;
    }
    default: /* SRC_CONJ_BUF */
        for (int64_t i = 0; i < len; i++) {
            out[2 * i] = s->buf[2 * (start + i)];
            out[2 * i + 1] = -s->buf[2 * (start + i) + 1];
        }
        break;
    }
}

/* acc[i] += v[i] w, i < len */
static void cmul_add(double *acc, const double *v, const double *w, int64_t len)
{
    for (int64_t i = 0; i < len; i++) {
        acc[2 * i] += v[2 * i] * w[0] - v[2 * i + 1] * w[1];
        acc[2 * i + 1] += v[2 * i] * w[1] + v[2 * i + 1] * w[0];
    }
}

AVX2_FMA static void cmul_add_avx2(double *acc, const double *v, const double *w, int64_t len)
{
    __m256d wv = _mm256_broadcast_pd((const __m128d *)(const void *)w);
    int64_t i = 0;
    for (; i + 2 <= len; i += 2)
        _mm256_storeu_pd(acc + 2 * i, _mm256_add_pd(_mm256_loadu_pd(acc + 2 * i),
                                                    v_cmul(_mm256_loadu_pd(v + 2 * i), wv)));
    cmul_add(acc + 2 * i, v + 2 * i, w, len - i);
}

/* acc[i] *= w^((j0 + i) r), i < len */
static void twiddle_seq(double *acc, const fft_roots *roots, int64_t j0, int64_t r, int64_t len)
{
    for (int64_t i = 0; i < len; i++) {
        double wr, wi, ar = acc[2 * i], ai = acc[2 * i + 1];
        root_get(roots, (j0 + i) * r, &wr, &wi);
        acc[2 * i] = ar * wr - ai * wi;
        acc[2 * i + 1] = ar * wi + ai * wr;
    }
}

AVX2_FMA static void twiddle_seq_avx2(double *acc, const fft_roots *roots, int64_t j0, int64_t r,
                                      int64_t len)
{
    int64_t i = 0;
    for (; i + 2 <= len; i += 2) {
        int64_t t0 = (j0 + i) * r, t1 = t0 + r;
        __m256d lo = v_load2(roots->lo + 2 * (t0 & roots->mask),
                             roots->lo + 2 * (t1 & roots->mask));
        __m256d hi = v_load2(roots->hi + 2 * (t0 >> roots->shift),
                             roots->hi + 2 * (t1 >> roots->shift));
        _mm256_storeu_pd(acc + 2 * i, v_cmul(_mm256_loadu_pd(acc + 2 * i), v_cmul(hi, lo)));
    }
    twiddle_seq(acc + 2 * i, roots, j0 + i, r, len - i);
}

/* Values start .. start + len - 1 of the source's sequence into out. */
static void src_load(const fft_src *s, int64_t start, int64_t len, double *out)
{
    if (s->split <= 1) {
        base_load(s, start, len, out);
        return;
    }
    double tmp[2 * FFT_CHUNK];
    int64_t sub = s->len / s->split;
    for (int64_t c = 0; c < len; c += FFT_CHUNK) {
        int64_t cl = len - c < FFT_CHUNK ? len - c : FFT_CHUNK;
        double *acc = out + 2 * c;
        base_load(s, start + c, cl, acc);
        for (int64_t q = 1; q < s->split; q++) {
            base_load(s, start + c + q * sub, cl, tmp);
            const double *w = s->wsplit + 2 * ((q * s->r) % s->split);
            if (s->avx)
                cmul_add_avx2(acc, tmp, w, cl);
            else
                cmul_add(acc, tmp, w, cl);
        }
        if (s->r == 0)
            continue;
        if (s->avx)
            twiddle_seq_avx2(acc, s->wlen, start + c, s->r, cl);
        else
            twiddle_seq(acc, s->wlen, start + c, s->r, cl);
    }
}

/* Asks for the cache lines of `bytes` bytes at p (write: about to be written). */
static inline void prefetch_range(const void *p, int64_t bytes, int write)
{
    const char *c = (const char *)p;
    for (int64_t off = 0; off < bytes; off += 64) {
        if (write)
            __builtin_prefetch(c + off, 1, 3);
        else
            __builtin_prefetch(c + off, 0, 3);
    }
}

/* Prefetches what base_load(s, start, len) will read from memory. */
static void base_prefetch(const fft_src *s, int64_t start, int64_t len)
{
    int64_t size = s->fp32 ? 8 : 16;
    if (s->kind == SRC_TENSOR || (s->kind == SRC_BLUE_A && start < s->n))
        prefetch_range((const char *)s->x + start * size, len * size, 0);
    else if (s->kind == SRC_CONJ_BUF)
        prefetch_range(s->buf + 2 * start, len * 16, 0);
}

/* base_load of `rows` rows of len values at first, first + stride, ... into out (row r at
   out + 2 len r), prefetching FFT_PREFETCH_ROWS rows ahead. */
static void base_load_rows(const fft_src *s, int64_t first, int64_t stride, int64_t rows,
                           int64_t len, double *out)
{
    for (int64_t r = 0; r < rows; r++) {
        if (r + FFT_PREFETCH_ROWS < rows)
            base_prefetch(s, first + (r + FFT_PREFETCH_ROWS) * stride, len);
        base_load(s, first + r * stride, len, out + 2 * len * r);
    }
}

/* src_load of rows rows of len values at first, first + stride, ... into out (row r at
   out + 2 len r); tmp holds as much as out. A split source reads each of its ranges in turn
   (a row-by-row walk alternating between ranges len/split apart makes their pages collide in
   the TLB), then combines. */
static void src_load_rows(const fft_src *s, int64_t first, int64_t stride, int64_t rows,
                          int64_t len, double *out, double *tmp)
{
    base_load_rows(s, first, stride, rows, len, out);
    if (s->split <= 1)
        return;
    int64_t sub = s->len / s->split, count = rows * len;
    for (int64_t q = 1; q < s->split; q++) {
        base_load_rows(s, first + q * sub, stride, rows, len, tmp);
        const double *w = s->wsplit + 2 * ((q * s->r) % s->split);
        if (s->avx)
            cmul_add_avx2(out, tmp, w, count);
        else
            cmul_add(out, tmp, w, count);
    }
    if (s->r == 0)
        return;
    for (int64_t r = 0; r < rows; r++) {
        if (s->avx)
            twiddle_seq_avx2(out + 2 * len * r, s->wlen, first + r * stride, s->r, len);
        else
            twiddle_seq(out + 2 * len * r, s->wlen, first + r * stride, s->r, len);
    }
}

/* Value k of the tensor destination: conj(v) / n for inverse transforms. */
static void tensor_store(const fft_dst *d, int64_t start, int64_t len, const double *v)
{
    if (!d->fp32 && d->stride == 1 && !d->inverse) {
        memcpy((double *)d->y + 2 * (start + d->offset), v, (size_t)len * 16);
        return;
    }
    double sr = d->inverse ? d->scale : 1.0, si = d->inverse ? -d->scale : 1.0;
    int64_t base = start * d->stride + d->offset;
    if (d->fp32) {
        float *y = (float *)d->y;
        for (int64_t i = 0; i < len; i++) {
            y[2 * (base + i * d->stride)] = (float)(v[2 * i] * sr);
            y[2 * (base + i * d->stride) + 1] = (float)(v[2 * i + 1] * si);
        }
    } else {
        double *y = (double *)d->y;
        for (int64_t i = 0; i < len; i++) {
            y[2 * (base + i * d->stride)] = v[2 * i] * sr;
            y[2 * (base + i * d->stride) + 1] = v[2 * i + 1] * si;
        }
    }
}

/* Values start .. start + len - 1 of a transform's result, v, to the destination. */
static void dst_store(const fft_dst *d, int64_t start, int64_t len, const double *v)
{
    switch (d->kind) {
    case DST_TENSOR: tensor_store(d, start, len, v); break;
    case DST_BUF: memcpy(d->buf + 2 * start, v, (size_t)len * 16); break;
    case DST_CONJ_BUF:
        for (int64_t i = 0; i < len; i++) {
            d->buf[2 * (start + i)] = v[2 * i];
            d->buf[2 * (start + i) + 1] = -v[2 * i + 1];
        }
        break;
    case DST_MULB:
        for (int64_t i = 0; i < len; i++) {
            const double *b = d->mul + 2 * (start + i);
            double ar = v[2 * i], ai = v[2 * i + 1];
            d->buf[2 * (start + i)] = ar * b[0] - ai * b[1];
            d->buf[2 * (start + i) + 1] = ar * b[1] + ai * b[0];
        }
        break;
    default: { /* DST_BLUE_OUT */
        int64_t end = start + len < d->n ? start + len : d->n;
        double out[2 * FFT_CHUNK];
        double inv_m = 1.0 / (double)d->m;
        for (int64_t k0 = start; k0 < end; k0 += FFT_CHUNK) {
            int64_t cl = end - k0 < FFT_CHUNK ? end - k0 : FFT_CHUNK;
            chirp_fill(d->chirp, k0, cl, 1, out);
            for (int64_t i = 0; i < cl; i++) {
                double cr = out[2 * i], ci = out[2 * i + 1];
                double vr = v[2 * (k0 - start + i)], vi = -v[2 * (k0 - start + i) + 1];
                out[2 * i] = (vr * cr - vi * ci) * inv_m;
                out[2 * i + 1] = (vr * ci + vi * cr) * inv_m;
            }
            tensor_store(d, k0, cl, out);
        }
        break;
    }
    }
}

/* ---- engines: one transform length, direct or four-step -------------------------------- */

typedef struct fft_engine {
    int64_t n;
    int four; /* 0: Stockham passes on the whole transform; 1: four-step */
    int avx;
    fft_small cols; /* direct: length n; four-step: length n2 (phase 1) */
    fft_small rows; /* four-step: length n1 (phase 2) */
    int64_t n1, n2;
    fft_roots tw;    /* four-step: w_n */
    double *wa, *wb; /* Stockham buffers */
    double *inter;   /* four-step intermediate for destinations without a direct array */
} fft_engine;

static void engine_init(fft_engine *e, fft_arena *a, int64_t n, int want_inter, int avx)
{
    memset(e, 0, sizeof *e);
    e->n = n;
    e->avx = avx;
    if (n <= FFT_SMALL_MAX) {
        small_init(&e->cols, a, n);
        e->wa = arena_take(a, (uint64_t)n);
        e->wb = arena_take(a, (uint64_t)n);
        return;
    }
    e->four = 1;
    e->n2 = best_divisor(n);
    e->n1 = n / e->n2;
    small_init(&e->cols, a, e->n2);
    small_init(&e->rows, a, e->n1);
    roots_init(&e->tw, a, n);
    int64_t longest = e->n1 > e->n2 ? e->n1 : e->n2;
    e->wa = arena_take(a, (uint64_t)(FFT_BLOCK * longest));
    e->wb = arena_take(a, (uint64_t)(FFT_BLOCK * longest));
    if (want_inter)
        e->inter = arena_take(a, (uint64_t)n);
}

/* Phase 1's store: inter[j1][k2] = res[k2][c] * w_n^(j1 k2) for the w columns j1 = j0 + c;
   element p of inter is at inter[2 p is]. */
static void twiddle_rows(const fft_engine *e, const double *res, int64_t w, int64_t j0,
                         double *inter, int64_t is)
{
    int64_t n2 = e->n2;
    for (int64_t c = 0; c < w; c++) {
        int64_t j1 = j0 + c, t = 0;
        double *row = inter + 2 * j1 * n2 * is;
        for (int64_t k2 = 0; k2 < n2; k2++, t += j1) {
            double wr, wi, xr = res[2 * (k2 * w + c)], xi = res[2 * (k2 * w + c) + 1];
            root_get(&e->tw, t, &wr, &wi);
            row[2 * k2 * is] = xr * wr - xi * wi;
            row[2 * k2 * is + 1] = xr * wi + xi * wr;
        }
    }
}

AVX2_FMA static void twiddle_rows_avx2(const fft_engine *e, const double *res, int64_t w,
                                       int64_t j0, double *inter, int64_t is)
{
    const fft_roots *tw = &e->tw;
    int64_t n2 = e->n2;
    for (int64_t c = 0; c < w; c++) {
        int64_t j1 = j0 + c, t = 0, k2 = 0;
        double *row = inter + 2 * j1 * n2 * is;
        for (; k2 + 2 <= n2; k2 += 2, t += 2 * j1) {
            int64_t t1 = t + j1;
            __m256d lo = v_load2(tw->lo + 2 * (t & tw->mask), tw->lo + 2 * (t1 & tw->mask));
            __m256d hi = v_load2(tw->hi + 2 * (t >> tw->shift), tw->hi + 2 * (t1 >> tw->shift));
            __m256d y = v_cmul(v_load2(res + 2 * (k2 * w + c), res + 2 * ((k2 + 1) * w + c)),
                               v_cmul(hi, lo));
            if (is == 1) {
                _mm256_storeu_pd(row + 2 * k2, y);
            } else {
                _mm_storeu_pd(row + 2 * k2 * is, _mm256_castpd256_pd128(y));
                _mm_storeu_pd(row + 2 * (k2 + 1) * is, _mm256_extractf128_pd(y, 1));
            }
        }
        for (; k2 < n2; k2++, t += j1) {
            double wr, wi, xr = res[2 * (k2 * w + c)], xi = res[2 * (k2 * w + c) + 1];
            root_get(tw, t, &wr, &wi);
            row[2 * k2 * is] = xr * wr - xi * wi;
            row[2 * k2 * is + 1] = xr * wi + xi * wr;
        }
    }
}

/* One transform from src to dst. Both phases of the four-step algorithm start at the block
   rotate_num / rotate_den of the way through. NCS_OK or NCS_E_CANCELLED. */
static int engine_run(ncs_ctx *ctx, const fft_engine *e, const fft_src *src, const fft_dst *dst,
                      int64_t rotate_num, int64_t rotate_den)
{
    if (!e->four) {
        src_load(src, 0, e->n, e->wa);
        dst_store(dst, 0, e->n, small_run(&e->cols, 1, e->wa, e->wb, e->avx));
        return NCS_OK;
    }
    int64_t n1 = e->n1, n2 = e->n2;
    double *inter = dst->direct ? dst->direct : e->inter;
    int64_t is = dst->direct ? dst->direct_stride : 1;
    int64_t blocks = (n1 + FFT_BLOCK - 1) / FFT_BLOCK, first = blocks * rotate_num / rotate_den;
    for (int64_t bi = 0; bi < blocks; bi++) {
        if (ctx->api->cancelled(ctx))
            return NCS_E_CANCELLED;
        int64_t j0 = ((bi + first) % blocks) * FFT_BLOCK;
        int64_t w = n1 - j0 < FFT_BLOCK ? n1 - j0 : FFT_BLOCK;
        src_load_rows(src, j0, n1, n2, w, e->wa, e->wb);
        const double *res = small_run(&e->cols, w, e->wa, e->wb, e->avx);
        if (e->avx)
            twiddle_rows_avx2(e, res, w, j0, inter, is);
        else
            twiddle_rows(e, res, w, j0, inter, is);
    }
    blocks = (n2 + FFT_BLOCK - 1) / FFT_BLOCK;
    first = blocks * rotate_num / rotate_den;
    for (int64_t bi = 0; bi < blocks; bi++) {
        if (ctx->api->cancelled(ctx))
            return NCS_E_CANCELLED;
        int64_t k0 = ((bi + first) % blocks) * FFT_BLOCK;
        int64_t w = n2 - k0 < FFT_BLOCK ? n2 - k0 : FFT_BLOCK;
        for (int64_t j1 = 0; j1 < n1; j1++) {
            if (j1 + FFT_PREFETCH_ROWS < n1)
                prefetch_range(inter + 2 * ((j1 + FFT_PREFETCH_ROWS) * n2 + k0) * is, w * 16 * is,
                               0);
            const double *from = inter + 2 * (j1 * n2 + k0) * is;
            double *to = e->wa + 2 * w * j1;
            if (is == 1) {
                memcpy(to, from, (size_t)w * 16);
                continue;
            }
            for (int64_t c = 0; c < w; c++) {
                to[2 * c] = from[2 * c * is];
                to[2 * c + 1] = from[2 * c * is + 1];
            }
        }
        const double *res = small_run(&e->rows, w, e->wa, e->wb, e->avx);
        for (int64_t k1 = 0; k1 < n1; k1++)
            dst_store(dst, k0 + n2 * k1, w, res + 2 * w * k1);
    }
    return NCS_OK;
}

/* ---- the job: what prepare, run and finish all derive from the call -------------------- */

typedef struct fft_job {
    int fp32, inverse, blue;
    int64_t batch, n, m; /* m: Bluestein's convolution length (0 when n is smooth) */
    const void *x;
    void *y;
} fft_job;

typedef struct fft_header {
    int64_t split; /* written by part 0 for finish (which is not told the number of parts) */
} fft_header;

static int64_t next_pow2(int64_t v)
{
    int64_t p = 1;
    while (p < v)
        p *= 2;
    return p;
}

static int job_from_ctx(ncs_ctx *ctx, fft_job *job, int with_output)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int inverse;
    int status = api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = api->param_bool(ctx, "inverse", &inverse);
    if (status != NCS_OK)
        return status;
    if (x.dtype != NCS_DTYPE_FP64 && x.dtype != NCS_DTYPE_FP32)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT, "input 'x' is %s: fft supports FP64 and FP32",
                         ncs_dtype_text(x.dtype));
    if (x.rank < 2)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'x' has rank %d: fft needs complex values of shape [..., n, 2] "
                         "(rank >= 2, last axis = real and imaginary parts)",
                         x.rank);
    if (x.dims[x.rank - 1] != 2)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "input 'x' has last dimension %lld: fft needs shape [..., n, 2], the last "
                         "axis holding the real and imaginary parts",
                         (long long)x.dims[x.rank - 1]);
    int64_t n = x.dims[x.rank - 2];
    if (n < 1)
        return api->fail(
            ctx, NCS_E_INVALID_ARGUMENT,
            "input 'x' has n = %lld (dimension %d of shape [..., n, 2]): fft needs n >= 1",
            (long long)n, x.rank - 2);
    int64_t batch = 1;
    for (int r = 0; r < x.rank - 2; r++)
        batch *= x.dims[r]; /* no overflow: the host checked the element count */
    job->fp32 = x.dtype == NCS_DTYPE_FP32;
    job->inverse = inverse != 0;
    job->n = n;
    job->batch = batch;
    job->blue = rough_part(n) > 1;
    job->m = 0;
    if (job->blue) {
        if (n >= FFT_BLUE_MAX_N)
            return api->fail(
                ctx, NCS_E_UNSUPPORTED,
                "input 'x' has n = %lld with a prime factor above %d: fft supports such "
                "lengths (Bluestein's algorithm) only below 2^31",
                (long long)n, FFT_GENERIC_MAX);
        job->m = next_pow2(2 * n - 1);
    }
    job->x = x.data;
    job->y = NULL;
    if (with_output) {
        ncs_tensor_view y;
        status = api->output(ctx, 0, &y);
        if (status != NCS_OK)
            return status;
        job->y = y.data;
    }
    return NCS_OK;
}

/* How many ways each transform is split for `parts` parts (1: a unit is a whole transform).
   Among the divisors d <= FFT_MAX_SPLIT of the length, the one whose batch * d units give the
   busiest part the smallest share of the work, counting 5% more work per extra way (every unit
   reads the whole input); d may exceed the parts (3 ways over 2 parts for n = 3^k). */
static int64_t choose_split(const fft_job *job, int parts)
{
    if (parts <= 1 || job->batch % parts == 0 || job->batch >= 4 * (int64_t)parts)
        return 1;
    int64_t len = job->blue ? job->m : job->n, best = 1;
    double best_cost = (double)((job->batch + parts - 1) / parts) / (double)job->batch;
    for (int64_t d = 2; d <= FFT_MAX_SPLIT; d++) {
        if (len % d != 0 || len / d < FFT_MIN_SPLIT_POINTS)
            continue;
        int64_t units = job->batch * d;
        double cost = (double)((units + parts - 1) / parts) / (double)units *
                      (1.0 + 0.05 * (double)(d - 1));
        if (cost < best_cost) {
            best = d;
            best_cost = cost;
        }
    }
    return best;
}

/* Everything one part uses, laid out in its workspace slice (or only measured). */
typedef struct fft_part_state {
    fft_engine e;
    fft_roots chirp, wlen;
    double *wsplit;
    double *bspec, *conv; /* Bluestein: the chirp's spectrum and the product */
} fft_part_state;

static void part_setup(const fft_job *job, int64_t split, fft_arena *a, fft_part_state *st, int avx)
{
    memset(st, 0, sizeof *st);
    if (!job->blue) {
        engine_init(&st->e, a, job->n / split, job->fp32, avx);
        if (split > 1)
            roots_init(&st->wlen, a, job->n);
    } else {
        engine_init(&st->e, a, job->m / split, split == 1, avx);
        roots_init(&st->chirp, a, 2 * job->n);
        if (split > 1)
            roots_init(&st->wlen, a, job->m);
        st->bspec = arena_take(a, (uint64_t)(job->m / split));
        st->conv = arena_take(a, (uint64_t)(job->m / split));
    }
    if (split > 1) {
        st->wsplit = arena_take(a, (uint64_t)split);
        if (a->base)
            for (int64_t t = 0; t < split; t++)
                unit_root(t, split, &st->wsplit[2 * t], &st->wsplit[2 * t + 1]);
    }
}

static uint64_t part_bytes(const fft_job *job, int64_t split)
{
    fft_arena a = {NULL, 0};
    fft_part_state st;
    part_setup(job, split, &a, &st, 0);
    return (a.used + 63) & ~(uint64_t)63;
}

/* The shared area: for a split Bluestein transform, the inverse FFTs of every unit (finish
   combines them) and finish's root tables. */
typedef struct fft_shared {
    double *z;
    fft_roots chirp, wlen;
} fft_shared;

static void shared_setup(const fft_job *job, int64_t split, fft_arena *a, fft_shared *sh)
{
    memset(sh, 0, sizeof *sh);
    if (!job->blue || split <= 1)
        return;
    sh->z = arena_take(a, (uint64_t)(job->batch * job->m));
    roots_init(&sh->chirp, a, 2 * job->n);
    roots_init(&sh->wlen, a, job->m);
}

static uint64_t shared_bytes(const fft_job *job, int64_t split)
{
    fft_arena a = {NULL, 0};
    fft_shared sh;
    shared_setup(job, split, &a, &sh);
    return (a.used + 63) & ~(uint64_t)63;
}

static int fft_prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    fft_job job;
    int status = job_from_ctx(ctx, &job, 0);
    if (status != NCS_OK)
        return status;
    ncs_tensor_view x;
    status = api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = api->set_output(ctx, 0, x.dtype, x.rank, x.dims);
    if (status != NCS_OK || job.batch == 0)
        return status;
    /* Parts: at least FFT_MIN_PART_POINTS points each (Bluestein counts its convolution
       length). choose_split depends on the number of parts only, so run (told that number)
       finds the same split. */
    int64_t points = job.batch * (job.blue ? job.m : job.n);
    int64_t parts = points / FFT_MIN_PART_POINTS;
    if (parts > max_parts)
        parts = max_parts;
    if (parts < 1)
        parts = 1;
    for (;;) {
        int64_t units = job.batch * choose_split(&job, (int)parts);
        if (units >= parts)
            break;
        parts = units;
    }
    int64_t split = choose_split(&job, (int)parts);
    uint64_t bytes = FFT_HEADER + shared_bytes(&job, split) +
                     (uint64_t)parts * part_bytes(&job, split);
    status = api->set_workspace(ctx, bytes);
    if (status == NCS_OK)
        status = api->set_parts(ctx, (int)parts);
    return status;
}

/* Offsets of transform b's first complex value. */
static const void *x_at(const fft_job *job, int64_t b)
{
    return job->fp32 ? (const void *)((const float *)job->x + 2 * b * job->n)
                     : (const void *)((const double *)job->x + 2 * b * job->n);
}

static void *y_at(const fft_job *job, int64_t b)
{
    return job->fp32 ? (void *)((float *)job->y + 2 * b * job->n)
                     : (void *)((double *)job->y + 2 * b * job->n);
}

static fft_src tensor_src(const fft_job *job, int64_t b)
{
    fft_src s;
    memset(&s, 0, sizeof s);
    s.kind = SRC_TENSOR;
    s.fp32 = job->fp32;
    s.conj = job->inverse;
    s.x = x_at(job, b);
    s.split = 1;
    return s;
}

static fft_dst tensor_dst(const fft_job *job, int64_t b)
{
    fft_dst d;
    memset(&d, 0, sizeof d);
    d.kind = DST_TENSOR;
    d.fp32 = job->fp32;
    d.inverse = job->inverse;
    d.y = y_at(job, b);
    d.stride = 1;
    d.scale = 1.0 / (double)job->n;
    return d;
}

static void set_split(fft_src *s, const fft_part_state *st, int64_t split, int64_t r, int64_t len)
{
    s->split = split;
    s->r = r;
    s->len = len;
    s->wlen = &st->wlen;
    s->wsplit = st->wsplit;
    s->avx = st->e.avx;
}

/* Smooth n: unit u is transform u / split, residue u % split. */
static int run_smooth(ncs_ctx *ctx, const fft_job *job, const fft_part_state *st, int64_t split,
                      int64_t lo, int64_t hi)
{
    int64_t pending = 0;
    for (int64_t u = lo; u < hi; u++) {
        int64_t b = u / split, r = u % split;
        fft_src src = tensor_src(job, b);
        fft_dst dst = tensor_dst(job, b);
        if (split > 1) {
            set_split(&src, st, split, r, job->n);
            dst.stride = split;
            dst.offset = r;
        }
        if (!job->fp32) { /* the four-step intermediate: this unit's own output slots */
            dst.direct = (double *)dst.y + 2 * dst.offset;
            dst.direct_stride = dst.stride;
        }
        if (split == 1 && !st->e.four && u + 1 < hi && job->n <= FFT_PREFETCH_NEXT_MAX) {
            fft_src next = tensor_src(job, b + 1); /* stream the next short transform in */
            base_prefetch(&next, 0, job->n);
        }
        int status = engine_run(ctx, &st->e, &src, &dst, r, split);
        if (status != NCS_OK)
            return status;
        pending += job->n / split;
        if (pending >= FFT_POLL_POINTS || u + 1 == hi) {
            ctx->api->progress(ctx, (uint64_t)pending);
            pending = 0;
            if (u + 1 < hi && ctx->api->cancelled(ctx))
                return NCS_E_CANCELLED;
        }
    }
    return NCS_OK;
}

/* Bluestein: the chirp's spectrum (residue r of it when split), then per unit the forward FFT
   of x chirp times that spectrum, and its inverse FFT: to y (whole) or to the shared area for
   finish (split). */
static int run_blue(ncs_ctx *ctx, const fft_job *job, fft_part_state *st, const fft_shared *sh,
                    int64_t split, int64_t lo, int64_t hi)
{
    int64_t sub = job->m / split, have_r = -1;
    for (int64_t u = lo; u < hi; u++) {
        int64_t b = u / split, r = u % split;
        int status;
        fft_src src;
        fft_dst dst;
        if (r != have_r) {
            memset(&src, 0, sizeof src);
            src.kind = SRC_BLUE_B;
            src.n = job->n;
            src.m = job->m;
            src.chirp = &st->chirp;
            src.split = 1;
            if (split > 1)
                set_split(&src, st, split, r, job->m);
            memset(&dst, 0, sizeof dst);
            dst.kind = DST_BUF;
            dst.buf = dst.direct = st->bspec;
            dst.direct_stride = 1;
            status = engine_run(ctx, &st->e, &src, &dst, 0, 1);
            if (status != NCS_OK)
                return status;
            have_r = r;
        }
        src = tensor_src(job, b);
        src.kind = SRC_BLUE_A;
        src.n = job->n;
        src.m = job->m;
        src.chirp = &st->chirp;
        if (split > 1)
            set_split(&src, st, split, r, job->m);
        memset(&dst, 0, sizeof dst);
        dst.kind = DST_MULB;
        dst.buf = dst.direct = st->conv;
        dst.direct_stride = 1;
        dst.mul = st->bspec;
        status = engine_run(ctx, &st->e, &src, &dst, 0, 1);
        if (status != NCS_OK)
            return status;

        memset(&src, 0, sizeof src);
        src.kind = SRC_CONJ_BUF;
        src.buf = st->conv;
        src.split = 1;
        if (split > 1) {
            memset(&dst, 0, sizeof dst);
            dst.kind = DST_CONJ_BUF;
            dst.buf = dst.direct = sh->z + 2 * u * sub;
            dst.direct_stride = 1;
        } else {
            dst = tensor_dst(job, b);
            dst.kind = DST_BLUE_OUT;
            dst.n = job->n;
            dst.m = job->m;
            dst.chirp = &st->chirp;
        }
        status = engine_run(ctx, &st->e, &src, &dst, 0, 1);
        if (status != NCS_OK)
            return status;
        int64_t plo, phi;
        ncs_part_range(job->n, (int)r, (int)split, &plo, &phi);
        ctx->api->progress(ctx, (uint64_t)(phi - plo));
        if (u + 1 < hi && ctx->api->cancelled(ctx))
            return NCS_E_CANCELLED;
    }
    return NCS_OK;
}

static int fft_run(ncs_ctx *ctx, int part, int nparts)
{
    fft_job job;
    int status = job_from_ctx(ctx, &job, 1);
    if (status != NCS_OK || job.batch == 0)
        return status;
    unsigned char *ws = ctx->api->workspace(ctx);
    if (ws == NULL)
        return ctx->api->fail(ctx, NCS_E_INTERNAL, "fft has no workspace");
    int64_t split = choose_split(&job, nparts);
    if (part == 0)
        ((fft_header *)(void *)ws)->split = split;
    int64_t lo, hi;
    ncs_part_range(job.batch * split, part, nparts, &lo, &hi);
    if (lo == hi)
        return NCS_OK;
    uint64_t shared = shared_bytes(&job, split), slice = part_bytes(&job, split);
    fft_arena sa = {ws + FFT_HEADER, 0};
    fft_shared sh;
    shared_setup(&job, split, &sa, &sh); /* addresses only: finish fills the tables */
    fft_arena a = {ws + FFT_HEADER + shared + (uint64_t)part * slice, 0};
    fft_part_state st;
    part_setup(&job, split, &a, &st, ncs_cpu_has(NCS_CPU_AVX2_FMA));
    if (!job.blue)
        return run_smooth(ctx, &job, &st, split, lo, hi);
    return run_blue(ctx, &job, &st, &sh, split, lo, hi);
}

/* Split Bluestein transforms: c_j = sum_r conj(w_m^(jr)) z_r[j mod m/split] (the last radix-split
   step of the inverse FFT), then y_j = chirp_j c_j / m, conjugated and divided by n if inverse. */
static int fft_finish(ncs_ctx *ctx)
{
    fft_job job;
    int status = job_from_ctx(ctx, &job, 1);
    if (status != NCS_OK || job.batch == 0 || !job.blue)
        return status;
    unsigned char *ws = ctx->api->workspace(ctx);
    if (ws == NULL)
        return ctx->api->fail(ctx, NCS_E_INTERNAL, "fft has no workspace");
    int64_t split = ((const fft_header *)(const void *)ws)->split;
    if (split <= 1)
        return NCS_OK;
    fft_arena sa = {ws + FFT_HEADER, 0};
    fft_shared sh;
    shared_setup(&job, split, &sa, &sh);
    int64_t sub = job.m / split, n = job.n;
    double inv_m = 1.0 / (double)job.m;
    for (int64_t b = 0; b < job.batch; b++) {
        fft_dst dst = tensor_dst(&job, b);
        const double *z = sh.z + 2 * b * job.m;
        double out[2 * FFT_CHUNK];
        for (int64_t j0 = 0; j0 < n; j0 += FFT_CHUNK) {
            if ((j0 & (FFT_POLL_POINTS - 1)) == 0 && ctx->api->cancelled(ctx))
                return NCS_E_CANCELLED;
            int64_t cl = n - j0 < FFT_CHUNK ? n - j0 : FFT_CHUNK;
            chirp_fill(&sh.chirp, j0, cl, 1, out);
            for (int64_t i = 0; i < cl; i++) {
                int64_t j = j0 + i, jj = j & (sub - 1); /* m and sub are powers of two */
                double cr = z[2 * jj], ci = z[2 * jj + 1];
                for (int64_t r = 1; r < split; r++) {
                    double wr, wi;
                    root_get(&sh.wlen, (j * r) & (job.m - 1), &wr, &wi);
                    wi = -wi;
                    const double *zr = z + 2 * (r * sub + jj);
                    cr += zr[0] * wr - zr[1] * wi;
                    ci += zr[0] * wi + zr[1] * wr;
                }
                double hr = out[2 * i], hi = out[2 * i + 1];
                out[2 * i] = (cr * hr - ci * hi) * inv_m;
                out[2 * i + 1] = (cr * hi + ci * hr) * inv_m;
            }
            tensor_store(&dst, j0, cl, out);
        }
    }
    return NCS_OK;
}

static const ncs_tensor_desc fft_inputs[] = {
    {.name = "x",
     .doc =
         "complex values [..., n, 2], n >= 1: the last axis holds (real, imaginary); transformed "
         "over the n axis, batched over the leading axes",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = NCS_RANK_ANY},
};

static const ncs_tensor_desc fft_outputs[] = {
    {.name = "y",
     .doc = "the discrete Fourier transform of x along the n axis, same shape [..., n, 2] and "
            "datatype as x",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64) | NCS_DTYPE_BIT(NCS_DTYPE_FP32),
     .rank = NCS_RANK_ANY},
};

static const ncs_param_desc fft_params[] = {
    {.name = "inverse",
     .type = NCS_PARAM_BOOL,
     .default_value = "false",
     .doc = "false: forward transform y_k = sum_j x_j exp(-2 pi i jk/n), unnormalised "
            "(numpy.fft.fft); true: inverse, y_k = (1/n) sum_j x_j exp(+2 pi i jk/n) "
            "(numpy.fft.ifft)"},
};

const ncs_kernel_desc ncs_fft_kernel = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "fft",
    .doc =
        "Discrete Fourier transform of complex FP64 or FP32 data [..., n, 2] (last axis: real, "
        "imaginary) over the n axis, batched over the leading axes, any n >= 1, with numpy.fft's "
        "conventions (forward unnormalised, inverse divided by n). Mixed-radix Stockham "
        "(radices 2, 3, 4, 5, 7, 11, 13; four-step above 8192 points) and Bluestein's "
        "algorithm for larger prime factors. FP32 is computed in FP64 and rounded once. A NaN "
        "or infinity in a transform's input makes every output of that transform non-finite, "
        "like numpy; other transforms of the batch are unaffected. Work splits across parts by "
        "transform, and a single long transform splits too (one decimation-in-frequency step).",
    .flags = NCS_KERNEL_THREAD_SAFE | NCS_KERNEL_SHARED_INPUTS,
    .n_inputs = 1,
    .inputs = fft_inputs,
    .n_outputs = 1,
    .outputs = fft_outputs,
    .n_params = 1,
    .params = fft_params,
    .prepare = fft_prepare,
    .run = fft_run,
    .finish = fft_finish,
};
