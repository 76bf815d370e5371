/* A copy of what a training step changes in a model besides the
 * parameters (model.h, spti_model_step_state): the random stream and the
 * batch norms' running statistics, so that a step that fails half-way
 * through the forward pass (out of memory, NaN) can be undone. */
#include <string.h>

#include "layers.h"
#include "model.h"

static int64_t running_floats(const spti_model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_leaves; i++) {
        int64_t c = 0;
        if (spti_layer_is_batchnorm(m->leaves[i]) && spti_batchnorm_running(m->leaves[i], NULL, NULL, &c) == SPT_OK)
            n += 2 * c;
    }
    return n;
}

int spti_model_step_state_init(const spti_model *m, spti_model_step_state *s) {
    memset(s, 0, sizeof *s);
    const int64_t n = running_floats(m);
    if (n > 0) {
        s->running = spti_alloc_or_fail(n, sizeof *s->running, "model: copy of the running statistics");
        if (!s->running) return SPT_ERR_NOMEM;
    }
    s->n_running = n;
    return SPT_OK;
}

void spti_model_step_state_free(spti_model_step_state *s) {
    spti_free(s->running);
    memset(s, 0, sizeof *s);
}

/* Copy the running statistics between the layers and `buf`, either way. */
static void copy_running(const spti_model *m, float *buf, bool to_layers) {
    int64_t off = 0;
    for (int i = 0; i < m->n_leaves; i++) {
        float *mean, *var;
        int64_t c;
        if (!spti_layer_is_batchnorm(m->leaves[i]) ||
            spti_batchnorm_running(m->leaves[i], &mean, &var, &c) != SPT_OK)
            continue;
        if (to_layers) {
            memcpy(mean, buf + off, (size_t)c * sizeof *buf);
            memcpy(var, buf + off + c, (size_t)c * sizeof *buf);
        } else {
            memcpy(buf + off, mean, (size_t)c * sizeof *buf);
            memcpy(buf + off + c, var, (size_t)c * sizeof *buf);
        }
        off += 2 * c;
    }
}

void spti_model_step_state_save(const spti_model *m, spti_model_step_state *s) {
    s->rng = m->rng;
    if (s->running) copy_running(m, s->running, false);
}

void spti_model_step_state_restore(spti_model *m, const spti_model_step_state *s) {
    m->rng = s->rng;
    if (s->running) copy_running(m, s->running, true);
}
