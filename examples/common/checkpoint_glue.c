/* --checkpoint / --resume (see checkpoint_glue.h). */
#include "checkpoint_glue.h"

int ex_checkpoint_save(const ex_opts *o, const spt_trainer *tr, const spt_batcher *b) {
    int rc = spt_trainer_save(tr, b, o->checkpoint);
    if (rc != SPT_OK) return ex_fail(o, "cannot save the checkpoint: %s", spt_last_error());
    return -1;
}

int ex_checkpoint_resume(const ex_opts *o, spt_model **model, spt_trainer **tr, spt_batcher *b) {
    int rc = spt_trainer_load(o->resume, model, tr, b);
    if (rc == SPT_OK) return -1;
    /* A position that does not fit the data: the flags differ from the saved run's. */
    if (rc == SPT_ERR_INVALID || rc == SPT_ERR_STATE)
        return ex_usage_error(o, "--resume %s: %s (give the flags of the saved run)", o->resume, spt_last_error());
    return ex_fail(o, "--resume %s: %s", o->resume, spt_last_error());
}
