/* --checkpoint / --resume (see checkpoint_glue.h). */
#include "checkpoint_glue.h"

int ex_checkpoint_save(const ex_opts *o, const spt_trainer *tr, const spt_batcher *b, const char *note,
                       int64_t note_len) {
    int rc = spt_trainer_save_note(tr, b, note, note_len, o->checkpoint);
    if (rc != SPT_OK) return ex_fail(o, "cannot save the checkpoint: %s", spt_last_error());
    return -1;
}

int ex_checkpoint_resume(const ex_opts *o, spt_model **model, spt_trainer **tr, spt_batcher *b) {
    int rc = spt_trainer_load(o->resume, model, tr, b);
    if (rc == SPT_OK) return -1;
    /* A position that does not fit the data (SPT_ERR_INVALID) or no saved
     * position (SPT_ERR_STATE): the checkpoint does not belong to this
     * data, a failure of the run rather than of a flag. */
    return ex_fail(o, "--resume %s: %s (%s)", o->resume, spt_last_error(), spt_status_string(rc));
}
