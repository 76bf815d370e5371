/*
 * Internal helpers shared by every part of the library (never installed).
 * Internal symbols use the prefix spti_ and hidden visibility.
 */
#ifndef SPTI_INTERNAL_H
#define SPTI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sparsetrain.h"

/* ---- errors ------------------------------------------------------------ */

/* Record `code` with a printf-style message on this thread and return code.
 * Usage: return spti_fail(SPT_ERR_SIZE, "%s: rows (%lld) must be >= 0", __func__, ...); */
int spti_fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Return SPT_ERR_NULL from the enclosing function when `p` is NULL. */
#define SPTI_CHECK_NULL(p)                                                          \
    do {                                                                            \
        if ((p) == NULL) return spti_fail(SPT_ERR_NULL, "%s: %s is NULL", __func__, #p); \
    } while (0)

/* Propagate a failing status. */
#define SPTI_TRY(expr)                 \
    do {                               \
        int spti_rc_ = (expr);         \
        if (spti_rc_ != SPT_OK) return spti_rc_; \
    } while (0)

/* ---- sizes -------------------------------------------------------------- */

/* a*b into *out; false on overflow or if either is negative. */
bool spti_mul_i64(int64_t a, int64_t b, int64_t *out);
/* a+b into *out; false on overflow or if either is negative. */
bool spti_add_i64(int64_t a, int64_t b, int64_t *out);
/* Product of n non-negative dims; false on overflow/negative. Bytes of that
 * many elements of `elem` size must also fit in size_t / PTRDIFF_MAX. */
bool spti_count_elems(const int64_t *dims, int n, size_t elem, int64_t *count);

/* ---- memory ------------------------------------------------------------- */

/* 64-byte aligned allocations through the hookable allocator.
 * spti_alloc(n, elem): n*elem bytes, overflow-checked, NULL on failure (no
 * error message set: callers say what they were allocating). n == 0 gives a
 * valid unique pointer. spti_calloc zeroes. spti_free(NULL) is a no-op. */
void *spti_alloc(int64_t n, size_t elem);
void *spti_calloc(int64_t n, size_t elem);
void spti_free(void *p);
/* Like spti_alloc, but records SPT_ERR_NOMEM naming `what` on failure. */
void *spti_alloc_or_fail(int64_t n, size_t elem, const char *what);
void *spti_calloc_or_fail(int64_t n, size_t elem, const char *what);
/* Make *buf hold at least n elements of `elem` bytes (contents not kept when
 * it grows); *cap is the current capacity in elements. Nothing changes on
 * failure (SPT_ERR_NOMEM naming `what`). */
int spti_buf_grow(void **buf, int64_t *cap, int64_t n, size_t elem, const char *what);

/* Scratch kept between calls so that work repeated every step or every
 * update reuses one allocation instead of faulting in fresh pages each
 * time (a model lends its layers a few, nn/layer.h): grown on demand with
 * spti_buf_grow (cap in elements) or spti_scratch_reserve (cap in bytes;
 * a scratch is only ever grown by one of the two), freed with spti_free(p)
 * by its owner. */
typedef struct spti_scratch {
    void *p;
    int64_t cap;
} spti_scratch;
/* Make s hold at least `bytes` (contents not kept when it grows; nothing
 * changes on failure: SPT_ERR_NOMEM naming `what`, SPT_ERR_SIZE for
 * bytes < 0). From 2 MiB on, with
 * the default allocator, it is made of aligned 2 MiB stretches that ask
 * Linux for transparent huge pages. */
int spti_scratch_reserve(spti_scratch *s, int64_t bytes, const char *what);

/* ---- random numbers ------------------------------------------------------ */

/* xoshiro256** state. Explicit everywhere: no hidden global generator. */
typedef struct spti_rng {
    uint64_t s[4];
} spti_rng;

void spti_rng_seed(spti_rng *r, uint64_t seed);
uint64_t spti_rng_u64(spti_rng *r);
/* Uniform in [0, n) without modulo bias; n >= 1. */
uint64_t spti_rng_below(spti_rng *r, uint64_t n);
/* Uniform float in [0, 1) with 24 random bits. */
float spti_rng_uniform(spti_rng *r);
/* keep[i] = (spti_rng_uniform(r) >= p) for i = 0..n-1, the same draws in
 * the same order (so the same bytes and final state), without a call per
 * draw. p in [0, 1). */
void spti_rng_keep_mask(spti_rng *r, float p, int64_t n, uint8_t *keep);
/* Standard normal (Box-Muller, no cached second value: state fully explicit). */
float spti_rng_normal(spti_rng *r);
/* Advance r as n calls of spti_rng_normal would, without computing them. */
void spti_rng_skip_normals(spti_rng *r, int64_t n);
/* Independent child stream derived from r (advances r once). */
void spti_rng_split(spti_rng *r, spti_rng *child);

/* splitmix64's finaliser: a bijective 64-bit mix. The one hash of the
 * library: the RNG's seeding, and every seed derived from seeds, steps,
 * layers or indices (tie-breaks, batch orders) goes through it. */
static inline uint64_t spti_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- float order keys ------------------------------------------------------ */

/* A key that sorts like the float x: larger x, larger key; -0 and +0 share
 * +0's key (0x80000000). NaN gets a key outside the numbers' (above +inf or
 * below -inf, by its sign bit): callers that admit NaN map it first. */
static inline uint32_t spti_float_order_key(float x) {
    if (x == 0.0f) x = 0.0f;
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
/* The float whose key is k (the inverse of spti_float_order_key, -0 aside). */
static inline float spti_float_from_order_key(uint32_t k) {
    const uint32_t u = (k & 0x80000000u) ? k & 0x7fffffffu : ~k;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- threads and CPU ------------------------------------------------------- */

int spti_num_threads(void);
/* Whether OpenBLAS is its OpenMP build: a BLAS call made inside one of our
 * OpenMP parallel regions then runs on the calling thread alone, so threads
 * may each run their own product. (The pthreads build would contend for its
 * own pool.) */
bool spti_blas_nests_in_openmp(void);
/* Before a BLAS call: OpenBLAS's OpenMP build runs a product on the calling
 * thread's omp_get_max_threads() threads, a per-thread setting that
 * spt_set_num_threads changed in its caller's thread only. Make it the
 * library's count in this thread too, so that a product has the same threads
 * (and so the same bits) whichever thread calls it. */
void spti_blas_use_threads(void);
/* 0 generic, 1 avx2+fma, 2 avx512f (after spt_set_simd_level's cap). */
int spti_simd_level(void);
/* Whether the processor runs AVX-512 gathers fast enough to beat scalar
 * indexed loads: Intel. Zen 4 microcodes them; on Zen 5 (family 1Ah) the
 * batch-1 product's scalar loop is 8-35% faster than its gathers
 * (docs/performance.md, "Inference"). */
bool spti_cpu_fast_gathers(void);
/* L2 cache per core in bytes, from CPUID (1 MiB when unknown). */
int64_t spti_cpu_l2_bytes(void);
/* The processor's brand string ("unknown CPU" when there is none). */
const char *spti_cpu_name(void);

#endif /* SPTI_INTERNAL_H */
