/* SGD update of one parameter's n stored entries (PyTorch convention):
 *   d = g + wd*w;  buf = momentum*buf + d;  w -= lr*buf
 *   Nesterov:      w -= lr*(d + momentum*buf)
 * Without a buffer (momentum 0): w -= lr*d.
 * w, g, buf: n floats in the parameter's storage order. mask (MASKED form):
 * inactive entries keep their buffer and are written as exactly 0. */
#include "optim.h"

enum { SGD_PAR_MIN = 1 << 16 }; /* below this, threads cost more than they save */

static inline void sgd_entry(float lr, float mu, float wd, bool nesterov, float *w, float g, float *buf) {
    float d = g + wd * *w;
    if (buf) {
        float b = mu * *buf + d;
        *buf = b;
        d = nesterov ? d + mu * b : b;
    }
    *w -= lr * d;
}

void spti_sgd_update(const spti_sgd_args *a, int64_t n, float *w, const float *g, float *buf, const uint8_t *mask) {
    const float lr = a->lr, mu = a->momentum, wd = a->wd;
    const bool nesterov = a->nesterov;
    if (mask) {
#pragma omp parallel for schedule(static) if (n >= SGD_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) {
            if (mask[i])
                sgd_entry(lr, mu, wd, nesterov, &w[i], g[i], buf ? &buf[i] : NULL);
            else
                w[i] = 0.0f;
        }
    } else if (buf) {
#pragma omp parallel for simd schedule(static) if (n >= SGD_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) sgd_entry(lr, mu, wd, nesterov, &w[i], g[i], &buf[i]);
    } else {
#pragma omp parallel for simd schedule(static) if (n >= SGD_PAR_MIN) num_threads(spti_num_threads())
        for (int64_t i = 0; i < n; i++) sgd_entry(lr, mu, wd, nesterov, &w[i], g[i], NULL);
    }
}
