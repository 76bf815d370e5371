/* Read-only getters: counters, learning rate, sparsity, times. */
#include "trainer.h"

int spt_trainer_get_step(const spt_trainer *t, int64_t *step) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(step);
    *step = t->step;
    return SPT_OK;
}

int spt_trainer_get_round(const spt_trainer *t, int64_t *round) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(round);
    *round = t->round;
    return SPT_OK;
}

int spt_trainer_get_lr(const spt_trainer *t, double *lr) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(lr);
    return spti_trainer_lr_at(t, t->step, lr);
}

int spt_trainer_sparsity(const spt_trainer *t, double *sparsity, int64_t *nnz, int64_t *dense) {
    SPTI_CHECK_NULL(t);
    int64_t active = 0, size = 0;
    for (int i = 0; i < t->n_weights; i++) {
        active += spti_param_active_positions(t->weights[i], NULL);
        size += t->weights[i]->rows * t->weights[i]->cols;
    }
    if (sparsity) *sparsity = size ? 1.0 - (double)active / (double)size : 0.0;
    if (nnz) *nnz = active;
    if (dense) *dense = size;
    return SPT_OK;
}

int spt_trainer_num_weight_layers(const spt_trainer *t, int64_t *n) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(n);
    *n = t->n_weights;
    return SPT_OK;
}

int spt_trainer_layer_density(const spt_trainer *t, int64_t layer, const char **name, int64_t *nnz, int64_t *size,
                              double *density) {
    SPTI_CHECK_NULL(t);
    if (layer < 0 || layer >= t->n_weights)
        return spti_fail(SPT_ERR_INVALID, "%s: layer %lld is outside [0, %d)", __func__, (long long)layer,
                         t->n_weights);
    const spti_param *p = t->weights[layer];
    const int64_t k = spti_param_active_positions(p, NULL), s = p->rows * p->cols;
    if (name) *name = p->name;
    if (nnz) *nnz = k;
    if (size) *size = s;
    if (density) *density = (double)k / (double)s;
    return SPT_OK;
}

int spt_trainer_times(const spt_trainer *t, double *step_seconds, double *method_seconds) {
    SPTI_CHECK_NULL(t);
    if (step_seconds) *step_seconds = t->step_seconds;
    if (method_seconds) *method_seconds = t->method_seconds;
    return SPT_OK;
}

int spt_trainer_session_times(const spt_trainer *t, double *init_seconds, double *step_seconds, double *hook_seconds,
                              double *round_seconds) {
    SPTI_CHECK_NULL(t);
    if (init_seconds) *init_seconds = t->s_init_seconds;
    if (step_seconds) *step_seconds = t->s_step_seconds;
    if (hook_seconds) *hook_seconds = t->s_hook_seconds;
    if (round_seconds) *round_seconds = t->s_round_seconds;
    return SPT_OK;
}

int spt_trainer_update_times(const spt_trainer *t, double *update_step_seconds, int64_t *update_steps,
                             int64_t *steps) {
    SPTI_CHECK_NULL(t);
    if (update_step_seconds) *update_step_seconds = t->update_step_seconds;
    if (update_steps) *update_steps = t->timed_update_steps;
    if (steps) *steps = t->timed_steps;
    return SPT_OK;
}

int spt_trainer_last_update(const spt_trainer *t, int *updated, int64_t *count) {
    SPTI_CHECK_NULL(t);
    if (updated) *updated = t->last_update ? 1 : 0;
    if (count) *count = t->update_steps;
    return SPT_OK;
}
