/*
 * BatchNorm2d / BatchNorm1d. Input and output C x H x W x N: the M = H*W*N
 * values of channel c are the contiguous block x[c*M .. c*M + M). 1d is the
 * same layer with H = W = 1.
 *
 * Training: mean_c and the biased variance over the block, y = gamma *
 * (x - mean) * invstd + beta, running_* <- (1 - 0.1) running_* + 0.1 batch_*
 * with the unbiased variance for running_var (PyTorch's convention).
 * Evaluation: the running statistics instead of the batch ones.
 *
 * The statistics take one pass over the block: the sum and the sum of
 * squares of x - K, K = the block's first value (the shifted-data
 * algorithm: with K inside the data's range, S2 - S1^2/M does not cancel
 * catastrophically the way the raw sum of squares does), in double. The
 * model fuses a batch norm with the ReLU that follows it, or with the
 * residual addition and ReLU (forward_act / backward_act): one sweep
 * normalises, scales, shifts, adds and clamps; the backward is one
 * reduction sweep and one writing sweep, and the intermediate tensors
 * (batch-norm output, addition output, their gradients) are never written.
 * The fused and unfused paths compute the same values in the same order:
 * their results are identical.
 *
 * Synchronised statistics (data-parallel training with sync_bn, the
 * reduction its parameters carry during a step: core/comm.h): the forward
 * sums each channel's count and M mean over the ranks (the global mean),
 * then each rank's squared deviations from it, M_r var_r + M_r (mean_r -
 * mean)^2 (Chan et al.'s combination); the backward sums the channel sums
 * of g and g xhat, each rank's weighted by its share n / N of the batch
 * (its loss is the mean over its own examples), and uses them in place of
 * its own; dgamma and dbeta stay this rank's (the trainer sums them with
 * the other gradients).
 */
#include <math.h>
#include <string.h>

#include "../core/comm.h"
#include "../kernels/bn.h"
#include "layers.h"

enum { BN_PAR_MIN = 1 << 15 }; /* elements below which one thread is faster */

typedef struct bn_state {
    int64_t c, hw;
    float eps, momentum;
    float *running_mean, *running_var; /* c each: layer state saved by checkpoints */
    float *mean, *invstd;              /* c each: statistics used by the last forward */
    float *a, *b;                      /* c each: its map a x + b (the ReLU's mask in backward) */
    bool last_res;                     /* the last forward added a residual */
    double *dstat;                     /* 2c: a channel's two local sums (synchronised statistics) */
    float *sync;                       /* 2c + 1: the values summed over the ranks */
    bool last_sync;                    /* the last training forward synchronised its statistics */
    uint8_t *zero;                     /* c: the last forward's input channels known to be 0 (ctx->zero_in) */
    bool any_zero;
    bool last_training;
    int64_t last_N;
} bn_state;

/* Synchronised statistics of a training forward: into dstat, the global
 * count (dstat[0]) and each channel's mean and sum of squared deviations
 * (dstat[1 + 2c], dstat[2 + 2c]). Two sums over the ranks of C + 1 and C
 * floats; every rank makes them (the model's layers run in one order). */
static int sync_stats(spti_layer *L, const float *x, int64_t M) {
    bn_state *s = L->state;
    const spti_reduce *red = L->params[0]->reduce;
    const int64_t C = s->c;
    double *loc = s->dstat; /* here: each channel's local mean and sq */
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * M >= BN_PAR_MIN)
    for (int64_t c = 0; c < C; c++) spti_bn_stats(x + c * M, M, &loc[2 * c], &loc[2 * c + 1]);
    float *b = s->sync;
    for (int64_t c = 0; c < C; c++) b[c] = (float)((double)M * loc[2 * c]);
    b[C] = (float)M;
    SPTI_TRY(spti_comm_sum_f32(red->comm, b, C + 1, "a batch norm's channel means"));
    const double Mg = b[C];
    for (int64_t c = 0; c < C; c++) {
        const double mu = b[c] / Mg, d = loc[2 * c] - mu;
        loc[2 * c] = mu;
        b[c] = (float)(loc[2 * c + 1] + (double)M * d * d);
    }
    SPTI_TRY(spti_comm_sum_f32(red->comm, b, C, "a batch norm's channel variances"));
    for (int64_t c = C - 1; c >= 0; c--) { /* dstat = [Mg, mean_0, sq_0, mean_1, ...] */
        s->dstat[2 + 2 * c] = b[c];
        s->dstat[1 + 2 * c] = loc[2 * c];
    }
    s->dstat[0] = Mg;
    return SPT_OK;
}

/* y = relu?(gamma * xhat + beta + res): the layer's forward (relu false,
 * res NULL) and the fused block's. */
static int bn_forward_act(spti_layer *L, const float *x, const float *res, bool relu, float *y, int64_t N,
                          const spti_fwd_ctx *ctx) {
    bn_state *s = L->state;
    const int64_t C = s->c, M = s->hw * N;
    const bool training = ctx && ctx->training;
    if (training && M < 2)
        return spti_fail(SPT_ERR_SIZE, "batchnorm %s: training needs more than 1 value per channel (got %lld)",
                         L->name, (long long)M);
    const float *gamma = L->params[0]->value, *beta = L->params[1]->value;
    const float mom = s->momentum;
    const spti_reduce *red = L->params[0]->reduce;
    const bool sync = training && red && red->sync_bn;
    s->last_sync = sync;
    if (sync) SPTI_TRY(sync_stats(L, x, M));
    /* Input channels known to be 0 (a channel-pruned producer's empty rows;
     * not with synchronised statistics): their statistics are mean 0 and
     * variance 0, as spti_bn_stats computes them from zeros, and their
     * output is the constant spti_bn_fill writes without reading them. */
    s->any_zero = false;
    if (ctx && ctx->zero_in && !sync)
        for (int64_t c = 0; c < C; c++) s->any_zero |= (s->zero[c] = ctx->zero_in[c]) != 0;
    const bool any_zero = s->any_zero;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * M >= BN_PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        const float *xc = x + c * M;
        float *yc = y + c * M;
        float mean, invstd;
        const bool zero = any_zero && s->zero[c];
        if (sync) { /* the global batch's (sync_stats) */
            const double Mg = s->dstat[0], mu = s->dstat[1 + 2 * c], sq = s->dstat[2 + 2 * c];
            mean = (float)mu;
            invstd = (float)(1.0 / sqrt(sq / Mg + s->eps));
            s->running_mean[c] = (1.0f - mom) * s->running_mean[c] + mom * mean;
            s->running_var[c] = (1.0f - mom) * s->running_var[c] + mom * (float)(sq / (Mg - 1.0));
        } else if (training) {
            double mu = 0.0, sq = 0.0;
            if (!zero) spti_bn_stats(xc, M, &mu, &sq);
            const double var = sq / (double)M;
            mean = (float)mu;
            invstd = (float)(1.0 / sqrt(var + s->eps));
            s->running_mean[c] = (1.0f - mom) * s->running_mean[c] + mom * mean;
            s->running_var[c] = (1.0f - mom) * s->running_var[c] + mom * (float)(sq / (double)(M - 1));
        } else {
            mean = s->running_mean[c];
            invstd = (float)(1.0 / sqrt((double)s->running_var[c] + s->eps));
        }
        s->mean[c] = mean;
        s->invstd[c] = invstd;
        const float a = gamma[c] * invstd, b = beta[c] - a * mean;
        s->a[c] = a;
        s->b[c] = b;
        /* the unfused layers' operations in their order: a x + b, + res, the ReLU */
        if (zero)
            spti_bn_fill(res ? res + c * M : NULL, relu, a, b, M, yc);
        else
            spti_bn_apply(xc, res ? res + c * M : NULL, relu, a, b, M, yc);
    }
    s->last_training = training;
    s->last_res = res != NULL;
    s->last_N = N;
    return SPT_OK;
}

static int bn_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    return bn_forward_act(L, x, NULL, false, y, N, ctx);
}

/* The ReLU's mask for channel c's backward, y its output: without a
 * residual the ReLU's input is the forward's a x + b, recomputed from x
 * (bn.h), so that the backward does not read y; with one, y > 0. */
static spti_bn_relu relu_mask(const bn_state *s, int64_t c, const float *yc) {
    if (s->last_res) return (spti_bn_relu){yc, false, 0.0f, 0.0f};
    return (spti_bn_relu){NULL, true, s->a[c], s->b[c]};
}

/* dgamma += sum g * xhat, dbeta += sum g; in training
 * dx = gamma * invstd / M * (M g - sum g - xhat * sum(g xhat)),
 * in evaluation (fixed statistics) dx = gamma * invstd * g; dres = g;
 * g = dy, masked by y > 0 with relu. */
static int bn_backward_act(spti_layer *L, const float *x, const float *y, const float *dy, bool relu, float *dx,
                           float *dres, int64_t N) {
    bn_state *s = L->state;
    if (N != s->last_N)
        return spti_fail(SPT_ERR_STATE, "batchnorm %s: backward batch %lld differs from forward batch %lld", L->name,
                         (long long)N, (long long)s->last_N);
    const int64_t C = s->c, M = s->hw * N;
    const float *gamma = L->params[0]->value;
    float *dgamma = L->params[0]->grad, *dbeta = L->params[1]->grad;
    const spti_reduce *red = L->params[0]->reduce;
    const bool sync = s->last_training && s->last_sync && red && red->sync_bn;
    double *sums = s->dstat; /* synchronised: each channel's sum g, sum g xhat */
    const bool any_zero = s->any_zero && !sync;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * M >= BN_PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        const float *xc = x + c * M, *dyc = dy + c * M, *yc = relu ? y + c * M : NULL;
        const float mean = s->mean[c], invstd = s->invstd[c];
        const spti_bn_relu mask = relu_mask(s, c, yc), *mk = relu ? &mask : NULL;
        const spti_bn_relu by_y = {yc, false, 0.0f, 0.0f}, *mk_y = yc ? &by_y : NULL;
        double sdy, sdyx;
        if (any_zero && s->zero[c]) {
            /* A zero input channel: xhat = 0, so dgamma gains nothing; dbeta
             * the same sum g (the kernel's lanes, x not read: it is given dy
             * with invstd 0; without a residual y is the channel's constant,
             * so g is dy everywhere or 0 everywhere; with one, whether or not
             * its gradient is wanted, the mask is y's); dres = g; dx = 0,
             * which its producer never reads (spti_weight_zero_rows). */
            const bool per_value = yc && s->last_res;
            if (per_value || !yc || yc[0] > 0.0f)
                spti_bn_grad_sums(dyc, per_value ? mk_y : NULL, dyc, M, 0.0f, 0.0f, &sdy, &sdyx);
            else
                sdy = 0.0;
            dbeta[c] += (float)sdy;
            if (dres) spti_bn_grad_apply(dyc, mk_y, dyc, M, 0.0f, 0.0f, 0.0f, false, 0.0f, 0.0f, NULL, dres + c * M);
            if (dx) memset(dx + c * M, 0, (size_t)M * sizeof(float));
            continue;
        }
        spti_bn_grad_sums(dyc, mk, xc, M, mean, invstd, &sdy, &sdyx);
        dgamma[c] += (float)sdyx;
        dbeta[c] += (float)sdy;
        if (sync) {
            sums[2 * c] = sdy;
            sums[2 * c + 1] = sdyx;
            continue;
        }
        if (!dx && !dres) continue;
        const float mdy = (float)(sdy / (double)M), mdyx = (float)(sdyx / (double)M);
        spti_bn_grad_apply(dyc, mk, xc, M, mean, invstd, gamma[c] * invstd, s->last_training, mdy, mdyx,
                           dx ? dx + c * M : NULL, dres ? dres + c * M : NULL);
    }
    if (!sync) return SPT_OK;
    /* The global batch's sums, in this rank's units (its g is the gradient
     * of the mean over its own n examples: the global loss's times N / n). */
    float *b = s->sync;
    for (int64_t c = 0; c < 2 * C; c++) b[c] = (float)(sums[c] * (double)red->scale);
    SPTI_TRY(spti_comm_sum_f32(red->comm, b, 2 * C, "a batch norm's gradient sums"));
    if (!dx && !dres) return SPT_OK;
    const double Mg = (double)M / (double)red->scale, units = 1.0 / (double)red->scale; /* the global count */
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * M >= BN_PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        const float mean = s->mean[c], invstd = s->invstd[c];
        const float mdy = (float)((double)b[2 * c] * units / Mg), mdyx = (float)((double)b[2 * c + 1] * units / Mg);
        const spti_bn_relu mask = relu_mask(s, c, relu ? y + c * M : NULL);
        spti_bn_grad_apply(dy + c * M, relu ? &mask : NULL, x + c * M, M, mean, invstd, gamma[c] * invstd, true,
                           mdy, mdyx, dx ? dx + c * M : NULL, dres ? dres + c * M : NULL);
    }
    return SPT_OK;
}

static int bn_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    (void)y;
    return bn_backward_act(L, x, NULL, dy, false, dx, NULL, N);
}

static void bn_destroy(spti_layer *L) {
    bn_state *s = L->state;
    if (s) {
        spti_free(s->running_mean);
        spti_free(s->running_var);
        spti_free(s->mean);
        spti_free(s->invstd);
        spti_free(s->a);
        spti_free(s->b);
        spti_free(s->dstat);
        spti_free(s->sync);
        spti_free(s->zero);
    }
    spti_layer_free(L);
}

static double bn_flops(const spti_layer *L, bool dense) { return 0.0; }

static const spti_layer_ops bn_ops = {.kind = "batchnorm",
                                      .forward = bn_forward,
                                      .backward = bn_backward,
                                      .destroy = bn_destroy,
                                      .flops = bn_flops,
                                      .forward_act = bn_forward_act,
                                      .backward_act = bn_backward_act};

int spti_batchnorm2d_create(const char *name, int64_t c, int64_t h, int64_t w, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (c < 1 || h < 1 || w < 1)
        return spti_fail(SPT_ERR_SIZE, "batchnorm %s: shape %lld x %lld x %lld must be positive", name, (long long)c,
                         (long long)h, (long long)w);
    int64_t hw;
    spti_shape shape = {c, h, w};
    if (!spti_mul_i64(h, w, &hw)) return spti_fail(SPT_ERR_SIZE, "batchnorm %s: H*W overflows", name);
    SPTI_TRY(spti_shape_elems(shape, 1, &(int64_t){0}));
    spti_layer *L = spti_layer_new(&bn_ops, name, shape, shape, sizeof(bn_state));
    if (!L) return SPT_ERR_NOMEM;
    bn_state *s = L->state;
    s->c = c;
    s->hw = hw;
    s->eps = 1e-5f;
    s->momentum = 0.1f;
    spti_param *gamma, *beta;
    int rc = spti_layer_add_param(L, "weight", 1, &c, false, &gamma);
    if (rc == SPT_OK) rc = spti_layer_add_param(L, "bias", 1, &c, false, &beta);
    if (rc == SPT_OK) {
        s->running_mean = spti_calloc(c, sizeof(float));
        s->running_var = spti_alloc(c, sizeof(float));
        s->mean = spti_calloc(c, sizeof(float));
        s->invstd = spti_calloc(c, sizeof(float));
        s->a = spti_calloc(c, sizeof(float));
        s->b = spti_calloc(c, sizeof(float));
        s->dstat = spti_calloc(2 * c + 1, sizeof(double));
        s->sync = spti_calloc(2 * c + 1, sizeof(float));
        s->zero = spti_calloc(c, 1);
        if (!s->running_mean || !s->running_var || !s->mean || !s->invstd || !s->a || !s->b || !s->dstat || !s->sync ||
            !s->zero)
            rc = spti_fail(SPT_ERR_NOMEM, "batchnorm %s: out of memory", name);
    }
    if (rc != SPT_OK) {
        bn_destroy(L);
        return rc;
    }
    gamma->no_weight_decay = beta->no_weight_decay = true;
    for (int64_t i = 0; i < c; i++) {
        gamma->value[i] = 1.0f;
        s->running_var[i] = 1.0f;
    }
    *out = L;
    return SPT_OK;
}

int spti_batchnorm1d_create(const char *name, int64_t features, spti_layer **out) {
    return spti_batchnorm2d_create(name, features, 1, 1, out);
}

int spti_batchnorm_running(spti_layer *L, float **running_mean, float **running_var, int64_t *c) {
    SPTI_CHECK_NULL(L);
    if (L->ops != &bn_ops) return spti_fail(SPT_ERR_INVALID, "%s: layer %s is not a batchnorm", __func__, L->name);
    bn_state *s = L->state;
    if (running_mean) *running_mean = s->running_mean;
    if (running_var) *running_var = s->running_var;
    if (c) *c = s->c;
    return SPT_OK;
}

bool spti_layer_is_batchnorm(const spti_layer *L) { return L && L->ops == &bn_ops; }

void spti_batchnorm_reset_running(spti_layer *L) {
    if (!L || L->ops != &bn_ops) return;
    bn_state *s = L->state;
    for (int64_t i = 0; i < s->c; i++) {
        s->running_mean[i] = 0.0f;
        s->running_var[i] = 1.0f;
    }
}
