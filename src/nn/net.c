/*
 * Network descriptions (include/sparsetrain/net.h): the layer-kind and
 * parameter tables, the description's calls, and each node's layer.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "layers.h"
#include "net.h"

/* ---- parameters ------------------------------------------------------------ */

typedef struct {
    const char *name;
    double lo, hi; /* domain [lo, hi] (density and input: checked apart) */
    bool integer;
} param_info;

static const param_info PARAMS[SPT_LP_COUNT_] = {
    [SPT_LP_OUT] = {"out", 1, INT32_MAX, true},
    [SPT_LP_KERNEL] = {"kernel", 1, 1 << 20, true},
    [SPT_LP_STRIDE] = {"stride", 1, 1 << 20, true},
    [SPT_LP_PADDING] = {"padding", 0, 1 << 20, true},
    [SPT_LP_BIAS] = {"bias", 0, 1, true},
    [SPT_LP_RATE] = {"rate", 0, 1, false}, /* [0, 1) */
    [SPT_LP_DENSITY] = {"density", -1, 1, false}, /* -1 or (0, 1] */
    [SPT_LP_INPUT] = {"input", -1, SPTI_NET_MAX_NODES, true},
    [SPT_LP_GROUPS] = {"groups", 1, INT32_MAX, true},
    [SPT_LP_SLOPE] = {"slope", -1e6, 1e6, false},
};

/* Unset required values (outside the domain on purpose). */
static const double UNSET_OUT = 0, UNSET_INPUT = -2;

/* ---- layer kinds --------------------------------------------------------------- */

typedef int (*build_fn)(const spti_net_node *nd, const spti_shape *in, spti_layer **out);

static int64_t pi(const spti_net_node *nd, int key) { return (int64_t)nd->p[key]; }

static int build_linear(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    SPTI_TRY(spti_linear_create(nd->name, spti_shape_size(in[0]), pi(nd, SPT_LP_OUT), pi(nd, SPT_LP_BIAS) != 0, out));
    (*out)->in_shape = in[0]; /* reads C x H x W as its C*H*W features */
    return SPT_OK;
}

static int build_conv2d(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    const int64_t k = pi(nd, SPT_LP_KERNEL);
    const spti_conv2d_spec s = {.c_in = in[0].c,
                                .h = in[0].h,
                                .w = in[0].w,
                                .c_out = pi(nd, SPT_LP_OUT),
                                .kh = k,
                                .kw = k,
                                .stride = pi(nd, SPT_LP_STRIDE),
                                .pad = pi(nd, SPT_LP_PADDING),
                                .bias = pi(nd, SPT_LP_BIAS) != 0,
                                .groups = pi(nd, SPT_LP_GROUPS)};
    return spti_conv2d_create(nd->name, &s, out);
}

static int build_batchnorm(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    return spti_batchnorm2d_create(nd->name, in[0].c, in[0].h, in[0].w, out);
}

static int build_relu(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    return spti_relu_create(nd->name, in[0], out);
}

static int build_maxpool(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    return spti_maxpool2d_create(nd->name, in[0].c, in[0].h, in[0].w, pi(nd, SPT_LP_KERNEL), pi(nd, SPT_LP_STRIDE),
                                 pi(nd, SPT_LP_PADDING), out);
}

static int build_avgpool(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    return spti_avgpool2d_create(nd->name, in[0].c, in[0].h, in[0].w, pi(nd, SPT_LP_KERNEL), pi(nd, SPT_LP_STRIDE),
                                 pi(nd, SPT_LP_PADDING), out);
}

static int build_global_avgpool(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    return spti_global_avgpool_create(nd->name, in[0].c, in[0].h, in[0].w, out);
}

static int build_flatten(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    return spti_flatten_create(nd->name, in[0], out);
}

static int build_dropout(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    return spti_dropout_create(nd->name, in[0], (float)nd->p[SPT_LP_RATE], out);
}

static int build_leaky_relu(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    return spti_leaky_relu_create(nd->name, in[0], (float)nd->p[SPT_LP_SLOPE], out);
}

static int build_tanh(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    return spti_tanh_create(nd->name, in[0], out);
}

static int build_gelu(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    return spti_gelu_create(nd->name, in[0], out);
}

static int build_add(const spti_net_node *nd, const spti_shape *in, spti_layer **out) {
    if (in[0].c != in[1].c || in[0].h != in[1].h || in[0].w != in[1].w)
        return spti_fail(SPT_ERR_SIZE, "add %s: adds %lld x %lld x %lld to %lld x %lld x %lld", nd->name,
                         (long long)in[1].c, (long long)in[1].h, (long long)in[1].w, (long long)in[0].c,
                         (long long)in[0].h, (long long)in[0].w);
    return spti_add_create(nd->name, in[0], out);
}

/* ---- sizes without building (checkpoint limits): output shape, parameters, values ---- */

typedef int (*size_fn)(const spti_net_node *nd, const spti_shape *in, spti_shape *out, int64_t *n_params,
                       int64_t *values);

/* H' = (H + 2 pad - k) / stride + 1, SPT_ERR_SIZE if the kernel does not fit. */
static int window(const spti_net_node *nd, int64_t h, int64_t *out) {
    const int64_t k = pi(nd, SPT_LP_KERNEL), s = pi(nd, SPT_LP_STRIDE), p = pi(nd, SPT_LP_PADDING);
    if (h + 2 * p < k)
        return spti_fail(SPT_ERR_SIZE, "%s: kernel %lld is larger than its padded input (%lld)", nd->name, (long long)k,
                         (long long)(h + 2 * p));
    *out = (h + 2 * p - k) / s + 1;
    return SPT_OK;
}

static int size_same(const spti_net_node *nd, const spti_shape *in, spti_shape *out, int64_t *np, int64_t *v) {
    (void)nd;
    *out = in[0];
    *np = *v = 0;
    return SPT_OK;
}

static int size_linear(const spti_net_node *nd, const spti_shape *in, spti_shape *out, int64_t *np, int64_t *v) {
    const int64_t o = pi(nd, SPT_LP_OUT), b = pi(nd, SPT_LP_BIAS);
    *out = (spti_shape){o, 1, 1};
    *np = 1 + b;
    if (!spti_mul_i64(o, spti_shape_size(in[0]), v) || !spti_add_i64(*v, b * o, v))
        return spti_fail(SPT_ERR_SIZE, "%s: the weight's size overflows", nd->name);
    return SPT_OK;
}

static int size_conv2d(const spti_net_node *nd, const spti_shape *in, spti_shape *out, int64_t *np, int64_t *v) {
    const int64_t o = pi(nd, SPT_LP_OUT), k = pi(nd, SPT_LP_KERNEL), b = pi(nd, SPT_LP_BIAS), g = pi(nd, SPT_LP_GROUPS);
    if (in[0].c % g != 0 || o % g != 0)
        return spti_fail(SPT_ERR_INVALID, "%s: %lld groups do not divide %lld input and %lld output channels", nd->name,
                         (long long)g, (long long)in[0].c, (long long)o);
    int64_t h = 0, w = 0;
    SPTI_TRY(window(nd, in[0].h, &h));
    SPTI_TRY(window(nd, in[0].w, &w));
    *out = (spti_shape){o, h, w};
    *np = 1 + b;
    if (!spti_mul_i64(o, in[0].c / g, v) || !spti_mul_i64(*v, k * k, v) || !spti_add_i64(*v, b * o, v))
        return spti_fail(SPT_ERR_SIZE, "%s: the weight's size overflows", nd->name);
    return SPT_OK;
}

static int size_batchnorm(const spti_net_node *nd, const spti_shape *in, spti_shape *out, int64_t *np, int64_t *v) {
    (void)nd;
    *out = in[0];
    *np = 2;
    *v = 2 * in[0].c;
    return SPT_OK;
}

static int size_pool(const spti_net_node *nd, const spti_shape *in, spti_shape *out, int64_t *np, int64_t *v) {
    int64_t h = 0, w = 0;
    SPTI_TRY(window(nd, in[0].h, &h));
    SPTI_TRY(window(nd, in[0].w, &w));
    *out = (spti_shape){in[0].c, h, w};
    *np = *v = 0;
    return SPT_OK;
}

static int size_global(const spti_net_node *nd, const spti_shape *in, spti_shape *out, int64_t *np, int64_t *v) {
    (void)nd;
    *out = (spti_shape){in[0].c, 1, 1};
    *np = *v = 0;
    return SPT_OK;
}

static int size_flatten(const spti_net_node *nd, const spti_shape *in, spti_shape *out, int64_t *np, int64_t *v) {
    (void)nd;
    *out = (spti_shape){spti_shape_size(in[0]), 1, 1};
    *np = *v = 0;
    return SPT_OK;
}

typedef struct {
    const char *name;
    build_fn build;
    size_fn size;
    int n_inputs;
    /* The keys the kind reads, with their defaults; -1 ends. */
    struct {
        int key;
        double def;
    } keys[10];
} kind_info;

#define END {-1, 0}
/* Indexed by spt_layer_kind (pinned). */
static const kind_info KINDS[SPT_LAYER_KIND_COUNT_] = {
    [SPT_LAYER_LINEAR] = {"linear", build_linear, size_linear, 1,
                          {{SPT_LP_OUT, UNSET_OUT}, {SPT_LP_BIAS, 1}, {SPT_LP_DENSITY, -1}, END}},
    [SPT_LAYER_CONV2D] = {"conv2d", build_conv2d, size_conv2d, 1,
                          {{SPT_LP_OUT, UNSET_OUT}, {SPT_LP_KERNEL, 3}, {SPT_LP_STRIDE, 1}, {SPT_LP_PADDING, 0},
                           {SPT_LP_GROUPS, 1}, {SPT_LP_BIAS, 0}, {SPT_LP_DENSITY, -1}, END}},
    [SPT_LAYER_BATCHNORM] = {"batchnorm", build_batchnorm, size_batchnorm, 1, {END}},
    [SPT_LAYER_RELU] = {"relu", build_relu, size_same, 1, {END}},
    [SPT_LAYER_MAXPOOL] = {"maxpool", build_maxpool, size_pool, 1,
                           {{SPT_LP_KERNEL, 2}, {SPT_LP_STRIDE, 2}, {SPT_LP_PADDING, 0}, END}},
    [SPT_LAYER_AVGPOOL] = {"avgpool", build_avgpool, size_pool, 1,
                           {{SPT_LP_KERNEL, 2}, {SPT_LP_STRIDE, 2}, {SPT_LP_PADDING, 0}, END}},
    [SPT_LAYER_GLOBAL_AVGPOOL] = {"global_avgpool", build_global_avgpool, size_global, 1, {END}},
    [SPT_LAYER_FLATTEN] = {"flatten", build_flatten, size_flatten, 1, {END}},
    [SPT_LAYER_DROPOUT] = {"dropout", build_dropout, size_same, 1, {{SPT_LP_RATE, 0}, END}},
    [SPT_LAYER_ADD] = {"add", build_add, size_same, 2, {{SPT_LP_INPUT, UNSET_INPUT}, END}},
    [SPT_LAYER_LEAKY_RELU] = {"leaky_relu", build_leaky_relu, size_same, 1, {{SPT_LP_SLOPE, 0.01}, END}},
    [SPT_LAYER_TANH] = {"tanh", build_tanh, size_same, 1, {END}},
    [SPT_LAYER_GELU] = {"gelu", build_gelu, size_same, 1, {END}},
};
#undef END

static const kind_info *kind_of(int kind) {
    return kind >= 0 && kind < SPT_LAYER_KIND_COUNT_ ? &KINDS[kind] : NULL;
}

/* Whether kind k reads key; *def its default. */
static bool kind_uses(const kind_info *k, int key, double *def) {
    for (int i = 0; k->keys[i].key >= 0; i++)
        if (k->keys[i].key == key) {
            if (def) *def = k->keys[i].def;
            return true;
        }
    return false;
}

/* ---- metadata ---------------------------------------------------------------------- */

const char *spt_layer_kind_name(int kind) {
    const kind_info *k = kind_of(kind);
    return k ? k->name : NULL;
}

int spt_layer_kind_from_name(const char *name, int *kind) {
    SPTI_CHECK_NULL(name);
    SPTI_CHECK_NULL(kind);
    for (int i = 0; i < SPT_LAYER_KIND_COUNT_; i++)
        if (strcmp(name, KINDS[i].name) == 0) {
            *kind = i;
            return SPT_OK;
        }
    return spti_fail(SPT_ERR_INVALID, "%s: unknown layer kind \"%s\"", __func__, name);
}

const char *spt_layer_param_name(int key) { return key >= 0 && key < SPT_LP_COUNT_ ? PARAMS[key].name : NULL; }

int spt_layer_param_from_name(const char *name, int *key) {
    SPTI_CHECK_NULL(name);
    SPTI_CHECK_NULL(key);
    for (int i = 0; i < SPT_LP_COUNT_; i++)
        if (strcmp(name, PARAMS[i].name) == 0) {
            *key = i;
            return SPT_OK;
        }
    return spti_fail(SPT_ERR_INVALID, "%s: unknown layer parameter \"%s\"", __func__, name);
}

int spt_layer_param_default(int kind, int key, int *uses, double *value) {
    const kind_info *k = kind_of(kind);
    if (!k) return spti_fail(SPT_ERR_INVALID, "%s: unknown layer kind %d", __func__, kind);
    if (key < 0 || key >= SPT_LP_COUNT_) return spti_fail(SPT_ERR_INVALID, "%s: unknown key %d", __func__, key);
    double def = 0;
    bool u = kind_uses(k, key, &def);
    if (uses) *uses = u;
    if (value) *value = u ? def : 0;
    return SPT_OK;
}

/* ---- the description ------------------------------------------------------------------- */

int spt_net_create(int64_t c, int64_t h, int64_t w, spt_net **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    if (c < 1 || h < 1 || w < 1 || c > INT32_MAX || h > INT32_MAX || w > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: input %lld x %lld x %lld: each dimension must be in [1, 2^31 - 1]",
                         __func__, (long long)c, (long long)h, (long long)w);
    spti_shape in = {c, h, w};
    SPTI_TRY(spti_shape_elems(in, 1, &(int64_t){0}));
    spti_net *net = spti_calloc_or_fail(1, sizeof *net, "network description");
    if (!net) return SPT_ERR_NOMEM;
    net->in = in;
    net->tip = SPTI_NET_INPUT;
    *out = net;
    return SPT_OK;
}

void spt_net_destroy(spt_net *net) {
    if (!net) return;
    spti_free(net->nodes);
    spti_free(net);
}

int spti_net_clone(const spti_net *net, spti_net **out) {
    *out = NULL;
    spti_net *c = spti_calloc_or_fail(1, sizeof *c, "network description");
    if (!c) return SPT_ERR_NOMEM;
    *c = *net;
    c->nodes = NULL;
    c->cap = net->n;
    if (net->n > 0) {
        if (!(c->nodes = spti_alloc_or_fail(net->n, sizeof *c->nodes, "network description"))) {
            spti_free(c);
            return SPT_ERR_NOMEM;
        }
        memcpy(c->nodes, net->nodes, (size_t)net->n * sizeof *c->nodes);
    }
    *out = c;
    return SPT_OK;
}

static bool name_char_ok(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
           ch == '_' || ch == '-';
}

static int check_name(const spti_net *net, const char *name) {
    const size_t len = strlen(name);
    if (len == 0 || len >= SPTI_NET_NAME)
        return spti_fail(SPT_ERR_INVALID, "spt_net_add_layer: name \"%s\" must have 1 to %d bytes", name,
                         SPTI_NET_NAME - 1);
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok(name[i]))
            return spti_fail(SPT_ERR_INVALID, "spt_net_add_layer: name \"%s\": only letters, digits and ._- allowed",
                             name);
    for (int64_t i = 0; i < net->n; i++)
        if (strcmp(net->nodes[i].name, name) == 0)
            return spti_fail(SPT_ERR_INVALID, "spt_net_add_layer: node %lld is already named \"%s\"", (long long)i,
                             name);
    return SPT_OK;
}

int spt_net_add_layer(spt_net *net, int kind, const char *name, int64_t *node) {
    SPTI_CHECK_NULL(net);
    const kind_info *k = kind_of(kind);
    if (!k) return spti_fail(SPT_ERR_INVALID, "%s: unknown layer kind %d", __func__, kind);
    if (net->n >= SPTI_NET_MAX_NODES)
        return spti_fail(SPT_ERR_SIZE, "%s: a network has at most %d nodes", __func__, SPTI_NET_MAX_NODES);
    char def[SPTI_NET_NAME];
    if (!name) {
        snprintf(def, sizeof def, "%s%lld", k->name, (long long)net->n);
        name = def;
    }
    SPTI_TRY(check_name(net, name));
    if (net->n == net->cap) {
        int64_t cap = net->cap ? 2 * net->cap : 16;
        spti_net_node *nn = spti_alloc_or_fail(cap, sizeof *nn, "network description");
        if (!nn) return SPT_ERR_NOMEM;
        if (net->n) memcpy(nn, net->nodes, (size_t)net->n * sizeof *nn);
        spti_free(net->nodes);
        net->nodes = nn;
        net->cap = cap;
    }
    spti_net_node *nd = &net->nodes[net->n];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    snprintf(nd->name, sizeof nd->name, "%s", name);
    for (int i = 0; k->keys[i].key >= 0; i++) nd->p[k->keys[i].key] = k->keys[i].def;
    nd->input = net->tip;
    net->tip = net->n;
    if (node) *node = net->n;
    net->n++;
    return SPT_OK;
}

static int check_node(const char *func, const spti_net *net, int64_t node) {
    if (node < 0 || node >= net->n)
        return spti_fail(SPT_ERR_SIZE, "%s: no node %lld (the description has %lld)", func, (long long)node,
                         (long long)net->n);
    return SPT_OK;
}

static int check_key(const char *func, const spti_net *net, int64_t node, int key) {
    SPTI_TRY(check_node(func, net, node));
    const spti_net_node *nd = &net->nodes[node];
    if (key < 0 || key >= SPT_LP_COUNT_) return spti_fail(SPT_ERR_INVALID, "%s: unknown key %d", func, key);
    if (!kind_uses(&KINDS[nd->kind], key, NULL))
        return spti_fail(SPT_ERR_INVALID, "%s: a %s layer (%s) has no parameter \"%s\"", func, KINDS[nd->kind].name,
                         nd->name, PARAMS[key].name);
    return SPT_OK;
}

int spt_net_set(spt_net *net, int64_t node, int key, double value) {
    SPTI_CHECK_NULL(net);
    SPTI_TRY(check_key(__func__, net, node, key));
    const param_info *p = &PARAMS[key];
    bool ok = !isnan(value) && value >= p->lo && value <= p->hi && !(p->integer && value != floor(value));
    if (key == SPT_LP_RATE) ok = ok && value < 1.0;
    if (key == SPT_LP_DENSITY) ok = ok && (value == -1.0 || value > 0.0);
    if (key == SPT_LP_INPUT) ok = ok && value < (double)node;
    if (!ok)
        return spti_fail(SPT_ERR_INVALID, "%s: %s.%s = %g is outside its domain (net.h: spt_layer_param)", __func__,
                         net->nodes[node].name, p->name, value);
    net->nodes[node].p[key] = value;
    return SPT_OK;
}

int spt_net_get(const spt_net *net, int64_t node, int key, double *value) {
    SPTI_CHECK_NULL(net);
    SPTI_CHECK_NULL(value);
    SPTI_TRY(check_key(__func__, net, node, key));
    *value = net->nodes[node].p[key];
    return SPT_OK;
}

int spt_net_tip(const spt_net *net, int64_t *node) {
    SPTI_CHECK_NULL(net);
    SPTI_CHECK_NULL(node);
    *node = net->tip;
    return SPT_OK;
}

int spt_net_set_tip(spt_net *net, int64_t node) {
    SPTI_CHECK_NULL(net);
    if (node != SPTI_NET_INPUT) SPTI_TRY(check_node(__func__, net, node));
    net->tip = node;
    return SPT_OK;
}

int spt_net_num_nodes(const spt_net *net, int64_t *n) {
    SPTI_CHECK_NULL(net);
    SPTI_CHECK_NULL(n);
    *n = net->n;
    return SPT_OK;
}

int spt_net_node(const spt_net *net, int64_t node, int *kind, const char **name, int64_t *input) {
    SPTI_CHECK_NULL(net);
    SPTI_TRY(check_node(__func__, net, node));
    const spti_net_node *nd = &net->nodes[node];
    if (kind) *kind = nd->kind;
    if (name) *name = nd->name;
    if (input) *input = nd->input;
    return SPT_OK;
}

/* ---- building ------------------------------------------------------------------------------- */

int spti_net_inputs(const spti_net *net, int64_t i, int64_t in[SPTI_NODE_MAX_INPUTS]) {
    const spti_net_node *nd = &net->nodes[i];
    in[0] = nd->input;
    if (KINDS[nd->kind].n_inputs == 1) return 1;
    in[1] = (int64_t)nd->p[SPT_LP_INPUT];
    return 2;
}

int spti_net_build_layer(const spti_net *net, int64_t i, const spti_shape *in, spti_layer **out) {
    *out = NULL;
    SPTI_TRY(spti_net_check_node(net, i));
    return KINDS[net->nodes[i].kind].build(&net->nodes[i], in, out);
}

double spti_net_density(const spti_net *net, int64_t i) {
    const spti_net_node *nd = &net->nodes[i];
    return kind_uses(&KINDS[nd->kind], SPT_LP_DENSITY, NULL) ? nd->p[SPT_LP_DENSITY] : -1.0;
}

/* Required parameters set (the message names the node). */
int spti_net_check_node(const spti_net *net, int64_t i) {
    const spti_net_node *nd = &net->nodes[i];
    const kind_info *k = &KINDS[nd->kind];
    if (kind_uses(k, SPT_LP_OUT, NULL) && nd->p[SPT_LP_OUT] == UNSET_OUT)
        return spti_fail(SPT_ERR_INVALID, "%s %s: \"out\" is not set", k->name, nd->name);
    if (kind_uses(k, SPT_LP_INPUT, NULL) && nd->p[SPT_LP_INPUT] == UNSET_INPUT)
        return spti_fail(SPT_ERR_INVALID, "%s %s: \"input\" (the node to add) is not set", k->name, nd->name);
    return SPT_OK;
}

int spti_net_measure(const spti_net *net, int64_t *n_params, int64_t *values, int64_t *weights,
                     int64_t *activations, int64_t *outputs) {
    return spti_net_measure_shapes(net, n_params, values, weights, activations, outputs, NULL);
}

int spti_net_measure_shapes(const spti_net *net, int64_t *n_params, int64_t *values, int64_t *weights,
                            int64_t *activations, int64_t *outputs, spti_shape *in_shapes) {
    if (net->n < 1) return spti_fail(SPT_ERR_SIZE, "network: no layers");
    spti_shape *shape = spti_alloc_or_fail(net->n, sizeof *shape, "network shapes");
    if (!shape) return SPT_ERR_NOMEM;
    int64_t np = 0, nv = 0, nw = 0, na = 0;
    int rc = SPT_OK;
    for (int64_t i = 0; i < net->n && rc == SPT_OK; i++) {
        const spti_net_node *nd = &net->nodes[i];
        int64_t in[SPTI_NODE_MAX_INPUTS], p = 0, v = 0;
        spti_shape s[SPTI_NODE_MAX_INPUTS];
        const int k = spti_net_inputs(net, i, in);
        for (int j = 0; j < k; j++) s[j] = in[j] == SPTI_NET_INPUT ? net->in : shape[in[j]];
        if (in_shapes) in_shapes[i] = s[0];
        rc = spti_net_check_node(net, i);
        if (rc == SPT_OK && k == 2 && (s[0].c != s[1].c || s[0].h != s[1].h || s[0].w != s[1].w))
            rc = spti_fail(SPT_ERR_SIZE, "add %s: the two inputs differ in shape", nd->name);
        if (rc == SPT_OK) rc = KINDS[nd->kind].size(nd, s, &shape[i], &p, &v);
        /* A linear or convolution weight: its values less the bias (one per output channel). */
        int64_t w = 0;
        if (rc == SPT_OK && (nd->kind == SPT_LAYER_LINEAR || nd->kind == SPT_LAYER_CONV2D))
            w = v - (pi(nd, SPT_LP_BIAS) ? shape[i].c : 0);
        if (rc == SPT_OK && (!spti_add_i64(np, p, &np) || !spti_add_i64(nv, v, &nv) || !spti_add_i64(nw, w, &nw) ||
                             !spti_add_i64(na, spti_shape_size(shape[i]), &na)))
            rc = spti_fail(SPT_ERR_SIZE, "network: its size overflows");
    }
    if (rc == SPT_OK) {
        if (n_params) *n_params = np;
        if (values) *values = nv;
        if (weights) *weights = nw;
        if (activations) *activations = na;
        if (outputs) *outputs = spti_shape_size(shape[net->n - 1]);
    }
    spti_free(shape);
    return rc;
}

int spti_net_size(const spti_net *net, int64_t *n_params, int64_t *values) {
    return spti_net_measure(net, n_params, values, NULL, NULL, NULL);
}

int spt_net_size(const spt_net *net, int64_t *n_params, int64_t *values, int64_t *weights, int64_t *activations) {
    SPTI_CHECK_NULL(net);
    int rc = spti_net_measure(net, n_params, values, weights, activations, NULL);
    if (rc != SPT_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", spt_last_error());
        return spti_fail(rc, "spt_net_size: %s", msg);
    }
    return SPT_OK;
}

int spt_net_weights(const spt_net *net, int64_t capacity, int32_t *ndim, int64_t *shape, double *density,
                    int64_t *n_weights) {
    SPTI_CHECK_NULL(net);
    SPTI_CHECK_NULL(n_weights);
    if (capacity < 0) return spti_fail(SPT_ERR_INVALID, "spt_net_weights: capacity %lld < 0", (long long)capacity);
    if (capacity > 0 && (!ndim || !shape || !density))
        return spti_fail(SPT_ERR_NULL, "spt_net_weights: ndim, shape and density are required when capacity > 0");
    if (net->n < 1) return spti_fail(SPT_ERR_SIZE, "spt_net_weights: network: no layers");
    spti_shape *in = spti_alloc_or_fail(net->n, sizeof *in, "network shapes");
    if (!in) return SPT_ERR_NOMEM;
    int rc = spti_net_measure_shapes(net, NULL, NULL, NULL, NULL, NULL, in);
    if (rc != SPT_OK) {
        spti_free(in);
        char msg[256];
        snprintf(msg, sizeof msg, "%s", spt_last_error());
        return spti_fail(rc, "spt_net_weights: %s", msg);
    }
    int64_t n = 0;
    for (int64_t i = 0; i < net->n; i++) {
        const spti_net_node *nd = &net->nodes[i];
        if (nd->kind != SPT_LAYER_LINEAR && nd->kind != SPT_LAYER_CONV2D) continue;
        n++;
    }
    if (n > capacity) { /* count only: nothing written */
        spti_free(in);
        *n_weights = n;
        return SPT_OK;
    }
    int64_t l = 0;
    for (int64_t i = 0; i < net->n; i++) {
        const spti_net_node *nd = &net->nodes[i];
        int64_t *d = &shape[4 * l];
        if (nd->kind == SPT_LAYER_LINEAR) {
            ndim[l] = 2;
            d[0] = pi(nd, SPT_LP_OUT), d[1] = spti_shape_size(in[i]), d[2] = d[3] = 1;
        } else if (nd->kind == SPT_LAYER_CONV2D) {
            ndim[l] = 4;
            d[0] = pi(nd, SPT_LP_OUT), d[1] = in[i].c / pi(nd, SPT_LP_GROUPS);
            d[2] = d[3] = pi(nd, SPT_LP_KERNEL);
        } else {
            continue;
        }
        const double r = spti_net_density(net, i);
        density[l] = r > 0.0 ? r : 0.0;
        l++;
    }
    spti_free(in);
    *n_weights = n;
    return SPT_OK;
}

int spt_net_shapes(const spt_net *net, int64_t *c, int64_t *h, int64_t *w, int64_t *outputs) {
    SPTI_CHECK_NULL(net);
    int64_t out = 0;
    if (outputs) {
        int rc = spti_net_measure(net, NULL, NULL, NULL, NULL, &out);
        if (rc != SPT_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", spt_last_error());
            return spti_fail(rc, "spt_net_shapes: %s", msg);
        }
        *outputs = out;
    }
    if (c) *c = net->in.c;
    if (h) *h = net->in.h;
    if (w) *w = net->in.w;
    return SPT_OK;
}
