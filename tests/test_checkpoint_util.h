/* Shared by the checkpoint suites: small training runs over a synthetic
 * dataset and byte-for-byte comparison of models and trainers. */
#ifndef SPT_TEST_CHECKPOINT_UTIL_H
#define SPT_TEST_CHECKPOINT_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "io/checkpoint_format.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "optim/optim.h"
#include "test_support.h"
#include "train/trainer.h"

enum { CK_N = 96, CK_BATCH = 16, CK_K = 3 };

/* Kinds of run the suites use. */
enum { RUN_DENSE_MLP, RUN_RIGL_MLP, RUN_GMP_MLP, RUN_RESNET, RUN_SET_RESNET };

typedef struct ck_run {
    spt_dataset *ds;
    spt_batcher *b;
    spt_model *m;
    spt_optimizer *o;
    spt_trainer *t;
    int64_t feat;
    float *x;
    int32_t *y;
} ck_run;

/* K Gaussian blobs, example-major (N x C x H x W), labels in [0, K). */
static inline spt_dataset *ck_dataset(int64_t c, int64_t h, int64_t w) {
    const int64_t feat = c * h * w;
    float *img = malloc((size_t)(CK_N * feat) * sizeof *img);
    int32_t *lab = malloc(CK_N * sizeof *lab);
    assert_non_null(img);
    assert_non_null(lab);
    spti_rng r;
    spti_rng_seed(&r, 99);
    for (int64_t i = 0; i < CK_N; i++) {
        lab[i] = (int32_t)(i % CK_K);
        for (int64_t f = 0; f < feat; f++)
            img[i * feat + f] = (float)((lab[i] + 1) * ((f % 3) - 1)) * 0.5f + 0.3f * spti_rng_normal(&r);
    }
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_float(img, lab, CK_N, c, h, w, CK_K, &ds), SPT_OK);
    free(img);
    free(lab);
    return ds;
}

static inline spt_batcher *ck_batcher(const spt_dataset *ds) {
    spt_batcher *b = NULL;
    assert_status(spt_batcher_create(ds, CK_BATCH, SPT_BATCH_SHUFFLE, 17, &b), SPT_OK);
    return b;
}

static inline void ck_run_init(ck_run *r, int kind) {
    memset(r, 0, sizeof *r);
    spt_method_config *cfg = NULL;
    spt_lr_schedule *s = NULL;
    const int64_t total = 40;
    if (kind == RUN_RESNET || kind == RUN_SET_RESNET) {
        r->ds = ck_dataset(3, 6, 6);
        assert_status(spt_model_create_resnet(3, 6, 6, 1, 1, CK_K, 5, &r->m), SPT_OK);
    } else {
        r->ds = ck_dataset(8, 1, 1);
        int64_t widths[4] = {8, 24, 16, CK_K};
        assert_status(spt_model_create_mlp(widths, 4, 5, &r->m), SPT_OK);
    }
    r->feat = spti_shape_size(r->m->in_shape);
    r->b = ck_batcher(r->ds);
    int okind = kind == RUN_RIGL_MLP ? SPT_OPTIMIZER_ADAM : SPT_OPTIMIZER_SGD;
    assert_status(spt_optimizer_create(okind, &r->o), SPT_OK);
    assert_status(spt_optimizer_set_param(r->o, SPT_OPT_LR, okind == SPT_OPTIMIZER_ADAM ? 0.01 : 0.05), SPT_OK);
    if (okind == SPT_OPTIMIZER_SGD) assert_status(spt_optimizer_set_param(r->o, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    assert_status(spt_optimizer_set_param(r->o, SPT_OPT_WEIGHT_DECAY, 1e-4), SPT_OK);
    if (kind == RUN_RIGL_MLP) {
        assert_status(spt_model_set_dropout(r->m, 0.1), SPT_OK); /* the model's rng matters */
        assert_status(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.8), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, 3), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_SEED, 11), SPT_OK);
        assert_status(spt_lr_schedule_create(SPT_LR_COSINE, &s), SPT_OK);
        assert_status(spt_lr_schedule_set_param(s, SPT_LR_WARMUP_STEPS, 4), SPT_OK);
        assert_status(spt_lr_schedule_set_param(s, SPT_LR_BASE, 0.01), SPT_OK);
    } else if (kind == RUN_GMP_MLP) {
        assert_status(spt_method_config_create(SPT_METHOD_GMP, &cfg), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.7), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_START, 1), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_END, 30), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_FREQ, 2), SPT_OK);
        assert_status(spt_lr_schedule_create(SPT_LR_STEP, &s), SPT_OK);
        int64_t ms[2] = {6, 12};
        assert_status(spt_lr_schedule_set_milestones(s, ms, 2), SPT_OK);
    } else if (kind == RUN_SET_RESNET) {
        assert_status(spt_method_config_create(SPT_METHOD_SET, &cfg), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.5), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, 2), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_DENSE_FIRST, 1), SPT_OK);
    }
    assert_status(spt_trainer_create(r->m, r->o, s, cfg, total, 23, &r->t), SPT_OK);
    spt_method_config_destroy(cfg);
    spt_lr_schedule_destroy(s);
    r->x = malloc((size_t)(r->feat * CK_BATCH) * sizeof *r->x);
    r->y = malloc(CK_BATCH * sizeof *r->y);
    assert_non_null(r->x);
    assert_non_null(r->y);
}

static inline void ck_run_free(ck_run *r) {
    spt_trainer_destroy(r->t);
    spt_model_destroy(r->m);
    spt_optimizer_destroy(r->o);
    spt_batcher_destroy(r->b);
    spt_dataset_destroy(r->ds);
    free(r->x);
    free(r->y);
    memset(r, 0, sizeof *r);
}

/* `steps` training steps over t's batcher b (a new epoch when one ends);
 * losses (may be NULL) receives each step's loss. */
static inline void ck_train(spt_trainer *t, spt_batcher *b, float *x, int32_t *y, int64_t feat, int steps,
                            double *losses) {
    for (int s = 0; s < steps; s++) {
        int64_t B = 0;
        assert_status(spt_batcher_next(b, x, feat * CK_BATCH, y, CK_BATCH, &B), SPT_OK);
        if (B == 0) assert_status(spt_batcher_next(b, x, feat * CK_BATCH, y, CK_BATCH, &B), SPT_OK);
        assert_true(B > 0);
        double loss;
        assert_status(spt_trainer_step(t, x, y, B, &loss, NULL), SPT_OK);
        if (losses) losses[s] = loss;
    }
}

static inline void ck_assert_same_param(const spti_param *a, const spti_param *b) {
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->rows, b->rows);
    assert_int_equal(a->cols, b->cols);
    assert_int_equal(a->is_weight, b->is_weight);
    assert_int_equal(a->no_weight_decay, b->no_weight_decay);
    assert_memory_equal(a->value, b->value, (size_t)a->n * sizeof(float));
    assert_int_equal(a->opt.n_slots, b->opt.n_slots);
    for (int s = 0; s < a->opt.n_slots; s++) assert_memory_equal(a->opt.slot[s], b->opt.slot[s], (size_t)a->n * sizeof(float));
    if (a->kind == SPTI_PARAM_MASKED) {
        assert_int_equal(a->mask_nnz, b->mask_nnz);
        assert_memory_equal(a->mask, b->mask, (size_t)(a->rows * a->cols));
    }
    if (a->kind == SPTI_PARAM_SPARSE) {
        assert_int_equal(a->csr->nnz, b->csr->nnz);
        assert_memory_equal(a->csr->row_ptr, b->csr->row_ptr, (size_t)(a->rows + 1) * sizeof(int64_t));
        assert_memory_equal(a->csr->col_idx, b->csr->col_idx, (size_t)a->n * sizeof(int32_t));
        assert_int_equal(spti_csr_validate(b->csr), SPT_OK);
    }
}

/* Parameters, slots, layer state and random state of two models. */
static inline void ck_assert_same_model(const spti_model *a, const spti_model *b) {
    assert_int_equal(a->n_params, b->n_params);
    for (int64_t i = 0; i < a->n_params; i++) ck_assert_same_param(a->params[i], b->params[i]);
    assert_int_equal(a->n_leaves, b->n_leaves);
    for (int i = 0; i < a->n_leaves; i++) {
        float *ma, *va, *mb, *vb;
        int64_t ca, cb;
        if (spti_ckpt_is_batchnorm(a->leaves[i])) {
            assert_status(spti_batchnorm_running(a->leaves[i], &ma, &va, &ca), SPT_OK);
            assert_status(spti_batchnorm_running(b->leaves[i], &mb, &vb, &cb), SPT_OK);
            assert_int_equal(ca, cb);
            assert_memory_equal(ma, mb, (size_t)ca * sizeof(float));
            assert_memory_equal(va, vb, (size_t)ca * sizeof(float));
        }
        assert_true(spti_dropout_rate(a->leaves[i]) == spti_dropout_rate(b->leaves[i]));
    }
    assert_memory_equal(&a->rng, &b->rng, sizeof a->rng);
    assert_int_equal(a->seed, b->seed);
}

/* The method's serialised state of a trainer (caller frees), or NULL. */
static inline uint8_t *ck_method_state(const spti_trainer *t, int64_t *len) {
    *len = 0;
    if (!t->method) return NULL;
    assert_status(t->method->ops->save(t->method, NULL, 0, len), SPT_OK);
    uint8_t *buf = malloc((size_t)*len + 1);
    assert_non_null(buf);
    assert_status(t->method->ops->save(t->method, buf, *len, len), SPT_OK);
    return buf;
}

static inline void ck_assert_same_trainer(const spti_trainer *a, const spti_trainer *b) {
    ck_assert_same_model(a->model, b->model);
    uint8_t oa[SPTI_OPTIMIZER_STATE_BYTES], ob[SPTI_OPTIMIZER_STATE_BYTES];
    spti_optimizer_encode(&a->opt, oa);
    spti_optimizer_encode(&b->opt, ob);
    assert_memory_equal(oa, ob, sizeof oa);
    assert_int_equal(a->method ? a->method->ops->id : -1, b->method ? b->method->ops->id : -1);
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->round, b->round);
    assert_int_equal(a->round_start, b->round_start);
    assert_int_equal(a->total_steps, b->total_steps);
    assert_int_equal(a->update_steps, b->update_steps);
    assert_int_equal(a->init_pending, b->init_pending);
    assert_int_equal(a->last_update, b->last_update);
    assert_int_equal(a->seed, b->seed);
    assert_memory_equal(&a->rng, &b->rng, sizeof a->rng);
    assert_true(a->train_flops_sum == b->train_flops_sum);
    assert_int_equal(a->sched != NULL, b->sched != NULL);
    for (int64_t s = 0; a->sched && s < 60; s++) {
        double la, lb;
        assert_status(spti_lr_schedule_at(a->sched, s, &la), SPT_OK);
        assert_status(spti_lr_schedule_at(b->sched, s, &lb), SPT_OK);
        assert_true(la == lb);
    }
    int64_t na, nb;
    uint8_t *ma = ck_method_state(a, &na), *mb = ck_method_state(b, &nb);
    assert_int_equal(na, nb);
    if (na) assert_memory_equal(ma, mb, (size_t)na);
    free(ma);
    free(mb);
}

/* A fresh directory under /tmp (caller removes it). */
static inline void ck_tmpdir(char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/spt_ckpt_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

/* Whole file into a malloc'ed buffer; NULL if it cannot be read. */
static inline uint8_t *ck_read(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)*len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)*len, f), (size_t)*len);
    fclose(f);
    return buf;
}

#endif
