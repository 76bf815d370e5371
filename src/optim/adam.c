/* Adam update of one parameter's n stored entries (Kingma & Ba, with bias
 * correction; PyTorch's arrangement of the arithmetic):
 *   AdamW (decoupled):  w *= 1 - lr*wd            (decay_mul)
 *   L2 (otherwise):     g += wd*w
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
 *   w -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
 * with step_size = lr/(1-b1^t) and inv_sqrt_bc2 = 1/sqrt(1-b2^t).
 * w, g, m, v: n floats in the parameter's storage order.
 * mask (MASKED form, 1 = active): an inactive entry's gradient is taken as 0
 * and its value is written as +0; its moments, 0 since spti_param_mask(),
 * stay 0. */
#include <math.h>

#include "optim.h"

void spti_adam_update(const spti_adam_args *a, int64_t n, float *w, const float *g, float *m, float *v,
                      const uint8_t *mask) {
    if (spti_simd_level() >= 2) {
        spti_adam_update_avx512(a, n, w, g, m, v, mask);
        return;
    }
    /* Generic loops. Compilers do not vectorise them (sqrtf may set errno;
     * the library is built without -fno-math-errno), hence no simd clause.
     * Decoupled decay multiplies w by decay_mul; L2 adds wd*w to g. The
     * unused one is an exact identity (x*1, g + 0*x), and the mask factor
     * `on` is 0 or 1, so one branch-free loop body serves every case. */
    const float decay_mul = a->decoupled ? a->decay_mul : 1.0f, l2 = a->decoupled ? 0.0f : a->wd;
    const float b1 = a->beta1, b2 = a->beta2, c1 = a->one_minus_beta1, c2 = a->one_minus_beta2;
    const float step_size = a->step_size, isb = a->inv_sqrt_bc2, eps = a->eps;
    if (!mask) {
#pragma omp parallel for schedule(static) if (n >= SPTI_ADAM_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] + l2 * w[i];
            float mm = b1 * m[i] + c1 * gi;
            float vv = b2 * v[i] + c2 * gi * gi;
            m[i] = mm;
            v[i] = vv;
            w[i] = w[i] * decay_mul - step_size * mm / (sqrtf(vv) * isb + eps);
        }
    } else {
#pragma omp parallel for schedule(static) if (n >= SPTI_ADAM_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) {
            float on = (float)(mask[i] != 0);
            float gi = on * (g[i] + l2 * w[i]);
            float mm = b1 * m[i] + c1 * gi;
            float vv = b2 * v[i] + c2 * gi * gi;
            m[i] = mm;
            v[i] = vv;
            w[i] = on * (w[i] * decay_mul - step_size * mm / (sqrtf(vv) * isb + eps)) + 0.0f;
        }
    }
}
