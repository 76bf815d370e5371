/*
 * Softmax cross-entropy over logits Z: K x N (class-major, batch contiguous):
 *   loss = (1/N) sum_n [ log sum_k exp(Z[k,n] - m_n) + m_n - Z[y_n, n] ],
 *   m_n = max_k Z[k,n] (subtracting it keeps exp() <= 1 for any logits),
 *   dZ[k,n] = (softmax_k(Z[:,n]) - [k == y_n]) / N.
 */
#include <math.h>

#include "model.h"

int spti_softmax_xent(const float *logits, int64_t K, int64_t N, const int32_t *labels, float *dlogits,
                      double *loss, int64_t *correct) {
    SPTI_CHECK_NULL(logits);
    SPTI_CHECK_NULL(labels);
    if (K < 1 || N < 1)
        return spti_fail(SPT_ERR_SIZE, "%s: classes (%lld) and batch (%lld) must be >= 1", __func__, (long long)K,
                         (long long)N);
    int64_t elems;
    if (!spti_mul_i64(K, N, &elems)) return spti_fail(SPT_ERR_SIZE, "%s: K x N overflows", __func__);
    for (int64_t n = 0; n < N; n++)
        if (labels[n] < 0 || labels[n] >= K)
            return spti_fail(SPT_ERR_INVALID, "%s: label %d of example %lld is outside [0, %lld)", __func__,
                             (int)labels[n], (long long)n, (long long)K);
    double total = 0.0;
    int64_t hits = 0;
    const double invN = 1.0 / (double)N;
    for (int64_t n = 0; n < N; n++) {
        float m = logits[n];
        int64_t arg = 0;
        for (int64_t k = 1; k < K; k++)
            if (logits[k * N + n] > m) {
                m = logits[k * N + n];
                arg = k;
            }
        double sum = 0.0;
        for (int64_t k = 0; k < K; k++) sum += exp((double)logits[k * N + n] - m);
        const int64_t y = labels[n];
        total += log(sum) + (double)m - (double)logits[y * N + n];
        hits += arg == y;
        if (dlogits) {
            const double inv_sum = 1.0 / sum;
            for (int64_t k = 0; k < K; k++) {
                double p = exp((double)logits[k * N + n] - m) * inv_sum;
                dlogits[k * N + n] = (float)((p - (k == y ? 1.0 : 0.0)) * invN);
            }
        }
    }
    if (loss) *loss = total * invN;
    if (correct) *correct = hits;
    return SPT_OK;
}
