/* Rebuilding a model and a trainer from a parsed checkpoint: the model from
 * its architecture, the trainer through spt_trainer_create with the saved
 * settings, then every piece of saved state put in place. Everything is
 * built new, so on any failure the new objects are destroyed and the
 * caller's batcher is untouched (it is moved last). */
#include <string.h>

#include "../nn/layers.h"
#include "checkpoint_format.h"
#include "../core/le_io.h"

#define BAD(...) spti_fail(SPT_ERR_FORMAT, __VA_ARGS__)

/* A description from the NET records, through the public calls (which
 * check every name, kind, input and value). */
static int net_of_view(const spti_ckpt_view *v, spti_net **out) {
    *out = NULL;
    spti_net *net;
    int rc = spt_net_create(v->in_c, v->in_h, v->in_w, &net);
    for (int64_t i = 0; rc == SPT_OK && i < v->n_nodes; i++) {
        const uint8_t *b = v->nodes + i * SPTI_CKPT_NODE_BYTES;
        const uint32_t kind = spti_load_u32(b), zero = spti_load_u32(b + 4);
        char name[SPTI_NET_NAME];
        memcpy(name, b + 8, sizeof name);
        const int64_t input = spti_decode_i64(b + 8 + SPTI_NET_NAME);
        if (zero != 0 || name[SPTI_NET_NAME - 1] != 0 || kind >= SPT_LAYER_KIND_COUNT_) {
            rc = BAD("section ARCH: node %lld is malformed", (long long)i);
            break;
        }
        rc = spt_net_set_tip(net, input);
        if (rc == SPT_OK) rc = spt_net_add_layer(net, (int)kind, name, NULL);
        for (int k = 0; rc == SPT_OK && k < SPT_LP_COUNT_; k++) {
            int uses = 0;
            double def = 0, value;
            const uint64_t bits = spti_load_u64(b + 16 + SPTI_NET_NAME + 8 * k);
            memcpy(&value, &bits, sizeof value);
            spt_layer_param_default((int)kind, k, &uses, &def);
            if (!uses && value != 0) rc = BAD("section ARCH: node %lld sets a parameter its kind lacks", (long long)i);
            else if (uses && memcmp(&value, &def, sizeof value) != 0) rc = spt_net_set(net, i, k, value);
        }
        if (rc != SPT_OK && rc != SPT_ERR_NOMEM && rc != SPT_ERR_FORMAT)
            rc = BAD("section ARCH: node %lld: %s", (long long)i, spt_last_error());
    }
    if (rc != SPT_OK) {
        spt_net_destroy(net);
        return rc == SPT_ERR_NOMEM ? rc : (rc == SPT_ERR_FORMAT ? rc : BAD("section ARCH: %s", spt_last_error()));
    }
    *out = net;
    return SPT_OK;
}

static int arch_of_view(const spti_ckpt_view *v, spti_ckpt_arch *a) {
    memset(a, 0, sizeof *a);
    a->kind = v->arch;
    a->seed = v->model_seed;
    if (v->arch == SPTI_ARCH_NET) return net_of_view(v, &a->net);
    if (v->arch == SPTI_ARCH_MLP) {
        a->widths = spti_alloc_or_fail(v->n_widths, sizeof *a->widths, "checkpoint: MLP widths");
        if (!a->widths) return SPT_ERR_NOMEM;
        a->n_widths = v->n_widths;
        spti_decode_i64s(v->widths, v->n_widths, a->widths);
    } else {
        a->in_c = v->in_c;
        a->in_h = v->in_h;
        a->in_w = v->in_w;
        a->blocks = v->blocks;
        a->width_mult = v->width_mult;
        a->classes = v->classes;
    }
    return SPT_OK;
}

/* The architecture, the parameter records and the size limit agree, before
 * anything large is allocated. Weights are born without storage and take
 * only what their record holds, so what a file can make the loader build
 * beyond its own contents is the per-row and per-column structure of each
 * parameter (CSR row pointers and transposes, biases): rows + cols each,
 * bounded by `max_span`. */
static int check_sizes(const spti_ckpt_view *v, const spti_ckpt_arch *a, int64_t max_span) {
    int64_t np, dense, rec = 0, span = 0;
    SPTI_TRY(spti_ckpt_arch_size(a, &np, &dense));
    for (int64_t i = 0; i < v->n_params; i++)
        if (!spti_add_i64(rec, v->params[i].rows * v->params[i].cols, &rec) ||
            !spti_add_i64(span, v->params[i].rows + v->params[i].cols, &span))
            return BAD("the parameters' sizes overflow");
    if (np != v->n_params || dense != rec)
        return BAD("the architecture makes %lld parameters of %lld weights, the file holds %lld of %lld",
                   (long long)np, (long long)dense, (long long)v->n_params, (long long)rec);
    if (span > max_span)
        return BAD("a model whose parameters have %lld rows and columns in all is more than a checkpoint of this "
                   "size may describe (%lld)",
                   (long long)span, (long long)max_span);
    return SPT_OK;
}

static int build_schedule(const spti_ckpt_view *v, spt_lr_schedule **out) {
    *out = NULL;
    if (!v->has_sched) return SPT_OK;
    const spti_lr_schedule *s = &v->sched;
    spt_lr_schedule *c;
    SPTI_TRY(spt_lr_schedule_create(s->kind, &c));
    int rc = spt_lr_schedule_set_param(c, SPT_LR_BASE, s->base);
    if (rc == SPT_OK) rc = spt_lr_schedule_set_param(c, SPT_LR_WARMUP_STEPS, (double)s->warmup_steps);
    if (rc == SPT_OK) rc = spt_lr_schedule_set_param(c, SPT_LR_WARMUP_START_FACTOR, s->warmup_start);
    if (rc == SPT_OK && s->kind == SPT_LR_STEP) rc = spt_lr_schedule_set_param(c, SPT_LR_GAMMA, s->gamma);
    if (rc == SPT_OK && s->kind == SPT_LR_COSINE) {
        rc = spt_lr_schedule_set_param(c, SPT_LR_FLOOR_FACTOR, s->floor_factor);
        if (rc == SPT_OK && s->total_steps != 0)
            rc = spt_lr_schedule_set_param(c, SPT_LR_TOTAL_STEPS, (double)s->total_steps);
    }
    if (rc == SPT_OK && s->kind == SPT_LR_STEP && s->n_milestones > 0) {
        int64_t *ms = spti_alloc_or_fail(s->n_milestones, sizeof *ms, "checkpoint: milestones");
        rc = ms ? SPT_OK : SPT_ERR_NOMEM;
        if (ms) {
            spti_decode_i64s(v->milestones, s->n_milestones, ms);
            rc = spt_lr_schedule_set_milestones(c, ms, s->n_milestones);
        }
        spti_free(ms);
    } else if (rc == SPT_OK && s->n_milestones > 0) {
        rc = BAD("milestones on a schedule that is not a step schedule");
    }
    if (rc != SPT_OK) {
        spt_lr_schedule_destroy(c);
        return rc == SPT_ERR_NOMEM ? rc : spti_trainer_prefix("section LRSC", SPT_ERR_FORMAT);
    }
    *out = c;
    return SPT_OK;
}

static int build_config(const spti_ckpt_view *v, const spt_user_method *user, spt_method_config **out) {
    *out = NULL;
    if (v->method == SPTI_CKPT_NO_METHOD) {
        if (user) return spti_fail(SPT_ERR_STATE, "the saved run trains no user method (it is dense)");
        return SPT_OK;
    }
    const spti_method_ops *ops = spti_method_find(v->method);
    const bool user_run = ops && (ops->flags & SPTI_METHOD_USER_RULES);
    if (user_run && !user)
        return spti_fail(SPT_ERR_STATE, "the saved run trains a user method: load it with spt_trainer_load_user");
    if (!user_run && user)
        return spti_fail(SPT_ERR_STATE, "the saved run trains method %s, not a user method",
                         ops ? ops->name : "(unknown)");
    spt_method_config *c;
    SPTI_TRY(user ? spt_method_config_create_user(user, &c) : spt_method_config_create(v->method, &c));
    int rc = SPT_OK;
    for (int64_t k = 0; k < v->n_keys && rc == SPT_OK; k++) {
        double value;
        memcpy(&value, &(uint64_t){spti_load_u64(v->key_values + 8 * k)}, sizeof value);
        /* An unset key holding the default (possibly outside the settable
         * domain, e.g. "automatic") stays as created; any other value must
         * pass the setter's checks. */
        bool is_default = !v->key_set[k] && memcmp(&value, &c->value[k], sizeof value) == 0;
        if (!is_default) rc = spt_method_config_set(c, (int)k, value);
        c->was_set[k] = v->key_set[k] != 0;
    }
    if (rc == SPT_OK && v->n_densities > 0) {
        double *d = spti_alloc_or_fail(v->n_densities, sizeof *d, "checkpoint: densities");
        rc = d ? SPT_OK : SPT_ERR_NOMEM;
        for (int64_t i = 0; d && i < v->n_densities; i++)
            memcpy(&d[i], &(uint64_t){spti_load_u64(v->densities + 8 * i)}, sizeof d[i]);
        if (d) rc = spt_method_config_set_densities(c, d, v->n_densities);
        spti_free(d);
    }
    if (rc != SPT_OK) {
        spt_method_config_destroy(c);
        return rc == SPT_ERR_NOMEM ? rc : spti_trainer_prefix("section METH", SPT_ERR_FORMAT);
    }
    *out = c;
    return SPT_OK;
}

static bool has_state(const spti_layer *L) { return spti_ckpt_is_batchnorm(L) || spti_dropout_rate(L) >= 0.0f; }

/* The layer of layer-state record i: leaf r->leaf; in version 1 files,
 * whose ResNets had composite blocks (other leaf numbers), the i-th leaf
 * with state. NULL if there is none. */
static spti_layer *record_leaf(const spti_ckpt_view *v, const spti_model *m, int64_t i) {
    if (v->version >= 2) return v->layers[i].leaf < m->n_leaves ? m->leaves[v->layers[i].leaf] : NULL;
    for (int j = 0; j < m->n_leaves; j++)
        if (has_state(m->leaves[j]) && i-- == 0) return m->leaves[j];
    return NULL;
}

/* The built model has the saved parameters (names and shapes) and layer state. */
static int check_model(const spti_ckpt_view *v, const spti_model *m) {
    if (m->n_params != v->n_params)
        return BAD("the model has %lld parameters, the file %lld", (long long)m->n_params, (long long)v->n_params);
    for (int64_t i = 0; i < v->n_params; i++) {
        const spti_ckpt_param *r = &v->params[i];
        const spti_param *p = m->params[i];
        bool same = strcmp(r->name, p->name) == 0 && r->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = r->shape[d] == p->shape[d];
        if (!same) return BAD("parameter %lld is %s in the file but %s in the model", (long long)i, r->name, p->name);
        /* Layers read biases and batch-norm parameters as plain arrays. */
        if (!p->is_weight && r->kind != SPTI_PARAM_DENSE)
            return BAD("parameter %lld (%s) must be dense", (long long)i, r->name);
    }
    int64_t stateful = 0;
    for (int i = 0; i < m->n_leaves; i++) stateful += has_state(m->leaves[i]);
    if (stateful != v->n_layers)
        return BAD("the model has %lld layers with state, the file %lld", (long long)stateful, (long long)v->n_layers);
    for (int64_t i = 0; i < v->n_layers; i++) {
        const spti_ckpt_layer *r = &v->layers[i];
        spti_layer *L = record_leaf(v, m, i);
        int64_t c = 0;
        bool ok = L && (r->type == SPTI_CKPT_LAYER_BATCHNORM
                            ? spti_ckpt_is_batchnorm(L) && spti_batchnorm_running(L, NULL, NULL, &c) == SPT_OK &&
                                  c == r->c
                            : spti_dropout_rate(L) >= 0.0f && r->rate >= 0.0f && r->rate < 1.0f);
        if (!ok) return BAD("layer state %lld does not fit leaf %lld of the model", (long long)i, (long long)r->leaf);
    }
    return SPT_OK;
}

/* A new parameter in the saved form with the saved values and slots. */
static int param_from_record(const spti_ckpt_param *r, const spti_param *like, spti_param **out) {
    *out = NULL;
    spti_param *p;
    /* A weight starts without storage, so a sparse one never allocates its dense size. */
    SPTI_TRY(like->is_weight ? spti_param_create_unallocated(r->name, r->ndim, r->shape, &p)
                             : spti_param_create(r->name, r->ndim, r->shape, false, &p));
    p->no_weight_decay = like->no_weight_decay;
    int rc = SPT_OK;
    if (r->kind == SPTI_PARAM_DENSE) {
        rc = spti_param_materialize(p);
    } else {
        int64_t cells = r->rows * r->cols, nnz = 0;
        int64_t *pos = spti_alloc_or_fail(r->kind == SPTI_PARAM_SPARSE ? r->n : cells, sizeof *pos,
                                          "checkpoint: positions");
        if (!pos) rc = SPT_ERR_NOMEM;
        else if (r->kind == SPTI_PARAM_MASKED) {
            for (int64_t i = 0; i < cells; i++)
                if (r->mask[i]) pos[nnz++] = i;
            rc = spti_param_mask(p, pos, nnz);
        } else {
            for (int64_t row = 0; row < r->rows; row++) {
                int64_t end = spti_decode_i64(r->row_ptr + 8 * (row + 1));
                for (int64_t k = spti_decode_i64(r->row_ptr + 8 * row); k < end; k++)
                    pos[nnz++] = row * r->cols + (int32_t)spti_load_u32(r->col_idx + 4 * k);
            }
            rc = spti_param_sparsify(p, pos, nnz);
        }
        spti_free(pos);
    }
    if (rc == SPT_OK && p->n != r->n) rc = spti_fail(SPT_ERR_INTERNAL, "checkpoint: %s restored with %lld entries, "
                                                     "saved with %lld", r->name, (long long)p->n, (long long)r->n);
    if (rc == SPT_OK) rc = spti_param_ensure_slots(p, r->n_slots);
    if (rc != SPT_OK) {
        spti_param_destroy(p);
        return rc;
    }
    spti_decode_f32s(r->values, r->n, p->value);
    for (int s = 0; s < r->n_slots; s++) spti_decode_f32s(r->slots[s], r->n, p->opt.slot[s]);
    *out = p;
    return SPT_OK;
}

/* Move `fresh`'s storage into the model's param `dst` (pointers to dst held
 * by layers and methods stay valid); `fresh` is left with the old storage. */
static void swap_in(spti_param *dst, spti_param *fresh) {
    spti_param old = *dst;
    *dst = *fresh;
    dst->request = old.request; /* the method's per-step request */
    dst->result = old.result;   /* and its scratch (dense gradient, growth collector) */
    dst->ws.fanin = old.ws.fanin; /* and its choice of kernels (spti_csr_ws) */
    dst->ws.channel = old.ws.channel;
    *fresh = old;
    fresh->request = (spti_grad_request){0}; /* dst holds them now */
    fresh->result = (spti_grad_result){0};
}

/* A method that trains at a fixed form (dynamic sparse training, static
 * sparsity) keeps every weight in the form its initialisation gave it. */
static int restore_params(const spti_ckpt_view *v, spti_model *m, const spti_method *method) {
    if (spti_method_has(method, SPTI_METHOD_KEEPS_FORM))
        for (int64_t i = 0; i < v->n_params; i++)
            if ((int)m->params[i]->kind != v->params[i].kind)
                return BAD("parameter %lld (%s) has form %d in the file, the method keeps it in form %d",
                           (long long)i, v->params[i].name, v->params[i].kind, (int)m->params[i]->kind);
    spti_param **fresh = spti_calloc_or_fail(v->n_params, sizeof *fresh, "checkpoint: parameters");
    if (!fresh) return SPT_ERR_NOMEM;
    int rc = SPT_OK;
    for (int64_t i = 0; i < v->n_params && rc == SPT_OK; i++) rc = param_from_record(&v->params[i], m->params[i], &fresh[i]);
    for (int64_t i = 0; i < v->n_params && rc == SPT_OK; i++) swap_in(m->params[i], fresh[i]);
    for (int64_t i = 0; i < v->n_params; i++) spti_param_destroy(fresh[i]);
    spti_free(fresh);
    return rc;
}

static void restore_layers(const spti_ckpt_view *v, spti_model *m) {
    for (int64_t i = 0; i < v->n_layers; i++) {
        const spti_ckpt_layer *r = &v->layers[i];
        spti_layer *L = record_leaf(v, m, i);
        if (r->type == SPTI_CKPT_LAYER_BATCHNORM) {
            float *mean, *var;
            spti_batchnorm_running(L, &mean, &var, NULL);
            spti_decode_f32s(r->mean, r->c, mean);
            spti_decode_f32s(r->var, r->c, var);
        } else {
            spti_dropout_set_rate(L, r->rate); /* range checked by check_model */
        }
    }
}

static void restore_scalars(const spti_ckpt_view *v, const spti_optimizer *opt, spti_trainer *t) {
    t->opt = *opt;
    t->step = v->step;
    t->round = v->round;
    t->round_start = v->round_start;
    t->update_steps = v->update_steps;
    t->init_pending = v->init_pending;
    t->last_update = v->last_update;
    t->step_seconds = v->step_seconds;
    /* Files of earlier releases counted the method's initialisation here
     * too; now this is the part of step_seconds in per-step hooks. */
    t->method_seconds = v->method_seconds < v->step_seconds ? v->method_seconds : v->step_seconds;
    t->train_flops_sum = v->train_flops_sum;
    for (int i = 0; i < 4; i++) {
        t->rng.s[i] = v->rng[i];
        t->model->rng.s[i] = v->model_rng[i];
    }
}

/* Everything from the model on; the model and trainer are ours to destroy. */
static int rebuild(const spti_ckpt_view *v, const spt_user_method *user, const spti_ckpt_arch *a, spti_model **mo,
                   spti_trainer **to) {
    spti_optimizer opt;
    int rc = spti_optimizer_decode(v->opt, SPTI_OPTIMIZER_STATE_BYTES, &opt);
    if (rc != SPT_OK) return spti_trainer_prefix("section OPTM", rc == SPT_ERR_VERSION ? rc : SPT_ERR_FORMAT);
    spt_lr_schedule *sched = NULL;
    spt_method_config *cfg = NULL;
    rc = build_schedule(v, &sched);
    if (rc == SPT_OK) rc = build_config(v, user, &cfg);
    if (rc == SPT_OK) rc = spti_ckpt_arch_build(a, mo);
    if (rc == SPT_OK) rc = check_model(v, *mo);
    if (rc == SPT_OK) rc = spt_trainer_create(*mo, &opt, sched, cfg, v->total_steps, v->seed, to);
    spt_lr_schedule_destroy(sched);
    spt_method_config_destroy(cfg);
    if (rc != SPT_OK) return rc;
    spti_trainer *t = *to;
    rc = restore_params(v, *mo, t->method);
    if (rc == SPT_OK && t->method)
        rc = spti_trainer_prefix("section METH", t->method->ops->load(t->method, v->state, v->state_len));
    else if (rc == SPT_OK && v->state_len != 0)
        rc = BAD("section METH: a method state for a trainer without a method");
    if (rc != SPT_OK) return rc;
    restore_layers(v, *mo);
    restore_scalars(v, &opt, t);
    return SPT_OK;
}

int spti_checkpoint_restore(const spti_ckpt_view *v, const spt_user_method *user, int64_t max_span,
                            spti_model **model_out, spti_trainer **trainer_out, spt_batcher *b) {
    *model_out = NULL;
    *trainer_out = NULL;
    if (b && !v->has_batcher)
        return spti_fail(SPT_ERR_STATE, "a batcher was given but the checkpoint holds no batcher state");
    const spti_method_ops *ops = spti_method_find(v->method); /* NULL: no method */
    if (v->init_pending && !(ops && (ops->flags & SPTI_METHOD_NEEDS_DATA)))
        return BAD("section TRNR: initialisation pending for a method that has none");
    spti_ckpt_arch a;
    SPTI_TRY(arch_of_view(v, &a));
    spti_model *m = NULL;
    spti_trainer *t = NULL;
    int rc = check_sizes(v, &a, max_span);
    if (rc == SPT_OK) rc = rebuild(v, user, &a, &m, &t);
    if (rc == SPT_OK && b) {
        rc = spt_batcher_set_state(b, v->epoch, v->position, v->batcher_seed);
        if (rc != SPT_OK)
            rc = spti_fail(rc, "the saved batcher position (epoch %lld, position %lld) does not fit this batcher",
                           (long long)v->epoch, (long long)v->position);
    }
    spti_ckpt_arch_free(&a);
    if (rc != SPT_OK) {
        spt_trainer_destroy(t);
        spti_model_destroy(m);
        return rc;
    }
    *model_out = m;
    *trainer_out = t;
    return SPT_OK;
}
