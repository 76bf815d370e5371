/* The architecture record of a checkpoint: the builder's arguments of a
 * model, recovered from the built model, sized without building, and
 * built again. The sizes mirror model_mlp.c and model_resnet.c; the writer
 * checks them against the model it saves, so a drift is caught there. */
#include <string.h>

#include "checkpoint_format.h"

static int arch_fail(const char *what) { return spti_fail(SPT_ERR_FORMAT, "architecture: %s", what); }

/* acc += a * b, false on overflow. */
static bool mul_add(int64_t *acc, int64_t a, int64_t b) {
    int64_t p;
    return spti_mul_i64(a, b, &p) && spti_add_i64(*acc, p, acc);
}

static int mlp_size(const spti_ckpt_arch *a, int64_t *n_params, int64_t *dense) {
    if (a->n_widths < 2 || a->n_widths > INT32_MAX) return arch_fail("an MLP needs 2 .. 2^31-1 widths");
    int64_t d = 0;
    for (int64_t i = 0; i < a->n_widths; i++)
        if (a->widths[i] < 1 || a->widths[i] > INT32_MAX) return arch_fail("an MLP width is outside [1, 2^31-1]");
    for (int64_t i = 1; i < a->n_widths; i++)
        if (!mul_add(&d, a->widths[i - 1], a->widths[i]) || !spti_add_i64(d, a->widths[i], &d))
            return arch_fail("the MLP's size overflows");
    *n_params = 2 * (a->n_widths - 1); /* weight and bias per Linear */
    *dense = d;
    return SPT_OK;
}

/* Params and dense size of a CIFAR ResNet (model_resnet.c): stem conv +
 * BN, three stages of basic blocks (conv, BN, conv, BN, and a 1x1 conv +
 * BN shortcut where the shape changes), Linear(64w -> classes). */
static int resnet_size(const spti_ckpt_arch *a, int64_t *n_params, int64_t *dense) {
    if (a->in_c < 1 || a->in_h < 1 || a->in_w < 1 || a->in_c > INT32_MAX || a->in_h > INT32_MAX ||
        a->in_w > INT32_MAX)
        return arch_fail("a ResNet input dimension is outside [1, 2^31-1]");
    if (a->blocks < 1 || a->blocks > 1000) return arch_fail("ResNet blocks per stage outside [1, 1000]");
    if (a->width_mult < 1 || a->width_mult > (1 << 20)) return arch_fail("ResNet width outside [1, 2^20]");
    if (a->classes < 1 || a->classes > INT32_MAX) return arch_fail("ResNet classes outside [1, 2^31-1]");
    const int64_t c0 = 16 * a->width_mult;
    int64_t d = 0, np = 3;
    bool ok = mul_add(&d, c0, a->in_c * 9) && spti_add_i64(d, 2 * c0, &d);
    int64_t in = c0;
    for (int stage = 0; ok && stage < 3; stage++) {
        const int64_t ch = c0 << stage;
        for (int64_t b = 0; ok && b < a->blocks; b++) {
            const bool shortcut = (stage > 0 && b == 0) || in != ch;
            ok = mul_add(&d, ch, in * 9) && mul_add(&d, ch, ch * 9) && spti_add_i64(d, 4 * ch, &d);
            np += 6;
            if (ok && shortcut) {
                ok = mul_add(&d, ch, in) && spti_add_i64(d, 2 * ch, &d);
                np += 3;
            }
            in = ch;
        }
    }
    ok = ok && mul_add(&d, a->classes, in) && spti_add_i64(d, a->classes, &d);
    if (!ok) return arch_fail("the ResNet's size overflows");
    *n_params = np + 2;
    *dense = d;
    return SPT_OK;
}

int spti_ckpt_arch_size(const spti_ckpt_arch *a, int64_t *n_params, int64_t *dense) {
    if (a->kind == SPTI_ARCH_MLP) return mlp_size(a, n_params, dense);
    if (a->kind == SPTI_ARCH_RESNET) return resnet_size(a, n_params, dense);
    return spti_fail(SPT_ERR_FORMAT, "architecture: unknown kind %u", (unsigned)a->kind);
}

int spti_ckpt_arch_build(const spti_ckpt_arch *a, spti_model **out) {
    if (a->kind == SPTI_ARCH_MLP) {
        if (a->n_widths > INT32_MAX) return arch_fail("too many MLP widths");
        return spti_model_create_mlp(a->widths, (int)a->n_widths, a->seed, out);
    }
    if (a->kind == SPTI_ARCH_RESNET)
        return spti_model_create_resnet(a->in_c, a->in_h, a->in_w, a->blocks, a->width_mult, a->classes, a->seed,
                                        out);
    return spti_fail(SPT_ERR_FORMAT, "architecture: unknown kind %u", (unsigned)a->kind);
}

/* Dense size and count of the model's params, to check a recovered arch. */
static void model_size(const spti_model *m, int64_t *n_params, int64_t *dense) {
    int64_t d = 0;
    for (int64_t i = 0; i < m->n_params; i++) d += m->params[i]->rows * m->params[i]->cols;
    *n_params = m->n_params;
    *dense = d;
}

int spti_ckpt_arch_of(const spti_model *m, spti_ckpt_arch *a) {
    memset(a, 0, sizeof *a);
    a->kind = (uint32_t)m->arch;
    a->seed = m->seed;
    if (m->arch == SPTI_ARCH_MLP) {
        int64_t n = 1;
        for (int64_t i = 0; i < m->n_params; i++) n += m->params[i]->is_weight;
        a->widths = spti_alloc_or_fail(n, sizeof *a->widths, "checkpoint: MLP widths");
        if (!a->widths) return SPT_ERR_NOMEM;
        a->n_widths = n;
        a->widths[0] = spti_shape_size(m->in_shape);
        n = 1;
        for (int64_t i = 0; i < m->n_params; i++)
            if (m->params[i]->is_weight) a->widths[n++] = m->params[i]->shape[0]; /* (out, in) */
    } else if (m->arch == SPTI_ARCH_RESNET) {
        a->in_c = m->in_shape.c;
        a->in_h = m->in_shape.h;
        a->in_w = m->in_shape.w;
        a->blocks = (m->n_layers - 5) / 3; /* conv1 bn1 relu1, 3 x blocks, pool fc */
        a->width_mult = m->n_params > 0 ? m->params[0]->shape[0] / 16 : 0;
        a->classes = m->classes;
    } else {
        return spti_fail(SPT_ERR_UNSUPPORTED, "checkpoint: the model was not made by an MLP or ResNet builder");
    }
    int64_t np, dense, mnp, mdense;
    int rc = spti_ckpt_arch_size(a, &np, &dense);
    model_size(m, &mnp, &mdense);
    if (rc != SPT_OK || np != mnp || dense != mdense) {
        spti_free(a->widths);
        a->widths = NULL;
        return spti_fail(SPT_ERR_INTERNAL, "checkpoint: the model's layers do not match its recorded architecture");
    }
    return SPT_OK;
}
