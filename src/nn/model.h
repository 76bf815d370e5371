/*
 * The model container (internal view of the public spt_model handle) and the
 * loss. A model is the graph of a description (net.h): one layer per node,
 * run in node order (every node reads earlier nodes), with one output
 * buffer per node sized for the largest batch seen so far, a pool of
 * gradient buffers for the backward, and its own random generator.
 *
 * Parameter order (m->params[0 .. n_params); sparsity methods and checkpoints rely
 * on it and it never changes for a given description): node order, each
 * node's params in params[] order (weight, then bias / BN gamma, beta). The
 * weight params (is_weight) are the conv / linear weights; biases and BN
 * params are not.
 *
 * "Leaves" are the layers again (one per node, node order); the public
 * per-layer getters index them.
 *
 * Layer state outside the params that a checkpoint must save: the running
 * statistics of the batch norms (the leaves of kind "batchnorm"; read and
 * write them through spti_batchnorm_running in layers.h) and the model's rng.
 */
#ifndef SPTI_MODEL_H
#define SPTI_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "layer.h"
#include "net.h"

struct spt_model {
    spti_shape in_shape;
    int64_t classes;         /* size of the last node's output */
    spti_net *net;           /* the description it was built from (owned) */
    spti_layer **layers;     /* one per node, node order (owned) */
    int n_layers;
    int64_t *inputs;         /* 2 per node: the nodes it reads, SPTI_NET_INPUT for the model's input */
    int *n_inputs;           /* 1, or 2 for an addition */
    /* Fused blocks (model.c, plan_fusion): fuse[i] = the number of nodes
     * after node i that its forward_act runs (1: a ReLU; 2: an addition and
     * a ReLU), 0 when none; head[j] = the first node of the fused block that
     * ends at node j, else -1. */
    int *fuse, *head;
    spti_layer **leaves;     /* the layers again (the public per-layer getters index them; not owned) */
    int n_leaves;
    spti_param **params;     /* every parameter in the documented order (not owned) */
    int64_t n_params;
    float **acts;            /* acts[i]: output of node i, out_size x N (row stride N) */
    int64_t act_cap;         /* batch the activation buffers hold */
    /* backward: each node's output gradient while it is live, from a pool
     * of buffers of the largest activation's size */
    float **grads;           /* per node, or NULL */
    float **pool;
    bool *pool_busy;
    int n_pool;
    float *dlogits;          /* classes x act_cap */
    int64_t last_N;          /* batch of the last forward (0: none yet) */
    bool last_training;
    uint64_t seed;
    spti_rng rng;            /* initialisation, then dropout */
    bool init_pending;       /* some weight may still have a pending init (spti_model_materialize) */
    uint8_t *zero_ch;        /* a batch norm's input channels known to be 0 (spti_fwd_ctx.zero_in), zero_cap */
    spti_scratch scratch[SPTI_SCRATCH_SLOTS]; /* lent to every layer (spti_layer.shared, nn/layer.h) */
    int64_t zero_cap;
    bool has_trainer;        /* a trainer is attached (set by trainer create, cleared by its destroy) */
};
typedef struct spt_model spti_model;

/* ---- building -------------------------------------------------------------- */

/* Build a model from a description (spt_model_create; net.h): layers,
 * shapes, parameter list, initialisation from `seed`. */
int spti_model_create(const spti_net *net, uint64_t seed, spti_model **out);
/* Initialise every parameter from the model's rng: conv/linear weights
 * Kaiming normal (std sqrt(2 / fan_in), fan_in = in * kh * kw), biases 0,
 * BN gamma 1 and beta 0. Draws in parameter order. */
int spti_model_init_params(spti_model *m);
/* Write every pending weight init (param.h, init_pending). Called before
 * anything reads or writes a weight's dense values: the public model
 * functions, trainer creation. */
int spti_model_materialize(spti_model *m);
void spti_model_destroy(spti_model *m);
/* Fuse each batch norm with the ReLU, or the addition and ReLU, after it
 * (the default) or run every node on its own (on = false); both give the
 * same results. */
int spti_model_set_fusion(spti_model *m, bool on);

/* The built-in networks (model_mlp.c, model_resnet.c), described with the
 * public API; arguments as spt_model_create_mlp / spt_model_create_resnet,
 * already non-NULL. */
int spti_model_create_mlp(const int64_t *widths, int n_widths, uint64_t seed, spti_model **out);
int spti_model_create_resnet(int64_t in_c, int64_t in_h, int64_t in_w, int64_t blocks_per_stage, int64_t width_mult,
                             int64_t classes, uint64_t seed, spti_model **out);
/* Their descriptions alone (spt_net_create_mlp / spt_net_create_resnet). */
int spti_net_mlp(const int64_t *widths, int n_widths, spt_net **out);
int spti_net_resnet(int64_t in_c, int64_t in_h, int64_t in_w, int64_t blocks_per_stage, int64_t width_mult,
                    int64_t classes, spt_net **out);

/* ---- running ------------------------------------------------------------------ */

/* What a training step changes in a model besides its parameters: the
 * random stream (dropout) and the batch norms' running statistics, which a
 * forward pass updates before a later layer may fail. spti_model_step_state
 * holds a copy, so that a failed step can be undone: init sizes it
 * (SPT_ERR_NOMEM), save copies into it, restore copies back. */
typedef struct spti_model_step_state {
    spti_rng rng;
    float *running; /* 2 x (batch-norm channels) floats, or NULL when none */
    int64_t n_running;
} spti_model_step_state;
int spti_model_step_state_init(const spti_model *m, spti_model_step_state *s);
void spti_model_step_state_free(spti_model_step_state *s);
void spti_model_step_state_save(const spti_model *m, spti_model_step_state *s);
void spti_model_step_state_restore(spti_model *m, const spti_model_step_state *s);

/* Make the buffers hold a batch of N (grows only; nothing changes on failure). */
int spti_model_reserve(spti_model *m, int64_t N);
/* Forward x (in_shape x N) through every layer. *logits (optional) points to
 * the model's classes x N output, valid until the next forward. */
int spti_model_forward(spti_model *m, const float *x, int64_t N, bool training, const float **logits);
/* Backward from dlogits (classes x N) after a forward of the same x and N:
 * ADDS every parameter's gradient (no input gradient is formed). */
int spti_model_backward(spti_model *m, const float *x, const float *dlogits, int64_t N);
/* Set every parameter's grad (and dense_grad when present) to 0. */
void spti_model_zero_grad(spti_model *m);
/* SPT_ERR_NONFINITE naming the first parameter whose grad has a NaN/Inf. */
int spti_model_check_grads(const spti_model *m);
/* The two halves of spti_model_train_step (data-parallel training agrees
 * on a status between them): zero grads, forward, loss and its check;
 * then backward and the check of the grads (on the batch of the forward). */
int spti_model_train_forward(spti_model *m, const float *x, const int32_t *labels, int64_t N, double *loss,
                             int64_t *correct);
int spti_model_train_backward(spti_model *m, const float *x, int64_t N);
/* One training step without the update: zero grads, forward (training),
 * softmax cross-entropy against labels, backward, finite checks on the loss
 * (naming the first layer whose output is not finite) and the grads.
 * loss / correct may be NULL. */
int spti_model_train_step(spti_model *m, const float *x, const int32_t *labels, int64_t N, double *loss,
                          int64_t *correct);
/* Forward in evaluation mode and the loss / number correct over the batch. */
int spti_model_eval_batch(spti_model *m, const float *x, const int32_t *labels, int64_t N, double *loss,
                          int64_t *correct);
/* Forward FLOPs per example (sum of the layers' ops->flops). */
double spti_model_flops(const spti_model *m, bool dense);

/* ---- loss --------------------------------------------------------------------- */

/* Softmax cross-entropy (loss.c) over logits K x N with labels in [0, K):
 * *loss = mean over the batch, *correct = examples whose first maximal logit
 * is the label, dlogits (K x N, optional) = (softmax - onehot) / N. Labels
 * are checked before anything is written (SPT_ERR_INVALID). loss and correct
 * may be NULL. Numerically stable for any finite logits. */
int spti_softmax_xent(const float *logits, int64_t K, int64_t N, const int32_t *labels, float *dlogits,
                      double *loss, int64_t *correct);

#endif
