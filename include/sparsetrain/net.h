/** @file
 * Your own networks: describe a network layer by layer, then build a model.
 *
 * An #spt_net is a description: an input shape and a list of layers
 * (nodes), each with a kind (#spt_layer_kind), a name and its parameters
 * (#spt_layer_param, enum-keyed like the method knobs, with queryable names
 * and defaults). It holds no weights. spt_model_create() checks the whole
 * description, works out every shape, and builds the model; the built-in
 * spt_model_create_mlp() and spt_model_create_resnet() are written with
 * these calls.
 *
 * @par Sequence and branches
 * Each added layer reads the current output of the description, the "tip"
 * (at first the network's input), and becomes the tip. A branch starts by
 * moving the tip back to an earlier node (spt_net_set_tip()); a merge is an
 * #SPT_LAYER_ADD layer, which adds the tip and the node given by its
 * #SPT_LP_INPUT parameter elementwise (same shapes). A residual block:
 * @code
 *   int64_t x, y;
 *   spt_net_tip(net, &x);                                   // the block's input
 *   spt_net_add_layer(net, SPT_LAYER_CONV2D, "b.conv1", &y); // ... main path ...
 *   ...
 *   spt_net_add_layer(net, SPT_LAYER_ADD, "b.add", &y);
 *   spt_net_set(net, y, SPT_LP_INPUT, (double)x);            // y = main + x
 * @endcode
 * The last node added is the network's output (the logits): its size is the
 * number of classes.
 *
 * @par Names
 * Node names are the user's, at most 39 bytes, unique in a network (NULL
 * gives "<kind><index>", e.g. "linear3"); parameters are named
 * "<node>.weight" and "<node>.bias" (batch norm: "<node>.weight" for the
 * scale, "<node>.bias" for the shift), and spt_model_layer_info() reports
 * node names.
 *
 * @par Weights and sparsity
 * Linear and convolution weights are left to the sparse method by default.
 * #SPT_LP_DENSITY pins one: 1 keeps it dense whatever the method, a value in
 * (0, 1) gives it its own density; the method's allocation spreads what
 * is left of its budget over the other weights (so the overall sparsity is
 * still the method's target; an unreachable target is refused when the
 * trainer is created).
 *
 * @par Shapes
 * Activations are per example "C x H x W" (flat features: H = W = 1). A
 * linear layer reads any input as its C*H*W features. Convolution and
 * pooling give H' = (H + 2 padding - kernel) / stride + 1.
 *
 * Thread-safety: a description must not be used from two threads at once;
 * distinct descriptions are independent. The metadata functions
 * (spt_layer_kind_name() ...) are thread-safe.
 */
#ifndef SPARSETRAIN_NET_H
#define SPARSETRAIN_NET_H

#include "core.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A network description. Opaque. */
typedef struct spt_net spt_net;

/** Layer kinds (pinned values: part of the ABI, only appended). */
typedef enum spt_layer_kind {
    SPT_LAYER_LINEAR = 0,         /**< y = W x (+ b). Params: #SPT_LP_OUT, #SPT_LP_BIAS, #SPT_LP_DENSITY. */
    SPT_LAYER_CONV2D = 1,         /**< 2-D convolution. Params: #SPT_LP_OUT, #SPT_LP_KERNEL, #SPT_LP_STRIDE, #SPT_LP_PADDING, #SPT_LP_GROUPS, #SPT_LP_BIAS, #SPT_LP_DENSITY. */
    SPT_LAYER_BATCHNORM = 2,      /**< Batch normalisation per channel (training statistics; running averages for evaluation). */
    SPT_LAYER_RELU = 3,           /**< max(x, 0). */
    SPT_LAYER_MAXPOOL = 4,        /**< Max pooling. Params: #SPT_LP_KERNEL, #SPT_LP_STRIDE, #SPT_LP_PADDING. */
    SPT_LAYER_AVGPOOL = 5,        /**< Average pooling (padding counted as zeros). Params as max pooling. */
    SPT_LAYER_GLOBAL_AVGPOOL = 6, /**< Mean over H x W: C x H x W -> C x 1 x 1. */
    SPT_LAYER_FLATTEN = 7,        /**< C x H x W -> (C*H*W) x 1 x 1 (no data movement). */
    SPT_LAYER_DROPOUT = 8,        /**< Inverted dropout in training, identity in evaluation. Params: #SPT_LP_RATE. */
    SPT_LAYER_ADD = 9,            /**< Elementwise sum of the tip and node #SPT_LP_INPUT (residual addition). */
    SPT_LAYER_LEAKY_RELU = 10,    /**< x for x > 0, slope x otherwise. Params: #SPT_LP_SLOPE. */
    SPT_LAYER_TANH = 11,          /**< tanh(x). */
    SPT_LAYER_GELU = 12,          /**< 0.5 x (1 + erf(x / sqrt 2)), the exact form (PyTorch's default). */
    SPT_LAYER_KIND_COUNT_ = 13    /**< Number of kinds (not a kind). */
} spt_layer_kind;

/** Keys of spt_net_set() / spt_net_get(). Values are doubles; integer and
 * boolean keys take whole numbers. A kind reads only its own keys
 * (spt_layer_uses_param()); setting another is #SPT_ERR_INVALID. */
typedef enum spt_layer_param {
    SPT_LP_OUT = 0,      /**< Output features (linear) or channels (conv), [1, 2^31 - 1]. Required (default 0 = unset). */
    SPT_LP_KERNEL = 1,   /**< Square kernel size, [1, 2^20]. Default 3 (conv), 2 (pools). */
    SPT_LP_STRIDE = 2,   /**< Stride, [1, 2^20]. Default 1 (conv), 2 (pools). */
    SPT_LP_PADDING = 3,  /**< Zero padding on every side, [0, 2^20]. Default 0. */
    SPT_LP_BIAS = 4,     /**< Add a bias (0/1). Default 1 for linear, 0 for conv (usually followed by batch norm). */
    SPT_LP_RATE = 5,     /**< Dropout probability, [0, 1). Default 0 (spt_model_set_dropout() sets every dropout layer). */
    SPT_LP_DENSITY = 6,  /**< Weight density: -1 = the method's (default), 1 = always dense, (0, 1) = its own. */
    SPT_LP_INPUT = 7,    /**< #SPT_LAYER_ADD: the node added to the tip, an earlier node's id, or -1 for the network's input. Required. */
    SPT_LP_GROUPS = 8,   /**< Convolution groups, [1, 2^31 - 1], dividing both the input and output channels; input channels = groups is a depthwise convolution. Default 1. */
    SPT_LP_SLOPE = 9,    /**< Leaky ReLU: slope for x <= 0, finite, [-1e6, 1e6]. Default 0.01. */
    SPT_LP_COUNT_ = 10   /**< Number of keys (not a key). */
} spt_layer_param;

/**
 * Create an empty description for examples of shape C x H x W.
 * @param c channels (or features), >= 1.
 * @param h height, >= 1 (1 for flat features).
 * @param w width, >= 1 (1 for flat features).
 * @param[out] out receives the description (NULL on failure); free it with spt_net_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (out); #SPT_ERR_SIZE (a dimension < 1 or
 *         above 2^31 - 1, or an overflowing product); #SPT_ERR_NOMEM.
 */
SPT_API int spt_net_create(int64_t c, int64_t h, int64_t w, spt_net **out);

/** Free a description.
 * @param net the description, or NULL (no-op). */
SPT_API void spt_net_destroy(spt_net *net);

/**
 * Add a layer that reads the tip; it becomes the tip. Its parameters start
 * at the kind's defaults (spt_layer_param_default()).
 * @param net  the description.
 * @param kind an #spt_layer_kind.
 * @param name the node's name (copied; 1 to 39 bytes of letters, digits and
 *             "._-"), or NULL for "<kind><index>".
 * @param[out] node receives the new node's id (ids count from 0 in order
 *             of addition); may be NULL.
 * @return #SPT_OK; #SPT_ERR_NULL (net); #SPT_ERR_INVALID (unknown kind, a
 *         bad or repeated name); #SPT_ERR_SIZE (more than 2^20 nodes);
 *         #SPT_ERR_NOMEM. Nothing is added on failure.
 */
SPT_API int spt_net_add_layer(spt_net *net, int kind, const char *name, int64_t *node);

/**
 * Set a parameter of a node.
 * @param net   the description.
 * @param node  a node id.
 * @param key   an #spt_layer_param its kind reads.
 * @param value the value, inside the key's domain (see #spt_layer_param).
 * @return #SPT_OK; #SPT_ERR_NULL (net); #SPT_ERR_SIZE (no such node);
 *         #SPT_ERR_INVALID (unknown key, a key the kind does not read, a
 *         value outside the domain, NaN, a non-whole value for an integer
 *         key, an #SPT_LP_INPUT that is not an earlier node). Unchanged on
 *         failure.
 */
SPT_API int spt_net_set(spt_net *net, int64_t node, int key, double value);

/**
 * Read a parameter of a node (its default if never set).
 * @param net   the description.
 * @param node  a node id.
 * @param key   an #spt_layer_param its kind reads.
 * @param[out] value receives the value.
 * @return #SPT_OK; #SPT_ERR_NULL (net or value); #SPT_ERR_SIZE (no such
 *         node); #SPT_ERR_INVALID (unknown key or one the kind does not read).
 */
SPT_API int spt_net_get(const spt_net *net, int64_t node, int key, double *value);

/**
 * The node the next layer reads.
 * @param net the description.
 * @param[out] node receives its id, or -1 for the network's input.
 * @return #SPT_OK; #SPT_ERR_NULL (net or node).
 */
SPT_API int spt_net_tip(const spt_net *net, int64_t *node);

/**
 * Make the next layer read `node` (start a branch).
 * @param net  the description.
 * @param node a node id, or -1 for the network's input.
 * @return #SPT_OK; #SPT_ERR_NULL (net); #SPT_ERR_SIZE (no such node).
 */
SPT_API int spt_net_set_tip(spt_net *net, int64_t node);

/**
 * Number of nodes of a description.
 * @param net the description.
 * @param[out] n receives the count.
 * @return #SPT_OK; #SPT_ERR_NULL (net or n).
 */
SPT_API int spt_net_num_nodes(const spt_net *net, int64_t *n);

/**
 * One node of a description.
 * @param net  the description.
 * @param node a node id.
 * @param[out] kind  receives its #spt_layer_kind (may be NULL).
 * @param[out] name  receives its name, valid until the description changes or is destroyed (may be NULL).
 * @param[out] input receives the node it reads (its first input), -1 for the network's input (may be NULL).
 * @return #SPT_OK; #SPT_ERR_NULL (net); #SPT_ERR_SIZE (no such node).
 */
SPT_API int spt_net_node(const spt_net *net, int64_t node, int *kind, const char **name, int64_t *input);

/**
 * Build a model from a description: every shape is worked out and checked
 * (the message names the node), the layers are made and the weights are
 * initialised (Kaiming normal, std sqrt(2 / fan_in), biases 0, batch norm
 * scale 1 and shift 0) from a generator seeded with `seed`: the same
 * description and seed give the same bytes. A weight's dense values are
 * written only when something needs them: a weight that a sparse method
 * sparsifies when its trainer is created is written at its nonzeros only.
 * The description is copied (the model keeps it, for checkpoints); it may
 * be changed or destroyed afterwards.
 * @param net  the description.
 * @param seed seed of the model's generator (initialisation, dropout).
 * @param[out] out receives the model (NULL on failure); free it with spt_model_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (net or out); #SPT_ERR_SIZE (no layers, a
 *         shape that does not fit: a kernel larger than its padded input, an
 *         addition of different shapes, sizes that overflow);
 *         #SPT_ERR_INVALID (a required parameter unset); #SPT_ERR_NOMEM.
 */
SPT_API int spt_model_create(const spt_net *net, uint64_t seed, spt_model **out);

/**
 * The description of the network spt_model_create_mlp() builds (same
 * layers, names and order: spt_model_create() of it with the same seed
 * gives the same model).
 * @param widths, n_widths as for spt_model_create_mlp().
 * @param[out] out receives the description (NULL on failure); free it with spt_net_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (widths or out); #SPT_ERR_SIZE (fewer than
 *         2 widths, a width outside [1, INT32_MAX]); #SPT_ERR_NOMEM.
 */
SPT_API int spt_net_create_mlp(const int64_t *widths, int n_widths, spt_net **out);

/**
 * The description of the CIFAR ResNet spt_model_create_resnet() builds
 * (same layers, names and order).
 * @param in_c, in_h, in_w, blocks_per_stage, width_mult, classes as for
 *        spt_model_create_resnet().
 * @param[out] out receives the description (NULL on failure); free it with spt_net_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (out); #SPT_ERR_SIZE (a size out of the
 *         ranges spt_model_create_resnet() gives); #SPT_ERR_NOMEM.
 */
SPT_API int spt_net_create_resnet(int64_t in_c, int64_t in_h, int64_t in_w, int64_t blocks_per_stage,
                                  int64_t width_mult, int64_t classes, spt_net **out);

/**
 * What the model of a description would hold, from its shapes alone:
 * nothing is built and nothing is allocated but one shape per node, so a
 * program can tell how much memory a network needs before it asks for it
 * (the example programs refuse a model larger than the machine's memory
 * this way). Every check of spt_model_create() on shapes is made.
 * @param net the description.
 * @param[out] n_params    number of parameter tensors (weights, biases,
 *                         batch-norm scales and shifts); may be NULL.
 * @param[out] values      their total number of values (floats), as if
 *                         every weight were dense; may be NULL.
 * @param[out] weights     of those, the values of linear and convolution
 *                         weights (biases excluded): what a sparse method
 *                         sparsifies; may be NULL.
 * @param[out] activations output values of every node for one example (a
 *                         forward pass over N examples holds N times this);
 *                         may be NULL.
 * @return #SPT_OK; #SPT_ERR_NULL (net); as spt_model_create():
 *         #SPT_ERR_SIZE (no layers, a shape that does not fit, sizes that
 *         overflow int64), #SPT_ERR_INVALID (a required parameter unset),
 *         naming the node; #SPT_ERR_NOMEM. Outputs are unchanged on failure.
 */
SPT_API int spt_net_size(const spt_net *net, int64_t *n_params, int64_t *values, int64_t *weights,
                         int64_t *activations);

/**
 * The description's linear and convolution weights as a layer list
 * (sparsity.h, "Layer lists"), in node order: what a method's allocation
 * is computed over, so a caller can see the nonzeros a run will have
 * (spt_sparsity_allocate(), spt_sparsity_allocate_epsilon()) before any
 * model exists. Thread-safe for concurrent readers of one description.
 * @param net the description.
 * @param capacity entries the arrays hold (>= 0). With fewer than the
 *        description has, nothing is written but n_weights (call with 0
 *        to count, then again).
 * @param[out] ndim    capacity entries: 2 (linear: out x in) or 4 (conv:
 *                     out x in/groups x k x k). NULL only if capacity is 0.
 * @param[out] shape   capacity * 4 dims (ndim 2: the last two are 1).
 * @param[out] density capacity entries: the weight's #SPT_LP_DENSITY (1 =
 *                     pinned dense, (0, 1) its own density), 0 = left to
 *                     the method.
 * @param[out] n_weights number of weights of the description. Required.
 * @return #SPT_OK; #SPT_ERR_NULL (net, n_weights, or an array with
 *         capacity > 0); #SPT_ERR_INVALID (capacity < 0); the refusals of
 *         spt_net_size(). Outputs are unchanged on failure.
 */
SPT_API int spt_net_weights(const spt_net *net, int64_t capacity, int32_t *ndim, int64_t *shape, double *density,
                            int64_t *n_weights);

/**
 * The input shape of a description and the size of its output (the last
 * node's C x H x W: a classifier's number of classes), without building it.
 * @param net the description.
 * @param[out] c, h, w the shape of one input example; each may be NULL.
 * @param[out] outputs the last node's output size; may be NULL (then the
 *             description need not be complete).
 * @return #SPT_OK; #SPT_ERR_NULL (net); with outputs, the refusals of
 *         spt_net_size() for a description whose shapes do not fit.
 */
SPT_API int spt_net_shapes(const spt_net *net, int64_t *c, int64_t *h, int64_t *w, int64_t *outputs);

/**
 * A copy of the description a model was built from.
 * @param m the model.
 * @param[out] out receives a new description (free it with spt_net_destroy()).
 * @return #SPT_OK; #SPT_ERR_NULL (m or out); #SPT_ERR_NOMEM.
 */
SPT_API int spt_model_net(const spt_model *m, spt_net **out);

/* ==== metadata (thread-safe) ============================================== */

/**
 * Name of a layer kind, as model files write it.
 * @param kind an #spt_layer_kind.
 * @return "linear", "conv2d", "batchnorm", "relu", "maxpool", "avgpool",
 *         "global_avgpool", "flatten", "dropout", "add", "leaky_relu",
 *         "tanh" or "gelu" (static text); NULL for an unknown value.
 */
SPT_API const char *spt_layer_kind_name(int kind);

/**
 * The layer kind of a name (as spt_layer_kind_name() gives).
 * @param name the name.
 * @param[out] kind receives the #spt_layer_kind.
 * @return #SPT_OK; #SPT_ERR_NULL; #SPT_ERR_INVALID (unknown name).
 */
SPT_API int spt_layer_kind_from_name(const char *name, int *kind);

/**
 * Name of a layer parameter, as model files write it.
 * @param key an #spt_layer_param.
 * @return "out", "kernel", "stride", "padding", "bias", "rate", "density",
 *         "input", "groups" or "slope" (static text); NULL for an unknown key.
 */
SPT_API const char *spt_layer_param_name(int key);

/**
 * The layer parameter of a name (as spt_layer_param_name() gives).
 * @param name the name.
 * @param[out] key receives the #spt_layer_param.
 * @return #SPT_OK; #SPT_ERR_NULL; #SPT_ERR_INVALID (unknown name).
 */
SPT_API int spt_layer_param_from_name(const char *name, int *key);

/**
 * Whether a kind reads a parameter, and its default there.
 * @param kind  an #spt_layer_kind.
 * @param key   an #spt_layer_param.
 * @param[out] uses receives 1 or 0 (may be NULL).
 * @param[out] value receives the default (may be NULL; 0 for an unused key).
 * @return #SPT_OK; #SPT_ERR_INVALID (unknown kind or key).
 */
SPT_API int spt_layer_param_default(int kind, int key, int *uses, double *value);

#ifdef __cplusplus
}
#endif
#endif
