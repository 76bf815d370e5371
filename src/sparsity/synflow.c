/*
 * SynFlow (Tanaka et al. 2020): data-free, iterative pruning at
 * initialisation by synaptic flow. With R = 1^T (prod_l |W_l|) 1 (the
 * linearised network of absolute weights on an all-ones input), a weight's
 * score is |w * dR/dw|; over SPT_MP_SYNFLOW_ITERS iterations the survivors
 * shrink exponentially, density d_f^(k/ITERS) at iteration k (d_f the final
 * density: the last iteration reaches the target exactly), scores being
 * recomputed each time over the survivors. The weights stay DENSE during
 * the iterations (the survivors are this file's own masks) and the final
 * selection is applied to every layer it prunes, including a layer the last
 * iteration did not thin further. Globally by default (as in the
 * paper; the layer-collapse argument is about global ranking), or per
 * layer. The weights' values are never modified (the absolute values are
 * taken in the computation), so there are no signs to restore.
 *
 * How R and its gradient are computed. The method only sees the list of
 * weight matrices, not the model, and the grad source runs the model on
 * data with its loss, so it cannot evaluate R (and the model computes in
 * float, where R of a deep ResNet overflows: every residual block
 * multiplies it by hundreds). The flow is computed here
 * directly, in double precision, layer by layer, with ReLU linearised
 * (identity on the non-negative flow) and normalisation layers treated as
 * identity (the paper runs BatchNorm in eval mode; at initialisation its
 * running statistics are the identity transform):
 *  - on an all-ones input every channel of a feature map is constant, so a
 *    convolution acts on per-channel flows: out[o] = sum over (i, kh, kw)
 *    of |W[o,i,kh,kw]| in[i] (border effects of zero padding are ignored);
 *    pooling keeps a constant map constant;
 *  - a flatten from C channels to C*H*W features repeats each channel's
 *    flow H*W times (a layer whose input size is a multiple of the previous
 *    output: feature f reads channel f / (H*W));
 *  - the weights are read in model order as a chain: a layer reads the
 *    previous layer's output (a linear layer also a multiple of it, the
 *    flatten above). A 4-D layer whose input matches neither is a residual
 *    block's projection shortcut (model order conv1, conv2, shortcut;
 *    nn/model.h): it reads what conv1 reads and its output is added to
 *    conv2's, the block's output, which the next layers read. Otherwise (not
 *    a model this library builds) it reads the most recent earlier output
 *    with its input's size, else the all-ones input. A layer whose output no
 *    later layer reads counts as an output of the network.
 * For an MLP or a plain conv chain this is R exactly (up to the padding
 * borders), and the projection shortcuts of a ResNet are exact too. What
 * the weight list cannot show is an identity shortcut (a block whose input
 * is added back unchanged looks like a plain conv chain), so those
 * additions are left out: each such block passes only its residual
 * branch's flow, which at initialisation dominates the identity's (a
 * 3x3 conv pair multiplies the flow by hundreds). That is the remaining
 * approximation of the paper's score on ResNets; it only affects the
 * ranking, never the number of weights kept (exact per the plan).
 * Scores are divided by R (ranking unchanged; on a chain every layer's
 * scores then sum to 1 by conservation) before being rounded to float.
 */
#include <math.h>
#include <string.h>

#include "dst.h"
#include "prune.h"

typedef struct flow_layer {
    int64_t cin, kk; /* input channels (features), columns per channel */
    int src;         /* node (see below) this layer reads; -1 = the all-ones input */
    int64_t ratio;   /* input channel c reads channel c / ratio of that node */
    int merge;       /* >= 0: a projection shortcut whose output is added to node `merge` */
    bool sink;       /* node read by no later layer: an output of the network */
} flow_layer;

/* Node k is the output of layer k plus the outputs of the shortcuts merged
 * into it; a merged layer has no node of its own. */
static int node_of(const flow_layer *F, int l) { return F[l].merge >= 0 ? F[l].merge : l; }

static void flow_graph(spti_param *const *w, int n, flow_layer *F) {
    for (int l = 0; l < n; l++) {
        const spti_param *p = w[l];
        F[l].cin = p->ndim == 4 ? p->shape[1] : p->cols;
        F[l].kk = p->cols / F[l].cin;
        F[l].src = -1;
        F[l].ratio = 1;
        F[l].merge = -1;
        F[l].sink = true;
        if (l == 0) continue;
        const int prev = node_of(F, l - 1);
        const int64_t prev_rows = w[prev]->rows;
        if (F[l].cin == prev_rows || (p->ndim == 2 && F[l].cin % prev_rows == 0)) {
            /* the next layer of a chain; a linear layer reading a flattened
             * feature map reads each channel cin / prev_rows times */
            F[l].src = prev;
            F[l].ratio = F[l].cin / prev_rows;
        } else if (l >= 2 && F[l - 1].merge < 0 && F[l - 1].src == l - 2 && w[l - 1]->rows == p->rows &&
                   (F[l - 2].src < 0 ? F[l].cin == F[l - 2].cin : w[F[l - 2].src]->rows == F[l].cin)) {
            /* A residual block with a projection shortcut, in model order
             * conv1 (l-2), conv2 (l-1), shortcut (l): the shortcut reads the
             * block's input (what conv1 reads) and its output is added to
             * conv2's: the block's output node. */
            F[l].src = F[l - 2].src;
            F[l].merge = l - 1;
        } else {
            for (int k = l - 2; k >= 0; k--)
                if (F[k].merge < 0 && w[k]->rows == F[l].cin) {
                    F[l].src = k;
                    break;
                }
        }
        if (F[l].src >= 0) F[F[l].src].sink = false;
    }
    for (int l = 0; l < n; l++)
        if (F[l].merge >= 0) F[l].sink = false;
}

/* Input flow of layer l at channel c: nb holds the node values. */
static double in_flow(const flow_layer *F, double *const *nb, int l, int64_t c) {
    return F[l].src < 0 ? 1.0 : nb[F[l].src][c / F[l].ratio];
}

int spti_synflow_scores(spti_param *const *weights, int n, uint8_t *const *active, float **score) {
    flow_layer *F = spti_alloc(n, sizeof *F);
    double **b = spti_calloc(n, sizeof(double *)); /* forward flow: node values, rows per layer */
    double **a = spti_calloc(n, sizeof(double *)); /* dR/d(node): rows per layer */
    double *gin = NULL;                            /* dR/d(input channel) of one layer */
    double *out = NULL;                            /* one layer's output flow */
    int64_t max_cin = 1, max_rows = 1;
    int rc = SPT_OK;
    if (!F || !b || !a) {
        rc = spti_fail(SPT_ERR_NOMEM, "synflow: out of memory");
        goto done;
    }
    flow_graph(weights, n, F);
    for (int l = 0; l < n; l++) {
        if (F[l].cin > max_cin) max_cin = F[l].cin;
        if (weights[l]->rows > max_rows) max_rows = weights[l]->rows;
        b[l] = spti_calloc(weights[l]->rows, sizeof(double));
        a[l] = spti_calloc(weights[l]->rows, sizeof(double));
        if (!b[l] || !a[l]) {
            rc = spti_fail(SPT_ERR_NOMEM, "synflow: out of memory");
            goto done;
        }
    }
    if (!(gin = spti_alloc(max_cin, sizeof(double))) || !(out = spti_alloc(max_rows, sizeof(double)))) {
        rc = spti_fail(SPT_ERR_NOMEM, "synflow: out of memory");
        goto done;
    }
    /* Forward: out_l = |W_l| in_l over the active entries (values are
     * DENSE here), added to the layer's node. Every layer merged into a
     * node comes before the node's first reader. */
    for (int l = 0; l < n; l++) {
        const spti_param *p = weights[l];
        for (int64_t o = 0; o < p->rows; o++) {
            double s = 0.0;
            for (int64_t j = 0; j < p->cols; j++) {
                int64_t i = o * p->cols + j;
                if (active[l][i]) s += fabs((double)p->value[i]) * in_flow(F, b, l, j / F[l].kk);
            }
            out[o] = s;
        }
        double *node = b[node_of(F, l)];
        for (int64_t o = 0; o < p->rows; o++) node[o] += out[o];
    }
    double R = 0.0;
    for (int l = 0; l < n; l++)
        if (F[l].sink)
            for (int64_t o = 0; o < weights[l]->rows; o++) {
                R += b[l][o];
                a[l][o] = 1.0;
            }
    const double inv_r = R > 0.0 && isfinite(R) ? 1.0 / R : 1.0;
    /* Backward in reverse model order: every reader of a node comes after
     * the layers that form it, so a node's gradient is complete when they
     * are reached; a layer's output gradient is its node's. */
    for (int l = n - 1; l >= 0; l--) {
        const spti_param *p = weights[l];
        const double *ag = a[node_of(F, l)];
        memset(gin, 0, (size_t)F[l].cin * sizeof(double));
        for (int64_t o = 0; o < p->rows; o++)
            for (int64_t j = 0; j < p->cols; j++) {
                int64_t i = o * p->cols + j;
                double w = active[l][i] ? fabs((double)p->value[i]) : 0.0;
                double in = in_flow(F, b, l, j / F[l].kk);
                score[l][i] = (float)(w * ag[o] * in * inv_r);
                gin[j / F[l].kk] += ag[o] * w;
            }
        if (F[l].src >= 0)
            for (int64_t c = 0; c < F[l].cin; c++) a[F[l].src][c / F[l].ratio] += gin[c];
    }
done:
    if (b)
        for (int l = 0; l < n; l++) spti_free(b[l]);
    if (a)
        for (int l = 0; l < n; l++) spti_free(a[l]);
    spti_free(b);
    spti_free(a);
    spti_free(F);
    spti_free(gin);
    spti_free(out);
    return rc;
}

/* Candidates = the entries still active in the method's own masks. */
static void gather(spti_param *const *w, int n, uint8_t *const *active, float *const *score, spti_prune_layer *L) {
    for (int l = 0; l < n; l++) {
        int64_t cells = w[l]->rows * w[l]->cols, m = 0;
        for (int64_t i = 0; i < cells; i++)
            if (active[l][i]) {
                L[l].pos[m] = i;
                L[l].score[m++] = score[l][i];
            }
        L[l].n = m;
        L[l].keep = m;
    }
}

static int synflow_init(spti_method *m, spti_param **weights, int n, spti_grad_source *grads) {
    (void)grads; /* data-free */
    SPTI_TRY(spti_pai_check_init(m, weights, n));
    spti_pai *st = m->state;
    uint8_t **active = spti_calloc(n, sizeof(uint8_t *));
    float **score = spti_prune_buffers(weights, n);
    spti_prune_layer *L = NULL;
    int rc = active && score ? spti_prune_layers_create(weights, n, &L) /* DENSE: capacity rows*cols */
                             : spti_fail(SPT_ERR_NOMEM, "synflow: out of memory");
    for (int l = 0; l < n && rc == SPT_OK; l++) {
        int64_t cells = weights[l]->rows * weights[l]->cols;
        if (!(active[l] = spti_alloc(cells, 1))) rc = spti_fail(SPT_ERR_NOMEM, "synflow: out of memory");
        else memset(active[l], 1, (size_t)cells);
    }
    for (int64_t k = 1; k <= st->iters && rc == SPT_OK; k++) {
        rc = spti_synflow_scores(weights, n, active, score);
        if (rc != SPT_OK) break;
        gather(weights, n, active, score, L);
        rc = spti_pai_select(m, L, (double)k / (double)st->iters, k);
        if (rc != SPT_OK) break;
        for (int l = 0; l < n; l++) {
            memset(active[l], 0, (size_t)(weights[l]->rows * weights[l]->cols));
            for (int64_t j = 0; j < L[l].keep; j++) active[l][L[l].pos[j]] = 1;
        }
    }
    if (rc == SPT_OK) {
        /* L holds the last selection: the final counts. */
        rc = spti_pai_finish(m, L);
    }
    spti_prune_layers_destroy(L, n);
    spti_prune_buffers_free(score, n);
    if (active)
        for (int l = 0; l < n; l++) spti_free(active[l]);
    spti_free(active);
    return rc;
}

static const int SYNFLOW_KEYS[] = {SPT_MP_SPARSITY, SPT_MP_DISTRIBUTION, SPT_MP_DENSE_FIRST, SPT_MP_DENSE_LAST, SPT_MP_GLOBAL, SPT_MP_SEED, SPT_MP_SYNFLOW_ITERS, -1};
/* The prune-at-init papers rank all layers together. */
static const spti_key_value SYNFLOW_DEFAULTS[] = {{SPT_MP_GLOBAL, 1.0}, {-1, 0}};

const spti_method_ops spti_method_synflow = {
    .id = SPT_METHOD_SYNFLOW,
    .name = "synflow",
    .summary = "Tanaka et al. 2020: data-free iterative synaptic flow",
    .flags = SPTI_METHOD_NEEDS_DATA,
    .keys = SYNFLOW_KEYS,
    .defaults = SYNFLOW_DEFAULTS,
    .create = spti_pai_create,
    .init = synflow_init,
    .save = spti_pai_save,
    .load = spti_pai_load,
    .destroy = spti_pai_destroy,
};
