/*
 * Gradual magnitude pruning (Zhu & Gupta 2017). Training starts dense. At
 * the pruning steps t0, t0 + dt, ..., t_last = t0 + n dt (after the
 * optimizer step of that step), every pruned layer is cut back by magnitude
 * to the cubic schedule
 *     s(t) = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3,
 * and reaches its final sparsity exactly at t_last:
 *  - layer-wise: layer l follows the cubic to its own final sparsity
 *    s_f,l = 1 - nnz_l / size_l (nnz_l from the allocator: ERK, uniform,
 *    explicit densities, dense first/last), starting from min(s_i, s_f,l);
 *  - global: the pool of layers not kept dense follows the cubic to the
 *    pool's final sparsity, one magnitude threshold over the pool (every
 *    layer keeps at least one weight).
 * Pruned weights stay pruned. A layer is MASKED while dense and becomes
 * SPARSE at the first pruning step that leaves it at density <= 0.3, or at
 * t_last at the latest (prune.h), so training after t_last runs on the
 * sparse kernels.
 *
 * Window: start -1 = floor(10% of the run), end -1 = floor(75%);
 * n = floor((end - start) / freq) intervals, t_last = start + n freq <= end.
 * A window shorter than freq prunes at its start and at its end (n = 1,
 * dt = end - start). The window must end inside the run.
 *
 * Checkpoint (little-endian): 0 magic "SPGM"  4 u32 version 1  8 u64 layers
 * 16 i64 pruning events done  24 i64 step of the last one (-1 none)
 * 32 u64 tie-break seed  40 i64 topology_updates.
 */
#include <math.h>
#include <string.h>

#include "method_config.h"
#include "dst.h"
#include "prune.h"
#include "sparsity_math.h"

enum { GMP_STATE_BYTES = 48, GMP_VERSION = 1 };

typedef struct gmp_state {
    spti_prune_plan plan;
    double s_initial;
    int64_t t0, n_int, dt, t_last;
    uint64_t seed;
    int64_t events, last_event;
} gmp_state;

static void gmp_destroy(spti_method *m) {
    if (!m) return;
    gmp_state *st = m->state;
    if (st) {
        spti_prune_plan_free(&st->plan);
        spti_free(st);
    }
    spti_free(m);
}

static int gmp_init(spti_method *m, spti_param **weights, int n, spti_grad_source *grads) {
    (void)grads;
    SPTI_CHECK_NULL(weights);
    if (n != m->n_weights)
        return spti_fail(SPT_ERR_SIZE, "gmp init: %d weights given, the method was built for %d", n, m->n_weights);
    return SPT_OK; /* training starts dense */
}

/* Keep count (spti_prune_keep_fn) of a group of `size` weights with
 * `active` left, final `final`, at step t of the cubic; ctx: the state. */
static int64_t gmp_keep(const void *ctx, int64_t t, int64_t size, int64_t active, int64_t final) {
    const gmp_state *st = ctx;
    if (t >= st->t_last) return final;
    double s_f = 1.0 - (double)final / (double)size;
    double s_i = st->s_initial < s_f ? st->s_initial : s_f;
    double s = spti_gmp_value(s_i, s_f, st->t0, st->n_int, st->dt, t);
    return spti_prune_count(size, 1.0 - s, active, final);
}

static int gmp_after_step(spti_method *m, int64_t step) {
    gmp_state *st = m->state;
    if (step < st->t0 || step > st->t_last || (step - st->t0) % st->dt != 0) return SPT_OK;
    /* (at t_last, sparse = true also turns layers pruned earlier SPARSE) */
    int rc = spti_prune_by_magnitude(m, &st->plan, gmp_keep, st, step, spti_prune_seed(st->seed, step, 0),
                                     step >= st->t_last);
    if (rc == SPT_OK) {
        st->events++;
        st->last_event = step;
    }
    return rc;
}

/* The state in the layout of the file comment (GMP_STATE_BYTES). */
static void gmp_encode(const spti_method *m, spti_wcur *w) {
    const gmp_state *st = m->state;
    spti_put_bytes(w, "SPGM", 4);
    spti_put_u32(w, GMP_VERSION);
    spti_put_u64(w, (uint64_t)m->n_weights);
    spti_put_i64(w, st->events);
    spti_put_i64(w, st->last_event);
    spti_put_u64(w, st->seed);
    spti_put_i64(w, m->topology_updates);
}

static int gmp_save(const spti_method *m, uint8_t *buf, int64_t cap, int64_t *len) {
    SPTI_CHECK_NULL(len);
    spti_wcur w = {.buf = NULL, .len = 0};
    gmp_encode(m, &w);
    *len = w.len;
    if (!buf) return SPT_OK;
    if (cap < w.len)
        return spti_fail(SPT_ERR_SIZE, "gmp save: %lld bytes needed, buffer holds %lld", (long long)w.len,
                         (long long)cap);
    w = (spti_wcur){.buf = buf, .len = 0};
    gmp_encode(m, &w);
    return SPT_OK;
}

static int gmp_load(spti_method *m, const uint8_t *buf, int64_t len) {
    SPTI_CHECK_NULL(buf);
    if (len != GMP_STATE_BYTES)
        return spti_fail(SPT_ERR_FORMAT, "gmp load: state of %lld bytes, expected %d", (long long)len, GMP_STATE_BYTES);
    if (memcmp(buf, "SPGM", 4) != 0) return spti_fail(SPT_ERR_FORMAT, "gmp load: not a GMP state");
    spti_rcur r = {.p = buf + 4, .len = len - 4}; /* len == GMP_STATE_BYTES: no read runs short */
    SPTI_TRY(spti_prune_check_version("gmp", &r, GMP_VERSION));
    uint64_t layers = 0, seed = 0;
    int64_t events = 0, last = 0, updates = 0;
    spti_get_u64(&r, &layers);
    spti_get_i64(&r, &events);
    spti_get_i64(&r, &last);
    spti_get_u64(&r, &seed);
    spti_get_i64(&r, &updates);
    if (layers != (uint64_t)m->n_weights)
        return spti_fail(SPT_ERR_FORMAT, "gmp load: state is for %llu layers, the method has %d",
                         (unsigned long long)layers, m->n_weights);
    if (events < 0 || last < -1 || updates < 0) return spti_fail(SPT_ERR_FORMAT, "gmp load: negative counters");
    gmp_state *st = m->state;
    st->events = events;
    st->last_event = last;
    st->seed = seed;
    m->topology_updates = updates;
    return SPT_OK;
}

/* Pruning window from the config (see the file comment). */
static int gmp_window(const spt_method_config *cfg, int64_t total_steps, gmp_state *st) {
    double start = cfg->value[SPT_MP_PRUNE_START], end = cfg->value[SPT_MP_PRUNE_END];
    if ((start < 0 || end < 0) && total_steps < 1)
        return spti_fail(SPT_ERR_INVALID, "gmp: a default pruning window needs the run's total steps (got %lld)",
                         (long long)total_steps);
    int64_t t0 = start >= 0 ? (int64_t)start : (int64_t)floor(0.1 * (double)total_steps);
    int64_t t1 = end >= 0 ? (int64_t)end : (int64_t)floor(0.75 * (double)total_steps);
    int64_t dt = (int64_t)cfg->value[SPT_MP_PRUNE_FREQ];
    if (t1 <= t0)
        return spti_fail(SPT_ERR_INVALID, "gmp: pruning end (%lld) must come after its start (%lld)", (long long)t1,
                         (long long)t0);
    if (total_steps > 0 && t1 >= total_steps)
        return spti_fail(SPT_ERR_INVALID, "gmp: pruning end (%lld) must be inside the run of %lld steps", (long long)t1,
                         (long long)total_steps);
    int64_t n = (t1 - t0) / dt;
    if (n == 0) {
        n = 1;
        dt = t1 - t0;
    }
    st->t0 = t0;
    st->n_int = n;
    st->dt = dt;
    return spti_gmp_check("gmp", t0, n, dt, &st->t_last);
}

static int gmp_create(const spti_method_ops *ops, const spt_method_config *cfg, spti_param **weights,
                      int n_weights, int64_t total_steps, spti_method **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(cfg);
    if (total_steps < 0)
        return spti_fail(SPT_ERR_SIZE, "gmp: total_steps (%lld) must be >= 0", (long long)total_steps);
    gmp_state *st = spti_calloc(1, sizeof *st);
    spti_method *m = spti_calloc(1, sizeof *m);
    if (!st || !m) {
        spti_free(st);
        spti_free(m);
        return spti_fail(SPT_ERR_NOMEM, "gmp: out of memory");
    }
    int rc = gmp_window(cfg, total_steps, st);
    if (rc == SPT_OK) rc = spti_prune_plan_create(cfg, weights, n_weights, &st->plan);
    if (rc != SPT_OK) {
        spti_free(st);
        spti_free(m);
        return rc;
    }
    st->s_initial = cfg->value[SPT_MP_INITIAL_SPARSITY];
    st->last_event = -1;
    st->seed = spti_prune_method_init(m, ops, cfg, weights, n_weights, st);
    *out = m;
    return SPT_OK;
}

/* spt_flops_train_gmp over the configured window for the whole run, each
 * layer from the initial sparsity (kept-dense layers: density 1) to its
 * planned density. */
static int gmp_flops(const spti_flops_query *q, double *out) {
    if (!q->cfg)
        return spti_fail(SPT_ERR_INVALID, "gmp follows a density schedule: use spt_flops_train_schedule or "
                                          "spt_flops_train_gmp");
    const int L = q->n_weights;
    if (L == 0) {
        *out = 0.0;
        return SPT_OK;
    }
    gmp_state w;
    SPTI_TRY(gmp_window(q->cfg, q->total_steps, &w));
    int32_t *ndim = spti_alloc(L, sizeof *ndim);
    int64_t *shape = spti_calloc(4 * (int64_t)L, sizeof *shape), *nnz = spti_alloc(L, sizeof *nnz);
    double *final = spti_alloc(L, sizeof *final), *initial = spti_alloc(L, sizeof *initial);
    int rc = ndim && shape && nnz && final && initial ? SPT_OK : spti_fail(SPT_ERR_NOMEM, "gmp flops: out of memory");
    if (rc == SPT_OK) rc = spti_topology_plan(q->cfg, q->weights, L, nnz, final);
    if (rc == SPT_OK) {
        for (int l = 0; l < L; l++) {
            const spti_param *p = q->weights[l];
            ndim[l] = p->ndim;
            for (int d = 0; d < p->ndim; d++) shape[4 * l + d] = p->shape[d];
            const bool kept = final[l] >= 1.0;
            initial[l] = kept ? 1.0 : 1.0 - q->cfg->value[SPT_MP_INITIAL_SPARSITY];
        }
        rc = spt_flops_train_gmp(L, ndim, shape, q->out_hw, initial, final, w.t0, w.n_int, w.dt, q->total_steps, out);
    }
    spti_free(ndim);
    spti_free(shape);
    spti_free(nnz);
    spti_free(final);
    spti_free(initial);
    return rc;
}

static const int GMP_KEYS[] = {SPT_MP_SPARSITY,    SPT_MP_DISTRIBUTION, SPT_MP_DENSE_FIRST, SPT_MP_DENSE_LAST,
                               SPT_MP_PRUNE_START, SPT_MP_PRUNE_END,    SPT_MP_PRUNE_FREQ,  SPT_MP_INITIAL_SPARSITY,
                               SPT_MP_GLOBAL,      SPT_MP_SEED,         SPT_MP_STRUCTURE, -1};

const spti_method_ops spti_method_gmp = {
    .id = SPT_METHOD_GMP,
    .name = "gmp",
    .summary = "Zhu & Gupta 2017: gradual magnitude pruning from dense",
    .keys = GMP_KEYS,
    .structures = 1u << SPT_STRUCTURE_CHANNEL | 1u << SPT_STRUCTURE_KERNEL,
    .create = gmp_create,
    .train_flops = gmp_flops,
    .init = gmp_init,
    .after_step = gmp_after_step,
    .save = gmp_save,
    .load = gmp_load,
    .destroy = gmp_destroy,
};
