/*
 * State shared by the four topology methods (static, SET, RigL, SNFS):
 * construction from the config, the initial topology, the update schedule,
 * one drop/grow round over all layers, and the checkpoint of the state.
 *
 * Checkpoint layout (little-endian, offsets in bytes):
 *   0 magic "SPTM"   4 u32 version (1)   8 u32 method id   12 u32 layers L
 *   16 u64 x 4 the method's RNG state   48 i64 topology_updates
 *   56 i64 update steps performed   64 i64 step of the last one (-1: none)
 *   72 u32 flags (bit 0: SNFS momentum follows)   76 u32 0
 *   80 L x (i64 rows, i64 cols, i64 planned nnz)
 *   then, with flag bit 0, for each layer with planned nnz < rows*cols its
 *   rows*cols f32 momentum (row-major).
 */
#include <stdio.h>
#include <stdlib.h>

#include "../core/le_io.h"
#include "method_config.h"
#include "dst.h"

enum { STATE_VERSION = 1, HEADER_BYTES = 80, LAYER_BYTES = 24 };

static spti_dst *dst(const spti_method *m) { return m->state; }

int spti_dst_create(const spti_method_ops *ops, const spt_method_config *cfg, spti_param **weights, int n_weights,
                    int64_t total_steps, spti_method **out) {
    *out = NULL;
    if (total_steps < 0)
        return spti_fail(SPT_ERR_SIZE, "%s: total_steps (%lld) must be >= 0", ops->name, (long long)total_steps);
    if (n_weights < 1) return spti_fail(SPT_ERR_SIZE, "%s: the model has no weight layers to sparsify", ops->name);
    SPTI_CHECK_NULL(weights);
    spti_method *m = spti_calloc(1, sizeof *m);
    spti_dst *st = spti_calloc(1, sizeof *st);
    int64_t *nnz = spti_alloc(n_weights, sizeof(int64_t));
    if (!m || !st || !nnz) {
        spti_free(m);
        spti_free(st);
        spti_free(nnz);
        return spti_fail(SPT_ERR_NOMEM, "%s: out of memory", ops->name);
    }
    int rc = spti_topology_plan(cfg, weights, n_weights, nnz, NULL);
    if (rc != SPT_OK) {
        spti_free(m);
        spti_free(st);
        spti_free(nnz);
        return rc;
    }
    rc = spti_structure_from_config(ops, cfg, &st->structure);
    if (rc == SPT_OK && st->structure.kind != SPT_STRUCTURE_UNSTRUCTURED && cfg->value[SPT_MP_GROW_SAMPLE] > 0.0)
        rc = spti_fail(SPT_ERR_UNSUPPORTED, "%s: sampled growth (grow_sample > 0) does not support structure \"%s\"",
                       ops->name, spt_method_param_choice_name(SPT_MP_STRUCTURE, st->structure.kind));
    if (rc != SPT_OK) {
        spti_free(m);
        spti_free(st);
        spti_free(nnz);
        return rc;
    }
    for (int l = 0; l < n_weights; l++)
        nnz[l] = st->structure.kind == SPT_STRUCTURE_KERNEL
                     ? spti_structure_kernel_nnz(spti_structure_group(&st->structure, weights[l]),
                                                 weights[l]->rows * weights[l]->cols, nnz[l])
                     : spti_structure_nnz(&st->structure, weights[l]->rows, weights[l]->cols, nnz[l]);
    st->nnz = nnz;
    st->sparse_init = cfg->value[SPT_MP_SPARSE_INIT] != 0.0;
    st->delta_t = (int64_t)cfg->value[SPT_MP_DELTA_T];
    st->alpha = cfg->value[SPT_MP_ALPHA];
    st->schedule = (int)cfg->value[SPT_MP_DROP_SCHEDULE];
    st->beta = (float)cfg->value[SPT_MP_SNFS_MOMENTUM];
    st->grow_sample = cfg->value[SPT_MP_GROW_SAMPLE];
    st->t_end = cfg->value[SPT_MP_T_END] >= 0 ? (int64_t)cfg->value[SPT_MP_T_END]
                                               : (int64_t)floor(cfg->value[SPT_MP_T_END_FRACTION] * (double)total_steps);
    st->last_update = -1;
    m->ops = ops;
    m->weights = weights;
    m->n_weights = n_weights;
    m->state = st;
    spti_rng_seed(&m->rng, (uint64_t)cfg->value[SPT_MP_SEED]);
    *out = m;
    return SPT_OK;
}

void spti_dst_destroy(spti_method *m) {
    if (!m) return;
    spti_dst *st = dst(m);
    if (st) {
        if (st->momentum)
            for (int l = 0; l < m->n_weights; l++) spti_free(st->momentum[l]);
        spti_free(st->momentum);
        spti_free(st->nnz);
        spti_free(st->rules);
        spti_free(st);
    }
    spti_free(m);
}

int spti_dst_init(spti_method *m, spti_param **weights, int n, spti_grad_source *grads) {
    SPTI_CHECK_NULL(weights);
    if (n != m->n_weights)
        return spti_fail(SPT_ERR_SIZE, "%s init: %d weights given, the method was built for %d", m->ops->name, n,
                         m->n_weights);
    SPTI_TRY(spti_topology_init(weights, n, dst(m)->nnz, dst(m)->sparse_init, &m->rng, &dst(m)->structure));
    /* A weight loaded sparse kept its own count (spti_topology_init). */
    for (int l = 0; l < n; l++)
        if (weights[l]->kind == SPTI_PARAM_SPARSE && weights[l]->loaded) dst(m)->nnz[l] = weights[l]->n;
    /* Constant fan-in layers run the dispatch's ELL forward (kernels/ell.h). */
    for (int l = 0; l < n; l++) {
        weights[l]->ws.fanin = dst(m)->structure.kind == SPT_STRUCTURE_FANIN && weights[l]->kind == SPTI_PARAM_SPARSE;
        weights[l]->ws.channel = false; /* a pruning method's (prune.c), not ours */
    }
    return SPT_OK;
}

bool spti_dst_is_update(const spti_method *m, int64_t step) {
    int is = 0;
    /* Arguments were validated at create; a negative step is no update. */
    if (step < 0 || spt_drop_is_update_step(dst(m)->delta_t, dst(m)->t_end, step, &is) != SPT_OK) return false;
    return is != 0;
}

int64_t spti_dst_drop_count(const spti_method *m, int64_t step, int64_t nnz) {
    double f = 0.0;
    if (step < 0 || spt_drop_fraction(dst(m)->schedule, dst(m)->alpha, dst(m)->t_end, step, &f) != SPT_OK) return 0;
    int64_t k = (int64_t)floor(f * (double)nnz);
    return k < 0 ? 0 : k > nnz ? nnz : k;
}

uint64_t spti_dst_seed(const spti_method *m, int64_t step, int layer) {
    uint64_t h = 0x243f6a8885a308d3ULL;
    for (int i = 0; i < 4; i++) h = spti_mix64(h ^ m->rng.s[i]);
    h = spti_mix64(h ^ (uint64_t)step);
    return spti_mix64(h ^ ((uint64_t)(uint32_t)layer << 1 | 1));
}

bool spti_dst_is_sparse(const spti_method *m, int layer) { return m->weights[layer]->kind == SPTI_PARAM_SPARSE; }

/* Weights layer l drops at `step`: k = floor(f(t) nnz) (kernel structure:
 * groups x k of its kernels). */
static int64_t layer_k(const spti_method *m, int64_t step, int l) {
    const spti_param *p = m->weights[l];
    if (spti_structure_by_kernel(&dst(m)->structure, p)) {
        const int64_t g = spti_structure_group(&dst(m)->structure, p);
        return g * spti_dst_drop_count(m, step, p->n / g);
    }
    return spti_dst_drop_count(m, step, p->n);
}

/* One layer's new positions under a structure by row (pos allocated), and
 * their count: with neuron ablation (fanin RigL) the rows whose salient
 * weights fall short are emptied and the others grow to the new fan-in. */
static int layer_positions_by_row(spti_method *m, int64_t step, float *const *scores, int l, int64_t **pos,
                                  int64_t *count) {
    const spti_param *p = m->weights[l];
    const spti_structure *s = &dst(m)->structure;
    const float *score = scores ? scores[l] : NULL;
    if (scores && !score)
        return spti_fail(SPT_ERR_STATE, "%s: no dense growth score for %s at step %lld", m->ops->name, p->name,
                         (long long)step);
    double f = 0.0;
    SPTI_TRY(spt_drop_fraction(dst(m)->schedule, dst(m)->alpha, dst(m)->t_end, step, &f));
    const uint64_t seed = spti_dst_seed(m, step, l);
    uint8_t *dead = NULL;
    int64_t target = -1, room = p->n;
    if (s->ablation > 0.0 && score) {
        if (!(dead = spti_alloc(p->rows, 1)))
            return spti_fail(SPT_ERR_NOMEM, "%s: out of memory for the rows of %s", m->ops->name, p->name);
        int rc = spti_structure_ablate(s, p, f, score, dst(m)->nnz[l], seed, dead, &target);
        if (rc != SPT_OK) {
            spti_free(dead);
            return rc;
        }
        room = p->rows * target > room ? p->rows * target : room;
    }
    int rc = (*pos = spti_alloc(room, sizeof(int64_t))) != NULL
                 ? spti_structure_drop_grow(s, p, f, score, seed, dead, target, *pos, count)
                 : spti_fail(SPT_ERR_NOMEM, "%s: out of memory for the pattern of %s", m->ops->name, p->name);
    spti_free(dead);
    return rc;
}

/* One layer's new positions (pos[l] allocated here). */
static int layer_positions(spti_method *m, int64_t step, const float *const *drop, float *const *scores, int l,
                           int64_t **pos, int64_t *count) {
    if (spti_structure_by_row(&dst(m)->structure)) return layer_positions_by_row(m, step, scores, l, pos, count);
    const spti_param *p = m->weights[l];
    *count = p->n;
    if (spti_structure_by_kernel(&dst(m)->structure, p)) {
        const float *score = scores ? scores[l] : NULL;
        if (scores && !score)
            return spti_fail(SPT_ERR_STATE, "%s: no dense growth score for %s at step %lld", m->ops->name, p->name,
                             (long long)step);
        double f = 0.0;
        SPTI_TRY(spt_drop_fraction(dst(m)->schedule, dst(m)->alpha, dst(m)->t_end, step, &f));
        if (!(*pos = spti_alloc(p->n, sizeof(int64_t))))
            return spti_fail(SPT_ERR_NOMEM, "%s: out of memory for the pattern of %s", m->ops->name, p->name);
        return spti_structure_kernel_drop_grow(p, spti_structure_group(&dst(m)->structure, p), f, score,
                                               spti_dst_seed(m, step, l), *pos);
    }
    const int64_t k = spti_dst_drop_count(m, step, p->n);
    const float *score = scores ? scores[l] : NULL;
    /* Without a score: the gradient at the sample begin_step drew, or the
     * collector the backward streamed into. */
    const spti_sample_grad *sampled = scores && !score && p->request.sample && p->result.sample &&
                                              p->result.sample->at == p->request.sample
                                          ? p->result.sample
                                          : NULL;
    const struct spti_grow_collector *grow =
        scores && !score && !p->request.sample && p->result.grow && p->result.grow->filled ? p->result.grow : NULL;
    if (scores && !score && !grow && !sampled)
        return spti_fail(SPT_ERR_STATE, "%s: no growth score for %s at step %lld", m->ops->name, p->name,
                         (long long)step);
    if (!(*pos = spti_alloc(p->n, sizeof(int64_t))))
        return spti_fail(SPT_ERR_NOMEM, "%s: out of memory for the pattern of %s", m->ops->name, p->name);
    const uint64_t seed = spti_dst_seed(m, step, l);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    return spti_drop_grow_positions(p, k, drop ? drop[l] : NULL, score, grow, sampled, &rng, seed, *pos);
}

/* The layers are independent: each thread takes whole layers (largest
 * first, so the big layer does not come last), the rest of the kernels
 * inside run on the calling thread. Every layer's result depends only on
 * its own seed, so the update is the same for any thread count. The first
 * failing layer (in layer order) gives the status and message. */
typedef struct layer_job {
    int layer;
    int64_t cost;
    int rc;
    char err[256];
} layer_job;

static int by_cost_desc(const void *a, const void *b) {
    const layer_job *x = a, *y = b;
    return x->cost != y->cost ? (x->cost < y->cost ? 1 : -1) : x->layer - y->layer;
}

static void run_job(layer_job *j, int rc) {
    j->rc = rc;
    if (rc != SPT_OK) snprintf(j->err, sizeof j->err, "%s", spt_last_error());
}

static int first_failure(const layer_job *jobs, int n) {
    int at = -1;
    for (int i = 0; i < n; i++)
        if (jobs[i].rc != SPT_OK && (at < 0 || jobs[i].layer < jobs[at].layer)) at = i;
    return at < 0 ? SPT_OK : spti_fail(jobs[at].rc, "%s", jobs[at].err);
}

int spti_dst_update(spti_method *m, int64_t step, const float *const *drop, float *const *scores) {
    const int n = m->n_weights;
    int64_t **pos = spti_calloc(n, sizeof(int64_t *)), *count = spti_calloc(n, sizeof(int64_t));
    layer_job *jobs = spti_calloc(n, sizeof(layer_job));
    if (!pos || !count || !jobs) {
        spti_free(pos);
        spti_free(count);
        spti_free(jobs);
        return spti_fail(SPT_ERR_NOMEM, "%s: out of memory", m->ops->name);
    }
    int n_jobs = 0;
    for (int l = 0; l < n; l++)
        if (spti_dst_is_sparse(m, l) && layer_k(m, step, l) > 0)
            jobs[n_jobs++] = (layer_job){.layer = l, .cost = m->weights[l]->rows * m->weights[l]->cols};
    qsort(jobs, (size_t)n_jobs, sizeof *jobs, by_cost_desc);
    /* All new patterns first: a failure here changes nothing. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(spti_num_threads()) if (n_jobs > 1)
    for (int i = 0; i < n_jobs; i++) {
        const int l = jobs[i].layer;
        run_job(&jobs[i], layer_positions(m, step, drop, scores, l, &pos[l], &count[l]));
    }
    int rc = first_failure(jobs, n_jobs);
    /* Then move every layer. A repattern failure (out of memory) leaves
     * each layer either on its new pattern or unchanged, consistent. */
    if (rc == SPT_OK) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(spti_num_threads()) if (n_jobs > 1)
        for (int i = 0; i < n_jobs; i++) {
            spti_param *p = m->weights[jobs[i].layer];
            run_job(&jobs[i], spti_param_repattern(p, pos[jobs[i].layer], count[jobs[i].layer]));
        }
        bool changed = false;
        for (int i = 0; i < n_jobs; i++) changed |= jobs[i].rc == SPT_OK;
        if (changed) m->topology_updates++;
        rc = first_failure(jobs, n_jobs);
    }
    for (int l = 0; l < n; l++) spti_free(pos[l]);
    spti_free(pos);
    spti_free(count);
    spti_free(jobs);
    if (rc == SPT_OK) {
        dst(m)->updates++;
        dst(m)->last_update = step;
    }
    return rc;
}

/* Drop a layer's sample and the gradient computed at it. */
static void free_sample(spti_param *p) {
    spti_sample_grad_destroy(p->result.sample);
    p->result.sample = NULL;
    spti_grow_sample_destroy(p->request.sample);
    p->request.sample = NULL;
}

/* The positions layer l samples for k growths at `step`: min(inactive,
 * ceil(grow_sample k)), from a stream of the step's and layer's seed of
 * its own (the selections use that seed and other salts of it). */
static int draw_sample(spti_method *m, int64_t step, int l, int64_t k) {
    spti_param *p = m->weights[l];
    const int64_t inactive = p->rows * p->cols - p->n;
    const double want = ceil(dst(m)->grow_sample * (double)k);
    const int64_t n = want >= (double)inactive ? inactive : (int64_t)want;
    spti_rng rng;
    spti_rng_seed(&rng, spti_dst_seed(m, step, l) ^ 0xbb67ae8584caa73bULL);
    return spti_grow_sample_draw(p->csr, n, &rng, &p->request.sample);
}

int spti_dst_request_gradients(spti_method *m, int64_t step, bool stream) {
    /* A structure by row grows from the dense gradient (its selection is per row). */
    if (dst(m)->structure.kind != SPT_STRUCTURE_UNSTRUCTURED) stream = false;
    const bool update = spti_dst_is_update(m, step), sampled = stream && dst(m)->grow_sample > 0.0;
    layer_job *jobs = NULL;
    int n_jobs = 0;
    /* A layer that moves no weight (k == 0) needs no dense gradient. */
    for (int l = 0; l < m->n_weights; l++) {
        spti_param *p = m->weights[l];
        if (!spti_dst_is_sparse(m, l)) continue;
        const int64_t k = update ? layer_k(m, step, l) : 0;
        p->request.dense_grad = k > 0 && !sampled;
        p->request.grow_k = stream && !sampled ? k : 0;
        if (p->result.grow) p->result.grow->filled = false; /* only this step's backward counts */
        free_sample(p);                                      /* nor does an earlier sample */
        if (sampled && k > 0) {
            if (!jobs && !(jobs = spti_calloc(m->n_weights, sizeof(layer_job)))) {
                spti_dst_release_gradients(m);
                return spti_fail(SPT_ERR_NOMEM, "%s: out of memory", m->ops->name);
            }
            jobs[n_jobs++] = (layer_job){.layer = l, .cost = k}; /* the cost is k itself */
        }
    }
    if (n_jobs == 0) return SPT_OK;
    /* Each layer draws from its own seed: the same samples for any thread count. */
    qsort(jobs, (size_t)n_jobs, sizeof *jobs, by_cost_desc);
#pragma omp parallel for schedule(dynamic, 1) num_threads(spti_num_threads()) if (n_jobs > 1)
    for (int i = 0; i < n_jobs; i++) {
        const int l = jobs[i].layer;
        run_job(&jobs[i], draw_sample(m, step, l, jobs[i].cost));
    }
    int rc = first_failure(jobs, n_jobs);
    spti_free(jobs);
    if (rc != SPT_OK) spti_dst_release_gradients(m);
    return rc;
}

void spti_dst_release_gradients(spti_method *m) {
    for (int l = 0; l < m->n_weights; l++) {
        spti_param *p = m->weights[l];
        if (!spti_dst_is_sparse(m, l)) continue;
        p->request.dense_grad = false;
        p->request.grow_k = 0;
        spti_free(p->result.dense_grad);
        p->result.dense_grad = NULL;
        spti_grow_collector_destroy(p->result.grow);
        p->result.grow = NULL;
        free_sample(p);
    }
}

/* ---- FLOPs of sampled growth -------------------------------------------------- */

/* Weight-gradient FLOPs per example beyond f_S of the update at `step`. */
static double sampled_extra(const spti_flops_query *q, const int64_t *nnz, double alpha, int schedule, int64_t t_end,
                            int64_t step) {
    double f = 0.0, extra = 0.0;
    if (spt_drop_fraction(schedule, alpha, t_end, step, &f) != SPT_OK) return 0.0;
    const double m = q->cfg->value[SPT_MP_GROW_SAMPLE];
    for (int l = 0; l < q->n_weights; l++) {
        const spti_param *p = q->weights[l];
        const int64_t cells = p->rows * p->cols, inactive = cells - nnz[l];
        int64_t k = (int64_t)floor(f * (double)nnz[l]);
        if (nnz[l] >= cells || (k = k < 0 ? 0 : k > nnz[l] ? nnz[l] : k) == 0) continue;
        const double want = ceil(m * (double)k);
        const int64_t n = want >= (double)inactive ? inactive : (int64_t)want;
        const double hw = (double)q->out_hw[l];
        extra += spti_grow_sample_dense(cells, nnz[l], n) ? 2.0 * (double)inactive * hw : 2.0 * (double)n * hw;
    }
    return extra;
}

int spti_dst_sampled_update_flops(const spti_flops_query *q, double *out) {
    const spt_method_config *cfg = q->cfg;
    int64_t *nnz = spti_alloc_or_fail(q->n_weights, sizeof(int64_t), "sampled growth FLOPs");
    if (!nnz) return SPT_ERR_NOMEM;
    int rc = spti_topology_plan(cfg, q->weights, q->n_weights, nnz, NULL);
    if (rc != SPT_OK) {
        spti_free(nnz);
        return rc;
    }
    const int64_t delta_t = (int64_t)cfg->value[SPT_MP_DELTA_T];
    const int64_t t_end = cfg->value[SPT_MP_T_END] >= 0
                              ? (int64_t)cfg->value[SPT_MP_T_END]
                              : (int64_t)floor(cfg->value[SPT_MP_T_END_FRACTION] * (double)q->total_steps);
    /* Update steps j delta_t, j = 1 .. n_upd (t < T_end and t < T). */
    const int64_t limit = t_end < q->total_steps ? t_end : q->total_steps;
    const int64_t n_upd = limit > 1 ? (limit - 1) / delta_t : 0, pts = n_upd < 1024 ? n_upd : 1024;
    double sum = 0.0;
    for (int64_t i = 0; i < pts; i++) {
        const int64_t j = 1 + i * n_upd / pts;
        sum += sampled_extra(q, nnz, cfg->value[SPT_MP_ALPHA], (int)cfg->value[SPT_MP_DROP_SCHEDULE], t_end,
                             j * delta_t);
    }
    spti_free(nnz);
    *out = q->f_sparse + (pts > 0 ? sum / (double)pts : 0.0);
    return SPT_OK;
}

/* ---- checkpoint ------------------------------------------------------------- */

static bool layer_has_momentum(const spti_method *m, int l) {
    return dst(m)->nnz[l] < m->weights[l]->rows * m->weights[l]->cols;
}

/* Bytes of the state, or -1 if it cannot be represented (overflow). */
static int64_t state_bytes(const spti_method *m, bool momentum) {
    int64_t len = HEADER_BYTES + (int64_t)LAYER_BYTES * m->n_weights;
    if (momentum)
        for (int l = 0; l < m->n_weights; l++) {
            int64_t b;
            if (layer_has_momentum(m, l) &&
                (!spti_mul_i64(m->weights[l]->rows * m->weights[l]->cols, 4, &b) || !spti_add_i64(len, b, &len)))
                return -1;
        }
    return len;
}

/* The state in the layout above (the writer's count-only pass sizes it). */
static void dst_encode(const spti_method *m, spti_wcur *w) {
    const spti_dst *st = dst(m);
    const bool momentum = st->momentum != NULL;
    spti_put_bytes(w, "SPTM", 4);
    spti_put_u32(w, STATE_VERSION);
    spti_put_u32(w, (uint32_t)m->ops->id);
    spti_put_u32(w, (uint32_t)m->n_weights);
    for (int i = 0; i < 4; i++) spti_put_u64(w, m->rng.s[i]);
    spti_put_i64(w, m->topology_updates);
    spti_put_i64(w, st->updates);
    spti_put_i64(w, st->last_update);
    spti_put_u32(w, momentum ? 1u : 0u);
    spti_put_u32(w, 0);
    for (int l = 0; l < m->n_weights; l++) {
        spti_put_i64(w, m->weights[l]->rows);
        spti_put_i64(w, m->weights[l]->cols);
        spti_put_i64(w, st->nnz[l]);
    }
    if (momentum)
        for (int l = 0; l < m->n_weights; l++)
            if (layer_has_momentum(m, l))
                spti_put_f32s(w, st->momentum[l], m->weights[l]->rows * m->weights[l]->cols);
}

int spti_dst_save(const spti_method *m, uint8_t *buf, int64_t cap, int64_t *len) {
    SPTI_CHECK_NULL(len);
    if (state_bytes(m, dst(m)->momentum != NULL) < 0)
        return spti_fail(SPT_ERR_SIZE, "%s save: state too large", m->ops->name);
    spti_wcur w = {.buf = NULL, .len = 0};
    dst_encode(m, &w);
    *len = w.len;
    if (!buf) return SPT_OK;
    if (cap < w.len)
        return spti_fail(SPT_ERR_SIZE, "%s save: buffer of %lld bytes, %lld needed", m->ops->name, (long long)cap,
                         (long long)w.len);
    w = (spti_wcur){.buf = buf, .len = 0};
    dst_encode(m, &w);
    return SPT_OK;
}

int spti_dst_load(spti_method *m, const uint8_t *buf, int64_t len) {
    SPTI_CHECK_NULL(buf);
    spti_dst *st = dst(m);
    const char *name = m->ops->name;
    if (len < HEADER_BYTES || memcmp(buf, "SPTM", 4) != 0)
        return spti_fail(SPT_ERR_FORMAT, "%s load: not a method state (bad magic or %lld bytes)", name, (long long)len);
    /* The header (len >= HEADER_BYTES: no read below runs short). */
    spti_rcur r = {.p = buf + 4, .len = len - 4};
    uint32_t version = 0, method = 0, layers = 0, flags = 0, zero = 0;
    uint64_t rng[4] = {0};
    int64_t topo = 0, upd = 0, last = 0;
    spti_get_u32(&r, &version);
    spti_get_u32(&r, &method);
    spti_get_u32(&r, &layers);
    for (int i = 0; i < 4; i++) spti_get_u64(&r, &rng[i]);
    spti_get_i64(&r, &topo);
    spti_get_i64(&r, &upd);
    spti_get_i64(&r, &last);
    spti_get_u32(&r, &flags);
    spti_get_u32(&r, &zero);
    if (version > STATE_VERSION)
        return spti_fail(SPT_ERR_VERSION, "%s load: state version %u is newer than %d", name, version, STATE_VERSION);
    if (version < 1) return spti_fail(SPT_ERR_FORMAT, "%s load: bad state version %u", name, version);
    if ((int)method != m->ops->id)
        return spti_fail(SPT_ERR_FORMAT, "%s load: the state belongs to method %u (%s)", name, method,
                         spt_method_name((int)method) ? spt_method_name((int)method) : "unknown");
    if ((int64_t)layers != m->n_weights)
        return spti_fail(SPT_ERR_FORMAT, "%s load: state for %u weight layers, the model has %d", name, layers,
                         m->n_weights);
    bool momentum = (flags & 1u) != 0;
    if ((flags & ~1u) != 0 || zero != 0 || (momentum && !st->has_momentum))
        return spti_fail(SPT_ERR_FORMAT, "%s load: bad flags", name);
    int64_t need = state_bytes(m, momentum);
    if (need < 0 || len != need)
        return spti_fail(SPT_ERR_FORMAT, "%s load: %lld bytes, expected %lld", name, (long long)len, (long long)need);
    /* From here on the length matches the layout: no read runs short. */
    for (int l = 0; l < m->n_weights; l++) {
        int64_t rows = 0, cols = 0, nnz = 0;
        spti_get_i64(&r, &rows);
        spti_get_i64(&r, &cols);
        spti_get_i64(&r, &nnz);
        if (rows != m->weights[l]->rows || cols != m->weights[l]->cols || nnz != st->nnz[l])
            return spti_fail(SPT_ERR_FORMAT, "%s load: layer %d (%s) differs in shape or planned nonzeros", name, l,
                             m->weights[l]->name);
    }
    if (upd < 0 || last < -1 || topo < 0) return spti_fail(SPT_ERR_FORMAT, "%s load: negative counters", name);
    /* Allocate what the momentum needs before changing anything. */
    float **mom = NULL;
    if (momentum) {
        mom = spti_calloc(m->n_weights, sizeof(float *));
        bool ok = mom != NULL;
        for (int l = 0; l < m->n_weights && ok; l++)
            if (layer_has_momentum(m, l)) {
                float *have = st->momentum ? st->momentum[l] : NULL;
                mom[l] = have ? have : spti_alloc(m->weights[l]->rows * m->weights[l]->cols, sizeof(float));
                ok = mom[l] != NULL;
            }
        if (!ok) {
            for (int l = 0; mom && l < m->n_weights; l++)
                if (!st->momentum || mom[l] != st->momentum[l]) spti_free(mom[l]);
            spti_free(mom);
            return spti_fail(SPT_ERR_NOMEM, "%s load: out of memory for the momentum", name);
        }
        for (int l = 0; l < m->n_weights; l++) {
            if (!mom[l]) continue;
            const int64_t cells = m->weights[l]->rows * m->weights[l]->cols;
            spti_decode_f32s(spti_get_view(&r, cells, 4), cells, mom[l]);
        }
    }
    if (st->momentum) {
        for (int l = 0; l < m->n_weights; l++)
            if (!mom || mom[l] != st->momentum[l]) spti_free(st->momentum[l]);
        spti_free(st->momentum);
    }
    st->momentum = mom;
    for (int i = 0; i < 4; i++) m->rng.s[i] = rng[i];
    m->topology_updates = topo;
    st->updates = upd;
    st->last_update = last;
    return SPT_OK;
}
