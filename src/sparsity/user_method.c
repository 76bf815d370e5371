/*
 * A user's dynamic sparse method (include/sparsetrain/user_method.h): the
 * caller's drop and grow criteria over the shared machinery of the dynamic
 * methods (dst.c: initial topology, schedule, exact selection,
 * repattern, checkpoint).
 *
 * On an update step t, for each sparse layer l with k = floor(f(t) nnz) > 0,
 * in layer order on the calling thread:
 *   drop score  the callback's nnz scores (or none: |w|);
 *   grow score  random (none), the streamed |dense gradient| (none; begin_step
 *               asked for it; or, with SPT_MP_GROW_SAMPLE > 0, |gradient| at a
 *               sample of positions, as RigL's), or the callback's rows x cols
 *               scores, given the dense gradient begin_step asked for with
 *               _GRADIENT_SCORE;
 * then spti_dst_update selects and repatterns every layer (in parallel).
 * The update runs in after_backward (skipping the optimizer step) or in
 * after_step, as the method says.
 *
 * Checkpoint: the dynamic methods' state, then the method's name (48 bytes,
 * NUL-padded), checked on load.
 */
#include <string.h>

#include "method_config.h"
#include "dst.h"

enum { NAME_BYTES = 48 };
/* Keeps the callbacks' seeds apart from the selections' (dst seed, seed ^ 1). */
static const uint64_t CALLBACK_SALT = 0x9e3779b97f4a7c15ULL;

/* ---- the public handle -------------------------------------------------- */

int spt_user_method_create(const char *name, spt_user_method **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    const size_t len = strlen(name);
    if (len == 0 || len >= NAME_BYTES)
        return spti_fail(SPT_ERR_INVALID, "%s: the name must have 1 to %d bytes (has %zu)", __func__, NAME_BYTES - 1,
                         len);
    spt_user_method *u = spti_calloc_or_fail(1, sizeof *u, "user method");
    if (!u) return SPT_ERR_NOMEM;
    memcpy(u->name, name, len);
    u->grow_kind = SPT_GROW_RANDOM;
    u->update_point = SPT_UPDATE_AFTER_STEP;
    *out = u;
    return SPT_OK;
}

void spt_user_method_destroy(spt_user_method *u) { spti_free(u); }

int spt_user_method_set_drop(spt_user_method *u, spt_drop_score_fn fn, void *user) {
    SPTI_CHECK_NULL(u);
    u->drop = fn;
    u->drop_user = user;
    return SPT_OK;
}

static bool grow_has_callback(int kind) { return kind == SPT_GROW_SCORE || kind == SPT_GROW_GRADIENT_SCORE; }
static bool grow_needs_gradient(int kind) { return kind == SPT_GROW_GRADIENT || kind == SPT_GROW_GRADIENT_SCORE; }

int spt_user_method_set_grow(spt_user_method *u, int kind, spt_grow_score_fn fn, void *user) {
    SPTI_CHECK_NULL(u);
    if (kind < SPT_GROW_RANDOM || kind > SPT_GROW_GRADIENT_SCORE)
        return spti_fail(SPT_ERR_INVALID, "%s: unknown grow kind %d", __func__, kind);
    if (grow_has_callback(kind) && !fn)
        return spti_fail(SPT_ERR_NULL, "%s: grow kind %d needs a score callback", __func__, kind);
    if (!grow_has_callback(kind) && fn)
        return spti_fail(SPT_ERR_INVALID, "%s: grow kind %d takes no callback", __func__, kind);
    u->grow_kind = kind;
    u->grow = fn;
    u->grow_user = user;
    return SPT_OK;
}

int spt_user_method_set_update(spt_user_method *u, int point) {
    SPTI_CHECK_NULL(u);
    if (point != SPT_UPDATE_AFTER_STEP && point != SPT_UPDATE_BEFORE_STEP)
        return spti_fail(SPT_ERR_INVALID, "%s: unknown update point %d", __func__, point);
    u->update_point = point;
    return SPT_OK;
}

int spt_method_config_create_user(const spt_user_method *u, spt_method_config **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(u);
    spt_method_config *c;
    SPTI_TRY(spti_method_config_new(&spti_method_user, &c));
    if (!(c->user = spti_alloc_or_fail(1, sizeof *c->user, "user method config"))) {
        spt_method_config_destroy(c);
        return SPT_ERR_NOMEM;
    }
    *c->user = *u;
    *out = c;
    return SPT_OK;
}

/* ---- the method ---------------------------------------------------------- */

static const spt_user_method *rules(const spti_method *m) { return ((const spti_dst *)m->state)->rules; }

static int user_create(const spti_method_ops *ops, const spt_method_config *cfg, spti_param **weights, int n_weights,
                       int64_t total_steps, spti_method **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(cfg);
    if (!cfg->user) return spti_fail(SPT_ERR_INVALID, "user method: the configuration holds no criteria");
    if (cfg->value[SPT_MP_GROW_SAMPLE] > 0.0 && cfg->user->grow_kind != SPT_GROW_GRADIENT)
        return spti_fail(SPT_ERR_INVALID,
                         "user method %s: grow_sample (%g) samples the gradient of SPT_GROW_GRADIENT growth only; "
                         "this method grows by kind %d (set grow_sample to 0)",
                         cfg->user->name, cfg->value[SPT_MP_GROW_SAMPLE], cfg->user->grow_kind);
    spt_user_method *copy = spti_alloc_or_fail(1, sizeof *copy, "user method");
    if (!copy) return SPT_ERR_NOMEM;
    *copy = *cfg->user;
    int rc = spti_dst_create(ops, cfg, weights, n_weights, total_steps, out);
    if (rc != SPT_OK) {
        spti_free(copy);
        return rc;
    }
    ((spti_dst *)(*out)->state)->rules = copy;
    return SPT_OK;
}

static int user_begin_step(spti_method *m, int64_t step) {
    const int kind = rules(m)->grow_kind;
    return grow_needs_gradient(kind) ? spti_dst_request_gradients(m, step, kind == SPT_GROW_GRADIENT) : SPT_OK;
}

static int callback_failed(const spti_method *m, const char *which, int ret, const spti_param *p, int64_t step) {
    return spti_fail(SPT_ERR_CALLBACK, "user method %s: the %s callback returned %d for %s at step %lld",
                     rules(m)->name, which, ret, p->name, (long long)step);
}

/* Layer l's scores from the callbacks (drop[l], grow[l] allocated here). */
static int layer_scores(spti_method *m, int64_t step, int l, float **drop, float **grow) {
    const spt_user_method *u = rules(m);
    const spti_param *p = m->weights[l];
    const spt_csr *c = p->csr;
    const uint64_t seed = spti_dst_seed(m, step, l) ^ CALLBACK_SALT;
    if (u->drop) {
        if (!(drop[l] = spti_alloc_or_fail(p->n > 0 ? p->n : 1, sizeof(float), "user method: drop scores")))
            return SPT_ERR_NOMEM;
        int ret = u->drop(u->drop_user, l, step, p->rows, p->cols, p->n, c->row_ptr, c->col_idx, p->value, seed,
                          drop[l]);
        if (ret != 0) return callback_failed(m, "drop", ret, p, step);
    }
    if (u->grow_kind == SPT_GROW_GRADIENT) grow[l] = p->result.dense_grad; /* NULL: streamed or sampled */
    if (!grow_has_callback(u->grow_kind)) return SPT_OK;
    const float *g = NULL;
    if (u->grow_kind == SPT_GROW_GRADIENT_SCORE && !(g = p->result.dense_grad))
        return spti_fail(SPT_ERR_STATE, "user method %s: no dense gradient for %s at step %lld (begin_step not called?)",
                         u->name, p->name, (long long)step);
    if (!(grow[l] = spti_alloc_or_fail(p->rows * p->cols, sizeof(float), "user method: grow scores")))
        return SPT_ERR_NOMEM;
    int ret = u->grow(u->grow_user, l, step, p->rows, p->cols, p->n, c->row_ptr, c->col_idx, p->value, g, seed,
                      grow[l]);
    return ret != 0 ? callback_failed(m, "grow", ret, p, step) : SPT_OK;
}

/* One update: every layer's scores, then the shared drop/grow. */
static int user_update(spti_method *m, int64_t step) {
    const spt_user_method *u = rules(m);
    const int n = m->n_weights;
    float **drop = spti_calloc(n, sizeof(float *)), **grow = spti_calloc(n, sizeof(float *));
    int rc = drop && grow ? SPT_OK : spti_fail(SPT_ERR_NOMEM, "user method %s: out of memory", u->name);
    for (int l = 0; l < n && rc == SPT_OK; l++)
        if (spti_dst_is_sparse(m, l) && spti_dst_drop_count(m, step, m->weights[l]->n) > 0)
            rc = layer_scores(m, step, l, drop, grow);
    if (rc == SPT_OK)
        rc = spti_dst_update(m, step, (const float *const *)drop, u->grow_kind == SPT_GROW_RANDOM ? NULL : grow);
    for (int l = 0; drop && l < n; l++) spti_free(drop[l]);
    for (int l = 0; grow && grow_has_callback(u->grow_kind) && l < n; l++) spti_free(grow[l]);
    spti_free(drop);
    spti_free(grow);
    return rc;
}

static int user_after_backward(spti_method *m, int64_t step, bool *skip_optimizer) {
    SPTI_CHECK_NULL(skip_optimizer);
    *skip_optimizer = false;
    if (rules(m)->update_point != SPT_UPDATE_BEFORE_STEP || !spti_dst_is_update(m, step)) return SPT_OK;
    *skip_optimizer = true;
    int rc = user_update(m, step);
    spti_dst_release_gradients(m);
    return rc;
}

static int user_after_step(spti_method *m, int64_t step) {
    if (rules(m)->update_point != SPT_UPDATE_AFTER_STEP || !spti_dst_is_update(m, step)) return SPT_OK;
    int rc = user_update(m, step);
    spti_dst_release_gradients(m);
    return rc;
}

static int user_save(const spti_method *m, uint8_t *buf, int64_t cap, int64_t *len) {
    SPTI_CHECK_NULL(len);
    int64_t n;
    SPTI_TRY(spti_dst_save(m, NULL, 0, &n));
    *len = n + NAME_BYTES;
    if (!buf) return SPT_OK;
    if (cap < *len)
        return spti_fail(SPT_ERR_SIZE, "user method save: buffer of %lld bytes, %lld needed", (long long)cap,
                         (long long)*len);
    SPTI_TRY(spti_dst_save(m, buf, n, &n));
    memset(buf + n, 0, NAME_BYTES);
    memcpy(buf + n, rules(m)->name, strlen(rules(m)->name));
    return SPT_OK;
}

static int user_load(spti_method *m, const uint8_t *buf, int64_t len) {
    SPTI_CHECK_NULL(buf);
    if (len < NAME_BYTES) return spti_fail(SPT_ERR_FORMAT, "user method load: %lld bytes", (long long)len);
    char saved[NAME_BYTES];
    memcpy(saved, buf + len - NAME_BYTES, NAME_BYTES);
    if (saved[NAME_BYTES - 1] != 0) return spti_fail(SPT_ERR_FORMAT, "user method load: the saved name is not text");
    if (strcmp(saved, rules(m)->name) != 0)
        return spti_fail(SPT_ERR_STATE, "user method load: the run trained user method \"%s\", not \"%s\"", saved,
                         rules(m)->name);
    return spti_dst_load(m, buf, len - NAME_BYTES);
}

/* Growth by the dense gradient costs what RigL's does (rigl.c); other
 * criteria 3 f_S (the callbacks' own work is not counted). */
static int user_flops(const spti_flops_query *q, double *out) {
    if (q->cfg && q->cfg->user && grow_needs_gradient(q->cfg->user->grow_kind))
        return spti_method_rigl.train_flops(q, out);
    *out = 3.0 * q->f_sparse;
    return SPT_OK;
}

static const int USER_KEYS[] = {SPT_MP_SPARSITY,   SPT_MP_DISTRIBUTION, SPT_MP_DENSE_FIRST,    SPT_MP_DENSE_LAST,
                                SPT_MP_SEED,       SPT_MP_SPARSE_INIT,  SPT_MP_EPSILON,        SPT_MP_DELTA_T,
                                SPT_MP_ALPHA,      SPT_MP_T_END,        SPT_MP_T_END_FRACTION, SPT_MP_DROP_SCHEDULE,
                                SPT_MP_GROW_SAMPLE, -1};

const spti_method_ops spti_method_user = {
    .id = SPT_METHOD_USER,
    .name = "user",
    .summary = "your own drop and grow criteria (spt_method_config_create_user)",
    .flags = SPTI_METHOD_INIT_SPARSIFIES | SPTI_METHOD_KEEPS_FORM | SPTI_METHOD_USER_RULES,
    .keys = USER_KEYS,
    .create = user_create,
    .train_flops = user_flops,
    .init = spti_dst_init,
    .begin_step = user_begin_step,
    .after_backward = user_after_backward,
    .after_step = user_after_step,
    .save = user_save,
    .load = user_load,
    .destroy = spti_dst_destroy,
};
