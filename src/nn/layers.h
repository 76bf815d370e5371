/*
 * Constructors of the concrete layers (see layer.h for the contract every
 * layer follows). Each returns SPT_OK and a new layer in *out, or a status
 * (SPT_ERR_SIZE for bad shapes, SPT_ERR_INVALID for bad hyper-parameters,
 * SPT_ERR_NOMEM) with *out = NULL. `name` is copied (truncated to 39 chars)
 * and prefixes the names of the layer's parameters ("<name>.weight").
 */
#ifndef SPTI_LAYERS_H
#define SPTI_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layer.h"

/* ==== Linear and convolution (weight layers) ============================ */

/* The weight of both layers may be DENSE, MASKED or SPARSE (param.h) and may
 * change form or pattern between calls (a sparsity method sparsifies, masks
 * or repatterns it): every forward and backward reads its current form.
 *   DENSE   OpenBLAS products (spti_gemm_*).
 *   MASKED  the dense path over the values (inactive entries are 0); grad is
 *           left at 0 on inactive positions.
 *   SPARSE  the CSR kernels (spti_csr_forward/backward with the param's ws,
 *           which dispatch sparse vs dense); convolutions use the direct
 *           sparse convolution (kernels/conv.h) where it is the faster path.
 * When weight->request.dense_grad is set, backward also writes (overwrites)
 * weight->result.dense_grad (rows x cols, allocated on first use, kept) with the
 * full dense gradient dL/dW of this call, inactive positions included.
 * A linear layer whose SPARSE weight has request.grow_k > 0 instead streams
 * that gradient in row blocks into weight->result.grow (kernels/grow_collector.h:
 * the request.grow_k best growth candidates, the gradient at the active
 * entries, the first non-finite entry) and leaves dense_grad alone.
 * A linear or conv2d layer whose SPARSE weight has request.sample computes
 * the gradient at those sampled positions and at the active entries into
 * weight->result.sample (kernels/grow_sample.h), nothing rows x cols.
 * Weights are created DENSE and zero: initialise them with spti_init_*.
 * Biases are DENSE, zero, no_weight_decay. Backward adds into grads, writes
 * dx (skipped when dx is NULL), and needs x and dy of the last forward; when
 * it fails (SPT_ERR_NOMEM) no gradient has changed. The columns of the
 * products (N for linear, H_out*W_out*N for conv2d) must not exceed
 * INT32_MAX (SPT_ERR_SIZE). */

/* Fully connected: y[out x N] = W[out x in] . x[in x N] + b.
 * in_shape is (in_features, 1, 1), out_shape (out_features, 1, 1). The
 * caller may set in_shape to any (c, h, w) with c*h*w == in_features
 * (a C x H x W x N buffer is already (C*H*W) x N).
 * Params: "<name>.weight" (out, in), then "<name>.bias" (out) when `bias`.
 * SPT_ERR_NULL for NULL name/out; SPT_ERR_SIZE for sizes < 1, above
 * INT32_MAX, or an overflowing out*in. */
int spti_linear_create(const char *name, int64_t in_features, int64_t out_features, bool bias, spti_layer **out);

/* Geometry of a 2-D convolution. */
typedef struct spti_conv2d_spec {
    int64_t c_in, h, w;    /* input per example: C_in x H x W */
    int64_t c_out, kh, kw; /* C_out filters of kh x kw */
    int64_t stride, pad;   /* stride >= 1 (both axes), zero padding >= 0 (every side) */
    bool bias;             /* add a per-channel bias (ResNets: false before BN) */
    int64_t groups;        /* G >= 1 dividing c_in and c_out; 0 (the value an
                            * initialiser that omits it leaves) means 1 */
} spti_conv2d_spec;

/* Conv2d: x[C_in x H x W x N] -> y[C_out x H_out x W_out x N],
 * H_out = (H + 2 pad - kh) / stride + 1 (same for W). Params: "<name>.weight"
 * (C_out, C_in/G, kh, kw), i.e. the matrix C_out x (C_in/G*kh*kw) with column
 * (ci*kh + i)*kw + j, then "<name>.bias" (C_out) when spec->bias.
 * Grouped convolution (PyTorch's groups): the channels are split into G
 * groups; output channel co belongs to group q = co / (C_out/G) and its
 * local input channel ci reads channel q*(C_in/G) + ci. Depthwise is
 * G = C_in (typically C_out = k*C_in). G = 1 is the ordinary convolution,
 * bit for bit. fan_in (init.c) and the FLOPs follow the weight's shape:
 * C_in/G*kh*kw per output. With G > 1, DENSE and MASKED weights run one
 * OpenBLAS product per group over the shared im2col buffer; a SPARSE weight
 * always runs the direct sparse kernels (whatever spti_conv2d_set_path
 * says; cost in proportion to its nonzeros); a dense-gradient request adds
 * im2col + one product per group, a sampled one (request.sample) im2col +
 * an SDDMM per group at the sampled and active positions.
 * SPT_ERR_NULL for NULL arguments; SPT_ERR_SIZE for sizes < 1, pad < 0,
 * a kernel larger than the padded input, sizes above INT32_MAX or
 * overflowing products; SPT_ERR_INVALID for stride < 1, groups < 0 or
 * groups not dividing c_in and c_out. */
int spti_conv2d_create(const char *name, const spti_conv2d_spec *spec, spti_layer **out);

/* How a convolution with a SPARSE weight runs (tests and benchmarks):
 * AUTO picks per call from the shapes, the batch and the density (im2col on
 * output rows of fewer than 128 floats, W_out * N: batch 1); DIRECT always uses the
 * direct sparse convolution; IM2COL always uses im2col + the CSR products
 * (which themselves dispatch sparse/dense). DENSE and MASKED weights always
 * use im2col + OpenBLAS. 1x1 stride-1 unpadded convolutions need no im2col:
 * their IM2COL path is the plain CSR product over x. */
typedef enum { SPTI_CONV_AUTO = 0, SPTI_CONV_DIRECT = 1, SPTI_CONV_IM2COL = 2 } spti_conv_path;
/* SPT_ERR_INVALID if L is not a conv2d layer or path is unknown. */
int spti_conv2d_set_path(spti_layer *L, spti_conv_path path);

/* Shared by the weight layers (linear.c). */
/* zero[r] = row r of p is empty, for a channel-pruned SPARSE weight
 * (p->ws.channel) of a layer without bias: its output row is exactly 0
 * whatever the input, and the layer's backward reads that row of dY
 * nowhere (its products run over the nonzeros, no bias to sum, and the
 * method never asks for a dense gradient). True when a row is flagged;
 * false (zero untouched) otherwise. */
bool spti_weight_zero_rows(const spti_param *p, bool has_bias, uint8_t *zero);
/* Allocate p->result.dense_grad (rows x cols) if absent. */
int spti_weight_ensure_dense_grad(spti_param *p);
/* The weight gradient through OpenBLAS, for dY[rows x ncols] and
 * X[cols x ncols]: with request.dense_grad, result.dense_grad = dY . X^T (computed in
 * the row blocks of spti_grad_block_rows) and grad +=
 * its active entries (any form; dense_grad must be allocated); otherwise,
 * for a DENSE or MASKED weight, grad += dY . X^T with inactive entries left
 * at 0. SPT_ERR_SIZE from the cblas wrapper only. */
int spti_weight_grad_gemm(spti_param *p, const float *dy, const float *X, int64_t ncols);
/* The same for a grouped product (conv2d with groups): group q's rows
 * [q*R, (q+1)*R) of p (R = rows/groups) against the rows [q*R, (q+1)*R) of
 * dY[rows x ncols] and [q*cols, (q+1)*cols) of X[(groups*cols) x ncols]; the
 * dense_grad (rows x cols) holds each group's block. groups <= 1 is
 * spti_weight_grad_gemm. For a DENSE or MASKED p, or with
 * request.dense_grad (then any form). */
int spti_weight_grad_gemm_grouped(spti_param *p, const float *dy, const float *X, int64_t ncols, int64_t groups);
/* The weight gradient of a SPARSE weight p with p->request.grow_k > 0 for
 * dY[rows x ncols], X[groups*cols x ncols] (groups > 1: a grouped
 * convolution, as spti_weight_grad_gemm_grouped), streamed in the blocks of
 * the full path (spti_weight_grad_gemm / _grouped) into p->result.grow
 * (spti_grow_collect, kernels/grow_collector.h: the request.grow_k best growth
 * candidates, no rows x cols buffer; `lanes`: one lane per thread may
 * stream, else the blocks' products run as the full path runs them); then
 * grad += its active entries, the values the full path adds. The blocks
 * live in `scratch` (the model's SPTI_SCRATCH_STREAM slot, kept for the
 * next update), or, when NULL, in a buffer freed before the return.
 * On failure (SPT_ERR_NOMEM, SPT_ERR_SIZE; SPT_ERR_STATE for a weight not
 * SPARSE or k < 1) grad is unchanged. */
int spti_weight_grad_stream(spti_param *p, const float *dy, const float *X, int64_t ncols, int64_t groups,
                            bool lanes, spti_scratch *scratch);
/* The weight gradient of a SPARSE weight p with p->request.sample, for
 * dY[rows x ncols], X[groups*cols x ncols] (groups > 1: a grouped
 * convolution, see spti_weight_grad_gemm_grouped): the gradient at the
 * sampled positions and at the active entries into p->result.sample
 * (spti_sample_gradient, kernels/grow_sample.h; `conv`: the layer's exact
 * path is the one-lane stream, else the growth collector's lanes), then grad += the
 * latter. On failure (SPT_ERR_NOMEM, SPT_ERR_SIZE; SPT_ERR_STATE for a
 * weight not SPARSE or without a sample) grad is unchanged. */
int spti_weight_grad_sample(spti_param *p, const float *dy, const float *X, int64_t ncols, int64_t groups,
                            bool conv);
/* db[r] += sum of dy[r*M .. r*M + M) (double accumulation), r < rows. */
void spti_bias_grad_add(float *db, const float *dy, int64_t rows, int64_t M);
/* Active weight entries in the current form (rows*cols when DENSE). */
int64_t spti_weight_active(const spti_param *p);

/* Initialisation (init.c). Draws come from `rng` in storage order (one per
 * active entry), so a MASKED and a SPARSE weight with the same pattern and
 * seed get the same values. SPT_ERR_NULL for NULL arguments. */
/* Kaiming/He normal: N(0, 2 / fan_in) on the active entries, fan_in =
 * cols (C_in*kh*kw or in_features). With sparse_aware, row r uses the number
 * of active entries of that row as its fan_in (rows without any are left
 * empty). Inactive entries stay 0. */
int spti_init_kaiming(spti_param *p, spti_rng *rng, bool sparse_aware);
/* PyTorch's default for Linear/Conv2d: weight and bias (may be NULL) drawn
 * from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = w->cols. */
int spti_init_uniform(spti_param *w, spti_param *bias, spti_rng *rng);
/* Set every stored value of p to 0 (bias initialisation). */
int spti_init_zero(spti_param *p);


/* ==== Normalisation, activation, pooling, reshaping (no weight) ========== */

/* BatchNorm over C x H x W inputs: per channel c, statistics over H*W*N.
 * Params: gamma (C, "<name>.weight", init 1) and beta (C, "<name>.bias",
 * init 0), both DENSE, is_weight false, no_weight_decay. Training uses the
 * batch statistics (biased variance) and updates running_mean/running_var
 * with momentum 0.1 (running_var uses the unbiased batch variance, as
 * PyTorch); evaluation uses the running statistics. eps = 1e-5.
 * Training needs H*W*N >= 2 per channel (else SPT_ERR_SIZE from forward). */
int spti_batchnorm2d_create(const char *name, int64_t c, int64_t h, int64_t w, spti_layer **out);
/* BatchNorm over F flat features (shape F x 1 x 1): per feature over N. */
int spti_batchnorm1d_create(const char *name, int64_t features, spti_layer **out);
/* Layer state a checkpoint saves: the running statistics (length *c each,
 * owned by the layer, writable; any of the three may be NULL to skip).
 * SPT_ERR_INVALID if L is not a batchnorm layer. */
int spti_batchnorm_running(spti_layer *L, float **running_mean, float **running_var, int64_t *c);
/* Reset the running statistics to mean 0, var 1. */
void spti_batchnorm_reset_running(spti_layer *L);
/* Whether L is a batch-norm layer (no error state either way). */
bool spti_layer_is_batchnorm(const spti_layer *L);
/* Whether L is a ReLU (activation.c) / an addition (add.c) layer. */
bool spti_layer_is_relu(const spti_layer *L);
bool spti_layer_is_add(const spti_layer *L);

/* Elementwise activations over any shape (activation.c). NaN inputs give
 * NaN outputs; results are the same bytes for any thread count. */
/* max(x, 0). */
int spti_relu_create(const char *name, spti_shape shape, spti_layer **out);
/* Leaky ReLU: x >= 0 ? x : slope * x; the derivative at 0 is `slope` (as
 * PyTorch). SPTI_LEAKY_RELU_SLOPE is PyTorch's default negative slope.
 * SPT_ERR_INVALID for a slope that is not finite. */
#define SPTI_LEAKY_RELU_SLOPE 0.01f
int spti_leaky_relu_create(const char *name, spti_shape shape, float slope, spti_layer **out);
/* The slope of a leaky ReLU layer, NaN for any other layer. */
float spti_leaky_relu_slope(const spti_layer *L);
/* tanh(x), within a few ulp of libm's (activation_math.h). */
int spti_tanh_create(const char *name, spti_shape shape, spti_layer **out);
/* GELU, the exact (erf) form that is PyTorch's default (approximate='none'):
 * y = x/2 (1 + erf(x / sqrt 2)), dy/dx = Phi(x) + x phi(x) with Phi, phi
 * the standard normal CDF and density; not the tanh approximation. 1 + erf
 * is computed as erfc(-z) for negative arguments, so the left tail keeps
 * its relative accuracy (a few ulp times the conditioning, ~x^2) instead
 * of cancelling to 0. */
int spti_gelu_create(const char *name, spti_shape shape, spti_layer **out);

/* Inverted dropout with rate p in [0, 1): in training each element is kept
 * with probability 1-p (drawn from ctx->rng, one draw per element in index
 * order) and scaled by 1/(1-p); identity in evaluation and when p == 0. */
int spti_dropout_create(const char *name, spti_shape shape, float p, spti_layer **out);
/* Change the rate (SPT_ERR_INVALID unless p in [0, 1) and L is dropout). */
int spti_dropout_set_rate(spti_layer *L, float p);
/* Current rate, or -1 if L is not a dropout layer. */
float spti_dropout_rate(const spti_layer *L);

/* 2-D pooling with a k x k window, stride s >= 1 and zero padding
 * 0 <= pad <= k/2 (as PyTorch): output H' = (H + 2 pad - k) / s + 1 (>= 1).
 * Max pooling ignores padded cells (a window always holds a real cell);
 * average pooling divides by k*k, counting padded cells as zeros
 * (PyTorch's count_include_pad=True). */
int spti_maxpool2d_create(const char *name, int64_t c, int64_t h, int64_t w, int64_t k, int64_t stride, int64_t pad,
                          spti_layer **out);
int spti_avgpool2d_create(const char *name, int64_t c, int64_t h, int64_t w, int64_t k, int64_t stride, int64_t pad,
                          spti_layer **out);
/* Mean over H x W per channel: C x H x W -> C x 1 x 1. */
int spti_global_avgpool_create(const char *name, int64_t c, int64_t h, int64_t w, spti_layer **out);

/* C x H x W -> (C*H*W) x 1 x 1. The memory layout is unchanged (C x H x W x N
 * is already (C*H*W) x N): forward and backward are copies. */
int spti_flatten_create(const char *name, spti_shape shape, spti_layer **out);

/* y = x0 + x1 over two inputs of `shape` (a two-input layer: forward2). */
int spti_add_create(const char *name, spti_shape shape, spti_layer **out);


/* ==== Shared helpers for layer implementations (layer_base.c) ============ */

/* Destroy any layer through its ops (NULL is a no-op). */
void spti_layer_destroy(spti_layer *L);
/* A zeroed layer with `state_bytes` of zeroed private state (NULL when 0),
 * the given ops, name and shapes. NULL (SPT_ERR_NOMEM recorded) on failure. */
spti_layer *spti_layer_new(const spti_layer_ops *ops, const char *name, spti_shape in, spti_shape out,
                           size_t state_bytes);
/* Free what every layer owns: its params, its children (destroyed through
 * their ops), the children array, the state block and L. The kind's destroy
 * frees its own buffers inside the state first, then calls this. */
void spti_layer_free(spti_layer *L);
/* Append a new DENSE parameter "<L->name>.<suffix>" to L->params. */
int spti_layer_add_param(spti_layer *L, const char *suffix, int ndim, const int64_t *shape, bool is_weight,
                         spti_param **out);
/* "<a>.<b>" into dst (truncated to size-1 chars). */
void spti_name_join(char *dst, size_t size, const char *a, const char *b);
/* Total elements of a C x H x W x N buffer of this shape, overflow-checked. */
int spti_shape_elems(spti_shape s, int64_t N, int64_t *out);

#endif
