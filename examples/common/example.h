/*
 * The pieces the two example programs share: data loading, the training
 * run, the progress line, the CSV log and the end-of-run summary. Each
 * program only parses its flags (cli.h), loads the data, builds its model
 * and hands it to ex_train().
 */
#ifndef EX_EXAMPLE_H
#define EX_EXAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sparsetrain.h>

#include "cli.h"

/* ---- data (dataset_load.c) ------------------------------------------------ */

/* Load the training and test sets that --data/--format/--limit/--test-limit
 * name, normalised per channel with the training set's mean and std.
 * Returns -1 on success (*is_cifar says which format was read), else the
 * exit status after a message naming the file. */
int ex_load_data(const ex_opts *o, spt_dataset **train, spt_dataset **test, bool *is_cifar);

/* ---- the run (run.c) ------------------------------------------------------------ */

/* A program's own network for examples of c x h x w in `classes` classes,
 * described from its flags (sparsetrain/net.h), and a short name of it in
 * desc (e.g. "mlp 784-300-10"). Returns -1, or the exit status after a
 * message naming the flag (a bad flag: 2). Nothing is allocated but the
 * description, so it also serves to size the model before the data is
 * read. */
typedef int (*ex_net_fn)(const ex_opts *o, int64_t c, int64_t h, int64_t w, int64_t classes, spt_net **out,
                         char *desc, size_t desc_cap);

/* The library objects of one run. */
typedef struct ex_run {
    ex_net_fn own;           /* the program's network (unless --model) */
    spt_net *file_net;       /* --model FILE, read before the data */
    spt_net *net;            /* the network trained, for the data's examples */
    int format;              /* EX_FORMAT_CIFAR10 or EX_FORMAT_IDX */
    spt_method_config *cfg;
    spt_optimizer *opt;
    spt_lr_schedule *sched;
    spt_batcher *batcher;
    spt_model *model;
    spt_trainer *tr;
    FILE *csv;
    int64_t rounds;          /* training rounds of the method (lottery: R + 1) */
    char desc[512];          /* e.g. "mlp 784-4000-1000-4000-10" */
    char milestones[1024];   /* the step schedule's epochs as used, "a,b" */
    spt_comm *comm;          /* data-parallel training under mpirun (NULL: one process) */
    char *note;              /* the settings saved with every checkpoint */
    int64_t note_len;
} ex_run;

/* Everything the flags decide before the data is read, in this order: with
 * --resume the saved run's settings (adopted, or refused when a flag
 * differs); threads; --model FILE; the network's defaults; the method
 * configuration, the optimizer, the schedule's values; the memory the
 * model needs against the machine's (with the data format's usual example
 * shape); --batch against the examples known without reading them.
 * Returns -1 to go on, else the exit status (after a message). Free *x
 * with ex_run_free(). */
int ex_setup(ex_opts *o, ex_run *x, ex_net_fn own);

/* Build the model (or load the run with --resume), train it on `train`,
 * evaluate on `test` after every epoch, print the summary. Borrows the
 * data; the objects it makes go into *x. Returns the exit status. */
int ex_train(const ex_opts *o, ex_run *x, const spt_dataset *train, const spt_dataset *test);

/* Free the objects of a run (NULL members are fine). */
void ex_run_free(ex_run *x);

/* A whole program: set up, load the data, train; returns the exit status. */
int ex_main(ex_opts *o, ex_net_fn own);

/* ---- progress line (progress.c) -------------------------------------------------- */

typedef struct ex_progress {
    bool live;               /* rewrite one line in place with \r */
    int64_t epoch, epochs;   /* 1-based epoch of the run, total epochs */
    int64_t steps_total;     /* steps of the whole run */
    int64_t batch_size, n_train;
    double epoch_start, run_start, last_draw;
    int64_t run_start_step;  /* step count when this process began training */
    double loss_sum, correct_sum, seen;
    bool drawn;              /* a live line is on the screen */
} ex_progress;

/* Monotonic clock in seconds. */
double ex_now(void);

/* spt_progress_fn: accumulate the batch and redraw at most every 0.1 s. */
int ex_progress_step(void *user, int64_t step, int64_t batch_index, int64_t batches, double loss, double accuracy);

/* Start an epoch: reset the running means. */
void ex_progress_begin_epoch(ex_progress *p, int64_t epoch);

/* Clear the live line (before printing a full line on stderr). */
void ex_progress_clear(ex_progress *p);

/* ---- CSV log (csv_log.c) ----------------------------------------------------------- */

typedef struct ex_epoch_row {
    int64_t epoch, step;
    double loss, train_acc, test_acc, test_loss, lr, sparsity, seconds;
} ex_epoch_row;

/* Open FILE.csv for writing (appending when resuming) and write the header
 * when the file is new. NULL with errno on failure. */
FILE *ex_csv_open(const char *path, bool append);
/* One row; returns 0, or -1 on a write error. */
int ex_csv_row(FILE *f, const ex_epoch_row *r);

/* ---- summary (summary.c) ----------------------------------------------------------- */

typedef struct ex_result {
    const char *model;       /* e.g. "mlp 784-4000-1000-4000-10" */
    int method;
    double test_acc, test_loss, train_loss, train_acc;
    int64_t epochs, steps, rounds, batch;
    double seconds;          /* wall clock of the training loop, evaluation included */
    double examples_per_second;
    long rss_before_model_kb; /* peak RSS once the data is loaded, before the model exists (-1 unknown) */
} ex_result;

/* Print the per-layer table and totals, then as the last stdout line one
 * JSON object. Returns -1, or EX_EXIT_FAIL if the trainer cannot report. */
int ex_print_summary(const ex_opts *o, const spt_trainer *tr, const spt_model *model, const ex_result *r);

#endif
