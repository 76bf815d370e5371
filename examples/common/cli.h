/*
 * Command line of the example programs: every flag, its default, its help.
 * One table (cli.c) drives parsing, --help and the method-config keys, so a
 * flag is added in one place.
 */
#ifndef EX_CLI_H
#define EX_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* Which program a flag belongs to (bit mask). */
enum { EX_MLP = 1, EX_RESNET = 2, EX_BOTH = 3 };

/* Exit statuses of the programs. */
enum { EX_EXIT_OK = 0, EX_EXIT_FAIL = 1, EX_EXIT_USAGE = 2 };

/* Data formats of --format. */
enum { EX_FORMAT_AUTO = -1, EX_FORMAT_CIFAR10 = 0, EX_FORMAT_IDX = 1 };

typedef struct ex_opts {
    int program;             /* EX_MLP or EX_RESNET */
    const char *prog;        /* program name for messages */
    /* data */
    const char *data;        /* NULL = Fashion-MNIST in its Debian directory */
    int format;              /* EX_FORMAT_* */
    int64_t limit, test_limit;
    /* method (choice fields hold the library's enum values) */
    int method;
    double sparsity;
    int distribution;
    double epsilon;
    int dense_first, dense_last;
    int64_t delta_t;
    double alpha;
    double t_end;            /* < 1: fraction of the run; >= 1: steps */
    int drop_schedule;
    double snfs_momentum;
    double grow_sample;      /* sampled growth: candidates per grown weight (0 = exact) */
    int structure;           /* spt_structure */
    int64_t structure_n, structure_m;
    const char *nm;          /* --nm N:M (sets the three above) */
    double ablation;         /* SRigL's neuron ablation threshold (0 = off) */
    int64_t prune_start, prune_end, prune_freq;
    double initial_sparsity;
    int global;              /* -1 = the method's default */
    int64_t lottery_rounds;
    double lottery_rate;
    int64_t rewind_step, score_batches, synflow_iters;
    int sparse_init;
    /* model */
    const char *model;       /* --model FILE: a model file (replaces the program's own network) */
    const char *widths;      /* MLP hidden widths, "a,b,c" */
    double dropout;
    int64_t depth, width;    /* ResNet */
    /* training */
    int64_t epochs, batch;
    double lr;
    int lr_schedule;         /* spt_lr_schedule_kind */
    int64_t warmup;
    const char *milestones;  /* epochs, "a,b,..." */
    double gamma, momentum;
    int nesterov;
    double weight_decay;
    int optimizer;           /* spt_optimizer_kind */
    int64_t seed, threads, eval_batch;
    int dispatch; /* spt_dispatch_mode */
    int augment;             /* -1 = default of the program and data */
    /* output */
    const char *log, *checkpoint, *resume;
    const char *init_from;   /* safetensors file of the initial weights */
    const char *export_to;   /* safetensors file written after training */
    int export_dense;
    int64_t stop_after;      /* epochs of this invocation before stopping, 0 = all */
    int progress;
    int sync_bn;             /* --sync-bn: synchronised batch-norm statistics under mpirun */
    int no_mpi;              /* --no-mpi (or SPT_NO_MPI=1): one process even under mpirun */
    int mpi_rank, mpi_size;  /* this process in a data-parallel run (0 of 1: none) */
    /* Indexed like the flag table: `cmdline` the flags of this command line;
     * `given` those the user chose (on this command line, or on the saved
     * run's when --resume adopts its settings); `fixed` every flag whose
     * value is decided (given, or adopted from the saved run), which the
     * per-network defaults leave alone. */
    bool cmdline[80], given[80], fixed[80];
    /* With --resume: what the saved run recorded about its training data
     * (checked once the data is loaded), and whether it recorded settings
     * at all (a checkpoint of an older version records none). */
    bool resume_recorded, has_saved_data;
    int64_t saved_examples, saved_c, saved_h, saved_w, saved_classes;
} ex_opts;

/* The values a run used where the flags leave them to the program or the
 * library, recorded with the flags in a checkpoint. */
typedef struct ex_effective {
    double lr;              /* the optimizer's base rate */
    int augment;            /* 0 or 1 */
    const char *milestones; /* the step schedule's epochs "a,b" (NULL for other schedules) */
    int64_t examples, c, h, w, classes; /* the training data */
} ex_effective;

/* Fill *o with the defaults of `program` and parse argv. Returns -1 to go
 * on; otherwise the exit status to leave with (0 after --help/--version,
 * EX_EXIT_USAGE after a one-line message on stderr). */
int ex_parse_args(ex_opts *o, int program, int argc, char **argv);

/* Whether the user chose the flag named `name` (without "--"): on the
 * command line, or on the saved run's command line (--resume). */
bool ex_given(const ex_opts *o, const char *name);
/* Whether its value is decided (given, or adopted from the saved run). */
bool ex_fixed(const ex_opts *o, const char *name);

/* Largest --epochs and --stop-after. */
enum { EX_MAX_EPOCHS = 1000000 };
/* Longest string value of a flag (a path or a list), in bytes. */
enum { EX_MAX_STRING = 4095 };

/* The data format --data and --format name (EX_FORMAT_CIFAR10 or
 * EX_FORMAT_IDX), found without reading the data: --format, else CIFAR-10
 * when DIR/data_batch_1.bin exists (whatever it is: the loader then names
 * it if it is not a file), else IDX. */
int ex_data_format(const ex_opts *o);

/* The defaults that depend on the network: a network without batch
 * normalisation (the MLP, model files without a batchnorm layer) trains
 * with SGD at --lr 0.01, one with it at 0.1; without batch norm the rate is
 * capped at 50 / F (Adam: 5 / F) where F, `fan_in`, is the largest mean
 * number of nonzeros per output of a weight layer under the run's
 * allocation; --eval-batch is raised to the training batch, then cut so
 * that the `activations` (per example) of one evaluation batch stay within
 * 1 GiB or the training batch's.
 * Applied to flags the user did not give (nor the saved run, with
 * --resume). */
void ex_apply_network_defaults(ex_opts *o, bool normalised, double fan_in, int64_t activations);

/* --resume: read the settings the saved run recorded in its checkpoint
 * (spt_checkpoint_read_note) and adopt them for every flag this command
 * line does not give; a flag that is given with another value than the
 * saved run's is refused, every such flag listed in one message (exit 2).
 * A checkpoint that records no settings (an older version, another
 * program) is resumed with the flags as given, after a warning. Returns
 * -1 to go on, else the exit status after a message (1: the checkpoint
 * cannot be read). */
int ex_resume_settings(ex_opts *o);

/* The settings of this run as a checkpoint note (flags and effective
 * values). Returns the length, or -1 if they do not fit in cap bytes. */
int64_t ex_settings_note(const ex_opts *o, const ex_effective *e, char *buf, int64_t cap);

/* Print "prog: message\n" on stderr and return EX_EXIT_USAGE. */
int ex_usage_error(const ex_opts *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Print "prog: message\n" on stderr and return EX_EXIT_FAIL. */
int ex_fail(const ex_opts *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Parse "a,b,c" into at most `cap` positive integers. Returns the count, or
 * -1 for a malformed list (empty item, non-number, value < 1, too many). */
int ex_parse_int_list(const char *s, int64_t *out, int cap);

/* Apply every method flag the command line gave to a method configuration
 * (SPT_MP_* keys), and SPT_MP_SEED from --seed. Returns -1 on success, else EX_EXIT_USAGE
 * after a message naming the flag and the library's reason. */
struct spt_method_config;
int ex_apply_method_flags(const ex_opts *o, struct spt_method_config *cfg);

#endif
