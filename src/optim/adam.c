/* Adam update of one parameter's n stored entries (Kingma & Ba, with bias
 * correction; PyTorch's arrangement of the arithmetic):
 *   L2 (decoupled = false):  g += wd*w
 *   AdamW (decoupled = true): w -= lr*wd*w
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
 *   w -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
 * with step_size = lr/(1-b1^t) and inv_sqrt_bc2 = 1/sqrt(1-b2^t).
 * w, g, m, v: n floats in the parameter's storage order. mask (MASKED form):
 * inactive entries keep their moments and are written as exactly 0. */
#include <math.h>

#include "optim.h"

enum { ADAM_PAR_MIN = 1 << 15 };

static inline void adam_entry(const spti_adam_args *a, float *w, float g, float *m, float *v) {
    float x = *w;
    if (a->decoupled)
        x -= a->lr * a->wd * x;
    else
        g += a->wd * x;
    float mm = a->beta1 * *m + a->one_minus_beta1 * g;
    float vv = a->beta2 * *v + a->one_minus_beta2 * g * g;
    *m = mm;
    *v = vv;
    *w = x - a->step_size * mm / (sqrtf(vv) * a->inv_sqrt_bc2 + a->eps);
}

void spti_adam_update(const spti_adam_args *a, int64_t n, float *w, const float *g, float *m, float *v,
                      const uint8_t *mask) {
    const spti_adam_args s = *a; /* a local copy: provably not aliased by the stores below */
    if (mask) {
#pragma omp parallel for schedule(static) if (n >= ADAM_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) {
            if (mask[i])
                adam_entry(&s, &w[i], g[i], &m[i], &v[i]);
            else
                w[i] = 0.0f;
        }
    } else {
#pragma omp parallel for simd schedule(static) if (n >= ADAM_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) adam_entry(&s, &w[i], g[i], &m[i], &v[i]);
    }
}
