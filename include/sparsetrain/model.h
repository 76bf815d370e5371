/** @file
 * Networks: the model handle, the two example architectures (MLP, CIFAR
 * ResNet), inference and per-layer information.
 *
 * Layout of every batch handed to a model: feature-major with the batch
 * contiguous, "C x H x W x N", element (c, h, w, n) at ((c*H + h)*W + w)*N + n
 * (flat features: "F x N"). spt_layout_nchw_to_chwn() converts the usual
 * example-major "N x C x H x W" arrays to it. Logits come out "K x N"
 * (class-major, element (k, n) at k*N + n); spt_layout_chwn_to_nchw() with
 * c = K, h = w = 1 turns them into "N x K".
 *
 * Layers. A model is a sequence of layers; a residual block is a composite
 * of convolutions, batch norms and a ReLU. The per-layer getters below index
 * the primitive layers (composites expanded), depth first, in forward order:
 * for ResNet-20, index 0 is "conv1", then "bn1", "relu1", "layer1.0.conv1",
 * "layer1.0.bn1", ... , "pool", "fc".
 *
 * Training (optimizers, sparse methods, the loop) is in sparsetrain/optim.h,
 * sparsetrain/sparsity.h and sparsetrain/train.h.
 *
 * Thread-safety: a model handle must not be used from two threads at once
 * (inference writes its internal buffers); distinct models are independent.
 */
#ifndef SPARSETRAIN_MODEL_H
#define SPARSETRAIN_MODEL_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A network with its parameters, its buffers and its own random generator.
 * Opaque; create with spt_model_create_mlp() or spt_model_create_resnet(). */
typedef struct spt_model spt_model;

/* ==== creation ============================================================ */

/**
 * Create a multi-layer perceptron.
 * Layers: Linear(widths[0] -> widths[1]), ReLU, Dropout, Linear(widths[1] ->
 * widths[2]), ReLU, Dropout, ..., Linear(widths[n-2] -> widths[n-1]); no
 * activation after the last Linear (its output are the logits). Dropout
 * starts at rate 0 (see spt_model_set_dropout()). Weights are Kaiming normal
 * (std sqrt(2 / fan_in)), biases 0, drawn from a generator seeded with
 * `seed`: the same seed gives the same bytes. Thread-safe.
 * @param widths    n_widths sizes: input features, hidden widths..., classes;
 *                  each in [1, INT32_MAX]. Image inputs are flat: C*H*W.
 * @param n_widths  >= 2 (2 = a linear classifier).
 * @param seed      seed of the model's generator (initialisation, dropout).
 * @param[out] out  receives the new model (NULL on failure); the caller
 *                  owns it and frees it with spt_model_destroy().
 * @return #SPT_OK, #SPT_ERR_NULL (widths or out NULL), #SPT_ERR_SIZE (fewer
 *         than 2 widths, a width out of range), #SPT_ERR_NOMEM.
 */
SPT_API int spt_model_create_mlp(const int64_t *widths, int n_widths, uint64_t seed, spt_model **out);

/**
 * Create a CIFAR ResNet (He et al. 2016, section 4.2) for inputs of
 * in_c x in_h x in_w: conv3x3(in_c -> 16w) - BN - ReLU - three stages of
 * `blocks_per_stage` basic blocks with 16w, 32w, 64w channels (the first
 * block of stages 2 and 3 has stride 2; a block whose shape changes has a
 * 1x1 convolution + BN shortcut) - global average pooling - Linear(64w ->
 * classes). ResNet-20 is blocks_per_stage 3, width_mult 1 on 3 x 32 x 32.
 * Convolution and linear weights are Kaiming normal (std sqrt(2 / fan_in)),
 * the fc bias 0, BN gamma 1 and beta 0, from a generator seeded with `seed`.
 * Thread-safe.
 * @param in_c               input channels per example, >= 1 (e.g. 3 for
 *                           CIFAR-10, 1 for MNIST).
 * @param in_h               input height, >= 1 (e.g. 32 for CIFAR-10, 28 for MNIST).
 * @param in_w               input width, >= 1.
 * @param blocks_per_stage   n in [1, 1000] (depth 6n + 2).
 * @param width_mult         w in [1, 2^20].
 * @param classes            number of classes in [1, INT32_MAX].
 * @param seed               seed of the model's generator.
 * @param[out] out           receives the new model (NULL on failure); the
 *                           caller owns it and frees it with spt_model_destroy().
 * @return #SPT_OK, #SPT_ERR_NULL (out), #SPT_ERR_SIZE (a size out of range or
 *         overflowing), #SPT_ERR_NOMEM.
 */
SPT_API int spt_model_create_resnet(int64_t in_c, int64_t in_h, int64_t in_w, int64_t blocks_per_stage,
                                    int64_t width_mult, int64_t classes, uint64_t seed, spt_model **out);

/** Free a model and everything it owns. Destroy a trainer attached to it first.
 * @param m the model, or NULL (no-op). */
SPT_API void spt_model_destroy(spt_model *m);

/* ==== inference ============================================================ */

/**
 * Logits of a batch in evaluation mode (batch norm uses its running
 * statistics, dropout is off; the model's state is not changed apart from
 * its internal buffers, which grow to the largest batch seen).
 * @param m       the model.
 * @param x       input, "C x H x W x N" (the model's input shape, batch N).
 * @param n       batch size >= 1.
 * @param[out] logits output, classes x n floats, "K x N".
 * @return #SPT_OK, #SPT_ERR_NULL (m, x or logits), #SPT_ERR_SIZE (n < 1 or
 *         buffers overflow), #SPT_ERR_NOMEM. A NaN input gives NaN logits
 *         (no error).
 */
SPT_API int spt_model_forward(spt_model *m, const float *x, int64_t n, float *logits);

/**
 * Predicted class (index of the first largest logit) of each example, in
 * evaluation mode as spt_model_forward().
 * @param m     the model.
 * @param x     input, "C x H x W x N".
 * @param n     batch size >= 1.
 * @param[out] pred output, n int32 classes.
 * @return as spt_model_forward() (#SPT_ERR_NULL for m, x or pred).
 */
SPT_API int spt_model_predict(spt_model *m, const float *x, int64_t n, int32_t *pred);

/**
 * Mean softmax cross-entropy and number of correct predictions over a batch,
 * in evaluation mode.
 * @param m        the model.
 * @param x        input, "C x H x W x N".
 * @param labels   n int32 labels, each in [0, classes).
 * @param n        batch size >= 1.
 * @param[out] loss     receives the mean loss (may be NULL).
 * @param[out] correct  receives the number of examples predicted right (may be NULL).
 * @return #SPT_OK, #SPT_ERR_NULL (m, x or labels), #SPT_ERR_SIZE,
 *         #SPT_ERR_INVALID (a label out of range), #SPT_ERR_NONFINITE (the loss
 *         is NaN/Inf: the message names the input or the first layer whose
 *         output is not finite), #SPT_ERR_NOMEM.
 */
SPT_API int spt_model_evaluate(spt_model *m, const float *x, const int32_t *labels, int64_t n, double *loss,
                               int64_t *correct);

/* ==== layout helpers ======================================================= */

/**
 * Convert example-major "N x C x H x W" to the library's "C x H x W x N".
 * Thread-safe.
 * @param src  n*c*h*w floats, element (i, c, h, w) at ((i*C + c)*H + h)*W + w.
 * @param n    examples N, >= 1.
 * @param c    channels C, >= 1.
 * @param h    height H, >= 1.
 * @param w    width W, >= 1.
 * @param[out] dst n*c*h*w floats, element (c, h, w, i) at ((c*H + h)*W + w)*N + i
 *             (must not overlap src).
 * @return #SPT_OK, #SPT_ERR_NULL (src or dst), #SPT_ERR_SIZE (a size < 1 or
 *         overflow).
 */
SPT_API int spt_layout_nchw_to_chwn(const float *src, int64_t n, int64_t c, int64_t h, int64_t w, float *dst);

/**
 * The inverse: "C x H x W x N" to "N x C x H x W" (e.g. logits K x N to
 * N x K with c = K, h = w = 1). Thread-safe.
 * @param src  n*c*h*w floats, "C x H x W x N".
 * @param n    examples N, >= 1.
 * @param c    channels C, >= 1.
 * @param h    height H, >= 1.
 * @param w    width W, >= 1.
 * @param[out] dst n*c*h*w floats, "N x C x H x W" (must not overlap src).
 * @return #SPT_OK, #SPT_ERR_NULL (src or dst), #SPT_ERR_SIZE (a size < 1 or
 *         overflow).
 */
SPT_API int spt_layout_chwn_to_nchw(const float *src, int64_t n, int64_t c, int64_t h, int64_t w, float *dst);

/* ==== information ============================================================ */

/** Input shape per example. Any output pointer may be NULL.
 *  @param m the model.
 *  @param[out] c receives the channels.
 *  @param[out] h receives the height.
 *  @param[out] w receives the width (flat inputs: C = features, H = W = 1).
 *  @return #SPT_OK or #SPT_ERR_NULL (m). */
SPT_API int spt_model_input_shape(const spt_model *m, int64_t *c, int64_t *h, int64_t *w);

/** Number of classes (size of the logits per example).
 *  @param m the model.
 *  @param[out] classes receives the count.
 *  @return #SPT_OK or #SPT_ERR_NULL (m or classes). */
SPT_API int spt_model_num_classes(const spt_model *m, int64_t *classes);

/** Number of primitive layers (composites expanded; see the top of this file).
 *  @param m the model.
 *  @param[out] n receives the count.
 *  @return #SPT_OK or #SPT_ERR_NULL (m or n). */
SPT_API int spt_model_num_layers(const spt_model *m, int64_t *n);

/**
 * Name and kind of primitive layer i.
 * @param m     the model.
 * @param i     primitive layer index, in [0, layers).
 * @param[out] name receives e.g. "layer2.0.conv1" (may be NULL). The text is
 *              owned by the model and valid until it is destroyed.
 * @param[out] kind receives "linear", "conv2d", "batchnorm", "relu", "dropout",
 *              "maxpool2d", "avgpool2d", "global_avgpool" or "flatten"
 *              (static text; may be NULL).
 * @return #SPT_OK, #SPT_ERR_NULL (m), #SPT_ERR_INVALID (i outside [0, layers)).
 */
SPT_API int spt_model_layer_info(const spt_model *m, int64_t i, const char **name, const char **kind);

/**
 * The weight of primitive layer i, viewed as a matrix (a convolution kernel
 * out x in x kh x kw is out x (in*kh*kw)). Layers without a weight (BN, ReLU,
 * pooling...) report 0 for all four. Any output pointer may be NULL.
 * @param m          the model.
 * @param i          primitive layer index, in [0, layers).
 * @param[out] rows  receives the rows of the dense shape.
 * @param[out] cols  receives the columns of the dense shape.
 * @param[out] nnz   receives the active (stored) weights: rows*cols for a dense weight.
 * @param[out] density receives nnz / (rows*cols), or 0 without a weight.
 * @return #SPT_OK, #SPT_ERR_NULL (m), #SPT_ERR_INVALID (i out of range).
 */
SPT_API int spt_model_layer_weight(const spt_model *m, int64_t i, int64_t *rows, int64_t *cols, int64_t *nnz,
                                   double *density);

/**
 * Parameter counts over every parameter (weights, biases, BN gamma/beta).
 * @param m        the model.
 * @param[out] dense receives the count if every weight were dense (may be NULL).
 * @param[out] nonzero receives the count of active entries (may be NULL).
 * @return #SPT_OK or #SPT_ERR_NULL (m).
 */
SPT_API int spt_model_num_params(const spt_model *m, int64_t *dense, int64_t *nonzero);

/**
 * Forward FLOPs per example of the products (2 per multiply-add of the
 * convolution and linear layers; elementwise work is not counted).
 * @param m      the model.
 * @param dense  nonzero: as if every weight were dense; 0: with the current
 *               sparsity.
 * @param[out] flops receives the count.
 * @return #SPT_OK or #SPT_ERR_NULL (m or flops).
 */
SPT_API int spt_model_flops(const spt_model *m, int dense, double *flops);

/* ==== weights (copy-out) ======================================================== */

/**
 * Copy the weight of primitive layer i as CSR arrays (the format of
 * sparsetrain/tensor.h: row_ptr[rows+1] int64 from 0 to nnz, col_idx[nnz]
 * int32 increasing within each row, values[nnz]) over the 2-D view rows x
 * cols of spt_model_layer_weight(). The entries are the active (stored)
 * weights, nnz as spt_model_layer_weight() reports: every entry of a dense
 * weight (zeros included), the mask = 1 entries of a masked one, the stored
 * nonzeros of a sparse one. Query rows and nnz with spt_model_layer_weight()
 * first to size the buffers. Reads the model only (not while it trains).
 * @param m            the model.
 * @param i            primitive layer index, in [0, layers).
 * @param[out] row_ptr receives rows+1 offsets; may be NULL to skip.
 * @param row_ptr_len  capacity of row_ptr, >= rows+1 when row_ptr is given.
 * @param[out] col_idx receives nnz column indices; may be NULL to skip.
 * @param[out] values  receives nnz weights; may be NULL to skip.
 * @param nnz_len      capacity of col_idx and of values, >= nnz when either is given.
 * @return #SPT_OK; #SPT_ERR_NULL (m); #SPT_ERR_INVALID (i out of range, or
 *         layer i has no weight: batch norm, ReLU, pooling...); #SPT_ERR_SIZE
 *         (a buffer too short, or cols above INT32_MAX; nothing written).
 */
SPT_API int spt_model_layer_weight_csr(const spt_model *m, int64_t i, int64_t *row_ptr, int64_t row_ptr_len,
                                       int32_t *col_idx, float *values, int64_t nnz_len);

/**
 * Copy the weight of primitive layer i as a dense rows x cols matrix,
 * row-major (0 where no weight is active; a convolution kernel
 * out x in x kh x kw is out x (in*kh*kw)). Reads the model only.
 * @param m      the model.
 * @param i      primitive layer index, in [0, layers).
 * @param[out] dense receives rows*cols floats.
 * @param n      capacity of dense, >= rows*cols.
 * @return #SPT_OK; #SPT_ERR_NULL (m or dense); #SPT_ERR_INVALID (i out of
 *         range, or layer i has no weight); #SPT_ERR_SIZE (n too small;
 *         nothing written).
 */
SPT_API int spt_model_layer_weight_dense(const spt_model *m, int64_t i, float *dense, int64_t n);

/* ==== settings ================================================================ */

/**
 * Set the rate of every dropout layer of an MLP (inverted dropout: kept
 * units are scaled by 1/(1-p) in training; evaluation is unaffected).
 * @param m  the model.
 * @param p  rate in [0, 1); 0 turns dropout off.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_INVALID (p out of range or NaN),
 *         #SPT_ERR_STATE (the model has no dropout layer, e.g. a ResNet).
 */
SPT_API int spt_model_set_dropout(spt_model *m, double p);

#ifdef __cplusplus
}
#endif
#endif
