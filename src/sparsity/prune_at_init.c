/*
 * State and hooks shared by the methods that prune once at initialisation
 * (SNIP, GraSP, SynFlow): construction from the config, the init checks,
 * selecting survivors at a point of the density ramp, the final
 * conversion to SPARSE, and the checkpoint (prune.h).
 */
#include <math.h>
#include <string.h>

#include "method_config.h"
#include "dst.h"
#include "prune.h"

enum { PAI_STATE_BYTES = 48, PAI_VERSION = 1 };

static spti_pai *pai(const spti_method *m) { return m->state; }

int spti_pai_create(const spti_method_ops *ops, const spt_method_config *cfg, spti_param **weights, int n_weights,
                    int64_t total_steps, spti_method **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(cfg);
    if (total_steps < 0)
        return spti_fail(SPT_ERR_SIZE, "%s: total_steps (%lld) must be >= 0", ops->name, (long long)total_steps);
    spti_pai *st = spti_calloc(1, sizeof *st);
    spti_method *m = spti_calloc(1, sizeof *m);
    if (!st || !m) {
        spti_free(st);
        spti_free(m);
        return spti_fail(SPT_ERR_NOMEM, "%s: out of memory", ops->name);
    }
    int rc = spti_prune_plan_create(cfg, weights, n_weights, &st->plan);
    if (rc != SPT_OK) {
        spti_free(st);
        spti_free(m);
        return rc;
    }
    st->batches = (int64_t)cfg->value[SPT_MP_SCORE_BATCHES];
    st->iters = (int64_t)cfg->value[SPT_MP_SYNFLOW_ITERS];
    st->seed = spti_prune_method_init(m, ops, cfg, weights, n_weights, st);
    *out = m;
    return SPT_OK;
}

void spti_pai_destroy(spti_method *m) {
    if (!m) return;
    if (m->state) {
        spti_prune_plan_free(&pai(m)->plan);
        spti_free(m->state);
    }
    spti_free(m);
}

int spti_pai_check_init(spti_method *m, spti_param **weights, int n) {
    SPTI_CHECK_NULL(weights);
    if (n != m->n_weights)
        return spti_fail(SPT_ERR_SIZE, "%s init: %d weights given, the method was built for %d", m->ops->name, n,
                         m->n_weights);
    if (pai(m)->done) return spti_fail(SPT_ERR_STATE, "%s init: the weights are already pruned", m->ops->name);
    return spti_prune_check_dense(m->ops->name, weights, n);
}

/* Keep count (spti_prune_keep_fn) at exponent *ctx of the final density. */
static int64_t pai_keep(const void *ctx, int64_t iteration, int64_t size, int64_t active, int64_t final) {
    (void)iteration;
    const double e = *(const double *)ctx;
    if (e >= 1.0) return final;
    return spti_prune_count(size, pow((double)final / (double)size, e), active, final);
}

int spti_pai_select(spti_method *m, spti_prune_layer *L, double e, int64_t iteration) {
    return spti_prune_select_plan(&pai(m)->plan, L, m->n_weights, pai_keep, &e, iteration,
                                  spti_prune_seed(pai(m)->seed, iteration, 0), m->ops->name);
}

int spti_pai_finish(spti_method *m, const spti_prune_layer *L) {
    int changed = 0;
    int rc = spti_prune_apply(m->weights, L, m->n_weights, true, &changed);
    if (changed) m->topology_updates++;
    if (rc == SPT_OK) pai(m)->done = true;
    return rc;
}

/* The state in the layout of prune.h (PAI_STATE_BYTES). */
static void pai_encode(const spti_method *m, spti_wcur *w) {
    char name[8] = {0}; /* zero-padded */
    memcpy(name, m->ops->name, strnlen(m->ops->name, 8));
    spti_put_bytes(w, "SPPI", 4);
    spti_put_u32(w, PAI_VERSION);
    spti_put_bytes(w, name, 8);
    spti_put_u64(w, (uint64_t)m->n_weights);
    spti_put_u64(w, pai(m)->done);
    spti_put_u64(w, pai(m)->seed);
    spti_put_i64(w, m->topology_updates);
}

int spti_pai_save(const spti_method *m, uint8_t *buf, int64_t cap, int64_t *len) {
    SPTI_CHECK_NULL(len);
    spti_wcur w = {.buf = NULL, .len = 0};
    pai_encode(m, &w);
    *len = w.len;
    if (!buf) return SPT_OK;
    if (cap < w.len)
        return spti_fail(SPT_ERR_SIZE, "%s save: %lld bytes needed, buffer holds %lld", m->ops->name,
                         (long long)w.len, (long long)cap);
    w = (spti_wcur){.buf = buf, .len = 0};
    pai_encode(m, &w);
    return SPT_OK;
}

int spti_pai_load(spti_method *m, const uint8_t *buf, int64_t len) {
    SPTI_CHECK_NULL(buf);
    const char *who = m->ops->name;
    if (len != PAI_STATE_BYTES || memcmp(buf, "SPPI", 4) != 0)
        return spti_fail(SPT_ERR_FORMAT, "%s load: not a pruning-at-init state", who);
    spti_rcur r = {.p = buf + 4, .len = len - 4}; /* len == PAI_STATE_BYTES: no read runs short */
    SPTI_TRY(spti_prune_check_version(who, &r, PAI_VERSION));
    char name[9] = {0};
    memcpy(name, spti_get_view(&r, 8, 1), 8);
    if (strncmp(name, who, 8) != 0)
        return spti_fail(SPT_ERR_FORMAT, "%s load: the state is of method \"%s\"", who, name);
    uint64_t layers = 0, done = 0, seed = 0;
    int64_t updates = 0;
    spti_get_u64(&r, &layers);
    spti_get_u64(&r, &done);
    spti_get_u64(&r, &seed);
    spti_get_i64(&r, &updates);
    if (layers != (uint64_t)m->n_weights || done > 1 || updates < 0)
        return spti_fail(SPT_ERR_FORMAT, "%s load: fields out of range", who);
    pai(m)->done = done != 0;
    pai(m)->seed = seed;
    m->topology_updates = updates;
    return SPT_OK;
}
