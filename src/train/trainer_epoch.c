/* One epoch over a batcher: a training step per batch, a progress
 * callback after each, the epoch's mean loss and accuracy. */
#include "../data/dataset.h"
#include "trainer.h"

int spt_trainer_train_epoch(spt_trainer *t, spt_batcher *b, spt_progress_fn progress, void *user,
                            double *mean_loss, double *accuracy) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(b);
    int64_t bs, floats;
    const spt_dataset *ds;
    spti_batcher_info(b, &bs, &ds);
    SPTI_TRY(spti_trainer_check_data(t, ds, bs, __func__, &floats));
    if (spti_trainer_reserve_batch(t, floats, bs) != SPT_OK)
        return spti_fail(SPT_ERR_NOMEM, "%s: out of memory for a batch of %lld", __func__, (long long)bs);
    if (spti_trainer_dp(t)) { /* every rank its own share of each batch */
        int rank, size;
        spti_batcher_shard(b, &rank, &size);
        int rc = SPT_OK;
        if (rank != t->comm->rank || size != t->comm->size)
            rc = spti_fail(SPT_ERR_STATE,
                           "%s: the batcher gives share %d of %d of each batch, the communicator is rank %d of %d "
                           "(spt_batcher_set_shard)",
                           __func__, rank, size, t->comm->rank, t->comm->size);
        SPTI_TRY(spti_trainer_dp_agree(t, rc));
    }
    SPTI_TRY(spt_trainer_prepare(t, b));
    int64_t batches, position;
    SPTI_TRY(spt_batcher_batches_per_epoch(b, &batches));
    SPTI_TRY(spt_batcher_get_state(b, NULL, &position, NULL));
    int64_t index = position / bs, examples = 0, correct_sum = 0;
    double loss_sum = 0.0;
    for (;; index++) {
        /* The run's last step done with batches left: refuse before drawing
         * one, so that the batcher stays at the first batch not trained. */
        if (t->step >= t->total_steps && !spti_batcher_epoch_done(b))
            return spti_fail(SPT_ERR_STATE, "%s: the run is complete (total_steps = %lld steps done)", __func__,
                             (long long)t->total_steps);
        int64_t B;
        int rc = spt_batcher_next(b, t->xbuf, t->xcap, t->ybuf, t->ycap, &B);
        /* (a failure meets the other ranks' argument check in the step) */
        if (rc != SPT_OK) return spti_trainer_dp_agree(t, rc);
        if (B == 0) break;
        double loss;
        int64_t correct;
        SPTI_TRY(spt_trainer_step(t, t->xbuf, t->ybuf, B, &loss, &correct));
        if (spti_trainer_dp(t)) B = t->comm_batch; /* loss and correct are the global batch's */
        loss_sum += loss * (double)B;
        correct_sum += correct;
        examples += B;
        if (progress && progress(user, t->step, index, batches, loss, (double)correct / (double)B) != 0) break;
    }
    if (mean_loss) *mean_loss = examples ? loss_sum / (double)examples : 0.0;
    if (accuracy) *accuracy = examples ? (double)correct_sum / (double)examples : 0.0;
    return SPT_OK;
}
