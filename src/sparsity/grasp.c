/*
 * GraSP (Wang et al. 2020): prune once at initialisation, keeping the
 * weights whose removal would most reduce the gradient flow. Its score is
 * S(w) = -w * (H g) with g the gradient (summed over SPT_MP_SCORE_BATCHES
 * mini-batches) and H the Hessian of the loss over the weights; the paper
 * removes the highest scores, so the (1 - S) LOWEST-scoring weights are
 * kept (globally by default, as in the paper, or per layer).
 *
 * H g without second derivatives, by a forward difference of two gradient
 * evaluations on the same batches:
 *     u = g / |g|,  h = 2 sqrt(eps_f32) (1 + |w|),
 *     H g ~ |g| (grad L(w + h u) - grad L(w)) / h,
 * norms over all the method's weights. The step h is the classic choice for
 * finite-difference Hessian-vector products (Nocedal & Wright, sec. 8.1):
 * about 7e-4 relative to the weights' norm, so the truncation error
 * (O(h |H'|)) and the float rounding of the gradient difference (about
 * 1e-7 |g| / h) stay both near 1e-3 relative; it is exact up to rounding
 * for a quadratic loss. The second pass restarts the source (its reset) so
 * that each batch is evaluated at both points; the weights are restored
 * bit for bit afterwards. The loss includes whatever the model does in
 * training mode (BatchNorm batch statistics; dropout draws differ between
 * the two passes, so use none while scoring). Only the weight matrices are
 * perturbed, as in the paper's code (H is the weights' block).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "dst.h"
#include "prune.h"

int spti_grasp_hg(spti_param *const *weights, int n, spti_grad_source *src, int64_t batches, float **g, float **hg) {
    SPTI_TRY(spti_prune_accumulate_grads("grasp", src, batches, weights, n, g));
    double wn = 0.0, gn = 0.0;
    for (int l = 0; l < n; l++)
        for (int64_t i = 0; i < weights[l]->n; i++) {
            wn += (double)weights[l]->value[i] * weights[l]->value[i];
            gn += (double)g[l][i] * g[l][i];
        }
    if (gn == 0.0) { /* no gradient: H g = H 0 = 0 */
        for (int l = 0; l < n; l++) memset(hg[l], 0, (size_t)weights[l]->n * sizeof(float));
        return SPT_OK;
    }
    const double h = 2.0 * sqrt((double)FLT_EPSILON) * (1.0 + sqrt(wn));
    const double eps = h / sqrt(gn); /* step along g itself: w + eps g */
    float **saved = spti_prune_buffers(weights, n);
    if (!saved) return spti_fail(SPT_ERR_NOMEM, "grasp: out of memory for the weight copy");
    for (int l = 0; l < n; l++) {
        spti_param *p = weights[l];
        memcpy(saved[l], p->value, (size_t)p->n * sizeof(float));
        for (int64_t i = 0; i < p->n; i++) p->value[i] = (float)((double)p->value[i] + eps * g[l][i]);
    }
    int rc = src->reset ? src->reset(src->ctx) : SPT_OK;
    if (rc == SPT_OK) rc = spti_prune_accumulate_grads("grasp", src, batches, weights, n, hg);
    for (int l = 0; l < n; l++) memcpy(weights[l]->value, saved[l], (size_t)weights[l]->n * sizeof(float));
    spti_prune_buffers_free(saved, n);
    SPTI_TRY(rc);
    for (int l = 0; l < n; l++)
        for (int64_t i = 0; i < weights[l]->n; i++) hg[l][i] = (float)(((double)hg[l][i] - g[l][i]) / eps);
    return SPT_OK;
}

static int grasp_init(spti_method *m, spti_param **weights, int n, spti_grad_source *grads) {
    SPTI_TRY(spti_pai_check_init(m, weights, n));
    if (!grads || !grads->compute)
        return spti_fail(SPT_ERR_NULL, "grasp init: scoring needs a gradient source (training data)");
    spti_pai *st = m->state;
    float **g = spti_prune_buffers(weights, n);
    float **hg = spti_prune_buffers(weights, n);
    spti_prune_layer *L = NULL;
    int rc = g && hg ? SPT_OK : spti_fail(SPT_ERR_NOMEM, "grasp: out of memory for the scoring gradients");
    if (rc == SPT_OK) rc = spti_grasp_hg(weights, n, grads, st->batches, g, hg);
    if (rc == SPT_OK) rc = spti_prune_layers_create(weights, n, &L);
    if (rc == SPT_OK) {
        /* Keep the lowest -w (Hg), i.e. the highest w (Hg). */
        for (int l = 0; l < n; l++)
            for (int64_t j = 0; j < L[l].n; j++) {
                int64_t i = L[l].pos[j];
                L[l].score[j] = weights[l]->value[i] * hg[l][i];
            }
        rc = spti_pai_select(m, L, 1.0, 0);
    }
    if (rc == SPT_OK) rc = spti_pai_finish(m, L);
    spti_prune_layers_destroy(L, n);
    spti_prune_buffers_free(g, n);
    spti_prune_buffers_free(hg, n);
    return rc;
}

static const int GRASP_KEYS[] = {SPT_MP_SPARSITY, SPT_MP_DISTRIBUTION, SPT_MP_DENSE_FIRST, SPT_MP_DENSE_LAST, SPT_MP_GLOBAL, SPT_MP_SEED, SPT_MP_SCORE_BATCHES, -1};
/* The prune-at-init papers rank all layers together. */
static const spti_key_value GRASP_DEFAULTS[] = {{SPT_MP_GLOBAL, 1.0}, {-1, 0}};

const spti_method_ops spti_method_grasp = {
    .id = SPT_METHOD_GRASP,
    .name = "grasp",
    .summary = "Wang et al. 2020: prune at initialisation by gradient flow",
    .flags = SPTI_METHOD_NEEDS_DATA,
    .keys = GRASP_KEYS,
    .defaults = GRASP_DEFAULTS,
    .create = spti_pai_create,
    .init = grasp_init,
    .save = spti_pai_save,
    .load = spti_pai_load,
    .destroy = spti_pai_destroy,
};
