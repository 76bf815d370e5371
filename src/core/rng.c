/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. The state is
 * always passed explicitly so that one seed reproduces a run bit for bit. */
#include <math.h>

#include "internal.h"

static uint64_t splitmix64(uint64_t *x) { return spti_mix64(*x += 0x9e3779b97f4a7c15ULL); }

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void spti_rng_seed(spti_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t spti_rng_u64(spti_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t spti_rng_below(spti_rng *r, uint64_t n) {
    /* Rejection on the top of the range keeps the result unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = spti_rng_u64(r);
    while (x >= limit);
    return x % n;
}

void spti_rng_keep_mask(spti_rng *r, float p, int64_t n, uint8_t *keep) {
    /* spti_rng_uniform(r) >= p  <=>  v * 2^-24 >= p  <=>  v >= ceil(p 2^24)
     * for the 24-bit integer v (both products are exact), so the integer
     * test gives the same bytes; the state stays in registers. */
    const uint64_t need = (uint64_t)ceil((double)p * 16777216.0);
    uint64_t s0 = r->s[0], s1 = r->s[1], s2 = r->s[2], s3 = r->s[3];
    for (int64_t i = 0; i < n; i++) {
        const uint64_t v = (rotl(s1 * 5, 7) * 9) >> 40;
        const uint64_t t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = rotl(s3, 45);
        keep[i] = v >= need;
    }
    r->s[0] = s0;
    r->s[1] = s1;
    r->s[2] = s2;
    r->s[3] = s3;
}

float spti_rng_uniform(spti_rng *r) { return (float)(spti_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float spti_rng_normal(spti_rng *r) {
    double u1 = ((double)(spti_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0,1] */
    double u2 = (double)(spti_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void spti_rng_skip_normals(spti_rng *r, int64_t n) {
    for (int64_t i = 0; i < 2 * n; i++) (void)spti_rng_u64(r); /* spti_rng_normal draws 2 */
}

void spti_rng_split(spti_rng *r, spti_rng *child) { spti_rng_seed(child, spti_rng_u64(r)); }
