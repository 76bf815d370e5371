/* Loss and accuracy over a whole dataset in evaluation mode. */
#include <stdio.h>

#include "../data/dataset.h"
#include "trainer.h"

int spt_trainer_evaluate(spt_trainer *t, const spt_dataset *ds, int64_t batch, double *loss, double *accuracy) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(ds);
    if (batch < 1) return spti_fail(SPT_ERR_SIZE, "%s: batch (%lld) must be >= 1", __func__, (long long)batch);
    const int64_t n = ds->n, bs = batch < n ? batch : n;
    int64_t floats;
    SPTI_TRY(spti_trainer_check_data(t, ds, bs, __func__, &floats));
    int64_t *idx = spti_alloc(bs, sizeof *idx);
    float *x = spti_alloc(floats, sizeof *x);
    int32_t *y = spti_alloc(bs, sizeof *y);
    int rc = SPT_OK;
    if (!idx || !x || !y) rc = spti_fail(SPT_ERR_NOMEM, "%s: out of memory for a batch of %lld", __func__, (long long)bs);
    double loss_sum = 0.0;
    int64_t correct_sum = 0;
    /* With a communicator each rank evaluates its share [n r / p, n (r+1) / p). */
    const bool dp = spti_trainer_dp(t);
    const int64_t lo = dp ? n * t->comm->rank / t->comm->size : 0;
    const int64_t hi = dp ? n * (t->comm->rank + 1) / t->comm->size : n;
    for (int64_t start = lo; rc == SPT_OK && start < hi; start += bs) {
        const int64_t B = hi - start < bs ? hi - start : bs; /* x: F x B */
        for (int64_t i = 0; i < B; i++) idx[i] = start + i;
        rc = spt_dataset_gather(ds, idx, B, x, floats, y);
        double l = 0.0;
        int64_t c = 0;
        if (rc == SPT_OK) rc = spti_model_eval_batch(t->model, x, y, B, &l, &c);
        loss_sum += l * (double)B;
        correct_sum += c;
    }
    spti_free(idx);
    spti_free(x);
    spti_free(y);
    if (dp) { /* the sums over the ranks; a failure anywhere is every rank's */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", rc != SPT_OK ? spt_last_error() : "");
        float v[3] = {(float)loss_sum, (float)correct_sum, rc != SPT_OK};
        SPTI_TRY(spti_comm_sum_f32(t->comm, v, 3, "the evaluation's sums"));
        if (v[2] != 0.0f) {
            if (rc != SPT_OK) spti_fail(rc, "%s", msg);
            return spti_trainer_prefix(__func__, spti_comm_agree(t->comm, rc));
        }
        loss_sum = v[0];
        correct_sum = (int64_t)(v[1] + 0.5f);
    }
    if (rc != SPT_OK) return spti_trainer_prefix(__func__, rc);
    if (loss) *loss = loss_sum / (double)n;
    if (accuracy) *accuracy = (double)correct_sum / (double)n;
    return SPT_OK;
}
