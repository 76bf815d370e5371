/** @file
 * Your own dynamic sparse training method, defined by its drop and grow
 * criteria.
 *
 * Most new dynamic sparse training (DST) methods change only what decides
 * which weights leave and which positions join: magnitude, gradient,
 * momentum, random, or something new. An #spt_user_method names those two
 * criteria; the library keeps everything else exactly as its built-in
 * methods do:
 *  - the initial topology (SPT_MP_SPARSITY, SPT_MP_DISTRIBUTION, dense
 *    first/last, explicit densities, SPT_MP_SPARSE_INIT, SPT_MP_SEED);
 *  - the schedule: an update every SPT_MP_DELTA_T steps until T_end
 *    (SPT_MP_T_END or SPT_MP_T_END_FRACTION), each sparse layer moving
 *    k = floor(f(t) * nnz) weights, f the SPT_MP_DROP_SCHEDULE decay of
 *    SPT_MP_ALPHA (spt_drop_fraction());
 *  - the exact selection with its seeded tie-break: the k active weights of
 *    smallest drop score leave, and the k positions of largest |grow score|
 *    among those not kept (the inactive ones and the k just dropped) join;
 *  - the repattern: a kept weight keeps its value and optimizer slots; a
 *    grown one starts at exactly 0 with zeroed slots (a dropped position
 *    chosen again keeps its value and slots);
 *  - checkpoints (spt_trainer_save(); load with spt_trainer_load_user()).
 *
 * Built-in SET is { drop: |w| (the default), grow: #SPT_GROW_RANDOM,
 * update after the optimizer step }; built-in RigL is { drop: |w|, grow:
 * |dense gradient| (#SPT_GROW_GRADIENT, or a callback of kind
 * #SPT_GROW_GRADIENT_SCORE returning |g|), update before the optimizer step,
 * which that step then skips }. Defined that way, a user method gives the
 * built-in's masks bit for bit (tests/test_user_method.c,
 * examples/user_method.c).
 *
 * @par Callbacks
 * Both callbacks get plain arrays describing one sparse layer of the model
 * (weight layers in model order, counted from 0 like
 * spt_trainer_layer_density()) as it is before the update: its logical
 * shape as a rows x cols matrix (a convolution's cols = in x kh x kw), its
 * CSR pattern (row_ptr[rows + 1], col_idx[nnz], increasing columns in a row)
 * and values[nnz]. `seed` is a value derived from the method's seed, the
 * step and the layer, the same on every run with the same seed, for
 * callbacks that draw random numbers. The arrays are the library's: read
 * them, do not write them or keep them after returning. A callback returns
 * 0 on success; any other value fails the training step with
 * #SPT_ERR_CALLBACK and leaves the topology as it was. With
 * #SPT_UPDATE_BEFORE_STEP nothing else changed either (the step did not
 * happen); with #SPT_UPDATE_AFTER_STEP the optimizer step was already
 * applied and the step counts as done (as spt_trainer_step() documents for
 * a failure after the optimizer step). Callbacks run on the thread that
 * called spt_trainer_step() (or spt_trainer_train_epoch()), one layer at a
 * time in layer order, only on update steps and only for layers whose k is
 * above 0.
 *
 * Memory: a grow callback fills a rows x cols score per sparse layer, and a
 * callback of kind #SPT_GROW_GRADIENT_SCORE gets the rows x cols dense
 * gradient: on an update step a user method holds these for every sparse
 * layer at once (all are freed after the update). #SPT_GROW_GRADIENT (the
 * library's |g|) streams like RigL and holds nothing dense.
 *
 * Thread-safety: an #spt_user_method handle must not be used from two
 * threads at once. A configuration made from it holds a copy (name, kinds,
 * function pointers and `user` pointers), so the handle may be destroyed
 * after spt_method_config_create_user(); whatever the `user` pointers point
 * to must outlive every trainer using the configuration.
 */
#ifndef SPARSETRAIN_USER_METHOD_H
#define SPARSETRAIN_USER_METHOD_H

#include "core.h"
#include "method.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A user-defined dynamic sparse training method. Opaque. */
typedef struct spt_user_method spt_user_method;

/**
 * A drop criterion: score every active weight of one layer; the k of
 * smallest score are dropped (NaN counts as the largest: never dropped
 * before a number). Built-in magnitude is score[j] = |values[j]|.
 * @param user     the pointer given to spt_user_method_set_drop().
 * @param layer    weight layer index, model order.
 * @param step     the training step (counted from 0).
 * @param rows     rows of the layer's matrix view.
 * @param cols     columns of the layer's matrix view.
 * @param nnz      active weights (entries of col_idx, values and score).
 * @param row_ptr  rows + 1 offsets into col_idx / values.
 * @param col_idx  nnz column indices.
 * @param values   nnz weights.
 * @param seed     a per (method seed, step, layer) value for random choices.
 * @param[out] score nnz scores to write, CSR order.
 * @return 0 on success; anything else fails the step (#SPT_ERR_CALLBACK).
 */
typedef int (*spt_drop_score_fn)(void *user, int64_t layer, int64_t step, int64_t rows, int64_t cols, int64_t nnz,
                                 const int64_t *row_ptr, const int32_t *col_idx, const float *values,
                                 uint64_t seed, float *score);

/**
 * A grow criterion: score every position of one layer (rows x cols,
 * row-major); the k positions of largest |score| among those not kept are
 * grown (NaN lowest). Scores at kept positions are ignored.
 * @param user       the pointer given to spt_user_method_set_grow().
 * @param layer      weight layer index, model order.
 * @param step       the training step (counted from 0).
 * @param rows       rows of the layer's matrix view.
 * @param cols       columns of the layer's matrix view.
 * @param nnz        active weights before the update.
 * @param row_ptr    rows + 1 offsets into col_idx / values.
 * @param col_idx    nnz column indices.
 * @param values     nnz weights.
 * @param dense_grad rows x cols: the dense gradient dL/dW of this step's
 *                   mini-batch (kind #SPT_GROW_GRADIENT_SCORE), else NULL.
 * @param seed       a per (method seed, step, layer) value for random choices.
 * @param[out] score rows x cols scores to write.
 * @return 0 on success; anything else fails the step (#SPT_ERR_CALLBACK).
 */
typedef int (*spt_grow_score_fn)(void *user, int64_t layer, int64_t step, int64_t rows, int64_t cols, int64_t nnz,
                                 const int64_t *row_ptr, const int32_t *col_idx, const float *values,
                                 const float *dense_grad, uint64_t seed, float *score);

/** How a user method grows (pinned values). */
typedef enum spt_grow_kind {
    SPT_GROW_RANDOM = 0,         /**< Uniformly at random among the positions not kept (SET's growth). No callback. */
    SPT_GROW_GRADIENT = 1,       /**< Largest |dense gradient| of the step's mini-batch, streamed without a dense buffer (RigL's growth). No callback. With #SPT_MP_GROW_SAMPLE > 0, over a sample of positions as RigL's (the only kind that accepts a nonzero #SPT_MP_GROW_SAMPLE: the others fail trainer creation with #SPT_ERR_INVALID). */
    SPT_GROW_SCORE = 2,          /**< Largest |score| from a #spt_grow_score_fn, called with dense_grad NULL. */
    SPT_GROW_GRADIENT_SCORE = 3  /**< Largest |score| from a #spt_grow_score_fn, given the dense gradient. */
} spt_grow_kind;

/** When a user method changes the topology on an update step (pinned values). */
typedef enum spt_update_point {
    SPT_UPDATE_AFTER_STEP = 0,   /**< After the optimizer step, which uses the old pattern (SET and SNFS as in the RigL code). */
    SPT_UPDATE_BEFORE_STEP = 1   /**< After backward, instead of the optimizer step, which is skipped (RigL's Algorithm 1). */
} spt_update_point;

/**
 * Create a user method: drop by magnitude, grow at random, update after
 * the optimizer step (SET) until set otherwise.
 * @param name a name for messages and checkpoints, 1 to 47 bytes, NUL-terminated (copied).
 * @param[out] out receives the handle (NULL on failure); free it with spt_user_method_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (name or out); #SPT_ERR_INVALID (empty or
 *         longer name); #SPT_ERR_NOMEM.
 */
SPT_API int spt_user_method_create(const char *name, spt_user_method **out);

/** Free a user method.
 * @param u the handle, or NULL (no-op). */
SPT_API void spt_user_method_destroy(spt_user_method *u);

/**
 * Set the drop criterion.
 * @param u    the method.
 * @param fn   the drop score, or NULL for the built-in magnitude |w|.
 * @param user passed to fn unchanged (may be NULL).
 * @return #SPT_OK; #SPT_ERR_NULL (u).
 */
SPT_API int spt_user_method_set_drop(spt_user_method *u, spt_drop_score_fn fn, void *user);

/**
 * Set the grow criterion.
 * @param u    the method.
 * @param kind an #spt_grow_kind.
 * @param fn   the grow score: required for #SPT_GROW_SCORE and
 *             #SPT_GROW_GRADIENT_SCORE, must be NULL for the others.
 * @param user passed to fn unchanged (may be NULL).
 * @return #SPT_OK; #SPT_ERR_NULL (u, or fn for a kind that needs one);
 *         #SPT_ERR_INVALID (unknown kind, or fn for a kind without one).
 *         Unchanged on failure.
 */
SPT_API int spt_user_method_set_grow(spt_user_method *u, int kind, spt_grow_score_fn fn, void *user);

/**
 * Set when the topology changes on an update step.
 * @param u     the method.
 * @param point an #spt_update_point.
 * @return #SPT_OK; #SPT_ERR_NULL (u); #SPT_ERR_INVALID (unknown value).
 */
SPT_API int spt_user_method_set_update(spt_user_method *u, int point);

/**
 * A configuration for a user method (spt_method_config_method() reports
 * #SPT_METHOD_USER), its keys at the defaults of the dynamic methods (those
 * of #SPT_METHOD_RIGL); set them with spt_method_config_set() as for any
 * method. The configuration keeps a copy of the method (see the file
 * comment for the `user` pointers).
 * @param u    the method.
 * @param[out] out receives the configuration (NULL on failure); free it with spt_method_config_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (u or out); #SPT_ERR_NOMEM.
 */
SPT_API int spt_method_config_create_user(const spt_user_method *u, spt_method_config **out);

/**
 * Load a checkpoint of a run that trains a user method: as
 * spt_trainer_load(), with the method's criteria, which a file cannot
 * hold, given again. Its name must be the saved one; the criteria should
 * be the same functions (the library cannot check that).
 * @param path        the checkpoint file.
 * @param u           the user method.
 * @param[out] model_out   as spt_trainer_load().
 * @param[out] trainer_out as spt_trainer_load().
 * @param batcher     as spt_trainer_load() (may be NULL).
 * @return as spt_trainer_load(), plus #SPT_ERR_NULL (u) and
 *         #SPT_ERR_STATE (the file's run does not train a user method, or
 *         one of another name).
 */
SPT_API int spt_trainer_load_user(const char *path, const spt_user_method *u, spt_model **model_out,
                                  spt_trainer **trainer_out, spt_batcher *batcher);

#ifdef __cplusplus
}
#endif
#endif
