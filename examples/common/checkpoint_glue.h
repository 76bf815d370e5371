/*
 * --checkpoint / --resume: saving a run after each epoch and continuing it.
 * Each returns -1 to go on, else the exit status after a message.
 */
#ifndef EX_CHECKPOINT_GLUE_H
#define EX_CHECKPOINT_GLUE_H

#include <sparsetrain.h>

#include "cli.h"

/* Whether this build can checkpoint (called before any work). */
int ex_checkpoint_check(const ex_opts *o);
/* Save the trainer (model, optimizer, method, counters) and the batcher's position to o->checkpoint. */
int ex_checkpoint_save(const ex_opts *o, const spt_trainer *tr, const spt_batcher *b);
/* Restore them from o->resume into a trainer made with the same flags. */
int ex_checkpoint_resume(const ex_opts *o, spt_trainer *tr, spt_batcher *b);

#endif
