/* Allocation, naming and buffer helpers shared by the layer kinds (layers.h). */
#include <stdio.h>
#include <string.h>

#include "layers.h"

void spti_layer_destroy(spti_layer *L) {
    if (L) L->ops->destroy(L);
}

spti_layer *spti_layer_new(const spti_layer_ops *ops, const char *name, spti_shape in, spti_shape out,
                           size_t state_bytes) {
    spti_layer *L = spti_calloc(1, sizeof *L);
    if (!L) {
        spti_fail(SPT_ERR_NOMEM, "layer %s: out of memory", name);
        return NULL;
    }
    if (state_bytes > 0 && !(L->state = spti_calloc(1, state_bytes))) {
        spti_free(L);
        spti_fail(SPT_ERR_NOMEM, "layer %s: out of memory", name);
        return NULL;
    }
    L->ops = ops;
    snprintf(L->name, sizeof L->name, "%s", name);
    L->in_shape = in;
    L->out_shape = out;
    return L;
}

void spti_layer_free(spti_layer *L) {
    if (!L) return;
    for (int i = 0; i < L->n_params; i++) spti_param_destroy(L->params[i]);
    for (int i = 0; i < L->n_children; i++) spti_layer_destroy(L->children[i]);
    spti_free(L->children);
    spti_free(L->state);
    spti_free(L);
}

void spti_name_join(char *dst, size_t size, const char *a, const char *b) {
    if (size == 0) return;
    size_t la = strlen(a), lb = strlen(b), k = 0;
    for (size_t i = 0; i < la && k + 1 < size; i++) dst[k++] = a[i];
    if (k + 1 < size) dst[k++] = '.';
    for (size_t i = 0; i < lb && k + 1 < size; i++) dst[k++] = b[i];
    dst[k] = '\0';
}

int spti_layer_add_param(spti_layer *L, const char *suffix, int ndim, const int64_t *shape, bool is_weight,
                         spti_param **out) {
    if (L->n_params >= (int)(sizeof L->params / sizeof L->params[0]))
        return spti_fail(SPT_ERR_INTERNAL, "layer %s: too many parameters", L->name);
    char name[sizeof(((spti_param *)0)->name)];
    spti_name_join(name, sizeof name, L->name, suffix);
    spti_param *p;
    /* A weight is born without storage (param.h): its form decides it. */
    SPTI_TRY(is_weight ? spti_param_create_unallocated(name, ndim, shape, &p)
                       : spti_param_create(name, ndim, shape, false, &p));
    L->params[L->n_params++] = p;
    if (out) *out = p;
    return SPT_OK;
}

int spti_shape_elems(spti_shape s, int64_t N, int64_t *out) {
    int64_t dims[4] = {s.c, s.h, s.w, N};
    if (!spti_count_elems(dims, 4, sizeof(float), out))
        return spti_fail(SPT_ERR_SIZE, "buffer of %lld x %lld x %lld x %lld floats overflows", (long long)s.c,
                         (long long)s.h, (long long)s.w, (long long)N);
    return SPT_OK;
}
