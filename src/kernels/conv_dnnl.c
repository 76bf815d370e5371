/* Dense convolution through oneDNN (conv_dnnl.h). Without oneDNN in the
 * build, spti_conv_dnnl_supports() is false and the rest is not called. */
#include "conv_dnnl.h"

#ifdef SPT_HAVE_DNNL

#include <dnnl.h>

#include "layout.h"

/* One operand: the user's memory (our layout, its data handle set per
 * call) and the memory the primitive reads or writes (the user's own when
 * the layouts agree, else a buffer and a reorder between the two). */
typedef struct operand {
    dnnl_memory_t user, prim;
    dnnl_primitive_t reorder; /* oneDNN's reorder, or NULL: prim is user, or our transpose */
    /* Our transpose (layout.h) instead of the reorder when prim is nChw16c
     * (activations, C % 16 == 0, AVX-512): 43 ms less per dense ResNet-20
     * step on one core here. */
    bool transpose;
    int64_t C, HW, N;
    float *buf;        /* prim's data */
    const float *data; /* the user's, as last set */
} operand;

static bool converts(const operand *o) { return o->prim != o->user; }

struct spti_conv_dnnl {
    int64_t N;
    int threads;
    bool bias;
    dnnl_engine_t eng;
    dnnl_stream_t str;
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    /* forward: x in, weight in, bias (user layout), y out */
    operand fx, fw, fy;
    dnnl_memory_t fb;
    /* backward: x in (the weights' primitive), weight in (data), dy in
     * (both), dx out, dw out (into dw_plain, then added to the gradient) */
    operand wx, bw, dy, wdy, dx, dw;
    float *dw_plain;
    /* Blocked buffers, shared where the phases allow: A holds the input-sized
     * operands (x of the forward, x of the weight gradient, then dx, which
     * runs after it), B the output-sized ones (y, then dy). */
    float *bufA, *bufB, *bufW[4];
    int n_bufW;
};

static int fail(dnnl_status_t s, const char *what) {
    if (s == dnnl_out_of_memory) return spti_fail(SPT_ERR_NOMEM, "oneDNN convolution: %s: out of memory", what);
    return spti_fail(SPT_ERR_UNSUPPORTED, "oneDNN convolution: %s failed (status %d)", what, (int)s);
}
#define DN_TRY(expr, what)                        \
    do {                                          \
        dnnl_status_t s_ = (expr);                \
        if (s_ != dnnl_success) return fail(s_, what); \
    } while (0)

static void operand_free(operand *o) {
    if (o->reorder) dnnl_primitive_destroy(o->reorder);
    if (o->prim && o->prim != o->user) dnnl_memory_destroy(o->prim);
    if (o->user) dnnl_memory_destroy(o->user);
    *o = (operand){0};
}

static void release(spti_conv_dnnl *h) {
    if (h->fwd) dnnl_primitive_destroy(h->fwd);
    if (h->bwd_data) dnnl_primitive_destroy(h->bwd_data);
    if (h->bwd_weights) dnnl_primitive_destroy(h->bwd_weights);
    h->fwd = h->bwd_data = h->bwd_weights = NULL;
    operand *ops[] = {&h->fx, &h->fw, &h->fy, &h->wx, &h->bw, &h->dy, &h->wdy, &h->dx, &h->dw};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) operand_free(ops[i]);
    if (h->fb) dnnl_memory_destroy(h->fb);
    h->fb = NULL;
    spti_free(h->dw_plain);
    spti_free(h->bufA);
    spti_free(h->bufB);
    for (int i = 0; i < h->n_bufW; i++) spti_free(h->bufW[i]);
    h->dw_plain = h->bufA = h->bufB = NULL;
    h->n_bufW = 0;
    h->N = -1;
}

void spti_conv_dnnl_free(spti_conv_dnnl *h) {
    if (!h) return;
    release(h);
    if (h->str) dnnl_stream_destroy(h->str);
    if (h->eng) dnnl_engine_destroy(h->eng);
    spti_free(h);
}

bool spti_conv_dnnl_supports(const spti_conv_geom *g) {
#if DNNL_CPU_THREADING_RUNTIME != DNNL_RUNTIME_OMP && DNNL_CPU_THREADING_RUNTIME != DNNL_RUNTIME_SEQ
    /* A oneDNN on TBB or a thread pool would not follow spt_set_num_threads(). */
    return false;
#endif
    if (spti_conv_groups(g) != 1) return false;
    /* 1x1: im2col is a copy of the strided cells (none at stride 1) and
     * the product the whole cost; the reorders in and out of oneDNN's
     * layout cost more than they save (ResNet-20's 1x1 stride-2 shortcuts,
     * one core: 13.9 ms per step through oneDNN, 5.1 ms by im2col). */
    if (g->kh == 1 && g->kw == 1) return false;
    return true;
}

/* Our activation layout C x H x W x N as oneDNN's logical (N, C, H, W). */
static dnnl_status_t act_md(dnnl_memory_desc_t *md, int64_t N, int64_t C, int64_t H, int64_t W) {
    dnnl_dims_t d = {N, C, H, W}, s = {1, H * W * N, W * N, N};
    return dnnl_memory_desc_init_by_strides(md, 4, d, dnnl_f32, s);
}

/* An operand between the user's layout `umd` and the primitive's `pmd`;
 * `in`: the reorder runs user -> prim (else prim -> user). `buf`: where
 * prim's data lives when it differs (a shared buffer of at least its size),
 * or NULL to allocate one here (kept in h->bufW). */
static int operand_make(spti_conv_dnnl *h, operand *o, const dnnl_memory_desc_t *umd, const dnnl_memory_desc_t *pmd,
                        bool in, float *buf) {
    DN_TRY(dnnl_memory_create(&o->user, umd, h->eng, DNNL_MEMORY_NONE), "memory");
    if (dnnl_memory_desc_equal(umd, pmd)) {
        o->prim = o->user;
        return SPT_OK;
    }
    if (!buf) {
        const size_t bytes = dnnl_memory_desc_get_size(pmd);
        buf = spti_alloc_or_fail((int64_t)bytes, 1, "oneDNN weight buffer");
        if (!buf) return SPT_ERR_NOMEM;
        h->bufW[h->n_bufW++] = buf;
    }
    DN_TRY(dnnl_memory_create(&o->prim, pmd, h->eng, buf), "memory");
    o->buf = buf;
    if (umd->ndims == 4 && umd->dims[1] % 16 == 0 && umd->format_kind == dnnl_blocked &&
        umd->format_desc.blocking.strides[0] == 1 && spti_simd_level() >= 2) {
        /* an activation in our layout: is prim nChw16c? */
        dnnl_memory_desc_t b16;
        DN_TRY(dnnl_memory_desc_init_by_tag(&b16, 4, umd->dims, dnnl_f32, dnnl_nChw16c), "descriptor");
        if (dnnl_memory_desc_equal(&b16, pmd)) {
            o->transpose = true;
            o->N = umd->dims[0];
            o->C = umd->dims[1];
            o->HW = umd->dims[2] * umd->dims[3];
            return SPT_OK;
        }
    }
    dnnl_primitive_desc_t pd;
    DN_TRY(in ? dnnl_reorder_primitive_desc_create(&pd, umd, h->eng, pmd, h->eng, NULL)
              : dnnl_reorder_primitive_desc_create(&pd, pmd, h->eng, umd, h->eng, NULL),
           "reorder");
    const dnnl_status_t s = dnnl_primitive_create(&o->reorder, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) return fail(s, "reorder");
    return SPT_OK;
}

static size_t max_size(const dnnl_memory_desc_t *const *mds, int n) {
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        const size_t s = dnnl_memory_desc_get_size(mds[i]);
        if (s > m) m = s;
    }
    return m;
}

/* Build the three primitives and their operands for batch N. */
static int build(spti_conv_dnnl *h, const spti_conv_geom *g, int64_t N, bool bias) {
    release(h);
    dnnl_memory_desc_t ux, uy, uw, ub, ax, ay, aw;
    const dnnl_dims_t wd = {g->c_out, g->c_in, g->kh, g->kw}, xd = {N, g->c_in, g->h, g->w},
                      yd = {N, g->c_out, g->h_out, g->w_out}, bd = {g->c_out};
    DN_TRY(act_md(&ux, N, g->c_in, g->h, g->w), "descriptor");
    DN_TRY(act_md(&uy, N, g->c_out, g->h_out, g->w_out), "descriptor");
    DN_TRY(dnnl_memory_desc_init_by_tag(&uw, 4, wd, dnnl_f32, dnnl_oihw), "descriptor");
    DN_TRY(dnnl_memory_desc_init_by_tag(&ub, 1, bd, dnnl_f32, dnnl_x), "descriptor");
    DN_TRY(dnnl_memory_desc_init_by_tag(&ax, 4, xd, dnnl_f32, dnnl_format_tag_any), "descriptor");
    DN_TRY(dnnl_memory_desc_init_by_tag(&ay, 4, yd, dnnl_f32, dnnl_format_tag_any), "descriptor");
    DN_TRY(dnnl_memory_desc_init_by_tag(&aw, 4, wd, dnnl_f32, dnnl_format_tag_any), "descriptor");
    const dnnl_dims_t st = {g->stride, g->stride}, pl = {g->pad, g->pad};
    /* Right padding so that the output has exactly h_out x w_out cells. */
    const dnnl_dims_t pr = {(g->h_out - 1) * g->stride + g->kh - g->h - g->pad,
                            (g->w_out - 1) * g->stride + g->kw - g->w - g->pad};
    dnnl_convolution_desc_t fd, dd, wdsc;
    DN_TRY(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &ax, &aw,
                                              bias ? &ub : NULL, &ay, st, pl, pr),
           "forward descriptor");
    DN_TRY(dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &ax, &aw, &ay, st, pl, pr),
           "backward-data descriptor");
    DN_TRY(dnnl_convolution_backward_weights_desc_init(&wdsc, dnnl_convolution_direct, &ax, &aw, NULL, &ay, st, pl,
                                                       pr),
           "backward-weights descriptor");
    dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
    dnnl_status_t s = dnnl_primitive_desc_create(&fpd, &fd, NULL, h->eng, NULL);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&dpd, &dd, NULL, h->eng, fpd);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&wpd, &wdsc, NULL, h->eng, fpd);
    if (s == dnnl_success) s = dnnl_primitive_create(&h->fwd, fpd);
    if (s == dnnl_success) s = dnnl_primitive_create(&h->bwd_data, dpd);
    if (s == dnnl_success) s = dnnl_primitive_create(&h->bwd_weights, wpd);
    int rc = s == dnnl_success ? SPT_OK : fail(s, "primitive");
    if (rc == SPT_OK) {
        const dnnl_memory_desc_t *fx = dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0),
                                 *fw = dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0),
                                 *fy = dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0),
                                 *dx = dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_src_md, 0),
                                 *bw = dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0),
                                 *dy = dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_dst_md, 0),
                                 *wx = dnnl_primitive_desc_query_md(wpd, dnnl_query_src_md, 0),
                                 *wdy = dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_dst_md, 0),
                                 *dw = dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0);
        const dnnl_memory_desc_t *in_mds[] = {fx, dx, wx}, *out_mds[] = {fy, dy, wdy};
        const size_t a = max_size(in_mds, 3), b = max_size(out_mds, 3);
        h->bufA = spti_alloc_or_fail((int64_t)a, 1, "oneDNN input buffer");
        h->bufB = spti_alloc_or_fail((int64_t)b, 1, "oneDNN output buffer");
        h->dw_plain = spti_alloc_or_fail(g->c_out * g->c_in * g->kh * g->kw, sizeof(float), "oneDNN weight gradient");
        if (!h->bufA || !h->bufB || !h->dw_plain) rc = SPT_ERR_NOMEM;
        if (rc == SPT_OK) rc = operand_make(h, &h->fx, &ux, fx, true, h->bufA);
        if (rc == SPT_OK) rc = operand_make(h, &h->fw, &uw, fw, true, NULL);
        if (rc == SPT_OK) rc = operand_make(h, &h->fy, &uy, fy, false, h->bufB);
        if (rc == SPT_OK) rc = operand_make(h, &h->wx, &ux, wx, true, h->bufA);
        if (rc == SPT_OK) rc = operand_make(h, &h->dy, &uy, dy, true, h->bufB);
        if (rc == SPT_OK && !dnnl_memory_desc_equal(dy, wdy))
            rc = spti_fail(SPT_ERR_UNSUPPORTED, "oneDNN convolution: the two backward passes want dy in two layouts");
        if (rc == SPT_OK) rc = operand_make(h, &h->bw, &uw, bw, true, NULL);
        if (rc == SPT_OK) rc = operand_make(h, &h->dx, &ux, dx, false, h->bufA);
        if (rc == SPT_OK) rc = operand_make(h, &h->dw, &uw, dw, false, NULL);
        if (rc == SPT_OK && bias) {
            s = dnnl_memory_create(&h->fb, &ub, h->eng, DNNL_MEMORY_NONE);
            if (s != dnnl_success) rc = fail(s, "memory");
        }
    }
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    if (rc != SPT_OK) {
        release(h);
        return rc;
    }
    h->N = N;
    h->threads = spti_num_threads();
    h->bias = bias;
    return SPT_OK;
}

/* The handle, ready for batch N on the current thread count. */
static int ready(spti_conv_dnnl **hp, const spti_conv_geom *g, int64_t N, bool bias) {
    spti_conv_dnnl *h = *hp;
    if (!h) {
        h = spti_calloc_or_fail(1, sizeof *h, "oneDNN convolution handle");
        if (!h) return SPT_ERR_NOMEM;
        h->N = -1;
        dnnl_status_t s = dnnl_engine_create(&h->eng, dnnl_cpu, 0);
        if (s == dnnl_success) s = dnnl_stream_create(&h->str, h->eng, dnnl_stream_default_flags);
        if (s != dnnl_success) {
            spti_conv_dnnl_free(h);
            return fail(s, "engine");
        }
        *hp = h;
    }
    /* oneDNN's OpenMP runtime reads the thread count of the calling thread,
     * when it builds a primitive (its work split) and when it runs one. */
    spti_blas_use_threads();
    if (h->N == N && h->threads == spti_num_threads() && h->bias == bias) return SPT_OK;
    return build(h, g, N, bias);
}

static dnnl_status_t set(dnnl_memory_t m, const void *p) { return dnnl_memory_set_data_handle(m, (void *)p); }

/* Bring an input operand into the primitive's layout. */
static dnnl_status_t in(spti_conv_dnnl *h, operand *o, const float *p) {
    o->data = p;
    dnnl_status_t s = set(o->user, p);
    if (s != dnnl_success || !converts(o)) return s;
    if (o->transpose) {
        spti_chwn_to_nchw16c_avx512(p, o->C, o->HW, o->N, o->buf);
        return dnnl_success;
    }
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, o->user}, {DNNL_ARG_TO, o->prim}};
    return dnnl_primitive_execute(o->reorder, h->str, 2, a);
}
/* Point an output operand at p. */
static dnnl_status_t out_set(operand *o, float *p) {
    o->data = p;
    return set(o->user, p);
}
/* Bring an output operand from the primitive's layout into the user's
 * (after the primitive ran: oneDNN's CPU stream runs in order, our
 * transpose after waiting for it). */
static dnnl_status_t out(spti_conv_dnnl *h, operand *o) {
    if (!converts(o)) return dnnl_success;
    if (o->transpose) {
        const dnnl_status_t s = dnnl_stream_wait(h->str);
        if (s == dnnl_success) spti_nchw16c_to_chwn_avx512(o->buf, o->C, o->HW, o->N, (float *)o->data);
        return s;
    }
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, o->prim}, {DNNL_ARG_TO, o->user}};
    return dnnl_primitive_execute(o->reorder, h->str, 2, a);
}

int spti_conv_dnnl_fwd(spti_conv_dnnl **hp, const spti_conv_geom *g, const float *w, const float *x, int64_t N,
                       const float *bias, float *y) {
    SPTI_TRY(ready(hp, g, N, bias != NULL));
    spti_conv_dnnl *h = *hp;
    dnnl_status_t s = in(h, &h->fx, x);
    if (s == dnnl_success) s = in(h, &h->fw, w);
    if (s == dnnl_success) s = out_set(&h->fy, y);
    if (s == dnnl_success && bias) s = set(h->fb, bias);
    if (s == dnnl_success) {
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, h->fx.prim},
                                {DNNL_ARG_WEIGHTS, h->fw.prim},
                                {DNNL_ARG_DST, h->fy.prim},
                                {DNNL_ARG_BIAS, h->fb}};
        s = dnnl_primitive_execute(h->fwd, h->str, bias ? 4 : 3, a);
    }
    if (s == dnnl_success) s = out(h, &h->fy);
    if (s == dnnl_success) s = dnnl_stream_wait(h->str);
    return s == dnnl_success ? SPT_OK : fail(s, "forward");
}

int spti_conv_dnnl_bwd(spti_conv_dnnl **hp, const spti_conv_geom *g, const float *w, const float *x, const float *dy,
                       int64_t N, float *dw, float *dx) {
    SPTI_TRY(ready(hp, g, N, (*hp) ? (*hp)->bias : false));
    spti_conv_dnnl *h = *hp;
    dnnl_status_t s = in(h, &h->dy, dy);
    /* The weight gradient first: it reads x from buffer A, which dx then
     * overwrites. */
    if (s == dnnl_success && dw) {
        s = in(h, &h->wx, x);
        if (s == dnnl_success) s = out_set(&h->dw, h->dw_plain);
        if (s == dnnl_success) {
            dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, h->wx.prim}, {DNNL_ARG_DIFF_DST, h->dy.prim},
                                    {DNNL_ARG_DIFF_WEIGHTS, h->dw.prim}};
            s = dnnl_primitive_execute(h->bwd_weights, h->str, 3, a);
        }
        if (s == dnnl_success) s = out(h, &h->dw);
    }
    if (s == dnnl_success && dx) {
        s = in(h, &h->bw, w);
        if (s == dnnl_success) s = out_set(&h->dx, dx);
        if (s == dnnl_success) {
            dnnl_exec_arg_t a[3] = {{DNNL_ARG_DIFF_DST, h->dy.prim}, {DNNL_ARG_WEIGHTS, h->bw.prim},
                                    {DNNL_ARG_DIFF_SRC, h->dx.prim}};
            s = dnnl_primitive_execute(h->bwd_data, h->str, 3, a);
        }
        if (s == dnnl_success) s = out(h, &h->dx);
    }
    if (s == dnnl_success) s = dnnl_stream_wait(h->str);
    if (s != dnnl_success) return fail(s, "backward");
    if (dw) {
        const int64_t n = g->c_out * g->c_in * g->kh * g->kw;
        for (int64_t i = 0; i < n; i++) dw[i] += h->dw_plain[i];
    }
    return SPT_OK;
}

#else /* no oneDNN in this build */

bool spti_conv_dnnl_supports(const spti_conv_geom *g) {
    (void)g;
    return false;
}
int spti_conv_dnnl_fwd(spti_conv_dnnl **h, const spti_conv_geom *g, const float *w, const float *x, int64_t N,
                       const float *bias, float *y) {
    (void)h, (void)g, (void)w, (void)x, (void)N, (void)bias, (void)y;
    return spti_fail(SPT_ERR_UNSUPPORTED, "this build has no oneDNN");
}
int spti_conv_dnnl_bwd(spti_conv_dnnl **h, const spti_conv_geom *g, const float *w, const float *x, const float *dy,
                       int64_t N, float *dw, float *dx) {
    (void)h, (void)g, (void)w, (void)x, (void)dy, (void)N, (void)dw, (void)dx;
    return spti_fail(SPT_ERR_UNSUPPORTED, "this build has no oneDNN");
}
void spti_conv_dnnl_free(spti_conv_dnnl *h) { (void)h; }

#endif
