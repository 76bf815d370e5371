/** @file
 * Choosing and configuring a sparse-training method.
 *
 * An #spt_method_config is a small handle that names a method (#spt_method,
 * from sparsity.h) and holds its knobs, zstd-style: one setter keyed by
 * #spt_method_param, every key with a pinned value, a documented domain and
 * a default. A trainer reads the configuration when it is attached; later
 * changes to the handle do not affect a trainer already using it.
 *
 * Thread-safety: a configuration handle must not be used from two threads
 * at once; distinct handles are independent.
 */
#ifndef SPARSETRAIN_METHOD_H
#define SPARSETRAIN_METHOD_H

#include "core.h"
#include "sparsity.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A method and its knobs. Opaque. */
typedef struct spt_method_config spt_method_config;

/** Keys of spt_method_config_set() / spt_method_config_get(). Values are
 * doubles; integer and boolean keys take whole numbers (booleans 0 or 1).
 * "steps" are optimizer steps counted from 0 over the whole run. */
typedef enum spt_method_param {
    SPT_MP_SPARSITY = 0,         /**< Target overall sparsity S over the model's convolution and linear weights (kept-dense layers included, see sparsity.h), [0, 1). Default 0.9 (0 for dense). */
    SPT_MP_DISTRIBUTION = 1,     /**< #spt_distribution. Default #SPT_DISTRIBUTION_ERK. */
    SPT_MP_DENSE_FIRST = 2,      /**< Keep the first weight layer dense (0/1). Default 0. */
    SPT_MP_DENSE_LAST = 3,       /**< Keep the last weight layer dense (0/1). Default 0. */
    SPT_MP_DELTA_T = 4,          /**< Steps between topology updates (RigL, SET, SNFS), integer >= 1. Default 100. */
    SPT_MP_ALPHA = 5,            /**< Initial drop fraction, [0, 1]. Default 0.3. */
    SPT_MP_T_END = 6,            /**< Step at which topology updates stop, >= 0; -1 = use SPT_MP_T_END_FRACTION. Default -1. */
    SPT_MP_T_END_FRACTION = 7,   /**< T_end as a fraction of the run's total steps, [0, 1]. Default 0.75. */
    SPT_MP_DROP_SCHEDULE = 8,    /**< #spt_drop_schedule. Default #SPT_DROP_COSINE. */
    SPT_MP_SNFS_MOMENTUM = 9,    /**< SNFS: decay of the dense-gradient momentum used for growth, [0, 1). Default 0.9. */
    SPT_MP_PRUNE_START = 10,     /**< GMP: first pruning step t0, >= 0; -1 = 10% of the run. Default -1. */
    SPT_MP_PRUNE_END = 11,       /**< GMP: last pruning step, > start; -1 = 75% of the run. Default -1. */
    SPT_MP_PRUNE_FREQ = 12,      /**< GMP: steps between pruning events, >= 1. Default 100. */
    SPT_MP_INITIAL_SPARSITY = 13, /**< GMP: sparsity s_i at t0, [0, 1). Default 0. */
    SPT_MP_GLOBAL = 14,          /**< Pruning methods: rank all layers together (1) or each layer on its own (0). Default 0 (GMP, lottery); 1 for SNIP, GraSP and SynFlow, as in their papers. */
    SPT_MP_LOTTERY_ROUNDS = 15,  /**< Lottery: pruning rounds, 1 .. 1000. Default: unset (reads 0), as many as reach SPT_MP_SPARSITY at SPT_MP_LOTTERY_RATE; when set and the rate is not, the rate becomes 1 - (1 - S)^(1/R). */
    SPT_MP_LOTTERY_RATE = 16,    /**< Lottery: fraction of surviving weights pruned per round, (0, 1). Default 0.2. */
    SPT_MP_REWIND_STEP = 17,     /**< Lottery: rewind survivors to their values at this step (0 = initialisation), >= 0. Default 0. */
    SPT_MP_SCORE_BATCHES = 18,   /**< SNIP/GraSP: mini-batches used to score, 1 .. 10^6. Default 1. */
    SPT_MP_SYNFLOW_ITERS = 19,   /**< SynFlow: pruning iterations, 1 .. 10^6. Default 100. */
    SPT_MP_SEED = 20,            /**< Seed of the method's own random state (masks, ties, SET growth), integer in [0, 2^53]. Default 0, whatever the model's and the trainer's seeds: set it too for runs meant to differ. */
    SPT_MP_SPARSE_INIT = 21,     /**< Scale each sparse layer's init by its nonzero fan-in (0/1). Default 1: N(0, 2 / nonzeros of the row), so the signal survives at any density; 0 keeps the dense fan-in (the papers' reproductions). */
    SPT_MP_EPSILON = 22,         /**< Static, SET, SNFS, RigL with ER or ERK: the SET paper's epsilon, [0, 1e9]. > 0: each layer's density is min(1, epsilon * its ER/ERK score) (spt_sparsity_allocate_epsilon(); about epsilon * (n_in + n_out) weights per linear layer) and SPT_MP_SPARSITY is not used; 0 = off. Default 0. */
    SPT_MP_GROW_SAMPLE = 23,     /**< RigL (and user methods growing by #SPT_GROW_GRADIENT): sampled growth, an approximation of RigL for layers too large for the dense gradient, real in [0, 1e9]. m > 0: on an update step each sparse layer growing k weights draws min(inactive, ceil(m k)) of its inactive positions uniformly at random (seeded by SPT_MP_SEED, the step and the layer), its backward computes dL/dW at those positions alone (an SDDMM: O((ceil(m k) + nnz) x batch) work and O(ceil(m k) + nnz + rows) memory instead of rows x cols), and the k of largest |dL/dW| among them and the k just dropped grow, with exact RigL's tie-break. Linear and convolution layers (grouped too); per layer, the same sample for any thread count. A sample of every inactive position (m k >= inactive) grows exactly what exact RigL grows. 0 = exact RigL, the dense gradient at every position. Default 0 (docs/methods.md, "Sampled growth"). */
    SPT_MP_STRUCTURE = 24,       /**< #spt_structure: which groups of weights a method keeps or drops together, orthogonal to the method and to SPT_MP_DISTRIBUTION. Static, SET, RigL and SNFS support #SPT_STRUCTURE_FANIN, #SPT_STRUCTURE_NM and #SPT_STRUCTURE_KERNEL (no structure with SPT_MP_GROW_SAMPLE > 0); GMP and lottery tickets #SPT_STRUCTURE_CHANNEL and #SPT_STRUCTURE_KERNEL (layer-wise ranking only); spt_method_supports_structure() gives the table, and a trainer of an unsupported method and structure fails spt_trainer_create() with #SPT_ERR_UNSUPPORTED naming both. Under fanin and nm the update is SRigL's: the layer drops its floor(f(t) nnz) active weights of smallest |w| (one layer-wide selection), then each row grows back to its count among its positions not kept, by largest |dL/dW| (RigL: the update step's dense gradient), |momentum| (SNFS) or at random (SET), a candidate of nm taken only while its group has room; ties break on a seeded hash, the same for any thread count (docs/methods.md, "Structured sparsity"). Default #SPT_STRUCTURE_UNSTRUCTURED. */
    SPT_MP_STRUCTURE_N = 25,     /**< #SPT_STRUCTURE_NM: at most N active weights in every group of M consecutive inputs of a row, integer 1 .. 10^6, N <= SPT_MP_STRUCTURE_M (checked at trainer creation). Default 2. */
    SPT_MP_STRUCTURE_M = 26,     /**< #SPT_STRUCTURE_NM: the group length M, integer 1 .. 10^6. Default 4. */
    SPT_MP_ABLATION = 27,        /**< RigL under #SPT_STRUCTURE_FANIN: SRigL's neuron ablation (Lasby et al. 2024), the threshold gamma in [0, 1]. > 0: on each update step, before the drop/grow, a sparse layer's salient weights are those unconstrained RigL would keep or grow (the nnz - k largest |w| and the k largest |dL/dW| elsewhere, k the layer's move count); a neuron (row) with fewer than max(1, floor(gamma x f0)) salient weights (f0 the layer's fan-in without ablation) is removed (all its weights dropped; a removed neuron whose gradients turn salient again comes back at a later update), but never so many that the live rows could not hold the layer's budget (at least ceil(planned nnz / cols) rows, the ones with most salient weights, stay) and the layer's budget is shared by the others: their fan-in becomes min(cols, round(planned nnz / live rows)). RigL with a nonzero value and another structure fails spt_trainer_create() with #SPT_ERR_UNSUPPORTED. 0 = off. Default 0 (docs/methods.md, "Structured sparsity"). */
    SPT_MP_COUNT_ = 28           /**< Number of keys (not a key). */
} spt_method_param;

/** Values of #SPT_MP_STRUCTURE (pinned). A row is an output neuron of a
 * linear layer or an output filter of a convolution (its inputs are
 * in_channels/groups x kh x kw, the kernel taps of one input channel
 * consecutive). Layers kept dense (density 1) are not affected. */
typedef enum spt_structure {
    SPT_STRUCTURE_UNSTRUCTURED = 0, /**< Any single weight is kept or dropped ("unstructured"). */
    SPT_STRUCTURE_KERNEL = 1,       /**< Whole kh x kw kernels of a convolution ("kernel"): the kh*kw consecutive inputs of one input channel of a row (a linear layer's kernels are its single weights: it runs unstructured). Static, SET, RigL, SNFS: the initial kernels uniform at random (a layer planned at nnz holds round(nnz / (kh kw)) kernels, at least 1), and on an update step the k = floor(f(t) x active kernels) kernels of smallest L2 norm of their weights drop and k grow among the kernels not kept by largest L2 norm of their dense gradient (RigL) or momentum (SNFS), or at random (SET). GMP and lottery tickets, layer-wise (#SPT_MP_GLOBAL 0): a kernel's score is the L2 norm of its weights, the schedule counts kernels (a layer planned at nnz keeps round(nnz / (kh kw)) of them at the end, at least 1), whole kernels are pruned. */
    SPT_STRUCTURE_CHANNEL = 2,      /**< Whole rows: output neurons or filters ("channel"). GMP and lottery tickets, layer-wise (#SPT_MP_GLOBAL 0): a row's score is the L2 norm of its weights, the schedule counts rows (round(nnz / cols) at the end, at least 1), whole rows are pruned. The last layer's rows are the classes: keep it dense (#SPT_MP_DENSE_LAST). */
    SPT_STRUCTURE_NM = 3,           /**< At most N of every M consecutive inputs of a row (SPT_MP_STRUCTURE_N, SPT_MP_STRUCTURE_M; "nm", alias "n:m"). The initial topology has exactly min(N, g) in each group of g <= M inputs (the last group of a row may be shorter), so a layer's density is about N / M whatever SPT_MP_SPARSITY and SPT_MP_DISTRIBUTION say (they still pick the layers kept dense); drop/grow keeps each row's count and moves weights only into groups with room. */
    SPT_STRUCTURE_FANIN = 4         /**< Constant fan-in ("fanin"): every row of a sparse layer has exactly f = clamp(round(nnz / rows), 1, cols) active inputs, nnz the layer's planned count (so the layer's nnz is rows x f); drop/grow drops the layer's floor(drop fraction x nnz) smallest magnitudes over the whole layer and grows every row back to f (SRigL), so every row keeps exactly f. */
} spt_structure;

/**
 * Create a configuration for `method` with every knob at its default.
 * @param method an #spt_method value.
 * @param[out] out receives the handle (NULL on failure); free it with spt_method_config_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (out); #SPT_ERR_INVALID for an unknown method; #SPT_ERR_NOMEM.
 */
SPT_API int spt_method_config_create(int method, spt_method_config **out);

/** Free a configuration.
 * @param cfg the configuration, or NULL (no-op). */
SPT_API void spt_method_config_destroy(spt_method_config *cfg);

/**
 * Set one knob. The value is validated against the key's domain (see
 * #spt_method_param); on failure the configuration is unchanged. Keys a
 * method does not use are accepted and ignored. Relations between keys
 * (e.g. GMP's end after its start, a reachable sparsity) are checked when a
 * trainer is created.
 * @param cfg   the configuration.
 * @param key   an #spt_method_param key.
 * @param value the new value (integer and boolean keys: a whole number).
 * @return #SPT_OK; #SPT_ERR_NULL (cfg); #SPT_ERR_INVALID for an unknown key or
 *         a value outside its domain (NaN included).
 */
SPT_API int spt_method_config_set(spt_method_config *cfg, int key, double value);

/**
 * Read one knob (its default if never set).
 * @param cfg   the configuration.
 * @param key   an #spt_method_param key.
 * @param[out] value receives the value.
 * @return #SPT_OK; #SPT_ERR_NULL (cfg or value); #SPT_ERR_INVALID for an unknown key.
 */
SPT_API int spt_method_config_get(const spt_method_config *cfg, int key, double *value);

/**
 * The method this configuration names.
 * @param cfg  the configuration.
 * @param[out] method receives an #spt_method value.
 * @return #SPT_OK; #SPT_ERR_NULL (cfg or method).
 */
SPT_API int spt_method_config_method(const spt_method_config *cfg, int *method);

/**
 * Give explicit per-layer densities instead of an allocator: densities[l] in
 * (0, 1] for each of the model's n weight layers, in model order. Overrides
 * SPT_MP_SPARSITY and SPT_MP_DISTRIBUTION (layers kept dense by
 * SPT_MP_DENSE_FIRST / SPT_MP_DENSE_LAST still get density 1). The array is
 * copied. n must equal the model's number of weight layers (checked when a
 * trainer is created: #SPT_ERR_SIZE).
 * @param cfg        the configuration.
 * @param densities  n densities; ignored (may be NULL) when n is 0.
 * @param n          number of densities, >= 0; 0 clears them (back to the
 *                   allocator).
 * @return #SPT_OK; #SPT_ERR_NULL (cfg, or densities with n > 0);
 *         #SPT_ERR_SIZE for n < 0; #SPT_ERR_INVALID for a density outside
 *         (0, 1] (NaN included); #SPT_ERR_NOMEM. On failure the configuration
 *         is unchanged.
 */
SPT_API int spt_method_config_set_densities(spt_method_config *cfg, const double *densities, int64_t n);

/**
 * Number of methods: the #spt_method values are 0 .. count - 1 (dense
 * training included). Thread-safe.
 * @return the number of methods this library knows.
 */
SPT_API int spt_method_count(void);

/**
 * One line saying what a method does, with its paper. Thread-safe.
 * @param method an #spt_method value.
 * @return static text; NULL for an unknown value.
 */
SPT_API const char *spt_method_summary(int method);

/**
 * Whether a method is defined by a caller's criteria (#SPT_METHOD_USER:
 * made by spt_method_config_create_user(), refused by
 * spt_method_config_create()). Programs that offer the library's methods
 * by name list the others. Thread-safe.
 * @param method an #spt_method value.
 * @param[out] is_user receives 1 or 0.
 * @return #SPT_OK; #SPT_ERR_NULL (is_user); #SPT_ERR_INVALID for an unknown method.
 */
SPT_API int spt_method_is_user(int method, int *is_user);

/**
 * Name of a method. Thread-safe.
 * @param method an #spt_method value.
 * @return "dense", "static", "set", "snfs", "rigl", "gmp", "lottery",
 *         "snip", "grasp" or "synflow" (static text); NULL for an unknown value.
 */
SPT_API const char *spt_method_name(int method);

/**
 * The method with the given name (as spt_method_name() gives, lower case).
 * Thread-safe.
 * @param name   the name, NUL-terminated.
 * @param[out] method receives the #spt_method value; unchanged on failure.
 * @return #SPT_OK; #SPT_ERR_NULL (name or method); #SPT_ERR_INVALID for an
 *         unknown name.
 */
SPT_API int spt_method_from_name(const char *name, int *method);

/** @name Parameter metadata
 * What the library knows about its methods and their parameters, for
 * command lines, bindings and tools that list them (as zstd's
 * ZSTD_cParam_getBounds): each #spt_method_param key has a name, a one-line
 * description, a type, a domain and a default, and each method says which
 * keys it reads and which defaults it changes. Every function here reads
 * constant tables only: thread-safe, usable before any handle exists. A
 * failure records a message for spt_last_error() (thread-local) and leaves
 * the outputs unchanged.
 * @{
 */

/** Type of a method parameter (spt_method_param_type()). Values are pinned.
 * Every value is passed as a double; the domain of every type but
 * #SPT_PARAM_REAL holds whole numbers only. */
typedef enum spt_param_type {
    SPT_PARAM_REAL = 0,    /**< A real number. */
    SPT_PARAM_INTEGER = 1, /**< A whole number. */
    SPT_PARAM_BOOLEAN = 2, /**< 0 (off) or 1 (on). */
    SPT_PARAM_CHOICE = 3   /**< One of n named values 0 .. n - 1 (an enum such as #spt_distribution): see
                                spt_method_param_choice_name(). */
} spt_param_type;

/** Bits of the `flags` of spt_method_param_bounds(). Values are pinned. */
typedef enum spt_param_bound_flag {
    SPT_PARAM_LO_OPEN = 1, /**< The lower bound itself is excluded: values must be > lo (else >= lo). */
    SPT_PARAM_HI_OPEN = 2  /**< The upper bound itself is excluded: values must be < hi (else <= hi). */
} spt_param_bound_flag;

/**
 * Number of parameter keys: the #spt_method_param values are 0 .. count - 1
 * (#SPT_MP_COUNT_ of the header the caller was built with; a newer library
 * may know more). Thread-safe.
 * @return the number of keys this library knows.
 */
SPT_API int spt_method_param_count(void);

/**
 * Name of a parameter key: the key's name in lower case without the SPT_MP_
 * prefix ("sparsity", "delta_t", "global", ...). Thread-safe.
 * @param key an #spt_method_param value.
 * @return static text; NULL for an unknown key.
 */
SPT_API const char *spt_method_param_name(int key);

/**
 * The key with the given name (as spt_method_param_name() gives; exact,
 * lower case). Thread-safe.
 * @param name the name, NUL-terminated.
 * @param[out] key receives the #spt_method_param value; unchanged on failure.
 * @return #SPT_OK; #SPT_ERR_NULL (name or key); #SPT_ERR_INVALID for an
 *         unknown name.
 */
SPT_API int spt_method_param_from_name(const char *name, int *key);

/**
 * One line (no final period, no newline) saying what a parameter does.
 * Thread-safe.
 * @param key an #spt_method_param value.
 * @return static text; NULL for an unknown key.
 */
SPT_API const char *spt_method_param_doc(int key);

/**
 * Type of a parameter. Thread-safe.
 * @param key an #spt_method_param value.
 * @param[out] type receives an #spt_param_type value; unchanged on failure.
 * @return #SPT_OK; #SPT_ERR_NULL (type); #SPT_ERR_INVALID for an unknown key.
 */
SPT_API int spt_method_param_type(int key, int *type);

/**
 * Domain of a parameter: exactly the values spt_method_config_set() accepts
 * for `key` (both read the same table). A value v is accepted iff it is not
 * NaN, lo <= v <= hi, v != lo when #SPT_PARAM_LO_OPEN is set, v != hi when
 * #SPT_PARAM_HI_OPEN is set, and v is a whole number unless the key's type
 * is #SPT_PARAM_REAL. Booleans have [0, 1], choices [0, n - 1] with n names.
 * Sentinels inside the domain keep their meaning (e.g. -1 for
 * #SPT_MP_T_END). A default may lie outside the domain when it means "not
 * set" (#SPT_MP_LOTTERY_ROUNDS reads 0 until set). Thread-safe.
 * @param key an #spt_method_param value.
 * @param[out] lo    receives the lower bound (may be NULL).
 * @param[out] hi    receives the upper bound (may be NULL).
 * @param[out] flags receives a combination of #spt_param_bound_flag bits (may be NULL).
 * @return #SPT_OK; #SPT_ERR_INVALID for an unknown key (outputs unchanged).
 */
SPT_API int spt_method_param_bounds(int key, double *lo, double *hi, int *flags);

/**
 * Default of a parameter for a method: the value spt_method_config_get()
 * returns for `key` on a fresh spt_method_config_create(method), i.e. the
 * key's own default unless the method overrides it (e.g. #SPT_MP_GLOBAL is 1
 * for SNIP, GraSP and SynFlow). Defined for every key, used by the method or
 * not. Thread-safe.
 * @param method an #spt_method value.
 * @param key    an #spt_method_param value.
 * @param[out] value receives the default; unchanged on failure.
 * @return #SPT_OK; #SPT_ERR_NULL (value); #SPT_ERR_INVALID for an unknown
 *         method or key.
 */
SPT_API int spt_method_param_default(int method, int key, double *value);

/**
 * Whether a method reads a parameter (keys it does not read are accepted by
 * spt_method_config_set() and ignored). Dense training reads none.
 * Thread-safe.
 * @param method an #spt_method value.
 * @param key    an #spt_method_param value.
 * @param[out] uses receives 1 if the method reads the key, else 0; unchanged
 *             on failure.
 * @return #SPT_OK; #SPT_ERR_NULL (uses); #SPT_ERR_INVALID for an unknown
 *         method or key.
 */
SPT_API int spt_method_uses_param(int method, int key, int *uses);

/**
 * Name of a value of a choice parameter (#SPT_PARAM_CHOICE:
 * #SPT_MP_DISTRIBUTION gives "uniform", "er", "erk"; #SPT_MP_DROP_SCHEDULE
 * "cosine", "linear", "constant"; #SPT_MP_STRUCTURE "unstructured",
 * "kernel", "channel", "nm", "fanin"). Thread-safe.
 * @param key   an #spt_method_param value.
 * @param value a value in the key's domain.
 * @return static text; NULL when the key is unknown or not a choice, or the
 *         value is not one of its values.
 */
SPT_API const char *spt_method_param_choice_name(int key, int value);

/**
 * The value of a choice parameter with the given name: a name
 * spt_method_param_choice_name() gives, or an alias ("erdos_renyi" for
 * "er", "n:m" for "nm"). Exact match, lower case. Thread-safe.
 * @param key  an #spt_method_param value of type #SPT_PARAM_CHOICE.
 * @param name the name, NUL-terminated.
 * @param[out] value receives the value; unchanged on failure.
 * @return #SPT_OK; #SPT_ERR_NULL (name or value); #SPT_ERR_INVALID for an
 *         unknown key, a key that is not a choice, or an unknown name.
 */
SPT_API int spt_method_param_choice_from_name(int key, const char *name, int *value);

/**
 * Whether a method supports a structure (#SPT_MP_STRUCTURE): a trainer of
 * a configuration naming an unsupported one fails with
 * #SPT_ERR_UNSUPPORTED. Every method supports #SPT_STRUCTURE_UNSTRUCTURED.
 * Thread-safe.
 * @param method an #spt_method value.
 * @param structure an #spt_structure value.
 * @param[out] supported receives 1 or 0; unchanged on failure.
 * @return #SPT_OK; #SPT_ERR_NULL (supported); #SPT_ERR_INVALID for an
 *         unknown method or structure.
 */
SPT_API int spt_method_supports_structure(int method, int structure, int *supported);

/** @} */

/**
 * Number of training rounds the configured method runs. Lottery tickets
 * train R + 1 rounds: a first (dense) round, then after each of the R
 * pruning rounds a retraining round; the caller ends each of the first R
 * rounds with spt_trainer_end_round(). R is SPT_MP_LOTTERY_ROUNDS when set,
 * else the fewest rounds with (1 - SPT_MP_LOTTERY_RATE)^R <= 1 - SPT_MP_SPARSITY.
 * Every other method trains in 1 round. Use it to size a run before
 * creating the trainer (total_steps = rounds x steps per round). Reads cfg only.
 * @param cfg     the configuration.
 * @param[out] rounds receives the number of rounds, >= 1.
 * @return #SPT_OK; #SPT_ERR_NULL (cfg or rounds); #SPT_ERR_INVALID (the
 *         sparsity needs more than 1000 rounds at the configured rate).
 */
SPT_API int spt_method_config_rounds(const spt_method_config *cfg, int64_t *rounds);

#ifdef __cplusplus
}
#endif
#endif
