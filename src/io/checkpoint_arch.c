/* The architecture record of a checkpoint: the model's description (NET,
 * written since format version 2), or, in version 1 files, the built-in
 * builders' arguments (MLP, RESNET), sized without building and built
 * again. The version-1 sizes mirror model_mlp.c and model_resnet.c. */
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

void spti_ckpt_arch_free(spti_ckpt_arch *a) {
    spti_free(a->widths);
    a->widths = NULL;
    spt_net_destroy(a->net);
    a->net = NULL;
}

int spti_ckpt_arch_size(const spti_ckpt_arch *a, int64_t *n_params, int64_t *dense) {
    if (a->kind == SPTI_ARCH_MLP) return mlp_size(a, n_params, dense);
    if (a->kind == SPTI_ARCH_RESNET) return resnet_size(a, n_params, dense);
    if (a->kind == SPTI_ARCH_NET) {
        int rc = spti_net_size(a->net, n_params, dense);
        return rc == SPT_OK || rc == SPT_ERR_NOMEM ? rc : spti_fail(SPT_ERR_FORMAT, "architecture: %s", spt_last_error());
    }
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
    if (a->kind == SPTI_ARCH_NET) return spti_model_create(a->net, a->seed, out);
    return spti_fail(SPT_ERR_FORMAT, "architecture: unknown kind %u", (unsigned)a->kind);
}

int spti_ckpt_arch_of(const spti_model *m, spti_ckpt_arch *a) {
    memset(a, 0, sizeof *a);
    a->kind = SPTI_ARCH_NET;
    a->seed = m->seed;
    return spti_net_clone(m->net, &a->net);
}
