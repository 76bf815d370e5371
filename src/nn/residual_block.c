/*
 * Basic residual block (He et al. 2016, CIFAR variant, option B shortcut):
 *   a1 = conv1(x)  b1 = bn1(a1)  r1 = relu(b1)  a2 = conv2(r1)  b2 = bn2(a2)
 *   s  = x (identity) or sbn(sconv(x))          y = relu(b2 + s)
 * Every intermediate is out_c x H' x W' x N except x. The block owns its
 * children (conv1, bn1, relu1, conv2, bn2[, sconv, sbn]) and the buffers of
 * the intermediates, grown with the batch.
 */
#include <string.h>

#include "layers.h"

enum { C_CONV1, C_BN1, C_RELU1, C_CONV2, C_BN2, C_SCONV, C_SBN, C_MAX };
enum { B_A1, B_B1, B_R1, B_A2, B_B2, B_S1, B_S2, B_G0, B_G1, B_MAX }; /* out-sized buffers */
enum { BLOCK_PAR_MIN = 1 << 16 }; /* elements below which the elementwise loops run on one thread */

typedef struct block_state {
    bool projection;    /* shortcut is sconv + sbn */
    float *buf[B_MAX];  /* out_size x cap each */
    float *dx_tmp;      /* in_size x cap: shortcut input gradient */
    int64_t cap;
} block_state;

static int grow(spti_layer *L, int64_t N) {
    block_state *s = L->state;
    if (N <= s->cap && s->buf[0]) return SPT_OK;
    int64_t out_e, in_e;
    SPTI_TRY(spti_shape_elems(L->out_shape, N, &out_e));
    SPTI_TRY(spti_shape_elems(L->in_shape, N, &in_e));
    float *nb[B_MAX] = {NULL}, *ndx = NULL;
    bool ok = true;
    for (int i = 0; ok && i < B_MAX; i++) ok = (nb[i] = spti_alloc(out_e, sizeof(float))) != NULL;
    if (ok && s->projection) ok = (ndx = spti_alloc(in_e, sizeof(float))) != NULL;
    if (!ok) {
        for (int i = 0; i < B_MAX; i++) spti_free(nb[i]);
        return spti_fail(SPT_ERR_NOMEM, "residual block %s: out of memory for a batch of %lld", L->name,
                         (long long)N);
    }
    for (int i = 0; i < B_MAX; i++) {
        spti_free(s->buf[i]);
        s->buf[i] = nb[i];
    }
    spti_free(s->dx_tmp);
    s->dx_tmp = ndx;
    s->cap = N;
    return SPT_OK;
}

#define CHILD_FWD(idx, in, out)                                                       \
    do {                                                                              \
        spti_layer *c_ = L->children[idx];                                            \
        SPTI_TRY(c_->ops->forward(c_, (in), (out), N, ctx));                          \
    } while (0)

static int block_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    block_state *s = L->state;
    SPTI_TRY(grow(L, N));
    float **b = s->buf;
    CHILD_FWD(C_CONV1, x, b[B_A1]);
    CHILD_FWD(C_BN1, b[B_A1], b[B_B1]);
    CHILD_FWD(C_RELU1, b[B_B1], b[B_R1]);
    CHILD_FWD(C_CONV2, b[B_R1], b[B_A2]);
    CHILD_FWD(C_BN2, b[B_A2], b[B_B2]);
    const float *sc = x;
    if (s->projection) {
        CHILD_FWD(C_SCONV, x, b[B_S1]);
        CHILD_FWD(C_SBN, b[B_S1], b[B_S2]);
        sc = b[B_S2];
    }
    const int64_t n = spti_shape_size(L->out_shape) * N;
    const float *b2 = b[B_B2];
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= BLOCK_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = b2[i] + sc[i];
        y[i] = v < 0.0f ? 0.0f : v; /* NaN propagates */
    }
    return SPT_OK;
}

#define CHILD_BWD(idx, in, out, dy, dx)                                               \
    do {                                                                              \
        spti_layer *c_ = L->children[idx];                                            \
        SPTI_TRY(c_->ops->backward(c_, (in), (out), (dy), (dx), N));                  \
    } while (0)

static int block_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    block_state *s = L->state;
    if (N > s->cap) return spti_fail(SPT_ERR_STATE, "residual block %s: backward without forward", L->name);
    float **b = s->buf;
    float *dz = b[B_G0], *g = b[B_G1];
    const int64_t n = spti_shape_size(L->out_shape) * N;
    /* dy read unconditionally: a load under the condition kept this loop
     * scalar and branchy. */
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= BLOCK_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float d = dy[i];
        dz[i] = y[i] > 0.0f ? d : 0.0f;
    }
    /* t1/t2 alternate as the gradient scratch of the main path; every forward
     * output stays intact until the backward of the child that reads it. */
    float *t1 = g, *t2 = b[B_S2]; /* B_S2 is unused when the shortcut is the identity */
    float *tmp_extra = NULL;
    if (s->projection) {
        /* Shortcut first: it needs dz, then its buffers are free for the main path. */
        CHILD_BWD(C_SBN, b[B_S1], b[B_S2], dz, t1);
        CHILD_BWD(C_SCONV, x, b[B_S1], t1, dx ? s->dx_tmp : NULL);
        t2 = b[B_S1];
        tmp_extra = s->dx_tmp;
    }
    CHILD_BWD(C_BN2, b[B_A2], b[B_B2], dz, t1);        /* dL/da2 */
    CHILD_BWD(C_CONV2, b[B_R1], b[B_A2], t1, t2);      /* dL/dr1 */
    CHILD_BWD(C_RELU1, b[B_B1], b[B_R1], t2, t1);      /* dL/db1 */
    CHILD_BWD(C_BN1, b[B_A1], b[B_B1], t1, t2);        /* dL/da1 */
    CHILD_BWD(C_CONV1, x, b[B_A1], t2, dx);            /* dL/dx, main path */
    if (dx) {
        const int64_t m = spti_shape_size(L->in_shape) * N;
        const float *add = s->projection ? tmp_extra : dz;
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (m >= BLOCK_PAR_MIN)
        for (int64_t i = 0; i < m; i++) dx[i] += add[i];
    }
    return SPT_OK;
}

static void block_destroy(spti_layer *L) {
    block_state *s = L->state;
    if (s) {
        for (int i = 0; i < B_MAX; i++) spti_free(s->buf[i]);
        spti_free(s->dx_tmp);
    }
    spti_layer_free(L);
}

static double block_flops(const spti_layer *L, bool dense) {
    double f = 0.0;
    for (int i = 0; i < L->n_children; i++) f += L->children[i]->ops->flops(L->children[i], dense);
    return f;
}

static const spti_layer_ops block_ops = {"residual_block", block_forward, block_backward, block_destroy,
                                         block_flops};

int spti_residual_block_create(const char *name, int64_t in_c, int64_t in_h, int64_t in_w, int64_t out_c,
                               int64_t stride, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (in_c < 1 || in_h < 1 || in_w < 1 || out_c < 1)
        return spti_fail(SPT_ERR_SIZE, "residual block %s: sizes must be positive", name);
    if (stride < 1) return spti_fail(SPT_ERR_INVALID, "residual block %s: stride %lld must be >= 1", name,
                                     (long long)stride);
    const bool projection = stride != 1 || in_c != out_c;
    const int n_children = projection ? C_MAX : C_SCONV;
    spti_shape in = {in_c, in_h, in_w};
    /* 3x3 pad 1: H' = (H - 1) / stride + 1, as the 1x1 unpadded shortcut. */
    spti_shape o = {out_c, (in_h - 1) / stride + 1, (in_w - 1) / stride + 1};
    spti_layer *L = spti_layer_new(&block_ops, name, in, o, sizeof(block_state));
    if (!L) return SPT_ERR_NOMEM;
    ((block_state *)L->state)->projection = projection;
    int rc = SPT_OK;
    if (!(L->children = spti_calloc(n_children, sizeof *L->children)))
        rc = spti_fail(SPT_ERR_NOMEM, "residual block %s: out of memory", name);
    char cn[40];
    spti_conv2d_spec c1 = {in_c, in_h, in_w, out_c, 3, 3, stride, 1, false, 1};
    spti_conv2d_spec c2 = {out_c, o.h, o.w, out_c, 3, 3, 1, 1, false, 1};
    spti_conv2d_spec sc = {in_c, in_h, in_w, out_c, 1, 1, stride, 0, false, 1};
    for (int i = 0; rc == SPT_OK && i < n_children; i++) {
        spti_layer **child = &L->children[i];
        switch (i) {
        case C_CONV1: spti_name_join(cn, sizeof cn, name, "conv1"); rc = spti_conv2d_create(cn, &c1, child); break;
        case C_BN1: spti_name_join(cn, sizeof cn, name, "bn1"); rc = spti_batchnorm2d_create(cn, out_c, o.h, o.w, child); break;
        case C_RELU1: spti_name_join(cn, sizeof cn, name, "relu1"); rc = spti_relu_create(cn, o, child); break;
        case C_CONV2: spti_name_join(cn, sizeof cn, name, "conv2"); rc = spti_conv2d_create(cn, &c2, child); break;
        case C_BN2: spti_name_join(cn, sizeof cn, name, "bn2"); rc = spti_batchnorm2d_create(cn, out_c, o.h, o.w, child); break;
        case C_SCONV: spti_name_join(cn, sizeof cn, name, "shortcut.conv"); rc = spti_conv2d_create(cn, &sc, child); break;
        default: spti_name_join(cn, sizeof cn, name, "shortcut.bn"); rc = spti_batchnorm2d_create(cn, out_c, o.h, o.w, child); break;
        }
        if (rc == SPT_OK) L->n_children = i + 1;
    }
    if (rc == SPT_OK) {
        /* Guard against a conv geometry that disagrees with the block's. */
        for (int i = 0; i < n_children; i++) {
            spti_shape co = L->children[i]->out_shape;
            if (co.c != o.c || co.h != o.h || co.w != o.w)
                rc = spti_fail(SPT_ERR_INTERNAL, "residual block %s: child %s has an unexpected shape", name,
                               L->children[i]->name);
        }
    }
    if (rc != SPT_OK) {
        block_destroy(L);
        return rc;
    }
    *out = L;
    return SPT_OK;
}
