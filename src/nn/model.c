/* The model container: layer sequence, buffers, forward / backward, the
 * training step without the update, evaluation (see model.h). */
#include <math.h>
#include <string.h>

#include "layers.h"
#include "model.h"

static bool same_shape(spti_shape a, spti_shape b) { return a.c == b.c && a.h == b.h && a.w == b.w; }

/* The layers of the description's nodes, in order, with their inputs. */
static int build_layers(spti_model *m) {
    const spti_net *net = m->net;
    const int n = (int)net->n;
    m->layers = spti_calloc(n, sizeof *m->layers);
    m->inputs = spti_alloc(2 * (int64_t)n, sizeof *m->inputs);
    m->n_inputs = spti_alloc(n, sizeof *m->n_inputs);
    if (!m->layers || !m->inputs || !m->n_inputs) return spti_fail(SPT_ERR_NOMEM, "model: out of memory");
    for (int i = 0; i < n; i++) {
        int64_t *in = &m->inputs[2 * i];
        SPTI_TRY(spti_net_check_node(net, i));
        const int k = spti_net_inputs(net, i, in);
        spti_shape shapes[SPTI_NODE_MAX_INPUTS];
        for (int j = 0; j < k; j++) shapes[j] = in[j] == SPTI_NET_INPUT ? m->in_shape : m->layers[in[j]]->out_shape;
        m->n_inputs[i] = k;
        SPTI_TRY(spti_net_build_layer(net, i, shapes, &m->layers[i]));
        m->n_layers = i + 1;
        spti_layer *L = m->layers[i];
        if (!same_shape(L->in_shape, shapes[0]))
            return spti_fail(SPT_ERR_INTERNAL, "model: layer %s was built for another input shape", L->name);
        L->shared = m->scratch; /* one column buffer, one growth stream's blocks for every layer */
        const double density = spti_net_density(net, i);
        if (L->n_params > 0 && L->params[0]->is_weight) L->params[0]->density = density;
    }
    return SPT_OK;
}

/* Every node's output is read by a later node, but the last (the logits). */
static int check_all_used(const spti_model *m) {
    bool *used = spti_calloc(m->n_layers, sizeof *used);
    if (!used) return spti_fail(SPT_ERR_NOMEM, "model: out of memory");
    for (int i = 0; i < m->n_layers; i++)
        for (int j = 0; j < m->n_inputs[i]; j++)
            if (m->inputs[2 * i + j] != SPTI_NET_INPUT) used[m->inputs[2 * i + j]] = true;
    int unused = -1;
    for (int i = 0; i < m->n_layers - 1 && unused < 0; i++)
        if (!used[i]) unused = i;
    spti_free(used);
    if (unused >= 0)
        return spti_fail(SPT_ERR_INVALID, "model: the output of node %s is never used (only the last node's is the output)",
                         m->layers[unused]->name);
    return SPT_OK;
}

/* Fused blocks: a batch norm whose only reader is the next node, a ReLU,
 * runs both (fuse 1); one whose only reader is the next node, an addition
 * read only by a ReLU right after it, runs all three (fuse 2: the
 * residual block's bn2 + add + relu2). The intermediate outputs are never
 * written, nor allocated (spti_model_reserve): nothing reads them. With
 * `on` false nothing is fused (the tests compare both plans). */
static void free_acts(float **acts, int n);

int spti_model_set_fusion(spti_model *m, bool on) {
    const int n = m->n_layers;
    if (!m->fuse) {
        m->fuse = spti_calloc(n, sizeof *m->fuse);
        m->head = spti_alloc(n, sizeof *m->head);
        if (!m->fuse || !m->head) return spti_fail(SPT_ERR_NOMEM, "model: out of memory");
    }
    int *readers = spti_calloc(n, sizeof *readers);
    if (!readers) return spti_fail(SPT_ERR_NOMEM, "model: out of memory");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m->n_inputs[i]; j++)
            if (m->inputs[2 * i + j] != SPTI_NET_INPUT) readers[m->inputs[2 * i + j]]++;
    for (int i = 0; i < n; i++) {
        m->fuse[i] = 0;
        m->head[i] = -1;
    }
    for (int i = 0; on && i + 1 < n; i++) {
        if (!m->layers[i]->ops->forward_act || readers[i] != 1) continue;
        const spti_layer *next = m->layers[i + 1];
        int f = 0;
        if (spti_layer_is_relu(next) && m->inputs[2 * (i + 1)] == i)
            f = 1;
        else if (spti_layer_is_add(next) && i + 2 < n && readers[i + 1] == 1 && spti_layer_is_relu(m->layers[i + 2]) &&
                 m->inputs[2 * (i + 2)] == i + 1 && m->inputs[2 * (i + 1)] != m->inputs[2 * (i + 1) + 1])
            f = 2;
        if (f == 0) continue;
        m->fuse[i] = f;
        m->head[i + f] = i;
        i += f;
    }
    spti_free(readers);
    /* The buffers follow the plan (inner nodes of a block have none): a new
     * plan gets new ones at the next reserve. */
    if (m->acts) {
        free_acts(m->acts, m->n_layers);
        m->acts = NULL;
        m->act_cap = 0;
    }
    return SPT_OK;
}

/* The parameter list in node order. */
static int list_params(spti_model *m) {
    int64_t np = 0;
    for (int i = 0; i < m->n_layers; i++) np += m->layers[i]->n_params;
    m->params = spti_alloc(np > 0 ? np : 1, sizeof *m->params);
    if (!m->params) return spti_fail(SPT_ERR_NOMEM, "model: out of memory for the parameter list");
    np = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int j = 0; j < m->layers[i]->n_params; j++) m->params[np++] = m->layers[i]->params[j];
    m->n_params = np;
    return SPT_OK;
}

/* Parameter names must differ (checkpoints find parameters by them). */
static int check_param_names(const spti_model *m) {
    for (int64_t i = 0; i < m->n_params; i++)
        for (int64_t j = 0; j < i; j++)
            if (strcmp(m->params[i]->name, m->params[j]->name) == 0)
                return spti_fail(SPT_ERR_INVALID, "model: two parameters are named %s (node names too long?)",
                                 m->params[i]->name);
    return SPT_OK;
}

int spti_model_create(const spti_net *net, uint64_t seed, spti_model **out) {
    *out = NULL;
    if (net->n < 1) return spti_fail(SPT_ERR_SIZE, "model: the description has no layers");
    spti_model *m = spti_calloc(1, sizeof *m);
    if (!m) return spti_fail(SPT_ERR_NOMEM, "model: out of memory");
    m->in_shape = net->in;
    m->seed = seed;
    spti_rng_seed(&m->rng, seed);
    int rc = spti_net_clone(net, &m->net);
    if (rc == SPT_OK) rc = build_layers(m);
    if (rc == SPT_OK) rc = check_all_used(m);
    if (rc == SPT_OK) rc = spti_model_set_fusion(m, true);
    if (rc == SPT_OK) rc = list_params(m);
    if (rc == SPT_OK) rc = check_param_names(m);
    if (rc == SPT_OK) {
        m->leaves = m->layers;
        m->n_leaves = m->n_layers;
        m->classes = spti_shape_size(m->layers[m->n_layers - 1]->out_shape);
        rc = spti_model_init_params(m);
    }
    if (rc != SPT_OK) {
        spti_model_destroy(m);
        return rc;
    }
    *out = m;
    return SPT_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

int spti_model_materialize(spti_model *m) {
    if (!m->init_pending) return SPT_OK;
    for (int64_t i = 0; i < m->n_params; i++) SPTI_TRY(spti_param_materialize(m->params[i]));
    m->init_pending = false;
    return SPT_OK;
}

int spti_model_init_params(spti_model *m) {
    for (int64_t i = 0; i < m->n_params; i++) {
        spti_param *p = m->params[i];
        if (p->kind != SPTI_PARAM_DENSE)
            return spti_fail(SPT_ERR_STATE, "model: parameter %s is not dense at initialisation", p->name);
        if (p->is_weight) {
            /* N(0, 2 / fan_in) from the weight's own stream, written when
             * its form is known (param.h: spti_param_materialize, or the
             * active entries alone by spti_param_sparsify). */
            spti_rng_split(&m->rng, &p->init_rng);
            p->init_pending = true;
            m->init_pending = true;
        } else if (ends_with(p->name, ".weight")) {
            for (int64_t k = 0; k < p->n; k++) p->value[k] = 1.0f; /* BatchNorm gamma */
        } else {
            SPTI_TRY(spti_init_zero(p)); /* biases, BatchNorm beta */
        }
    }
    return SPT_OK;
}

static void free_acts(float **acts, int n) {
    if (acts)
        for (int i = 0; i < n; i++) spti_free(acts[i]);
    spti_free(acts);
}

static void free_pool(spti_model *m) {
    for (int i = 0; i < m->n_pool; i++) spti_free(m->pool[i]);
    spti_free(m->pool);
    spti_free(m->pool_busy);
    m->pool = NULL;
    m->pool_busy = NULL;
    m->n_pool = 0;
}

void spti_model_destroy(spti_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_layers; i++) spti_layer_destroy(m->layers[i]);
    spti_free(m->layers);
    spti_free(m->inputs);
    spti_free(m->n_inputs);
    spti_free(m->fuse);
    spti_free(m->head);
    spti_free(m->zero_ch);
    for (int i = 0; i < SPTI_SCRATCH_SLOTS; i++) spti_free(m->scratch[i].p);
    spti_free(m->params);
    spt_net_destroy(m->net);
    free_acts(m->acts, m->n_layers);
    free_pool(m);
    spti_free(m->grads);
    spti_free(m->dlogits);
    spti_free(m);
}

int spti_model_reserve(spti_model *m, int64_t N) {
    if (N < 1) return spti_fail(SPT_ERR_SIZE, "model: batch size %lld must be >= 1", (long long)N);
    if (N <= m->act_cap && m->acts) return SPT_OK;
    for (int i = 0; i < m->n_layers; i++) SPTI_TRY(spti_shape_elems(m->layers[i]->out_shape, N, &(int64_t){0}));
    float **acts = spti_calloc(m->n_layers, sizeof *acts), **grads = spti_calloc(m->n_layers, sizeof *grads);
    float *dl = spti_alloc(m->classes * N, sizeof(float));
    bool ok = acts && grads && dl;
    for (int i = 0; ok && i < m->n_layers; i++) {
        if (m->fuse[i]) { /* a fused block writes only its last node's output: no buffer for the others */
            i += m->fuse[i] - 1;
            continue;
        }
        ok = (acts[i] = spti_alloc(spti_shape_size(m->layers[i]->out_shape) * N, sizeof(float))) != NULL;
    }
    if (!ok) {
        free_acts(acts, m->n_layers);
        spti_free(grads);
        spti_free(dl);
        return spti_fail(SPT_ERR_NOMEM, "model: out of memory for the buffers of a batch of %lld", (long long)N);
    }
    free_acts(m->acts, m->n_layers);
    free_pool(m); /* its buffers were sized for the old batch */
    spti_free(m->grads);
    spti_free(m->dlogits);
    m->acts = acts;
    m->grads = grads;
    m->dlogits = dl;
    m->act_cap = N;
    m->last_N = 0;
    return SPT_OK;
}

/* Input j of node i for a batch whose input is x. */
static const float *input_of(const spti_model *m, const float *x, int i, int j) {
    const int64_t k = m->inputs[2 * i + j];
    return k == SPTI_NET_INPUT ? x : m->acts[k];
}

/* The input channels of node i known to be 0 (spti_fwd_ctx.zero_in), for a
 * batch norm (the layer with forward_act) reading a layer that flags some
 * (a channel-pruned weight's empty rows); else NULL, as when the flags'
 * buffer cannot be had (nothing is skipped then). */
static const uint8_t *zero_inputs(spti_model *m, int i) {
    const int64_t k = m->inputs[2 * i];
    if (!m->layers[i]->ops->forward_act || m->n_inputs[i] != 1 || k == SPTI_NET_INPUT ||
        !m->layers[k]->ops->zero_channels)
        return NULL;
    const int64_t c = m->layers[k]->out_shape.c;
    if (m->zero_cap < c) {
        uint8_t *b = spti_alloc(c, 1);
        if (!b) return NULL;
        spti_free(m->zero_ch);
        m->zero_ch = b;
        m->zero_cap = c;
    }
    return m->layers[k]->ops->zero_channels(m->layers[k], m->zero_ch) ? m->zero_ch : NULL;
}

int spti_model_forward(spti_model *m, const float *x, int64_t N, bool training, const float **logits) {
    SPTI_TRY(spti_model_materialize(m));
    SPTI_TRY(spti_model_reserve(m, N));
    spti_fwd_ctx ctx = {training, &m->rng, NULL};
    m->last_N = 0;
    for (int i = 0; i < m->n_layers; i++) {
        spti_layer *L = m->layers[i];
        ctx.zero_in = zero_inputs(m, i);
        if (m->fuse[i]) {
            /* into the block's last output; the residual is the addition's other input */
            const int j = i + m->fuse[i];
            const float *res = m->fuse[i] == 2 ? input_of(m, x, i + 1, m->inputs[2 * (i + 1)] == i ? 1 : 0) : NULL;
            SPTI_TRY(L->ops->forward_act(L, input_of(m, x, i, 0), res, true, m->acts[j], N, &ctx));
            i = j;
        } else if (m->n_inputs[i] == 1) {
            SPTI_TRY(L->ops->forward(L, input_of(m, x, i, 0), m->acts[i], N, &ctx));
        } else {
            const float *xs[2] = {input_of(m, x, i, 0), input_of(m, x, i, 1)};
            SPTI_TRY(L->ops->forward2(L, xs, m->acts[i], N, &ctx));
        }
    }
    m->last_N = N;
    m->last_training = training;
    if (logits) *logits = m->acts[m->n_layers - 1];
    return SPT_OK;
}

/* A free gradient buffer of the pool (grown as needed), or NULL. */
static float *pool_take(spti_model *m) {
    for (int i = 0; i < m->n_pool; i++)
        if (!m->pool_busy[i]) {
            m->pool_busy[i] = true;
            return m->pool[i];
        }
    int64_t elems = 0;
    for (int i = 0; i < m->n_layers; i++) {
        int64_t e = spti_shape_size(m->layers[i]->out_shape) * m->act_cap;
        if (e > elems) elems = e;
    }
    float **np = spti_alloc(m->n_pool + 1, sizeof *np);
    bool *nb = spti_alloc(m->n_pool + 1, sizeof *nb);
    float *buf = spti_alloc(elems, sizeof(float));
    if (!np || !nb || !buf) {
        spti_free(np);
        spti_free(nb);
        spti_free(buf);
        spti_fail(SPT_ERR_NOMEM, "model: out of memory for a gradient buffer");
        return NULL;
    }
    if (m->n_pool) {
        memcpy(np, m->pool, (size_t)m->n_pool * sizeof *np);
        memcpy(nb, m->pool_busy, (size_t)m->n_pool * sizeof *nb);
    }
    spti_free(m->pool);
    spti_free(m->pool_busy);
    m->pool = np;
    m->pool_busy = nb;
    m->pool[m->n_pool] = buf;
    m->pool_busy[m->n_pool++] = true;
    return buf;
}

static void pool_give(spti_model *m, float *buf) {
    for (int i = 0; i < m->n_pool; i++)
        if (m->pool[i] == buf) m->pool_busy[i] = false;
}

/* The backward of node i, or of the fused block that ends at node i: its
 * inputs' gradients are written when they are not live yet, else added (a
 * node read twice, e.g. a residual input). A fused block's inputs are the
 * batch norm's and the addition's other one (the residual). */
static int node_backward(spti_model *m, const float *x, int i, int64_t N) {
    const int h = m->head[i];
    spti_layer *L = m->layers[h >= 0 ? h : i];
    int64_t in[SPTI_NODE_MAX_INPUTS];
    int n_in = m->n_inputs[i];
    for (int j = 0; j < n_in; j++) in[j] = m->inputs[2 * i + j];
    if (h >= 0) {
        in[0] = m->inputs[2 * h];
        n_in = m->fuse[h] == 2 ? 2 : 1;
        if (n_in == 2) in[1] = m->inputs[2 * (h + 1) + (m->inputs[2 * (h + 1)] == h ? 1 : 0)];
    }
    float *dx[SPTI_NODE_MAX_INPUTS] = {NULL, NULL}, *scratch[SPTI_NODE_MAX_INPUTS] = {NULL, NULL};
    for (int j = 0; j < n_in; j++) {
        const int64_t k = in[j];
        if (k == SPTI_NET_INPUT) continue; /* the model's input needs no gradient */
        const bool live = m->grads[k] != NULL || (j == 1 && in[0] == k);
        float *b = pool_take(m);
        if (!b) return SPT_ERR_NOMEM;
        if (live) scratch[j] = b;
        else m->grads[k] = b;
        dx[j] = b;
    }
    int rc;
    if (h >= 0) {
        rc = L->ops->backward_act(L, input_of(m, x, h, 0), m->acts[i], m->grads[i], true, dx[0], dx[1], N);
    } else if (m->n_inputs[i] == 1) {
        rc = L->ops->backward(L, input_of(m, x, i, 0), m->acts[i], m->grads[i], dx[0], N);
    } else {
        const float *xs[2] = {input_of(m, x, i, 0), input_of(m, x, i, 1)};
        rc = L->ops->backward2(L, xs, m->acts[i], m->grads[i], dx, N);
    }
    for (int j = 0; j < n_in; j++) {
        if (!scratch[j]) continue;
        float *g = m->grads[in[j]];
        const float *s = scratch[j];
        const int64_t n = spti_shape_size(m->layers[in[j]]->out_shape) * N;
        if (rc == SPT_OK)
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= (1 << 16))
            for (int64_t e = 0; e < n; e++) g[e] += s[e];
        pool_give(m, scratch[j]);
    }
    return rc;
}

int spti_model_backward(spti_model *m, const float *x, const float *dlogits, int64_t N) {
    if (m->last_N != N)
        return spti_fail(SPT_ERR_STATE, "model: backward of a batch of %lld without its forward", (long long)N);
    for (int i = 0; i < m->n_layers; i++) m->grads[i] = NULL;
    for (int i = 0; i < m->n_pool; i++) m->pool_busy[i] = false;
    m->grads[m->n_layers - 1] = (float *)dlogits; /* read only */
    int rc = SPT_OK;
    for (int i = m->n_layers - 1; i >= 0 && rc == SPT_OK; i--) {
        if (m->grads[i]) rc = node_backward(m, x, i, N);
        if (i < m->n_layers - 1 && m->grads[i]) pool_give(m, m->grads[i]);
        m->grads[i] = NULL;
        if (m->head[i] >= 0) i = m->head[i]; /* the block's inner nodes had no gradient */
    }
    return rc;
}

void spti_model_zero_grad(spti_model *m) {
    for (int64_t i = 0; i < m->n_params; i++) {
        spti_param *p = m->params[i];
        memset(p->grad, 0, (size_t)p->n * sizeof(float));
        if (p->result.dense_grad) memset(p->result.dense_grad, 0, (size_t)(p->rows * p->cols) * sizeof(float));
    }
}

static int64_t first_nonfinite(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return -1;
}

int spti_model_check_grads(const spti_model *m) {
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *p = m->params[i];
        int64_t k = first_nonfinite(p->grad, p->n);
        if (k >= 0)
            return spti_fail(SPT_ERR_NONFINITE, "model: gradient of %s is not finite (entry %lld)", p->name,
                             (long long)k);
    }
    return SPT_OK;
}

/* After a non-finite loss: say where the first non-finite value appeared. */
static int locate_nonfinite(const spti_model *m, const float *x, int64_t N, double loss) {
    if (first_nonfinite(x, spti_shape_size(m->in_shape) * N) >= 0)
        return spti_fail(SPT_ERR_NONFINITE, "model: the input batch holds NaN or Inf");
    for (int i = 0; i < m->n_layers; i++) {
        /* a fused block writes only its last node's output: the others hold an older batch */
        const int last = i + m->fuse[i];
        if (first_nonfinite(m->acts[last], spti_shape_size(m->layers[last]->out_shape) * N) >= 0)
            return spti_fail(SPT_ERR_NONFINITE, "model: the output of layer %s%s%s is not finite", m->layers[last]->name,
                             last > i ? ", ending the fused block of " : "", last > i ? m->layers[i]->name : "");
        i = last;
    }
    return spti_fail(SPT_ERR_NONFINITE, "model: the loss is not finite (%g)", loss);
}

int spti_model_train_forward(spti_model *m, const float *x, const int32_t *labels, int64_t N, double *loss,
                             int64_t *correct) {
    for (int64_t n = 0; n < N; n++)
        if (labels[n] < 0 || labels[n] >= m->classes)
            return spti_fail(SPT_ERR_INVALID, "model: label %d of example %lld is outside [0, %lld)", (int)labels[n],
                             (long long)n, (long long)m->classes);
    SPTI_TRY(spti_model_materialize(m)); /* before the gradients are zeroed */
    spti_model_zero_grad(m);
    const float *logits;
    SPTI_TRY(spti_model_forward(m, x, N, true, &logits));
    double l;
    int64_t c;
    SPTI_TRY(spti_softmax_xent(logits, m->classes, N, labels, m->dlogits, &l, &c));
    if (!isfinite(l)) return locate_nonfinite(m, x, N, l);
    if (loss) *loss = l;
    if (correct) *correct = c;
    return SPT_OK;
}

int spti_model_train_backward(spti_model *m, const float *x, int64_t N) {
    SPTI_TRY(spti_model_backward(m, x, m->dlogits, N));
    return spti_model_check_grads(m);
}

int spti_model_train_step(spti_model *m, const float *x, const int32_t *labels, int64_t N, double *loss,
                          int64_t *correct) {
    double l;
    int64_t c;
    SPTI_TRY(spti_model_train_forward(m, x, labels, N, &l, &c));
    SPTI_TRY(spti_model_train_backward(m, x, N));
    if (loss) *loss = l;
    if (correct) *correct = c;
    return SPT_OK;
}

int spti_model_eval_batch(spti_model *m, const float *x, const int32_t *labels, int64_t N, double *loss,
                          int64_t *correct) {
    for (int64_t n = 0; n < N; n++)
        if (labels[n] < 0 || labels[n] >= m->classes)
            return spti_fail(SPT_ERR_INVALID, "model: label %d of example %lld is outside [0, %lld)", (int)labels[n],
                             (long long)n, (long long)m->classes);
    const float *logits;
    SPTI_TRY(spti_model_forward(m, x, N, false, &logits));
    double l;
    int64_t c;
    SPTI_TRY(spti_softmax_xent(logits, m->classes, N, labels, NULL, &l, &c));
    if (!isfinite(l)) return locate_nonfinite(m, x, N, l);
    if (loss) *loss = l;
    if (correct) *correct = c;
    return SPT_OK;
}

double spti_model_flops(const spti_model *m, bool dense) {
    double f = 0.0;
    for (int i = 0; i < m->n_layers; i++) f += m->layers[i]->ops->flops(m->layers[i], dense);
    return f;
}
