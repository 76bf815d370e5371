/* SGD update of one parameter's n stored entries (PyTorch convention):
 *   d = g + wd*w;  buf = momentum*buf + d;  w -= lr*buf
 *   Nesterov:      w -= lr*(d + momentum*buf)
 * Without a buffer (momentum 0): w -= lr*d.
 * w, g, buf: n floats in the parameter's storage order.
 * mask (MASKED form, 1 = active): an inactive entry's gradient is taken as 0
 * and its value is written as +0; its buffer, 0 since spti_param_mask(),
 * stays 0. */
#include "optim.h"

enum { SGD_PAR_MIN = 1 << 16 }; /* below this, threads cost more than they save */

void spti_sgd_update(const spti_sgd_args *a, int64_t n, float *w, const float *g, float *buf, const uint8_t *mask) {
    const float lr = a->lr, mu = a->momentum, wd = a->wd;
    /* The direction is cd*d + cb*buf: (0, 1) heavy ball, (1, mu) Nesterov.
     * Multiplying by exactly 0 or 1 keeps the loops branch-free (so they
     * vectorise) without changing the result; the same holds for the mask
     * factor `on` (0 or 1; "+ 0.0f" turns a -0 into +0). */
    const float cd = a->nesterov ? 1.0f : 0.0f, cb = a->nesterov ? mu : 1.0f;
    if (!buf && !mask) {
#pragma omp parallel for simd schedule(static) if (n >= SGD_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
    } else if (!buf) {
#pragma omp parallel for simd schedule(static) if (n >= SGD_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) {
            float on = (float)(mask[i] != 0);
            w[i] = on * (w[i] - lr * (g[i] + wd * w[i])) + 0.0f;
        }
    } else if (!mask) {
#pragma omp parallel for simd schedule(static) if (n >= SGD_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * w[i];
            float b = mu * buf[i] + d;
            buf[i] = b;
            w[i] -= lr * (cd * d + cb * b);
        }
    } else {
#pragma omp parallel for simd schedule(static) if (n >= SGD_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) {
            float on = (float)(mask[i] != 0);
            float d = on * (g[i] + wd * w[i]);
            float b = mu * buf[i] + d;
            buf[i] = b;
            w[i] = on * (w[i] - lr * (cd * d + cb * b)) + 0.0f;
        }
    }
}
