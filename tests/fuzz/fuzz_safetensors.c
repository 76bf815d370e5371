/* libFuzzer target: the safetensors reader (spt_model_load_safetensors
 * without the file): the parser, then loading the parsed file into two
 * models, an MLP 4 -> 3 -> 2 (linear weights, dense or CSR) and a small
 * residual convnet (convolutions, batch norms with their statistics, an
 * addition; CONVNET below). Anything the
 * input makes must be refused with SPT_ERR_FORMAT (or SPT_ERR_NOMEM) or
 * loaded: a crash, a sanitizer report or a leak is a bug, and so is a
 * model changed by a refused file.
 *
 * Input: the file's bytes. Seeds (tests/fuzz/seeds/safetensors): exports
 * of the two models, dense and sparse, written by make_seeds.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "sparsetrain/net_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The convnet of the target: two 3x3 convolutions with batch norms and a
 * residual addition, pooling, a linear read-out. */
#define CONVNET                                                                                      \
    "input 1 4 4\nconv2d name=c1 out=3 kernel=3 padding=1\nbatchnorm name=bn1\nrelu name=r1\n"  \
    "conv2d name=c2 out=3 kernel=3 padding=1\nbatchnorm name=bn2\nadd input=r1\n"                   \
    "global_avgpool\nlinear name=fc out=2\n"

static spti_model *mlp, *convnet;

/* The model's parameters as bytes (forms, counts and values), to compare
 * before and after a refused load. */
static size_t snapshot(const spti_model *m, uint8_t *buf, size_t cap) {
    size_t at = 0;
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *p = m->params[i];
        const size_t bytes = (size_t)p->n * sizeof(float);
        if (at + sizeof p->kind + sizeof p->n + bytes > cap) abort();
        memcpy(buf + at, &p->kind, sizeof p->kind), at += sizeof p->kind;
        memcpy(buf + at, &p->n, sizeof p->n), at += sizeof p->n;
        memcpy(buf + at, p->value, bytes), at += bytes;
    }
    return at;
}

static void load(spti_model *m, const spti_st_view *v) {
    static uint8_t before[1 << 16], after[1 << 16];
    const size_t n = snapshot(m, before, sizeof before);
    int rc = spti_safetensors_load_view(m, v);
    if (rc != SPT_OK && rc != SPT_ERR_FORMAT && rc != SPT_ERR_NOMEM) abort();
    if (rc != SPT_OK && (snapshot(m, after, sizeof after) != n || memcmp(before, after, n) != 0)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t empty[1] = {0};
    if (!mlp) {
        const int64_t widths[3] = {4, 3, 2};
        if (spti_model_create_mlp(widths, 3, 1, &mlp) != SPT_OK || spti_model_materialize(mlp) != SPT_OK) abort();
        spt_net *net = NULL;
        if (spt_net_parse(CONVNET, (int64_t)strlen(CONVNET), &net) != SPT_OK ||
            spti_model_create(net, 1, &convnet) != SPT_OK || spti_model_materialize(convnet) != SPT_OK)
            abort();
        spt_net_destroy(net);
    }
    spti_st_view v;
    int rc = spti_safetensors_parse(data ? data : empty, (int64_t)size, &v);
    if (rc != SPT_OK) {
        if ((rc != SPT_ERR_FORMAT && rc != SPT_ERR_NOMEM) || v.n != 0 || v.json) abort();
        return 0;
    }
    load(mlp, &v);
    load(convnet, &v);
    spti_safetensors_view_free(&v);
    return 0;
}
