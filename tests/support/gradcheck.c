/* Finite-difference gradient check for any layer (see gradcheck.h). */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GC_MAX_PARAMS = 64 };
static const float GC_GRAD_FILL = 0.25f; /* grads before backward: it must add to this */

typedef struct gc {
    spti_layer *L;
    float *x, *y;         /* x: mutable copy of the input */
    const float *r;
    int64_t N, out_n;
    spti_fwd_ctx ctx;
    spti_rng rng, rng0;   /* ctx rng, and its state to restore before each forward */
} gc;

static void collect(spti_layer *L, spti_param **ps, int *n) {
    for (int i = 0; i < L->n_params && *n < GC_MAX_PARAMS; i++) ps[(*n)++] = L->params[i];
    for (int i = 0; i < L->n_children; i++) collect(L->children[i], ps, n);
}

static int loss(gc *g, double *out) {
    g->rng = g->rng0;
    int rc = g->L->ops->forward(g->L, g->x, g->y, g->N, &g->ctx);
    if (rc != SPT_OK) return rc;
    double s = 0.0;
    for (int64_t i = 0; i < g->out_n; i++) s += (double)g->y[i] * (double)g->r[i];
    *out = s;
    return SPT_OK;
}

static void note(spt_gc_result *res, const char *fmt, const char *what, int64_t idx, double a, double b) {
    if (res->worst[0] == '\0') snprintf(res->worst, sizeof res->worst, fmt, what, (long long)idx, a, b);
}

/* Central difference of the loss in *v; compares with `an`. */
static int check_point(gc *g, const spt_gc_opts *o, float *v, double an, const char *what, int64_t idx,
                       spt_gc_result *res) {
    const float v0 = *v;
    double lp, lm;
    *v = (float)((double)v0 + o->eps);
    double dp = (double)*v - (double)v0;
    int rc = loss(g, &lp);
    *v = (float)((double)v0 - o->eps);
    double dm = (double)v0 - (double)*v;
    if (rc == SPT_OK) rc = loss(g, &lm);
    *v = v0;
    if (rc != SPT_OK) return rc;
    double fd = (lp - lm) / (dp + dm);
    double err = fabs(fd - an) / (1.0 + fmax(fabs(fd), fabs(an)));
    res->checked++;
    if (!(err <= o->tol)) {
        res->failed++;
        note(res, "%s[%lld]: finite difference %.6g, backward %.6g", what, idx, fd, an);
    }
    if (err > res->max_err || isnan(err)) res->max_err = isnan(err) ? INFINITY : err;
    return SPT_OK;
}

/* Indices to check among n: all, or max_points drawn at random. */
static int64_t pick(spti_rng *rng, int64_t n, int64_t max_points, int64_t t) {
    return (max_points <= 0 || n <= max_points) ? t : (int64_t)spti_rng_below(rng, (uint64_t)n);
}

int spt_gradcheck(spti_layer *L, const float *x, int64_t N, const spt_gc_opts *opts, spt_gc_result *res) {
    memset(res, 0, sizeof *res);
    spt_gc_opts o = *opts;
    if (o.eps == 0.0) o.eps = 1e-2;
    if (o.tol == 0.0) o.tol = 1e-2;
    spti_param *ps[GC_MAX_PARAMS];
    int np = 0;
    collect(L, ps, &np);

    const int64_t in_n = spti_shape_size(L->in_shape) * N, out_n = spti_shape_size(L->out_shape) * N;
    gc g = {.L = L, .N = N, .out_n = out_n};
    g.x = malloc((size_t)(in_n + 1) * sizeof(float));
    g.y = malloc((size_t)(out_n + 1) * sizeof(float));
    float *r = malloc((size_t)(out_n + 1) * sizeof(float));
    float *dx = malloc((size_t)(in_n + 1) * sizeof(float));
    float *an[GC_MAX_PARAMS] = {NULL};
    int rc = (g.x && g.y && r && dx) ? SPT_OK : SPT_ERR_NOMEM;
    for (int i = 0; i < np && rc == SPT_OK; i++)
        if (!(an[i] = malloc((size_t)(ps[i]->n + 1) * sizeof(float)))) rc = SPT_ERR_NOMEM;
    if (rc != SPT_OK) goto done;

    spti_rng pick_rng;
    spti_rng_seed(&pick_rng, o.seed);
    for (int64_t i = 0; i < out_n; i++) r[i] = spti_rng_normal(&pick_rng);
    g.r = r;
    spti_rng_seed(&g.rng0, o.seed ^ 0x9e3779b97f4a7c15ull);
    g.ctx.training = o.training;
    g.ctx.rng = &g.rng;
    memcpy(g.x, x, (size_t)in_n * sizeof(float));

    /* Analytic gradients, with the contract checks. */
    for (int i = 0; i < np; i++)
        for (int64_t k = 0; k < ps[i]->n; k++)
            ps[i]->grad[k] = (ps[i]->kind == SPTI_PARAM_MASKED && !ps[i]->mask[k]) ? 0.0f : GC_GRAD_FILL;
    for (int64_t i = 0; i < in_n; i++) dx[i] = NAN;
    g.rng = g.rng0;
    if ((rc = L->ops->forward(L, g.x, g.y, N, &g.ctx)) != SPT_OK) goto done;
    if ((rc = L->ops->backward(L, g.x, g.y, r, dx, N)) != SPT_OK) goto done;
    if (memcmp(g.x, x, (size_t)in_n * sizeof(float)) != 0) {
        res->failed++;
        snprintf(res->worst, sizeof res->worst, "the layer modified its input x");
    }
    for (int64_t i = 0; i < in_n; i++)
        if (isnan(dx[i])) {
            res->failed++;
            note(res, "%s[%lld]: not written by backward (%g, %g)", "dx", i, 0.0, 0.0);
            break;
        }
    for (int i = 0; i < np; i++)
        for (int64_t k = 0; k < ps[i]->n; k++) {
            if (ps[i]->kind == SPTI_PARAM_MASKED && !ps[i]->mask[k]) {
                if (ps[i]->grad[k] != 0.0f) {
                    res->failed++;
                    note(res, "%s[%lld]: inactive masked gradient %g (expected %g)", ps[i]->name, k, ps[i]->grad[k], 0.0);
                }
                an[i][k] = 0.0f;
            } else {
                an[i][k] = ps[i]->grad[k] - GC_GRAD_FILL;
            }
        }

    spt_gc_point pt = {.L = L, .x = x, .N = N};
    /* The input. */
    for (int64_t t = 0; t < in_n && (o.max_points <= 0 || t < o.max_points); t++) {
        int64_t i = pick(&pick_rng, in_n, o.max_points, t);
        pt.p = NULL;
        pt.index = i;
        if (o.skip && o.skip(&pt, o.eps, o.user)) {
            res->skipped++;
            continue;
        }
        if ((rc = check_point(&g, &o, &g.x[i], dx[i], "x", i, res)) != SPT_OK) goto done;
    }
    /* Every parameter. */
    for (int j = 0; j < np; j++) {
        spti_param *p = ps[j];
        for (int64_t t = 0; t < p->n && (o.max_points <= 0 || t < o.max_points); t++) {
            int64_t k = pick(&pick_rng, p->n, o.max_points, t);
            if (p->kind == SPTI_PARAM_MASKED && !p->mask[k]) continue;
            pt.p = p;
            pt.index = k;
            if (o.skip && o.skip(&pt, o.eps, o.user)) {
                res->skipped++;
                continue;
            }
            if ((rc = check_point(&g, &o, &p->value[k], an[j][k], p->name, k, res)) != SPT_OK) goto done;
        }
    }
done:
    for (int i = 0; i < np; i++) free(an[i]);
    free(g.x);
    free(g.y);
    free(r);
    free(dx);
    return rc;
}
