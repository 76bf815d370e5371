/*
 * Max, average and global average pooling. x: C x H x W x N, y: C x H' x W' x N.
 * The innermost loops run over the batch (contiguous), so a window is a
 * handful of row operations of length N. Channels are independent: the
 * parallel loop is over c.
 */
#include <float.h>
#include <string.h>

#include "layers.h"

enum { POOL_PAR_MIN = 1 << 15 };

typedef struct pool_state {
    int64_t k, stride, pad;
    bool is_max;
    int32_t *arg; /* max only: input cell h*W + w of each output element, C x H' x W' x N */
    int64_t arg_cap;
} pool_state;

static int pool_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    pool_state *s = L->state;
    const int64_t C = L->in_shape.c, H = L->in_shape.h, W = L->in_shape.w;
    const int64_t OH = L->out_shape.h, OW = L->out_shape.w, k = s->k, st = s->stride, pad = s->pad;
    if (s->is_max) {
        void *buf = s->arg;
        SPTI_TRY(spti_buf_grow(&buf, &s->arg_cap, spti_shape_size(L->out_shape) * N, sizeof(int32_t),
                               "max pool indices"));
        s->arg = buf;
    }
    const float inv_area = 1.0f / (float)(k * k);
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * H * W * N >= POOL_PAR_MIN)
    for (int64_t c = 0; c < C; c++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t o = ((c * OH + oh) * OW + ow) * N;
                float *yr = y + o;
                int32_t *ar = s->is_max ? s->arg + o : NULL;
                for (int64_t n = 0; n < N; n++) yr[n] = s->is_max ? -FLT_MAX : 0.0f;
                if (ar)
                    for (int64_t n = 0; n < N; n++) ar[n] = -1;
                for (int64_t i = 0; i < k; i++) {
                    const int64_t h = oh * st - pad + i;
                    if (h < 0 || h >= H) continue;
                    for (int64_t j = 0; j < k; j++) {
                        const int64_t w = ow * st - pad + j;
                        if (w < 0 || w >= W) continue;
                        const float *xr = x + ((c * H + h) * W + w) * N;
                        if (ar) {
                            const int32_t cell = (int32_t)(h * W + w);
                            /* first maximum wins; the first real cell is always taken (NaN too) */
                            for (int64_t n = 0; n < N; n++)
                                if (ar[n] < 0 || xr[n] > yr[n]) {
                                    yr[n] = xr[n];
                                    ar[n] = cell;
                                }
                        } else {
                            for (int64_t n = 0; n < N; n++) yr[n] += xr[n];
                        }
                    }
                }
                if (!ar)
                    for (int64_t n = 0; n < N; n++) yr[n] *= inv_area;
            }
    return SPT_OK;
}

static int pool_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    pool_state *s = L->state;
    if (!dx) return SPT_OK;
    const int64_t C = L->in_shape.c, H = L->in_shape.h, W = L->in_shape.w;
    const int64_t OH = L->out_shape.h, OW = L->out_shape.w, k = s->k, st = s->stride, pad = s->pad;
    const float inv_area = 1.0f / (float)(k * k);
    memset(dx, 0, (size_t)(C * H * W * N) * sizeof(float));
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * H * W * N >= POOL_PAR_MIN)
    for (int64_t c = 0; c < C; c++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t o = ((c * OH + oh) * OW + ow) * N;
                const float *dyr = dy + o;
                if (s->is_max) {
                    const int32_t *ar = s->arg + o;
                    float *dxc = dx + c * H * W * N;
                    for (int64_t n = 0; n < N; n++) dxc[(int64_t)ar[n] * N + n] += dyr[n];
                    continue;
                }
                for (int64_t i = 0; i < k; i++) {
                    const int64_t h = oh * st - pad + i;
                    if (h < 0 || h >= H) continue;
                    for (int64_t j = 0; j < k; j++) {
                        const int64_t w = ow * st - pad + j;
                        if (w < 0 || w >= W) continue;
                        float *dxr = dx + ((c * H + h) * W + w) * N;
                        for (int64_t n = 0; n < N; n++) dxr[n] += dyr[n] * inv_area;
                    }
                }
            }
    return SPT_OK;
}

static void pool_destroy(spti_layer *L) {
    pool_state *s = L->state;
    if (s) spti_free(s->arg);
    spti_layer_free(L);
}

static double no_flops(const spti_layer *L, bool dense) { return 0.0; }

static const spti_layer_ops maxpool_ops = {.kind = "maxpool2d", .forward = pool_forward, .backward = pool_backward, .destroy = pool_destroy, .flops = no_flops};
static const spti_layer_ops avgpool_ops = {.kind = "avgpool2d", .forward = pool_forward, .backward = pool_backward, .destroy = pool_destroy, .flops = no_flops};

static int pool_create(const spti_layer_ops *ops, const char *name, int64_t c, int64_t h, int64_t w, int64_t k,
                       int64_t stride, int64_t pad, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (c < 1 || h < 1 || w < 1)
        return spti_fail(SPT_ERR_SIZE, "pool %s: input shape %lld x %lld x %lld must be positive", name, (long long)c,
                         (long long)h, (long long)w);
    spti_shape in = {c, h, w};
    int64_t elems;
    SPTI_TRY(spti_shape_elems(in, 1, &elems));
    if (h * w > INT32_MAX) return spti_fail(SPT_ERR_SIZE, "pool %s: H*W above INT32_MAX", name);
    if (k < 1 || stride < 1 || k > INT32_MAX || stride > INT32_MAX)
        return spti_fail(SPT_ERR_INVALID, "pool %s: kernel (%lld) and stride (%lld) must be >= 1", name, (long long)k,
                         (long long)stride);
    if (pad < 0 || pad > k / 2)
        return spti_fail(SPT_ERR_INVALID, "pool %s: padding %lld must be in [0, kernel/2 = %lld]", name,
                         (long long)pad, (long long)(k / 2));
    if (h + 2 * pad < k || w + 2 * pad < k)
        return spti_fail(SPT_ERR_SIZE, "pool %s: kernel %lld larger than the padded input %lld x %lld", name,
                         (long long)k, (long long)(h + 2 * pad), (long long)(w + 2 * pad));
    spti_shape o = {c, (h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1};
    spti_layer *L = spti_layer_new(ops, name, in, o, sizeof(pool_state));
    if (!L) return SPT_ERR_NOMEM;
    pool_state *s = L->state;
    s->k = k;
    s->stride = stride;
    s->pad = pad;
    s->is_max = ops == &maxpool_ops;
    *out = L;
    return SPT_OK;
}

int spti_maxpool2d_create(const char *name, int64_t c, int64_t h, int64_t w, int64_t k, int64_t stride, int64_t pad,
                          spti_layer **out) {
    return pool_create(&maxpool_ops, name, c, h, w, k, stride, pad, out);
}

int spti_avgpool2d_create(const char *name, int64_t c, int64_t h, int64_t w, int64_t k, int64_t stride, int64_t pad,
                          spti_layer **out) {
    return pool_create(&avgpool_ops, name, c, h, w, k, stride, pad, out);
}

/* ---- global average pooling: C x H x W x N -> C x 1 x 1 x N ---------------- */

static int gap_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    const int64_t C = L->in_shape.c, HW = L->in_shape.h * L->in_shape.w;
    const float inv = 1.0f / (float)HW;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * HW * N >= POOL_PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        float *yr = y + c * N;
        for (int64_t n = 0; n < N; n++) yr[n] = 0.0f;
        for (int64_t p = 0; p < HW; p++) {
            const float *xr = x + (c * HW + p) * N;
            for (int64_t n = 0; n < N; n++) yr[n] += xr[n];
        }
        for (int64_t n = 0; n < N; n++) yr[n] *= inv;
    }
    return SPT_OK;
}

static int gap_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    if (!dx) return SPT_OK;
    const int64_t C = L->in_shape.c, HW = L->in_shape.h * L->in_shape.w;
    const float inv = 1.0f / (float)HW;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * HW * N >= POOL_PAR_MIN)
    for (int64_t c = 0; c < C; c++)
        for (int64_t p = 0; p < HW; p++) {
            float *dxr = dx + (c * HW + p) * N;
            for (int64_t n = 0; n < N; n++) dxr[n] = dy[c * N + n] * inv;
        }
    return SPT_OK;
}

static const spti_layer_ops gap_ops = {.kind = "global_avgpool", .forward = gap_forward, .backward = gap_backward, .destroy = spti_layer_free, .flops = no_flops};

int spti_global_avgpool_create(const char *name, int64_t c, int64_t h, int64_t w, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (c < 1 || h < 1 || w < 1)
        return spti_fail(SPT_ERR_SIZE, "global_avgpool %s: input shape must be positive", name);
    spti_shape in = {c, h, w}, o = {c, 1, 1};
    SPTI_TRY(spti_shape_elems(in, 1, &(int64_t){0}));
    spti_layer *L = spti_layer_new(&gap_ops, name, in, o, 0);
    if (!L) return SPT_ERR_NOMEM;
    *out = L;
    return SPT_OK;
}
