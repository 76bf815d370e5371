/*
 * Lottery tickets: iterative magnitude pruning with rewinding (Frankle &
 * Carbin 2019; rewinding to an early step: Frankle et al. 2020).
 *
 * The trainer trains a round and calls end_round. Round r (1 .. R) then
 *  1. prunes by magnitude of the trained weights to the survivors of round
 *     r: round(size * (1 - p)^r) per layer (layer-wise, never below the
 *     layer's final count from the allocator) or over the pool of layers
 *     not kept dense (global, one threshold, >= 1 weight per layer); the
 *     last round R prunes exactly to the target SPT_MP_SPARSITY;
 *  2. rewinds every surviving weight to its value at step k
 *     (SPT_MP_REWIND_STEP; "at step k" = after k optimizer steps, 0 = the
 *     initialisation), pruned ones being 0;
 *  3. zeroes the optimizer slots (a fresh optimizer; the trainer resets the
 *     optimizer's step count and the lr schedule too).
 * Layers are MASKED between rounds (SPARSE when their density is <= 0.3)
 * and every pruned layer is SPARSE after round R, so the final retraining
 * runs on the sparse kernels. A further end_round fails with SPT_ERR_STATE.
 *
 * Rounds and rate: p = SPT_MP_LOTTERY_RATE; R = SPT_MP_LOTTERY_ROUNDS when
 * set, else the fewest rounds with (1 - p)^R <= 1 - S. When the rounds are
 * set and the rate is not, the rate is derived, p = 1 - (1 - S)^(1/R), so
 * the rounds shrink the survivors geometrically to S.
 *
 * The method sees the model's weight matrices only: biases and BatchNorm
 * parameters are not rewound.
 *
 * Checkpoint (little-endian): 0 magic "SPLT"  4 u32 version 1
 * 8 u64 layers L  16 i64 rounds R  24 i64 rounds done  32 i64 rewind step
 * 40 u64 tie-break seed  48 i64 topology_updates  56 u64 1 if the rewind
 * values follow  then, if so, each layer's rows*cols f32 values (row-major).
 */
#include <math.h>
#include <string.h>

#include "method_config.h"
#include "dst.h"
#include "prune.h"

enum { LT_HEADER_BYTES = 64, LT_VERSION = 1, LT_MAX_ROUNDS = 1000 };

typedef struct lottery_state {
    spti_prune_plan plan;
    int64_t rounds, done, rewind_step;
    double rate;
    uint64_t seed;
    float **rewind; /* values at the rewind step, rows*cols per layer; NULL until taken */
} lottery_state;

static void lt_destroy(spti_method *m) {
    if (!m) return;
    lottery_state *st = m->state;
    if (st) {
        spti_prune_plan_free(&st->plan);
        spti_prune_buffers_free(st->rewind, m->n_weights);
        spti_free(st);
    }
    spti_free(m);
}

static int take_snapshot(spti_method *m) {
    lottery_state *st = m->state;
    float **b = spti_prune_buffers(m->weights, m->n_weights);
    if (!b) return spti_fail(SPT_ERR_NOMEM, "lottery: out of memory for the rewind values");
    for (int l = 0; l < m->n_weights; l++) spti_param_to_dense(m->weights[l], b[l]);
    spti_prune_buffers_free(st->rewind, m->n_weights);
    st->rewind = b;
    return SPT_OK;
}

static int lt_init(spti_method *m, spti_param **weights, int n, spti_grad_source *grads) {
    (void)grads;
    SPTI_CHECK_NULL(weights);
    if (n != m->n_weights)
        return spti_fail(SPT_ERR_SIZE, "lottery init: %d weights given, the method was built for %d", n, m->n_weights);
    lottery_state *st = m->state;
    return st->rewind_step == 0 ? take_snapshot(m) : SPT_OK;
}

static int lt_after_step(spti_method *m, int64_t step) {
    lottery_state *st = m->state;
    /* The values after k optimizer steps: after step k - 1, in the first round. */
    if (st->done == 0 && st->rewind_step > 0 && step + 1 == st->rewind_step) return take_snapshot(m);
    return SPT_OK;
}

/* Survivors (spti_prune_keep_fn) of a group of `size` weights after round
 * r; ctx: the state. */
static int64_t lt_keep(const void *ctx, int64_t r, int64_t size, int64_t active, int64_t final) {
    const lottery_state *st = ctx;
    if (r >= st->rounds) return final;
    return spti_prune_count(size, pow(1.0 - st->rate, (double)r), active, final);
}

/* Survivors back to their rewind values, optimizer slots to 0. */
static void rewind_weights(spti_method *m) {
    lottery_state *st = m->state;
    for (int l = 0; l < m->n_weights; l++) {
        spti_param *p = m->weights[l];
        const float *v0 = st->rewind[l];
        if (p->kind == SPTI_PARAM_SPARSE) {
            const spt_csr *c = p->csr;
            for (int64_t r = 0; r < c->rows; r++)
                for (int64_t k = c->row_ptr[r]; k < c->row_ptr[r + 1]; k++)
                    p->value[k] = v0[r * c->cols + c->col_idx[k]];
        } else {
            for (int64_t i = 0; i < p->n; i++) p->value[i] = (p->kind == SPTI_PARAM_DENSE || p->mask[i]) ? v0[i] : 0.0f;
        }
        for (int s = 0; s < SPTI_MAX_SLOTS; s++)
            if (p->opt.slot[s]) memset(p->opt.slot[s], 0, (size_t)p->n * sizeof(float));
    }
}

static int lt_end_round(spti_method *m, int64_t step) {
    (void)step;
    lottery_state *st = m->state;
    if (st->done >= st->rounds)
        return spti_fail(SPT_ERR_STATE, "lottery: all %lld pruning rounds are done", (long long)st->rounds);
    if (!st->rewind)
        return spti_fail(SPT_ERR_STATE, "lottery: the round ended before the rewind step %lld was reached",
                         (long long)st->rewind_step);
    const int64_t r = st->done + 1;
    int rc = spti_prune_by_magnitude(m, &st->plan, lt_keep, st, r, spti_prune_seed(st->seed, r, 0), r >= st->rounds);
    if (rc != SPT_OK) return rc;
    rewind_weights(m);
    st->done = r;
    return SPT_OK;
}

/* ---- checkpoint ------------------------------------------------------------------- */

static int64_t lt_bytes(const spti_method *m, bool with_values) {
    int64_t len = LT_HEADER_BYTES;
    if (with_values)
        for (int l = 0; l < m->n_weights; l++) {
            int64_t b;
            if (!spti_mul_i64(m->weights[l]->rows * m->weights[l]->cols, 4, &b) || !spti_add_i64(len, b, &len))
                return -1;
        }
    return len;
}

/* The state in the layout of the file comment (the writer's count-only
 * pass sizes it). */
static void lt_encode(const spti_method *m, spti_wcur *w) {
    const lottery_state *st = m->state;
    spti_put_bytes(w, "SPLT", 4);
    spti_put_u32(w, LT_VERSION);
    spti_put_u64(w, (uint64_t)m->n_weights);
    spti_put_i64(w, st->rounds);
    spti_put_i64(w, st->done);
    spti_put_i64(w, st->rewind_step);
    spti_put_u64(w, st->seed);
    spti_put_i64(w, m->topology_updates);
    spti_put_u64(w, st->rewind != NULL);
    if (st->rewind)
        for (int l = 0; l < m->n_weights; l++)
            spti_put_f32s(w, st->rewind[l], m->weights[l]->rows * m->weights[l]->cols);
}

static int lt_save(const spti_method *m, uint8_t *buf, int64_t cap, int64_t *len) {
    SPTI_CHECK_NULL(len);
    const lottery_state *st = m->state;
    if (lt_bytes(m, st->rewind != NULL) < 0) return spti_fail(SPT_ERR_SIZE, "lottery save: state too large");
    spti_wcur w = {.buf = NULL, .len = 0};
    lt_encode(m, &w);
    *len = w.len;
    if (!buf) return SPT_OK;
    if (cap < w.len)
        return spti_fail(SPT_ERR_SIZE, "lottery save: %lld bytes needed, buffer holds %lld", (long long)w.len,
                         (long long)cap);
    w = (spti_wcur){.buf = buf, .len = 0};
    lt_encode(m, &w);
    return SPT_OK;
}

static int lt_load(spti_method *m, const uint8_t *buf, int64_t len) {
    SPTI_CHECK_NULL(buf);
    lottery_state *st = m->state;
    if (len < LT_HEADER_BYTES || memcmp(buf, "SPLT", 4) != 0)
        return spti_fail(SPT_ERR_FORMAT, "lottery load: not a lottery state");
    spti_rcur r = {.p = buf + 4, .len = len - 4}; /* len >= LT_HEADER_BYTES: the header reads never run short */
    SPTI_TRY(spti_prune_check_version("lottery", &r, LT_VERSION));
    uint64_t layers = 0, seed = 0, has = 0;
    int64_t rounds = 0, done = 0, rewind_step = 0, updates = 0;
    spti_get_u64(&r, &layers);
    spti_get_i64(&r, &rounds);
    spti_get_i64(&r, &done);
    spti_get_i64(&r, &rewind_step);
    spti_get_u64(&r, &seed);
    spti_get_i64(&r, &updates);
    spti_get_u64(&r, &has);
    if (layers != (uint64_t)m->n_weights)
        return spti_fail(SPT_ERR_FORMAT, "lottery load: state is for another number of layers");
    if (rounds != st->rounds || rewind_step != st->rewind_step)
        return spti_fail(SPT_ERR_FORMAT, "lottery load: state of a run with other rounds or rewind step");
    if (done < 0 || done > rounds || updates < 0 || has > 1)
        return spti_fail(SPT_ERR_FORMAT, "lottery load: counters out of range");
    if (len != lt_bytes(m, has == 1))
        return spti_fail(SPT_ERR_FORMAT, "lottery load: state of %lld bytes does not match the layers", (long long)len);
    float **b = NULL;
    if (has) {
        if (!(b = spti_prune_buffers(m->weights, m->n_weights)))
            return spti_fail(SPT_ERR_NOMEM, "lottery load: out of memory for the rewind values");
        for (int l = 0; l < m->n_weights; l++) { /* len matches the layers: the views exist */
            const int64_t cells = m->weights[l]->rows * m->weights[l]->cols;
            spti_decode_f32s(spti_get_view(&r, cells, 4), cells, b[l]);
        }
    }
    spti_prune_buffers_free(st->rewind, m->n_weights);
    st->rewind = b;
    st->done = done;
    st->seed = seed;
    m->topology_updates = updates;
    return SPT_OK;
}

/* Pruning rounds R and rate p of a configuration (see the file comment). */
static int lottery_plan(const spt_method_config *cfg, int64_t *rounds, double *rate) {
    const double S = cfg->value[SPT_MP_SPARSITY];
    *rate = cfg->value[SPT_MP_LOTTERY_RATE];
    if (cfg->was_set[SPT_MP_LOTTERY_ROUNDS]) {
        *rounds = (int64_t)cfg->value[SPT_MP_LOTTERY_ROUNDS];
        if (!cfg->was_set[SPT_MP_LOTTERY_RATE]) *rate = 1.0 - pow(1.0 - S, 1.0 / (double)*rounds);
        return SPT_OK;
    }
    /* Fewest rounds whose survivors fall to 1 - S (a relative slack
     * absorbs pow's rounding when S is an exact power). */
    int64_t r = 1;
    while (pow(1.0 - *rate, (double)r) > (1.0 - S) * (1.0 + 1e-9) && r <= LT_MAX_ROUNDS) r++;
    if (r > LT_MAX_ROUNDS)
        return spti_fail(SPT_ERR_INVALID, "lottery: sparsity %g needs more than %d rounds at rate %g", S, LT_MAX_ROUNDS,
                         *rate);
    *rounds = r;
    return SPT_OK;
}

/* R pruning rounds, each followed by retraining, after a first round. */
static int lottery_rounds(const spt_method_config *cfg, int64_t *rounds) {
    double rate;
    int64_t r;
    SPTI_TRY(lottery_plan(cfg, &r, &rate));
    *rounds = r + 1;
    return SPT_OK;
}

/* Every round's cost depends on when it is called: the current sparse
 * forward, 3 f_S. A schedule needs spt_flops_train_schedule. */
static int lottery_flops(const spti_flops_query *q, double *out) {
    if (!q->cfg)
        return spti_fail(SPT_ERR_INVALID, "lottery follows a density schedule: use spt_flops_train_schedule or "
                                          "spt_flops_train_gmp");
    *out = 3.0 * q->f_sparse;
    return SPT_OK;
}

static int lottery_create(const spti_method_ops *ops, const spt_method_config *cfg, spti_param **weights,
                          int n_weights, int64_t total_steps, spti_method **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(cfg);
    if (total_steps < 0)
        return spti_fail(SPT_ERR_SIZE, "lottery: total_steps (%lld) must be >= 0", (long long)total_steps);
    if (total_steps > 0 && cfg->value[SPT_MP_REWIND_STEP] >= (double)total_steps)
        return spti_fail(SPT_ERR_INVALID, "lottery: rewind step %.0f is not inside the run of %lld steps",
                         cfg->value[SPT_MP_REWIND_STEP], (long long)total_steps);
    double rate;
    int64_t rounds;
    SPTI_TRY(lottery_plan(cfg, &rounds, &rate));
    lottery_state *st = spti_calloc(1, sizeof *st);
    spti_method *m = spti_calloc(1, sizeof *m);
    if (!st || !m) {
        spti_free(st);
        spti_free(m);
        return spti_fail(SPT_ERR_NOMEM, "lottery: out of memory");
    }
    int rc = spti_prune_plan_create(cfg, weights, n_weights, &st->plan);
    if (rc != SPT_OK) {
        spti_free(st);
        spti_free(m);
        return rc;
    }
    st->rounds = rounds;
    st->rate = rate;
    st->rewind_step = (int64_t)cfg->value[SPT_MP_REWIND_STEP];
    st->seed = spti_prune_method_init(m, ops, cfg, weights, n_weights, st);
    *out = m;
    return SPT_OK;
}

static const int LOTTERY_KEYS[] = {SPT_MP_SPARSITY,       SPT_MP_DISTRIBUTION, SPT_MP_DENSE_FIRST,
                                   SPT_MP_DENSE_LAST,     SPT_MP_GLOBAL,       SPT_MP_LOTTERY_ROUNDS,
                                   SPT_MP_LOTTERY_RATE,   SPT_MP_REWIND_STEP,  SPT_MP_SEED,
                                   SPT_MP_STRUCTURE, -1};

const spti_method_ops spti_method_lottery = {
    .id = SPT_METHOD_LOTTERY,
    .name = "lottery",
    .summary = "Frankle & Carbin 2019: iterative magnitude pruning with rewinding",
    .keys = LOTTERY_KEYS,
    .structures = 1u << SPT_STRUCTURE_CHANNEL | 1u << SPT_STRUCTURE_KERNEL,
    .create = lottery_create,
    .rounds = lottery_rounds,
    .train_flops = lottery_flops,
    .init = lt_init,
    .after_step = lt_after_step,
    .save = lt_save,
    .load = lt_load,
    .destroy = lt_destroy,
    .end_round = lt_end_round,
};
