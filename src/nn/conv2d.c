/*
 * Conv2d layer: x[C_in x H x W x N] -> y[C_out x H_out x W_out x N].
 *
 * The weight, viewed as the matrix C_out x K (K = C_in*kh*kw), multiplies
 * the K x (H_out*W_out*N) column buffer of im2col: with the batch
 * contiguous, the output layout is exactly that product's. A SPARSE weight
 * uses the direct sparse convolution instead (no column buffer, cost
 * proportional to the nonzeros) unless the density makes the dense product
 * faster. 1x1 stride-1 unpadded convolutions are plain products over x.
 *
 * Grouped convolutions (G > 1 groups) share the same column buffer, whose
 * rows of group q are the block [q*K, (q+1)*K) (K = C_in/G*kh*kw): a dense
 * weight runs one product per group (rows [q*C_out/G, ..) of W and y); a
 * SPARSE weight always uses the direct kernels, which map each row to its
 * group's input channels.
 */
#include <string.h>

#include "../kernels/conv.h"
#include "../kernels/conv_dnnl.h"
#include "layers.h"

typedef struct conv_state {
    spti_conv_geom g;
    bool has_bias;
    spti_conv_path path;
    float *col; /* K x (H_out*W_out*N) im2col buffer, grown on demand */
    int64_t col_cap;
    void *scratch; /* the direct kernels' decoded taps and dW row sums (spti_conv_sparse_scratch) */
    int64_t scratch_cap;
    spti_conv_dnnl *dnnl; /* oneDNN's primitives and buffers (conv_dnnl.h), made on first use */
    bool dnnl_off;        /* oneDNN declined this layer once: the im2col path from then on */
} conv_state;

static bool pointwise(const spti_conv_geom *g) { return g->kh == 1 && g->kw == 1 && g->stride == 1 && g->pad == 0; }

/* Density up to which a SPARSE weight uses the direct kernels. Measured on
 * the CIFAR ResNet shapes (batch 128, one Zen5 core, forward + backward):
 * at stride 1 the direct convolution beats im2col + the CSR kernels by
 * 1.5-3x at densities 0.1 and 0.3, and im2col + OpenBLAS over the dense
 * weight up to a density of about 0.45-0.6 depending on the shape. Strided
 * convolutions read every s-th input cell, so the direct kernels stream more
 * memory per nonzero: on 16->32 and 32->64 at stride 2 they win by 2x at
 * 0.1 and break even with the dense path at 0.3. Above the threshold the
 * im2col path lets spti_csr_* choose sparse or dense. */
#define CONV_DIRECT_MAX_DENSITY 0.4
#define CONV_DIRECT_MAX_DENSITY_STRIDED 0.3
/* Shortest output row (W_out * N floats) the direct kernels take by
 * default: each of their vector updates covers one output row, so on short
 * rows the per-update cost dominates, while im2col turns the layer into one
 * sparse product over H_out * W_out * N columns. ResNet-20 at density 0.1
 * (2 threads, Zen 5, per example): batch 1 1832 us with im2col against
 * 4002 us direct, batch 2 1384 / 2169, batch 4 1145 / 1067, batch 8
 * 922 / 667 (direct wins from rows of about 128 floats). */
#define CONV_DIRECT_MIN_ROW 128

/* Does a SPARSE weight run on the direct kernels for a batch of N? (Always
 * when grouped.) */
static bool use_direct(const conv_state *st, const spti_param *W, int64_t N) {
    if (spti_conv_groups(&st->g) > 1) return true;
    if (pointwise(&st->g)) return false;
    switch (st->path) {
    case SPTI_CONV_DIRECT: return true;
    case SPTI_CONV_IM2COL: return false;
    default: {
        if (st->g.w_out * N < CONV_DIRECT_MIN_ROW) return false;
        const double max = st->g.stride > 1 ? CONV_DIRECT_MAX_DENSITY_STRIDED : CONV_DIRECT_MAX_DENSITY;
        return (double)W->csr->nnz <= max * (double)W->rows * (double)W->cols;
    }
    }
}

/* Does a DENSE or MASKED weight run on oneDNN (a build with it, the path
 * not forced to im2col, no gradient request that needs the columns)? */
static bool use_dnnl(const conv_state *st, const spti_param *W) {
    return W->kind != SPTI_PARAM_SPARSE && st->path != SPTI_CONV_IM2COL && !st->dnnl_off && !W->request.dense_grad &&
           !W->request.sample && spti_conv_dnnl_supports(&st->g);
}

/* H_out*W_out*N and K*H_out*W_out*N, overflow-checked; H_out*W_out*N must
 * fit the int dimensions of cblas whatever the path, so that a call fails
 * before it changes anything. */
static int sizes(const spti_layer *L, int64_t N, int64_t *PN, int64_t *colsz) {
    const conv_state *st = L->state;
    int64_t dims[4] = {st->g.c_in * st->g.kh * st->g.kw, st->g.h_out, st->g.w_out, N};
    if (N < 0 || !spti_count_elems(dims + 1, 3, sizeof(float), PN) || !spti_count_elems(dims, 4, sizeof(float), colsz) ||
        *PN > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "conv2d %s: batch size %lld is negative or overflows", L->name, (long long)N);
    return SPT_OK;
}

/* The column buffer: in a model, the model's one buffer for all its
 * convolutions (they run one at a time, and each fills the columns it
 * reads within the call: an update step's dense gradients, layer after
 * layer, reuse one allocation instead of faulting in a fresh one each);
 * alone, the layer's own. */
static void **col_buf(spti_layer *L, int64_t **cap) {
    conv_state *st = L->state;
    if (L->shared) {
        *cap = &L->shared[SPTI_SCRATCH_COLUMNS].cap;
        return &L->shared[SPTI_SCRATCH_COLUMNS].p;
    }
    *cap = &st->col_cap;
    return (void **)&st->col;
}

/* The K x PN operand of the products: x itself for a pointwise convolution,
 * else im2col(x) in the column buffer. */
static int columns(spti_layer *L, const float *x, int64_t N, int64_t colsz, const float **src) {
    conv_state *st = L->state;
    if (pointwise(&st->g)) {
        *src = x;
        return SPT_OK;
    }
    int64_t *cap;
    void **buf = col_buf(L, &cap);
    SPTI_TRY(spti_buf_grow(buf, cap, colsz, sizeof(float), "im2col buffer"));
    spti_im2col(&st->g, x, N, *buf);
    *src = *buf;
    return SPT_OK;
}

/* y = W . src (+ b) for a DENSE or MASKED weight, one product per group. */
static int dense_forward(const spti_conv_geom *g, const spti_param *W, const float *src, int64_t PN, const float *b,
                         float *y) {
    const int64_t G = spti_conv_groups(g), R = W->rows / G, C = W->cols;
    for (int64_t q = 0; q < G; q++)
        SPTI_TRY(spti_gemm_fwd(W->value + q * R * C, R, C, src + q * C * PN, PN, b ? b + q * R : NULL, y + q * R * PN));
    return SPT_OK;
}

/* dcol = W^T . dy for a DENSE or MASKED weight, one product per group. */
static int dense_dcol(const spti_conv_geom *g, const spti_param *W, const float *dy, int64_t PN, float *dcol) {
    const int64_t G = spti_conv_groups(g), R = W->rows / G, C = W->cols;
    for (int64_t q = 0; q < G; q++)
        SPTI_TRY(spti_gemm_dx(W->value + q * R * C, R, C, dy + q * R * PN, PN, dcol + q * C * PN, false));
    return SPT_OK;
}

/* Grow the direct kernels' scratch for W's nonzeros. */
static int direct_scratch(spti_layer *L, const spti_param *W) {
    conv_state *st = L->state;
    const int64_t bytes = spti_conv_sparse_scratch(&st->g, W->csr->nnz);
    if (bytes < 0) return spti_fail(SPT_ERR_SIZE, "conv2d %s: the direct kernels' scratch overflows", L->name);
    return spti_buf_grow(&st->scratch, &st->scratch_cap, bytes, 1, "conv2d scratch");
}

static int conv_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    (void)ctx;
    conv_state *st = L->state;
    const spti_conv_geom *g = &st->g;
    int64_t PN, colsz;
    SPTI_TRY(sizes(L, N, &PN, &colsz));
    spti_param *W = L->params[0];
    const float *b = st->has_bias ? L->params[1]->value : NULL;
    if (use_dnnl(st, W)) {
        const int rc = spti_conv_dnnl_fwd(&st->dnnl, g, W->value, x, N, b, y);
        if (rc != SPT_ERR_UNSUPPORTED) return rc;
        st->dnnl_off = true; /* declined (nothing written): the im2col path below */
    }
    if (W->kind == SPTI_PARAM_SPARSE && use_direct(st, W, N)) {
        SPTI_TRY(direct_scratch(L, W));
        spti_conv_sparse_fwd(g, W->csr, x, N, b, y, st->scratch);
        return SPT_OK;
    }
    const float *src;
    SPTI_TRY(columns(L, x, N, colsz, &src));
    if (W->kind == SPTI_PARAM_SPARSE) return spti_csr_forward(W->csr, src, PN, b, y, &W->ws);
    /* MASKED values are exactly 0 where inactive: the dense product is exact. */
    return dense_forward(g, W, src, PN, b, y);
}

/* dL/db = sums of dY per channel; dL/dW = dY . cols^T at the active entries
 * (or the direct sparse dW); dX = col2im(W^T . dY) (or the direct sparse dX).
 * Buffers are allocated before any gradient is touched. */
static int conv_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    (void)y;
    conv_state *st = L->state;
    const spti_conv_geom *g = &st->g;
    int64_t PN, colsz;
    SPTI_TRY(sizes(L, N, &PN, &colsz));
    spti_param *W = L->params[0];
    const bool sparse = W->kind == SPTI_PARAM_SPARSE, sampled = sparse && W->request.sample;
    /* RigL's growth candidates: the dense gradient streamed in the blocks
     * of the full path below (row blocks, or one group per block) into the
     * weight's collector, no rows x cols buffer; the same products, so the
     * same values and the same growth. */
    const bool stream = sparse && !sampled && W->request.grow_k > 0;
    const bool want_dense = W->request.dense_grad && !sampled && !stream;
    const bool direct = sparse && use_direct(st, W, N);
    const bool pw = pointwise(g);
    if (use_dnnl(st, W)) {
        /* Both gradients in oneDNN's buffers first: a failure changes nothing. */
        const int rc = spti_conv_dnnl_bwd(&st->dnnl, g, W->value, x, dy, N, W->grad, dx);
        if (rc == SPT_OK) {
            if (W->kind == SPTI_PARAM_MASKED) /* inactive grads were 0: put them back */
                for (int64_t i = 0; i < W->n; i++)
                    if (!W->mask[i]) W->grad[i] = 0.0f;
            if (st->has_bias) spti_bias_grad_add(L->params[1]->grad, dy, g->c_out, PN);
        }
        if (rc != SPT_ERR_UNSUPPORTED) return rc;
        st->dnnl_off = true; /* declined: the im2col path below */
    }
    if (want_dense) SPTI_TRY(spti_weight_ensure_dense_grad(W));
    if (direct) SPTI_TRY(direct_scratch(L, W));
    const float *src = x;
    if (!pw && (!direct || want_dense || sampled || stream)) SPTI_TRY(columns(L, x, N, colsz, &src));

    /* The weight gradient is the last call that may fail (its dense
     * scratch); the bias and dX below cannot. A sampled gradient reads
     * the column buffer (the SDDMM over im2col(x)), whatever the path. */
    if (sampled)
        SPTI_TRY(spti_weight_grad_sample(W, dy, src, PN, spti_conv_groups(g), true));
    else if (stream)
        SPTI_TRY(spti_weight_grad_stream(W, dy, src, PN, spti_conv_groups(g), false,
                                         L->shared ? &L->shared[SPTI_SCRATCH_STREAM] : NULL));
    else if (want_dense || !sparse)
        SPTI_TRY(spti_weight_grad_gemm_grouped(W, dy, src, PN, spti_conv_groups(g)));
    else if (direct)
        spti_conv_sparse_dw(g, W->csr, x, dy, N, W->grad, true, st->scratch);
    else
        SPTI_TRY(spti_csr_backward(W->csr, src, dy, PN, NULL, false, W->grad, true, &W->ws));
    if (st->has_bias) spti_bias_grad_add(L->params[1]->grad, dy, g->c_out, PN);

    int rc = SPT_OK;
    if (dx && direct) {
        spti_conv_sparse_dx(g, W->csr, dy, N, dx, st->scratch);
    } else if (dx) {
        /* The column gradient goes straight to dx when pointwise, else into
         * the column buffer (its im2col content is no longer needed). */
        int64_t *cap;
        float *dcol = pw ? dx : *col_buf(L, &cap);
        if (sparse)
            rc = spti_csr_backward(W->csr, NULL, dy, PN, dcol, false, NULL, false, &W->ws);
        else
            rc = dense_dcol(g, W, dy, PN, dcol);
        if (rc == SPT_OK && !pw) spti_col2im(g, dcol, N, dx);
    }
    if (direct && !L->shared) {
        /* The direct path needs no column buffer: drop the one a dense-gradient
         * step needed rather than keep K*H_out*W_out*N floats per layer (a
         * model keeps its one buffer). */
        spti_free(st->col);
        st->col = NULL;
        st->col_cap = 0;
    }
    return rc;
}

static double conv_flops(const spti_layer *L, bool dense) {
    const conv_state *st = L->state;
    const spti_param *W = L->params[0];
    double active = (double)(dense ? W->rows * W->cols : spti_weight_active(W));
    return 2.0 * active * (double)(st->g.h_out * st->g.w_out);
}

static void conv_destroy(spti_layer *L) {
    if (!L) return;
    conv_state *st = L->state;
    if (st) {
        spti_free(st->col);
        spti_free(st->scratch);
        spti_conv_dnnl_free(st->dnnl);
    }
    spti_layer_free(L);
}

/* (a grouped convolution's rows are its output channels too) */
static bool conv_zero_channels(const spti_layer *L, uint8_t *zero) {
    const conv_state *st = L->state;
    return spti_weight_zero_rows(L->params[0], st->has_bias, zero);
}

static const spti_layer_ops conv_ops = {
    .kind = "conv2d",
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = conv_destroy,
    .flops = conv_flops,
    .zero_channels = conv_zero_channels,
};

int spti_conv2d_set_path(spti_layer *L, spti_conv_path path) {
    SPTI_CHECK_NULL(L);
    if (L->ops != &conv_ops) return spti_fail(SPT_ERR_INVALID, "%s: layer %s is not a conv2d layer", __func__, L->name);
    if (path != SPTI_CONV_AUTO && path != SPTI_CONV_DIRECT && path != SPTI_CONV_IM2COL)
        return spti_fail(SPT_ERR_INVALID, "%s: unknown path %d", __func__, (int)path);
    ((conv_state *)L->state)->path = path;
    return SPT_OK;
}

/* Validate the spec and derive the output size. */
static int check_spec(const spti_conv2d_spec *s, spti_conv_geom *g) {
    const int64_t v[7] = {s->c_in, s->h, s->w, s->c_out, s->kh, s->kw, s->stride};
    for (int i = 0; i < 7; i++)
        if (v[i] > INT32_MAX)
            return spti_fail(SPT_ERR_SIZE, "spti_conv2d_create: sizes must be below 2^31 (got %lld)", (long long)v[i]);
    if (s->c_in < 1 || s->h < 1 || s->w < 1 || s->c_out < 1 || s->kh < 1 || s->kw < 1)
        return spti_fail(SPT_ERR_SIZE, "spti_conv2d_create: channels, input and kernel sizes must be >= 1");
    if (s->stride < 1)
        return spti_fail(SPT_ERR_INVALID, "spti_conv2d_create: stride (%lld) must be >= 1", (long long)s->stride);
    if (s->pad < 0 || s->pad > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "spti_conv2d_create: pad (%lld) must be in [0, 2^31)", (long long)s->pad);
    const int64_t G = s->groups == 0 ? 1 : s->groups;
    if (G < 1 || s->c_in % G != 0 || s->c_out % G != 0)
        return spti_fail(SPT_ERR_INVALID, "spti_conv2d_create: groups (%lld) must divide c_in (%lld) and c_out (%lld)",
                         (long long)s->groups, (long long)s->c_in, (long long)s->c_out);
    const int64_t ph = s->h + 2 * s->pad, pw = s->w + 2 * s->pad;
    if (s->kh > ph || s->kw > pw)
        return spti_fail(SPT_ERR_SIZE, "spti_conv2d_create: kernel %lldx%lld larger than the padded input %lldx%lld",
                         (long long)s->kh, (long long)s->kw, (long long)ph, (long long)pw);
    g->c_in = s->c_in;
    g->h = s->h;
    g->w = s->w;
    g->c_out = s->c_out;
    g->kh = s->kh;
    g->kw = s->kw;
    g->stride = s->stride;
    g->pad = s->pad;
    g->h_out = (ph - s->kh) / s->stride + 1;
    g->w_out = (pw - s->kw) / s->stride + 1;
    g->groups = G;
    /* Every per-example buffer and the weight must be addressable; K must fit
     * a CSR column index. */
    int64_t in_dims[3] = {g->c_in, g->h, g->w}, out_dims[3] = {g->c_out, g->h_out, g->w_out};
    int64_t w_dims[4] = {g->c_out, g->c_in / G, g->kh, g->kw}, col_dims[5] = {g->c_in, g->kh, g->kw, g->h_out, g->w_out};
    int64_t n;
    if (!spti_count_elems(in_dims, 3, sizeof(float), &n) || !spti_count_elems(out_dims, 3, sizeof(float), &n) ||
        !spti_count_elems(w_dims, 4, sizeof(float), &n) || !spti_count_elems(col_dims, 5, sizeof(float), &n) ||
        g->c_in * g->kh * g->kw > INT32_MAX || g->h_out > INT32_MAX || g->w_out > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "spti_conv2d_create: the shapes overflow");
    return SPT_OK;
}

int spti_conv2d_create(const char *name, const spti_conv2d_spec *spec, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    SPTI_CHECK_NULL(spec);
    spti_conv_geom g;
    SPTI_TRY(check_spec(spec, &g));
    spti_shape in = {g.c_in, g.h, g.w}, outs = {g.c_out, g.h_out, g.w_out};
    spti_layer *L = spti_layer_new(&conv_ops, name, in, outs, sizeof(conv_state));
    if (!L) return SPT_ERR_NOMEM;
    conv_state *st = L->state;
    st->g = g;
    st->has_bias = spec->bias;
    st->path = SPTI_CONV_AUTO;
    int64_t wshape[4] = {g.c_out, g.c_in / g.groups, g.kh, g.kw}, bshape[1] = {g.c_out};
    int rc = spti_layer_add_param(L, "weight", 4, wshape, true, NULL);
    if (rc == SPT_OK) L->params[0]->groups = g.groups; /* its rows' groups (a grouped weight gradient) */
    if (rc == SPT_OK && spec->bias) rc = spti_layer_add_param(L, "bias", 1, bshape, false, NULL);
    if (rc != SPT_OK) {
        spti_layer_free(L);
        return rc;
    }
    *out = L;
    return SPT_OK;
}
