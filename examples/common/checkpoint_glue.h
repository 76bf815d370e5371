/*
 * --checkpoint / --resume: saving a run after each epoch and continuing it
 * (sparsetrain/checkpoint.h). Each returns -1 to go on, else the exit
 * status after a message.
 */
#ifndef EX_CHECKPOINT_GLUE_H
#define EX_CHECKPOINT_GLUE_H

#include <sparsetrain.h>

#include "cli.h"

/* Save the trainer (model, optimizer, method, counters, random states),
 * the batcher's position and the run's settings (`note`,
 * ex_settings_note) to o->checkpoint, atomically. */
int ex_checkpoint_save(const ex_opts *o, const spt_trainer *tr, const spt_batcher *b, const char *note,
                       int64_t note_len);

/* Load the run saved in o->resume: a new model and trainer, and the batcher
 * (over the same data, batch size and flags) moved to the saved position.
 * Every failure exits 1 (the settings were checked before the data was
 * read, ex_resume_settings). */
int ex_checkpoint_resume(const ex_opts *o, spt_model **model, spt_trainer **tr, spt_batcher *b);

#endif
