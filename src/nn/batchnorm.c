/*
 * BatchNorm2d / BatchNorm1d. Input and output C x H x W x N: the M = H*W*N
 * values of channel c are the contiguous block x[c*M .. c*M + M). 1d is the
 * same layer with H = W = 1.
 *
 * Training: mean_c and the biased variance over the block, y = gamma *
 * (x - mean) * invstd + beta, running_* <- (1 - 0.1) running_* + 0.1 batch_*
 * with the unbiased variance for running_var (PyTorch's convention).
 * Evaluation: the running statistics instead of the batch ones.
 */
#include <math.h>
#include <string.h>

#include "layers.h"

enum { BN_PAR_MIN = 1 << 15 }; /* elements below which one thread is faster */

typedef struct bn_state {
    int64_t c, hw;
    float eps, momentum;
    float *running_mean, *running_var; /* c each: layer state saved by checkpoints */
    float *mean, *invstd;              /* c each: statistics used by the last forward */
    bool last_training;
    int64_t last_N;
} bn_state;

/* Channel reductions in double with independent partial sums: one chain of
 * dependent double additions runs at the adder's latency (about 3 cycles a
 * value), several chains at its throughput. BN_LANES for one sum, BN_LANES2
 * for the pair of sums of the backward (so that both sets of accumulators
 * stay in the 16 SSE registers). The lanes are combined in a fixed order:
 * the result does not depend on the thread count. */
enum { BN_LANES = 8, BN_LANES2 = 4 };

static double combine(const double *acc, int lanes) {
    double s = 0.0;
    for (int j = 0; j < lanes; j++) s += acc[j];
    return s;
}

/* sum x[i] */
static double sum_f(const float *x, int64_t M) {
    double acc[BN_LANES] = {0};
    int64_t i = 0;
    for (; i + BN_LANES <= M; i += BN_LANES)
        for (int j = 0; j < BN_LANES; j++) acc[j] += x[i + j];
    for (; i < M; i++) acc[i % BN_LANES] += x[i];
    return combine(acc, BN_LANES);
}

/* sum (x[i] - mu)^2 */
static double sum_sq_dev(const float *x, int64_t M, double mu) {
    double acc[BN_LANES] = {0};
    int64_t i = 0;
    for (; i + BN_LANES <= M; i += BN_LANES)
        for (int j = 0; j < BN_LANES; j++) {
            double d = x[i + j] - mu;
            acc[j] += d * d;
        }
    for (; i < M; i++) {
        double d = x[i] - mu;
        acc[i % BN_LANES] += d * d;
    }
    return combine(acc, BN_LANES);
}

/* *sdy = sum dy[i], *sdyx = sum dy[i] * xhat[i], xhat = (x - mean) * invstd. */
static void sum_dy_dyx(const float *dy, const float *x, int64_t M, float mean, float invstd, double *sdy,
                       double *sdyx) {
    double a[BN_LANES2] = {0}, b[BN_LANES2] = {0};
    int64_t i = 0;
    for (; i + BN_LANES2 <= M; i += BN_LANES2)
        for (int j = 0; j < BN_LANES2; j++) {
            a[j] += dy[i + j];
            b[j] += (double)dy[i + j] * ((x[i + j] - mean) * invstd);
        }
    for (; i < M; i++) {
        a[i % BN_LANES2] += dy[i];
        b[i % BN_LANES2] += (double)dy[i] * ((x[i] - mean) * invstd);
    }
    *sdy = combine(a, BN_LANES2);
    *sdyx = combine(b, BN_LANES2);
}

static int bn_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    bn_state *s = L->state;
    const int64_t C = s->c, M = s->hw * N;
    const bool training = ctx && ctx->training;
    if (training && M < 2)
        return spti_fail(SPT_ERR_SIZE, "batchnorm %s: training needs more than 1 value per channel (got %lld)",
                         L->name, (long long)M);
    const float *gamma = L->params[0]->value, *beta = L->params[1]->value;
    const float mom = s->momentum;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * M >= BN_PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        const float *xc = x + c * M;
        float *yc = y + c * M;
        float mean, invstd;
        if (training) {
            double mu = sum_f(xc, M) / (double)M, sq = sum_sq_dev(xc, M, mu);
            double var = sq / (double)M;
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
        for (int64_t i = 0; i < M; i++) yc[i] = a * xc[i] + b;
    }
    s->last_training = training;
    s->last_N = N;
    return SPT_OK;
}

/* dgamma += sum dy * xhat, dbeta += sum dy; in training
 * dx = gamma * invstd / M * (M dy - sum dy - xhat * sum(dy xhat)),
 * in evaluation (fixed statistics) dx = gamma * invstd * dy. */
static int bn_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    bn_state *s = L->state;
    if (N != s->last_N)
        return spti_fail(SPT_ERR_STATE, "batchnorm %s: backward batch %lld differs from forward batch %lld", L->name,
                         (long long)N, (long long)s->last_N);
    const int64_t C = s->c, M = s->hw * N;
    const float *gamma = L->params[0]->value;
    float *dgamma = L->params[0]->grad, *dbeta = L->params[1]->grad;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * M >= BN_PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        const float *xc = x + c * M, *dyc = dy + c * M;
        const float mean = s->mean[c], invstd = s->invstd[c];
        double sdy, sdyx;
        sum_dy_dyx(dyc, xc, M, mean, invstd, &sdy, &sdyx);
        dgamma[c] += (float)sdyx;
        dbeta[c] += (float)sdy;
        if (!dx) continue;
        float *dxc = dx + c * M;
        const float g = gamma[c] * invstd;
        if (s->last_training) {
            const float mdy = (float)(sdy / (double)M), mdyx = (float)(sdyx / (double)M);
            for (int64_t i = 0; i < M; i++) dxc[i] = g * (dyc[i] - mdy - (xc[i] - mean) * invstd * mdyx);
        } else {
            for (int64_t i = 0; i < M; i++) dxc[i] = g * dyc[i];
        }
    }
    return SPT_OK;
}

static void bn_destroy(spti_layer *L) {
    bn_state *s = L->state;
    if (s) {
        spti_free(s->running_mean);
        spti_free(s->running_var);
        spti_free(s->mean);
        spti_free(s->invstd);
    }
    spti_layer_free(L);
}

static double bn_flops(const spti_layer *L, bool dense) { return 0.0; }

static const spti_layer_ops bn_ops = {.kind = "batchnorm", .forward = bn_forward, .backward = bn_backward, .destroy = bn_destroy, .flops = bn_flops};

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
        if (!s->running_mean || !s->running_var || !s->mean || !s->invstd)
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
