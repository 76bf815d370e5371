/*
 * Elementwise functions of the activations (activation.c): exp, tanh and
 * 1 + erf in plain float arithmetic, so that a loop over them vectorises
 * (libm's tanhf/erff are opaque calls) and gives the same bytes in its
 * vector body and its scalar tail, hence for any thread count: only +, -,
 * *, / and selects, which are exactly rounded whatever the vector width
 * (the library is built without -ffast-math and, outside the *_avx*.c
 * files, without FMA contraction).
 *
 * Accuracy (measured against libm in double over [-20, 20], test_activations.c):
 * a few ulp. The polynomials were fitted on the stated ranges (Chebyshev
 * fits, relative error of the fit below 5e-9).
 *
 * Both branches of a piecewise function are computed on clamped (finite)
 * arguments and blended with 0/1 weights, which select exactly; nothing is
 * computed under a condition, and a NaN never reaches the float-to-int
 * conversion of spti_act_exp.
 */
#ifndef SPTI_ACTIVATION_MATH_H
#define SPTI_ACTIVATION_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^v for v in [-87, 88] (not NaN): v = n ln2 + r, |r| <= ln2/2, e^r by its
 * Taylor polynomial of degree 7 (relative error < 6e-9), times 2^n built in
 * the exponent bits. */
static inline float spti_act_exp(float v) {
    const float n = (v * 1.44269504f + 12582912.0f) - 12582912.0f; /* round(v / ln2), |n| <= 127 */
    const float r = (v - n * 0.693145751953125f) - n * 1.42860677e-6f; /* ln2 split: n*hi is exact */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23; /* n >= -126: a normal power of two */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh(x) (NaN propagates): |x| < 0.625: x + x^3 P(x^2); else
 * 1 - 2 / (e^(2|x|) + 1) with its sign, |x| clamped to 10 (tanh rounds
 * to 1 from 9.01 on). Both branches are computed on clamped (finite)
 * arguments and blended with a 0/1 weight, which selects exactly. */
static inline float spti_act_tanh(float x) {
    const float a = x < 0.0f ? -x : x;
    const float as = a < 0.625f ? a : 0.625f, ab = a < 10.0f ? a : 10.0f, t = as * as; /* NaN: 0.625, 10 */
    float p = 2.292744816e-03f;
    p = p * t - 8.343945516e-03f;
    p = p * t + 2.176891865e-02f;
    p = p * t - 5.395925958e-02f;
    p = p * t + 1.333330356e-01f;
    p = p * t - 3.333333317e-01f;
    const float small = as + as * (t * p);
    const float big = 1.0f - 2.0f / (spti_act_exp(2.0f * ab) + 1.0f);
    const float m = a < 0.625f ? 0.0f : 1.0f;
    const float r = m * big + (1.0f - m) * small;
    return copysignf(r, x) + (x != x ? x : -0.0f); /* + -0 keeps every number, NaN propagates */
}

/* 1 + erf(z) without cancellation for negative z (= erfc(-z)); a NaN z
 * gives a finite number (callers multiply by z's source).
 *   |z| < 0.75: erf(|z|) = |z| P(z^2);
 *   |z| >= 0.75: erfc(|z|) = e^(-z^2) / |z| * S(w), w = (18 / |z| - 13) / 11
 *   (the tail over 1/|z| in [1/9, 4/3] mapped to [-1, 1]), |z| clamped to 9;
 *   erfc(|z|) = 0 beyond 9 (erfc(9) ~ 4e-37).
 * Branches as in spti_act_tanh: clamped arguments, 0/1 blends. */
static inline float spti_act_erf1p(float z) {
    const float a = z < 0.0f ? -z : z;
    const float as = a < 0.75f ? a : 0.75f, t = as * as;
    float p = -6.756479569e-04f;
    p = p * t + 5.115332113e-03f;
    p = p * t - 2.683511457e-02f;
    p = p * t + 1.128338654e-01f;
    p = p * t - 3.761261947e-01f;
    p = p * t + 1.128379166e+00f;
    const float erf_small = as * p;
    const float ac = a < 0.75f ? 0.75f : (a < 9.0f ? a : 9.0f), u = 1.0f / ac;
    const float w = (18.0f * u - 13.0f) / 11.0f;
    float s = 4.444939794e-05f;
    s = s * w - 5.779546204e-05f;
    s = s * w - 1.147667498e-04f;
    s = s * w + 2.550455965e-04f;
    s = s * w - 2.137963335e-04f;
    s = s * w + 2.260990050e-04f;
    s = s * w - 8.947042375e-05f;
    s = s * w - 9.062526795e-04f;
    s = s * w + 3.471278348e-03f;
    s = s * w - 7.802622765e-03f;
    s = s * w + 1.054358787e-02f;
    s = s * w + 5.881588914e-03f;
    s = s * w - 1.039244222e-01f;
    s = s * w + 4.728903174e-01f;
    const float erfc_big = (a < 9.0f ? 1.0f : 0.0f) * (spti_act_exp(-(ac * ac)) * u * s);
    const float pos = z < 0.0f ? 0.0f : 1.0f, m = a < 0.75f ? 1.0f : 0.0f;
    const float c_small = 1.0f + (pos - (1.0f - pos)) * erf_small; /* 1 +- erf(|z|) */
    const float c_tail = 2.0f * pos + (1.0f - 2.0f * pos) * erfc_big; /* 2 - erfc or erfc */
    return m * c_small + (1.0f - m) * c_tail;
}

#endif
