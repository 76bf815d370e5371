/* --checkpoint / --resume (see checkpoint_glue.h). This build's library has
 * no checkpoint module (sparsetrain/checkpoint.h), so both flags are refused
 * before any work is done. */
#include "checkpoint_glue.h"

int ex_checkpoint_check(const ex_opts *o) {
    return ex_usage_error(o, "%s: not available in this build (the library has no checkpoint module)",
                          o->resume ? "--resume" : "--checkpoint");
}

int ex_checkpoint_save(const ex_opts *o, const spt_trainer *tr, const spt_batcher *b) {
    (void)tr;
    (void)b;
    return ex_checkpoint_check(o);
}

int ex_checkpoint_resume(const ex_opts *o, spt_trainer *tr, spt_batcher *b) {
    (void)tr;
    (void)b;
    return ex_checkpoint_check(o);
}
