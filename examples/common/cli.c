/* Command-line parsing of the example programs (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sparsetrain.h>

/* K_METHOD: an spt_method by name; K_MP_CHOICE: a value of the choice key
 * mp_key by name (both names from the library). */
enum kind { K_SECTION, K_INT, K_DBL, K_STR, K_TRUE, K_FALSE, K_CHOICE, K_METHOD, K_MP_CHOICE, K_HELP, K_VERSION };
enum { NO_KEY = -1, KEY_T_END = -2 };
/* What --resume does with a flag: R_STRICT flags are recorded in the
 * checkpoint, adopted when not given and refused when given with another
 * value; R_ADOPT flags are recorded and adopted when not given (the data's
 * directory and format, the test subset, the model file: what they load is
 * checked instead); R_FREE flags are this invocation's own. */
enum { R_STRICT = 0, R_ADOPT = 1, R_FREE = 2 };

typedef struct flag {
    const char *name;    /* without "--"; the section title for K_SECTION */
    int kind;
    size_t off;          /* field of ex_opts */
    int programs;        /* EX_MLP / EX_RESNET / EX_BOTH */
    const char *meta;    /* value placeholder in --help */
    const char *help;    /* method knobs: --help prefixes the methods that read the key */
    int mp_key;          /* spt_method_param to set, NO_KEY, or KEY_T_END */
    const char *choices; /* K_CHOICE: "a|b|c", index = stored value */
    int64_t min;         /* K_INT: smallest accepted value */
    int64_t max;         /* K_INT: largest accepted value (0: no bound but int64's) */
    int cls;             /* R_STRICT, R_ADOPT or R_FREE */
} flag;

#define F(field) offsetof(ex_opts, field)
#define SECTION(title) {title, K_SECTION, 0, EX_BOTH, NULL, NULL, NO_KEY, NULL, 0, 0, R_FREE}

static const flag FLAGS[] = {
    SECTION("Data"),
    {"data", K_STR, F(data), EX_BOTH, "DIR",
     "data directory (default: Fashion-MNIST in " SPT_FASHION_MNIST_DIR ")", NO_KEY, NULL, 0, 0, R_ADOPT},
    {"format", K_CHOICE, F(format), EX_BOTH, "FMT",
     "cifar10 (data_batch_1..5.bin, test_batch.bin) or idx (MNIST-style *-idx?-ubyte[.gz]); "
     "default (auto): cifar10 when DIR holds data_batch_1.bin, else idx",
     NO_KEY, "cifar10|idx", 0, 0, R_ADOPT},
    {"limit", K_INT, F(limit), EX_BOTH, "N", "use only the first N training examples (0 = all)",
     NO_KEY, NULL, 0, 0, R_STRICT},
    {"test-limit", K_INT, F(test_limit), EX_BOTH, "N", "evaluate on the first N test examples (0 = all)", NO_KEY,
     NULL, 0, 0, R_ADOPT},
    {"augment", K_TRUE, F(augment), EX_BOTH, NULL,
     "random 4-pixel shift (crop) and horizontal flip (default: on for CIFAR-10 in spt-train-resnet, else off)",
     NO_KEY, NULL, 0, 0, R_STRICT},
    {"no-augment", K_FALSE, F(augment), EX_BOTH, NULL, "turn augmentation off", NO_KEY, NULL, 0, 0, R_STRICT},

    SECTION("Model"),
    {"model", K_STR, F(model), EX_BOTH, "FILE",
     "train the network described in FILE (docs/models.md; shipped: examples/models) instead of the program's own; "
     "its input shape must be the data's",
     NO_KEY, NULL, 0, 0, R_ADOPT},
    {"widths", K_STR, F(widths), EX_MLP, "A,B,...",
     "hidden layer widths (input and output sizes come from the data); not with --model", NO_KEY, NULL, 0, 0, R_STRICT},
    {"dropout", K_DBL, F(dropout), EX_MLP, "P", "dropout rate after each hidden layer, in [0, 1); not with --model",
     NO_KEY, NULL, 0, 0, R_STRICT},
    {"depth", K_INT, F(depth), EX_RESNET, "D", "ResNet depth 6n+2 (20, 32, 44, 56, 110, ...); not with --model",
     NO_KEY, NULL, 8, 6002, R_STRICT},
    {"width", K_INT, F(width), EX_RESNET, "W", "channel multiplier (16W, 32W, 64W channels); not with --model",
     NO_KEY, NULL, 1, 1 << 20, R_STRICT},

    SECTION("Sparse training method"),
    {"method", K_METHOD, F(method), EX_BOTH, "M", "sparse-training method (listed below)",
     NO_KEY, NULL, 0, 0, R_STRICT},
    {"sparsity", K_DBL, F(sparsity), EX_BOTH, "S",
     "target fraction of zero weights over the convolution and linear weights, in [0, 1)",
     SPT_MP_SPARSITY, NULL, 0, 0, R_STRICT},
    {"distribution", K_MP_CHOICE, F(distribution), EX_BOTH, "D", "per-layer densities:", SPT_MP_DISTRIBUTION,
     NULL, 0, 0, R_STRICT},
    {"epsilon", K_DBL, F(epsilon), EX_BOTH, "E",
     "er/erk: each layer's density is min(1, E (n_in + n_out) / (n_in n_out)), the SET paper's epsilon (e.g. 20), "
     "instead of --sparsity", SPT_MP_EPSILON, NULL, 0, 0, R_STRICT},
    {"dense-first", K_TRUE, F(dense_first), EX_BOTH, NULL, "keep the first weight layer dense", SPT_MP_DENSE_FIRST,
     NULL, 0, 0, R_STRICT},
    {"dense-last", K_TRUE, F(dense_last), EX_BOTH, NULL, "keep the last weight layer dense", SPT_MP_DENSE_LAST, NULL,
     0, 0, R_STRICT},
    {"sparse-init", K_TRUE, F(sparse_init), EX_BOTH, NULL, "scale each sparse layer's init by its nonzero fan-in",
     SPT_MP_SPARSE_INIT, NULL, 0, 0, R_STRICT},
    {"no-sparse-init", K_FALSE, F(sparse_init), EX_BOTH, NULL,
     "scale it by the dense fan-in instead (the papers' recipe; a very sparse net may start dead)", SPT_MP_SPARSE_INIT,
     NULL, 0, 0, R_STRICT},
    {"delta-t", K_INT, F(delta_t), EX_BOTH, "STEPS", "steps between topology updates",
     SPT_MP_DELTA_T, NULL, 1, 0, R_STRICT},
    {"alpha", K_DBL, F(alpha), EX_BOTH, "F", "initial drop fraction, in [0, 1]", SPT_MP_ALPHA, NULL,
     0, 0, R_STRICT},
    {"t-end", K_DBL, F(t_end), EX_BOTH, "T",
     "topology updates stop at T: a fraction of the run's steps if T < 1, else a step", KEY_T_END,
     NULL, 0, 0, R_STRICT},
    {"drop-schedule", K_MP_CHOICE, F(drop_schedule), EX_BOTH, "S", "decay of the drop fraction:",
     SPT_MP_DROP_SCHEDULE, NULL, 0, 0, R_STRICT},
    {"grow-sample", K_DBL, F(grow_sample), EX_BOTH, "M",
     "grow the best k of M k random inactive positions and the k dropped, gradients computed there alone "
     "(an approximation for layers too large for the dense gradient); 0 = exact, every position",
     SPT_MP_GROW_SAMPLE, NULL, 0, 0, R_STRICT},
    {"structure", K_MP_CHOICE, F(structure), EX_BOTH, "S", "groups of weights kept or dropped together:",
     SPT_MP_STRUCTURE, NULL, 0, 0, R_STRICT},
    {"structure-n", K_INT, F(structure_n), EX_BOTH, "N", "nm: at most N active weights in every M consecutive inputs",
     SPT_MP_STRUCTURE_N, NULL, 1, 1000000, R_STRICT},
    {"structure-m", K_INT, F(structure_m), EX_BOTH, "M", "nm: the group length M", SPT_MP_STRUCTURE_M, NULL, 1,
     1000000, R_STRICT},
    {"nm", K_STR, F(nm), EX_BOTH, "N:M", "short for --structure nm --structure-n N --structure-m M (e.g. 2:4)",
     NO_KEY, NULL, 0, 0, R_FREE},
    {"ablation", K_DBL, F(ablation), EX_BOTH, "G",
     "fanin: remove a neuron whose salient weights fall below G x its fan-in, its budget shared by the others "
     "(SRigL's neuron ablation); 0 = off",
     SPT_MP_ABLATION, NULL, 0, 0, R_STRICT},
    {"snfs-momentum", K_DBL, F(snfs_momentum), EX_BOTH, "B", "momentum of the growth gradient, in [0, 1)",
     SPT_MP_SNFS_MOMENTUM, NULL, 0, 0, R_STRICT},
    {"prune-start", K_INT, F(prune_start), EX_BOTH, "STEP", "first pruning step (-1 = 10% of the run)",
     SPT_MP_PRUNE_START, NULL, -1, 0, R_STRICT},
    {"prune-end", K_INT, F(prune_end), EX_BOTH, "STEP", "last pruning step (-1 = 75% of the run)",
     SPT_MP_PRUNE_END, NULL, -1, 0, R_STRICT},
    {"prune-freq", K_INT, F(prune_freq), EX_BOTH, "STEPS", "steps between pruning events", SPT_MP_PRUNE_FREQ,
     NULL, 1, 0, R_STRICT},
    {"initial-sparsity", K_DBL, F(initial_sparsity), EX_BOTH, "S", "sparsity at the first pruning step",
     SPT_MP_INITIAL_SPARSITY, NULL, 0, 0, R_STRICT},
    {"global", K_TRUE, F(global), EX_BOTH, NULL,
     "rank all layers together",
     SPT_MP_GLOBAL, NULL, 0, 0, R_STRICT},
    {"no-global", K_FALSE, F(global), EX_BOTH, NULL, "rank each layer on its own", SPT_MP_GLOBAL,
     NULL, 0, 0, R_STRICT},
    {"lottery-rounds", K_INT, F(lottery_rounds), EX_BOTH, "R",
     "pruning rounds (0 = as many as reach --sparsity at --lottery-rate); each of the R+1 rounds "
     "trains --epochs epochs",
     SPT_MP_LOTTERY_ROUNDS, NULL, 0, 0, R_STRICT},
    {"lottery-rate", K_DBL, F(lottery_rate), EX_BOTH, "P", "fraction of survivors pruned per round",
     SPT_MP_LOTTERY_RATE, NULL, 0, 0, R_STRICT},
    {"rewind-step", K_INT, F(rewind_step), EX_BOTH, "STEP", "rewind survivors to this step (0 = init)",
     SPT_MP_REWIND_STEP, NULL, 0, 0, R_STRICT},
    {"score-batches", K_INT, F(score_batches), EX_BOTH, "N", "mini-batches used to score weights",
     SPT_MP_SCORE_BATCHES, NULL, 1, 0, R_STRICT},
    {"synflow-iters", K_INT, F(synflow_iters), EX_BOTH, "N", "pruning iterations", SPT_MP_SYNFLOW_ITERS,
     NULL, 1, 0, R_STRICT},

    SECTION("Training"),
    {"epochs", K_INT, F(epochs), EX_BOTH, "N", "training epochs (per round for lottery)",
     NO_KEY, NULL, 1, EX_MAX_EPOCHS, R_STRICT},
    {"batch", K_INT, F(batch), EX_BOTH, "N", "mini-batch size", NO_KEY, NULL, 1, 0, R_STRICT},
    {"optimizer", K_CHOICE, F(optimizer), EX_BOTH, "O", "sgd|adam", NO_KEY, "sgd|adam", 0, 0, R_STRICT},
    {"lr", K_DBL, F(lr), EX_BOTH, "LR",
     "base learning rate (default: 0.1 for a network with batch norm, 0.01 without, e.g. the MLP; "
     "--optimizer adam: 0.001; without batch norm at most 50/F, adam 5/F, for a layer with F > 5000 nonzeros "
     "per output)",
     NO_KEY, NULL, 0, 0, R_STRICT},
    {"lr-schedule", K_CHOICE, F(lr_schedule), EX_BOTH, "S",
     "constant|step (x gamma at each milestone)|cosine (to 0 at the end of the round)", NO_KEY,
     "constant|step|cosine", 0, 0, R_STRICT},
    {"warmup", K_INT, F(warmup), EX_BOTH, "STEPS", "linear warm-up from 0 over this many steps",
     NO_KEY, NULL, 0, 0, R_STRICT},
    {"milestones", K_STR, F(milestones), EX_BOTH, "E1,E2,...",
     "step schedule: epochs at which the lr is multiplied by gamma (default: 50% and 75% of the epochs)", NO_KEY,
     NULL, 0, 0, R_STRICT},
    {"gamma", K_DBL, F(gamma), EX_BOTH, "G", "step schedule: factor at each milestone", NO_KEY, NULL, 0, 0, R_STRICT},
    {"momentum", K_DBL, F(momentum), EX_BOTH, "M", "sgd: momentum, in [0, 1)", NO_KEY, NULL, 0, 0, R_STRICT},
    {"nesterov", K_TRUE, F(nesterov), EX_BOTH, NULL, "sgd: Nesterov momentum", NO_KEY, NULL, 0, 0, R_STRICT},
    {"weight-decay", K_DBL, F(weight_decay), EX_BOTH, "WD", "L2 weight decay (not on biases and batch norm)", NO_KEY,
     NULL, 0, 0, R_STRICT},
    {"seed", K_INT, F(seed), EX_BOTH, "N", "seed of initialisation, masks, shuffling and dropout",
     NO_KEY, NULL, 0, 0, R_STRICT},
    {"threads", K_INT, F(threads), EX_BOTH, "N", "threads (0 = all cores), at most SPT_MAX_THREADS (1024)", NO_KEY,
     NULL, 0, SPT_MAX_THREADS, R_FREE},
    {"dispatch", K_CHOICE, F(dispatch), EX_BOTH, "P",
     "path of sparse layers: threshold (dense at density >= 0.4; reproducible) | timed (measure both) | sparse | "
     "dense",
     NO_KEY, "threshold|timed|sparse|dense", 0, 0, R_FREE},
    {"eval-batch", K_INT, F(eval_batch), EX_BOTH, "N", "examples per forward pass when evaluating (default 128 or the training batch if larger; fewer when "
     "their activations would pass 1 GiB and the training batch's)",
     NO_KEY, NULL, 1, 0, R_FREE},

    SECTION("Output"),
    {"log", K_STR, F(log), EX_BOTH, "FILE.csv",
     "one CSV row per epoch: epoch,step,loss,train_acc,test_acc,lr,sparsity,seconds", NO_KEY, NULL, 0, 0, R_FREE},
    {"checkpoint", K_STR, F(checkpoint), EX_BOTH, "FILE", "save the run to FILE after every epoch",
     NO_KEY, NULL, 0, 0, R_FREE},
    {"resume", K_STR, F(resume), EX_BOTH, "FILE", "continue the run saved in FILE with its settings (a flag that differs is refused)", NO_KEY, NULL, 0, 0, R_FREE},
    {"init-from", K_STR, F(init_from), EX_BOTH, "FILE.safetensors",
     "start from the weights in FILE (an --export of the same network, or a PyTorch state_dict saved with "
     "safetensors): weights stored sparse there keep their topology, dense ones are sparsified by the method "
     "(docs/safetensors.md)", NO_KEY, NULL, 0, 0, R_STRICT},
    {"export", K_STR, F(export_to), EX_BOTH, "FILE.safetensors",
     "after training, write the model to FILE as safetensors (sparse weights as CSR; docs/safetensors.md)", NO_KEY,
     NULL, 0, 0, R_FREE},
    {"export-dense", K_TRUE, F(export_dense), EX_BOTH, NULL,
     "--export every weight as a dense tensor (a plain PyTorch state_dict)", NO_KEY, NULL, 0, 0, R_FREE},
    {"stop-after", K_INT, F(stop_after), EX_BOTH, "N",
     "stop after N epochs of this invocation (0 = train to the end; continue with --resume)",
     NO_KEY, NULL, 0, EX_MAX_EPOCHS, R_FREE},
    {"progress", K_TRUE, F(progress), EX_BOTH, NULL,
     "progress line rewritten in place on stderr even when stderr is not a terminal", NO_KEY, NULL, 0, 0, R_FREE},
    {"no-mpi", K_TRUE, F(no_mpi), EX_BOTH, NULL,
     "under mpirun, train in this process alone (also SPT_NO_MPI=1); by default the processes of mpirun -np N "
     "train one model together, each on 1/N of every batch (docs/distributed.md)", NO_KEY, NULL, 0, 0, R_FREE},
    {"sync-bn", K_TRUE, F(sync_bn), EX_BOTH, NULL,
     "under mpirun, batch norms normalise with the whole batch's statistics (SyncBatchNorm) instead of each "
     "process's own share", NO_KEY, NULL, 0, 0, R_FREE},
    {"help", K_HELP, 0, EX_BOTH, NULL, "print this help and exit", NO_KEY, NULL, 0, 0, R_FREE},
    {"version", K_VERSION, 0, EX_BOTH, NULL, "print the library version and exit", NO_KEY, NULL, 0, 0, R_FREE},
};
enum { N_FLAGS = sizeof FLAGS / sizeof FLAGS[0] };
_Static_assert(N_FLAGS <= sizeof(((ex_opts *)0)->given) / sizeof(bool), "ex_opts.given is too short");

static void vmsg(const ex_opts *o, const char *fmt, va_list ap) {
    if (o->mpi_size > 1 && o->mpi_rank > 0)
        fprintf(stderr, "%s [rank %d of %d]: ", o->prog, o->mpi_rank, o->mpi_size);
    else
        fprintf(stderr, "%s: ", o->prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int ex_usage_error(const ex_opts *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg(o, fmt, ap);
    va_end(ap);
    return EX_EXIT_USAGE;
}

int ex_fail(const ex_opts *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg(o, fmt, ap);
    va_end(ap);
    return EX_EXIT_FAIL;
}

/* Index of `name` in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *name) {
    size_t len = strlen(name);
    int i = 0;
    for (const char *p = choices; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, name, n) == 0) return i;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

/* Print item `idx` of "a|b|c". */
static void print_choice(FILE *f, const char *choices, int idx) {
    const char *p = choices;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p) p++;
    }
    if (!p) {
        fputs("?", f);
        return;
    }
    const char *bar = strchr(p, '|');
    fprintf(f, "%.*s", bar ? (int)(bar - p) : (int)strlen(p), p);
}

/* Name of method v if a flag can choose it (not a method defined by a
 * program's own criteria, SPT_METHOD_USER), else NULL. The library lists
 * the user method last. */
static const char *cli_method_name(int v) {
    int is_user = 1;
    return spt_method_is_user(v, &is_user) == SPT_OK && !is_user ? spt_method_name(v) : NULL;
}

/* Name of value v of a choice the library names (K_METHOD, K_MP_CHOICE);
 * NULL past the last value (values run from 0). */
static const char *lib_choice_name(const flag *fl, int v) {
    return fl->kind == K_METHOD ? cli_method_name(v) : spt_method_param_choice_name(fl->mp_key, v);
}

/* "a|b|c" of a choice the library names, in buf. */
static const char *lib_choices(const flag *fl, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (int v = 0; n + 1 < cap; v++) {
        const char *name = lib_choice_name(fl, v);
        if (!name) break;
        snprintf(buf + n, cap - n, "%s%s", v ? "|" : "", name);
        n += strlen(buf + n);
    }
    return buf;
}

static bool method_uses(int method, int key) {
    int uses = 0;
    return cli_method_name(method) && spt_method_uses_param(method, key, &uses) == SPT_OK && uses;
}

/* The spt_method_param whose users a method flag names in --help. */
static int help_key(const flag *fl) { return fl->mp_key == KEY_T_END ? SPT_MP_T_END : fl->mp_key; }

/* "a/b/c: ", the methods that read `key`, unless every method that reads
 * any key reads it. */
static void print_method_users(FILE *f, int key) {
    int n = spt_method_count(), n_keys = spt_method_param_count(), users = 0, readers = 0;
    for (int m = 0; m < n; m++) {
        users += method_uses(m, key);
        for (int k = 0; k < n_keys; k++)
            if (method_uses(m, k)) {
                readers++;
                break;
            }
    }
    if (users == readers) return;
    const char *sep = "";
    for (int m = 0; m < n; m++)
        if (method_uses(m, key)) {
            fprintf(f, "%s%s", sep, spt_method_name(m));
            sep = "/";
        }
    fputs(": ", f);
}

/* " (default: on for a/b, off for c)" when the methods that read `key`
 * have different defaults for it. */
static void print_method_defaults(FILE *f, int key) {
    int n = spt_method_count(), type = SPT_PARAM_REAL;
    spt_method_param_type(key, &type);
    double d[64];
    bool differ = false;
    int first = -1;
    for (int m = 0; m < n && m < 64; m++) {
        if (!method_uses(m, key) || spt_method_param_default(m, key, &d[m]) != SPT_OK) continue;
        if (first < 0)
            first = m;
        else if (d[m] != d[first])
            differ = true;
    }
    if (!differ) return;
    fputs(" (default: ", f);
    const char *group_sep = "";
    for (int m = 0; m < n && m < 64; m++) {
        if (!method_uses(m, key)) continue;
        bool seen = false;
        for (int e = 0; e < m; e++) seen = seen || (method_uses(e, key) && d[e] == d[m]);
        if (seen) continue;
        if (type == SPT_PARAM_BOOLEAN)
            fprintf(f, "%s%s for ", group_sep, d[m] != 0 ? "on" : "off");
        else
            fprintf(f, "%s%g for ", group_sep, d[m]);
        const char *sep = "";
        for (int e = m; e < n && e < 64; e++)
            if (method_uses(e, key) && d[e] == d[m]) {
                fprintf(f, "%s%s", sep, spt_method_name(e));
                sep = "/";
            }
        group_sep = ", ";
    }
    fputs(")", f);
}

static void defaults(ex_opts *o, int program, const char *prog) {
    memset(o, 0, sizeof *o);
    o->program = program;
    o->prog = prog;
    o->format = EX_FORMAT_AUTO;
    o->method = SPT_METHOD_RIGL;
    /* Method knobs show the library's defaults (they are applied only when given). */
    spt_method_config *cfg = NULL;
    double v[SPT_MP_COUNT_] = {0};
    if (spt_method_config_create(SPT_METHOD_RIGL, &cfg) == SPT_OK) {
        for (int k = 0; k < SPT_MP_COUNT_; k++) spt_method_config_get(cfg, k, &v[k]);
        spt_method_config_destroy(cfg);
    }
    o->sparsity = v[SPT_MP_SPARSITY];
    o->distribution = (int)v[SPT_MP_DISTRIBUTION];
    o->epsilon = v[SPT_MP_EPSILON];
    o->delta_t = (int64_t)v[SPT_MP_DELTA_T];
    o->alpha = v[SPT_MP_ALPHA];
    o->t_end = v[SPT_MP_T_END_FRACTION];
    o->drop_schedule = (int)v[SPT_MP_DROP_SCHEDULE];
    o->snfs_momentum = v[SPT_MP_SNFS_MOMENTUM];
    o->grow_sample = v[SPT_MP_GROW_SAMPLE];
    o->structure = (int)v[SPT_MP_STRUCTURE];
    o->structure_n = (int64_t)v[SPT_MP_STRUCTURE_N];
    o->structure_m = (int64_t)v[SPT_MP_STRUCTURE_M];
    o->ablation = v[SPT_MP_ABLATION];
    o->prune_start = (int64_t)v[SPT_MP_PRUNE_START];
    o->prune_end = (int64_t)v[SPT_MP_PRUNE_END];
    o->prune_freq = (int64_t)v[SPT_MP_PRUNE_FREQ];
    o->initial_sparsity = v[SPT_MP_INITIAL_SPARSITY];
    o->global = -1;
    o->lottery_rounds = 0;
    o->lottery_rate = v[SPT_MP_LOTTERY_RATE];
    o->rewind_step = (int64_t)v[SPT_MP_REWIND_STEP];
    o->score_batches = (int64_t)v[SPT_MP_SCORE_BATCHES];
    o->synflow_iters = (int64_t)v[SPT_MP_SYNFLOW_ITERS];
    /* model */
    o->widths = "4000,1000,4000";
    o->dropout = 0.0;
    o->depth = 20;
    o->width = 1;
    /* training */
    o->epochs = program == EX_MLP ? 10 : 30;
    o->batch = 128;
    o->optimizer = SPT_OPTIMIZER_SGD;
    o->lr = 0.1;
    o->lr_schedule = SPT_LR_COSINE;
    o->gamma = 0.1;
    o->momentum = 0.9;
    o->weight_decay = program == EX_MLP ? 1e-4 : 5e-4;
    o->seed = 1;
    o->threads = 0;
    o->eval_batch = 128; /* raised to --batch below; 128 evaluated fastest (docs/performance.md) */
    o->augment = -1;
}

static void print_default(FILE *f, const ex_opts *o, const flag *fl) {
    const char *p = (const char *)o + fl->off;
    switch (fl->kind) {
    case K_INT:
        fprintf(f, "%lld", (long long)*(const int64_t *)(const void *)p);
        break;
    case K_DBL:
        fprintf(f, "%g", *(const double *)(const void *)p);
        break;
    case K_STR: {
        const char *s = *(const char *const *)(const void *)p;
        fputs(s ? s : "none", f);
        break;
    }
    case K_CHOICE: {
        int idx = *(const int *)(const void *)p;
        if (idx < 0)
            fputs("auto", f);
        else
            print_choice(f, fl->choices, idx);
        break;
    }
    case K_METHOD:
    case K_MP_CHOICE: {
        const char *name = lib_choice_name(fl, *(const int *)(const void *)p);
        fputs(name ? name : "?", f);
        break;
    }
    default:
        break;
    }
}

static void help(const ex_opts *o) {
    FILE *f = stdout;
    if (o->program == EX_MLP)
        fprintf(f, "Usage: %s [FLAGS]\nTrain a sparse multi-layer perceptron with libsparsetrain %s.\n", o->prog,
                spt_version_string());
    else
        fprintf(f, "Usage: %s [FLAGS]\nTrain a sparse CIFAR ResNet with libsparsetrain %s.\n", o->prog,
                spt_version_string());
    fprintf(f, "Flags take their value as --flag VALUE or --flag=VALUE. Exit status: 0 done, 1 data or training "
               "failure, 2 bad flag.\n");
    for (int i = 0; i < N_FLAGS; i++) {
        const flag *fl = &FLAGS[i];
        if (!(fl->programs & o->program)) continue;
        if (fl->kind == K_SECTION) {
            fprintf(f, "\n%s:\n", fl->name);
            continue;
        }
        char head[64];
        snprintf(head, sizeof head, "--%s%s%s", fl->name, fl->meta ? " " : "", fl->meta ? fl->meta : "");
        fprintf(f, "  %-24s ", head);
        if (fl->mp_key != NO_KEY) print_method_users(f, help_key(fl));
        fputs(fl->help, f);
        if (fl->kind == K_MP_CHOICE) {
            char names[256];
            fprintf(f, " %s", lib_choices(fl, names, sizeof names));
        }
        if (fl->mp_key != NO_KEY && fl->kind != K_FALSE) print_method_defaults(f, help_key(fl));
        if (fl->kind == K_INT || fl->kind == K_DBL || fl->kind == K_CHOICE || fl->kind == K_METHOD ||
            fl->kind == K_MP_CHOICE ||
            (fl->kind == K_STR && fl->off != offsetof(ex_opts, data) && fl->off != offsetof(ex_opts, milestones))) {
            fputs(" [default: ", f);
            print_default(f, o, fl);
            fputs("]", f);
        }
        fputc('\n', f);
        if (fl->kind == K_METHOD)
            for (int m = 0; cli_method_name(m); m++)
                fprintf(f, "  %-24s   %-8s %s\n", "", spt_method_name(m), spt_method_summary(m));
    }
}

/* 0, or -1 for something that is not an integer, -2 for one outside int64. */
static int parse_i64(const char *s, int64_t *out) {
    if (!*s) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || end == s) return -1;
    if (errno == ERANGE) return -2;
    if (errno) return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_dbl(const char *s, double *out) {
    if (!*s) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Parse val into the field of fl in o. Returns -1, or writes why into err
 * (for "--flag: <err>") and returns 0. */
static int parse_value(ex_opts *o, const flag *fl, const char *val, char *err, size_t cap) {
    char *p = (char *)o + fl->off;
    switch (fl->kind) {
    case K_INT: {
        int64_t v = 0;
        const int64_t hi = fl->max > 0 ? fl->max : INT64_MAX;
        const int r = parse_i64(val, &v);
        if (r == -1) {
            snprintf(err, cap, "'%s' is not an integer", val);
            return 0;
        }
        if (r == -2 || v < fl->min || v > hi) {
            if (hi == INT64_MAX)
                snprintf(err, cap, "%s is out of range (must be >= %lld)", val, (long long)fl->min);
            else
                snprintf(err, cap, "%s is out of range (must be in [%lld, %lld])", val, (long long)fl->min,
                         (long long)hi);
            return 0;
        }
        *(int64_t *)(void *)p = v;
        return -1;
    }
    case K_DBL: {
        double v;
        if (parse_dbl(val, &v)) {
            snprintf(err, cap, "'%s' is not a finite number", val);
            return 0;
        }
        *(double *)(void *)p = v;
        return -1;
    }
    case K_STR: {
        const size_t len = strlen(val);
        if (len == 0) {
            snprintf(err, cap, "empty value");
            return 0;
        }
        if (len > EX_MAX_STRING) {
            snprintf(err, cap, "the value is %zu bytes long, at most %d are accepted", len, EX_MAX_STRING);
            return 0;
        }
        *(const char **)(void *)p = val;
        return -1;
    }
    case K_CHOICE: {
        int idx = choice_index(fl->choices, val);
        if (idx < 0 && fl->off == F(format) && strcmp(val, "auto") == 0) idx = EX_FORMAT_AUTO; /* the default */
        else if (idx < 0) {
            snprintf(err, cap, "'%.64s' is not one of %s", val, fl->choices);
            return 0;
        }
        *(int *)(void *)p = idx;
        return -1;
    }
    case K_METHOD:
    case K_MP_CHOICE: {
        int v;
        int rc = fl->kind == K_METHOD ? spt_method_from_name(val, &v)
                                      : spt_method_param_choice_from_name(fl->mp_key, val, &v);
        if (rc == SPT_OK && fl->kind == K_METHOD && !cli_method_name(v)) rc = SPT_ERR_INVALID;
        if (rc != SPT_OK) {
            char names[256];
            snprintf(err, cap, "'%.64s' is not one of %s", val, lib_choices(fl, names, sizeof names));
            return 0;
        }
        *(int *)(void *)p = v;
        return -1;
    }
    case K_TRUE:
    case K_FALSE: { /* only from a checkpoint's settings: the field's value */
        int64_t v = 0;
        if (parse_i64(val, &v) != 0 || v < -1 || v > 1) {
            snprintf(err, cap, "'%s' is not -1, 0 or 1", val);
            return 0;
        }
        *(int *)(void *)p = (int)v;
        return -1;
    }
    default:
        return -1;
    }
}

static int set_value(ex_opts *o, const flag *fl, const char *val) {
    char err[512];
    if (parse_value(o, fl, val, err, sizeof err) < 0) return -1;
    return ex_usage_error(o, "--%s: %s", fl->name, err);
}

static int flag_index(const char *name);

/* --nm N:M: --structure nm --structure-n N --structure-m M, each as given. */
static int set_nm(ex_opts *o, const char *val) {
    const char *colon = strchr(val, ':');
    char n[32], err[512];
    if (!colon || colon == val || (size_t)(colon - val) >= sizeof n || !colon[1])
        return ex_usage_error(o, "--nm: '%.64s' is not N:M (e.g. 2:4)", val);
    memcpy(n, val, (size_t)(colon - val));
    n[colon - val] = '\0';
    const char *names[3] = {"structure", "structure-n", "structure-m"}, *vals[3] = {"nm", n, colon + 1};
    for (int i = 0; i < 3; i++) {
        const int k = flag_index(names[i]);
        o->cmdline[k] = o->given[k] = o->fixed[k] = true;
        if (parse_value(o, &FLAGS[k], vals[i], err, sizeof err) >= 0)
            return ex_usage_error(o, "--nm: %s: %s", i == 1 ? "N" : "M", err);
    }
    if (o->structure_n > o->structure_m)
        return ex_usage_error(o, "--nm: N (%lld) must be at most M (%lld)", (long long)o->structure_n,
                              (long long)o->structure_m);
    return -1;
}

int ex_parse_args(ex_opts *o, int program, int argc, char **argv) {
    const char *prog = program == EX_MLP ? "spt-train-mlp" : "spt-train-resnet";
    defaults(o, program, prog);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return ex_usage_error(o, "unexpected argument '%s' (see --help)", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int found = -1;
        for (int k = 0; k < N_FLAGS; k++)
            if (FLAGS[k].kind != K_SECTION && (FLAGS[k].programs & program) && strlen(FLAGS[k].name) == len &&
                strncmp(FLAGS[k].name, name, len) == 0) {
                found = k;
                break;
            }
        if (found < 0) return ex_usage_error(o, "unknown flag '--%.*s' (see --help)", (int)len, name);
        const flag *fl = &FLAGS[found];
        o->cmdline[found] = o->given[found] = o->fixed[found] = true;
        if (fl->kind == K_HELP) {
            help(o);
            return EX_EXIT_OK;
        }
        if (fl->kind == K_VERSION) {
            printf("%s (libsparsetrain %s, %s)\n", o->prog, spt_version_string(), spt_simd_name());
            return EX_EXIT_OK;
        }
        if (fl->kind == K_TRUE || fl->kind == K_FALSE) {
            if (eq) return ex_usage_error(o, "--%s takes no value", fl->name);
            *(int *)(void *)((char *)o + fl->off) = fl->kind == K_TRUE;
            continue;
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc) return ex_usage_error(o, "--%s needs a value (%s)", fl->name, fl->meta);
            val = argv[++i];
        }
        int rc = fl->off == F(nm) ? set_nm(o, val) : set_value(o, fl, val);
        if (rc >= 0) return rc;
    }
    if (o->export_dense && !o->export_to) return ex_usage_error(o, "--export-dense needs --export FILE");
    return -1;
}

static int flag_index(const char *name) {
    for (int k = 0; k < N_FLAGS; k++)
        if (FLAGS[k].kind != K_SECTION && strcmp(FLAGS[k].name, name) == 0) return k;
    return -1;
}

bool ex_given(const ex_opts *o, const char *name) {
    int k = flag_index(name);
    return k >= 0 && o->given[k];
}

bool ex_fixed(const ex_opts *o, const char *name) {
    int k = flag_index(name);
    return k >= 0 && o->fixed[k];
}

int ex_parse_int_list(const char *s, int64_t *out, int cap) {
    int n = 0;
    const char *p = s;
    for (;;) {
        if (n >= cap) return -1;
        errno = 0;
        char *end;
        if (*p < '0' || *p > '9') return -1; /* no sign, no blank, no empty item */
        long long v = strtoll(p, &end, 10);
        if (errno || v < 1) return -1;
        out[n++] = (int64_t)v;
        if (*end == '\0') return n;
        if (*end != ',') return -1;
        p = end + 1;
    }
}

/* ex_apply_method_flags, with the messages left out when quiet. */
static int apply_method_flags(const ex_opts *o, spt_method_config *cfg, bool quiet) {
    int rc = spt_method_config_set(cfg, SPT_MP_SEED, (double)o->seed);
    if (rc != SPT_OK)
        return quiet ? EX_EXIT_USAGE : ex_usage_error(o, "--seed %lld: %s", (long long)o->seed, spt_last_error());
    for (int k = 0; k < N_FLAGS; k++) {
        const flag *fl = &FLAGS[k];
        if (!o->given[k] || fl->mp_key == NO_KEY) continue;
        const char *p = (const char *)o + fl->off;
        double v;
        int key = fl->mp_key;
        switch (fl->kind) {
        case K_INT:
            v = (double)*(const int64_t *)(const void *)p;
            break;
        case K_DBL:
            v = *(const double *)(const void *)p;
            break;
        default: /* flags and choices are ints */
            v = (double)*(const int *)(const void *)p;
            break;
        }
        if (key == KEY_T_END) {
            if (v < 1.0) {
                key = SPT_MP_T_END_FRACTION;
            } else {
                if (v != floor(v))
                    return quiet ? EX_EXIT_USAGE
                                 : ex_usage_error(o, "--t-end %g: a step count >= 1 must be whole", v);
                key = SPT_MP_T_END;
            }
        }
        rc = spt_method_config_set(cfg, key, v);
        if (rc != SPT_OK)
            return quiet ? EX_EXIT_USAGE : ex_usage_error(o, "--%s %g: %s", fl->name, v, spt_last_error());
    }
    return -1;
}

int ex_apply_method_flags(const ex_opts *o, spt_method_config *cfg) { return apply_method_flags(o, cfg, false); }

/* ---- data format and per-network defaults ------------------------------------------------ */

int ex_data_format(const ex_opts *o) {
    if (o->format != EX_FORMAT_AUTO) return o->format;
    if (!o->data) return EX_FORMAT_IDX;
    char probe[EX_MAX_STRING + 32];
    snprintf(probe, sizeof probe, "%s/data_batch_1.bin", o->data);
    struct stat st;
    /* lstat: anything by that name (a directory, a looping link) means CIFAR-10, whose loader then names it. */
    return lstat(probe, &st) == 0 ? EX_FORMAT_CIFAR10 : EX_FORMAT_IDX;
}

void ex_apply_network_defaults(ex_opts *o, bool normalised, double fan_in, int64_t activations) {
    /* Without batch norm, SGD at 0.1 diverges on the MLP (CIFAR-10: "output of fc3 is not finite"; dense on
     * Fashion-MNIST too) and on Conv-6; 0.01 with momentum 0.9 is the recipe of docs/results.md. */
    if (!ex_fixed(o, "lr")) o->lr = normalised ? 0.1 : 0.01;
    /* A layer with F nonzeros per output moves its outputs by about lr x F x E[x^2] per step: a wide dense
     * read-out (the 600,000 -> 10 layer of a 3 x 600,000 MLP) diverges at those rates (loss 1018 after 10
     * steps at 0.01; 3 x 30,000: loss 21 at 0.01, 0.81 at 0.001). Without batch norm the default rate is
     * capped at 50 / F for SGD (5 / F for Adam), which leaves every network up to F = 5,000 unchanged (3 x 100,000:
     * 0.84 after 200 steps at 50 / F). */
    if (!normalised && fan_in > 0 && !ex_fixed(o, "lr")) {
        const double cap = (o->optimizer == SPT_OPTIMIZER_ADAM ? 5.0 : 50.0) / fan_in;
        const double base = o->optimizer == SPT_OPTIMIZER_ADAM ? 0.001 : o->lr;
        if (cap < base) o->lr = cap;
    }
    /* Evaluation holds the activations of --eval-batch examples: keep them to 1 GiB or the training
     * batch's, whichever is more. */
    if (!ex_fixed(o, "eval-batch") && o->eval_batch < o->batch) o->eval_batch = o->batch;
    if (activations > 0 && !ex_fixed(o, "eval-batch")) {
        int64_t fit = ((int64_t)1 << 28) / activations;
        if (fit < o->batch) fit = o->batch;
        if (fit < o->eval_batch) o->eval_batch = fit;
    }
}

/* ---- settings of a run, recorded in its checkpoint (--checkpoint, --resume) ---------------- */

static const char NOTE_HEAD[] = "spt-example-settings 1\n";

/* Whether FLAGS[k] is the first flag of its field (a switch pair such as
 * --augment / --no-augment shares one field: it is recorded once). */
static bool field_leader(int k) {
    for (int j = 0; j < k; j++)
        if (FLAGS[j].kind != K_SECTION && FLAGS[j].off == FLAGS[k].off && FLAGS[j].cls != R_FREE) return false;
    return true;
}

/* The other flag of k's field (a switch pair), or -1. */
static int field_partner(int k) {
    for (int j = 0; j < N_FLAGS; j++)
        if (j != k && FLAGS[j].kind != K_SECTION && FLAGS[j].cls != R_FREE && FLAGS[j].off == FLAGS[k].off)
            return j;
    return -1;
}

static bool recorded(const flag *fl, int program) {
    return fl->kind != K_SECTION && fl->kind != K_HELP && fl->kind != K_VERSION && fl->cls != R_FREE &&
           (fl->programs & program);
}

static bool is_list(const flag *fl) { return fl->off == F(widths) || fl->off == F(milestones); }

/* The canonical text of fl's value in o; false for a string that is not set. */
static bool value_text(const ex_opts *o, const flag *fl, char *buf, size_t cap) {
    const char *p = (const char *)o + fl->off;
    buf[0] = '\0';
    switch (fl->kind) {
    case K_INT:
        snprintf(buf, cap, "%lld", (long long)*(const int64_t *)(const void *)p);
        return true;
    case K_DBL: { /* the shortest text that reads back as the same double */
        const double v = *(const double *)(const void *)p;
        snprintf(buf, cap, "%.15g", v);
        if (strtod(buf, NULL) != v) snprintf(buf, cap, "%.17g", v);
        return true;
    }
    case K_STR: {
        const char *v = *(const char *const *)(const void *)p;
        if (!v) return false;
        int64_t items[64];
        int n = is_list(fl) ? ex_parse_int_list(v, items, 64) : -1;
        if (n < 0) {
            snprintf(buf, cap, "%s", v);
            return true;
        }
        size_t len = 0;
        for (int i = 0; i < n && len < cap; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "," : "", (long long)items[i]);
        return true;
    }
    case K_CHOICE: {
        int idx = *(const int *)(const void *)p;
        if (idx < 0) {
            snprintf(buf, cap, "auto");
            return true;
        }
        const char *c = fl->choices;
        for (int i = 0; i < idx && c; i++) {
            c = strchr(c, '|');
            if (c) c++;
        }
        const char *bar = c ? strchr(c, '|') : NULL;
        if (c) snprintf(buf, cap, "%.*s", bar ? (int)(bar - c) : (int)strlen(c), c);
        return true;
    }
    case K_METHOD:
    case K_MP_CHOICE: {
        const char *name = lib_choice_name(fl, *(const int *)(const void *)p);
        snprintf(buf, cap, "%s", name ? name : "?");
        return true;
    }
    default: /* switches: the field */
        snprintf(buf, cap, "%d", *(const int *)(const void *)p);
        return true;
    }
}

/* Copy fl's field from src to dst. */
static void copy_field(ex_opts *dst, const ex_opts *src, const flag *fl) {
    size_t n = fl->kind == K_INT ? sizeof(int64_t)
               : fl->kind == K_DBL ? sizeof(double)
               : fl->kind == K_STR ? sizeof(const char *)
                                   : sizeof(int);
    memcpy((char *)dst + fl->off, (const char *)src + fl->off, n);
}

/* Append s to the note, escaping what would break a line ('%' and control bytes as %XX). */
static void put_escaped(char *buf, int64_t cap, int64_t *len, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == '%' || c == 0x7f) {
            if (*len + 3 < cap) snprintf(buf + *len, 4, "%%%02X", c);
            *len += 3;
        } else {
            if (*len + 1 < cap) buf[*len] = (char)c;
            *len += 1;
        }
    }
}

static void put_text(char *buf, int64_t cap, int64_t *len, const char *s) {
    size_t n = strlen(s);
    if (*len + (int64_t)n < cap) memcpy(buf + *len, s, n);
    *len += (int64_t)n;
}

int64_t ex_settings_note(const ex_opts *o, const ex_effective *e, char *buf, int64_t cap) {
    ex_opts eff = *o;
    eff.lr = e->lr;
    eff.augment = e->augment;
    eff.milestones = e->milestones;
    int64_t len = 0;
    char line[EX_MAX_STRING + 128];
    put_text(buf, cap, &len, NOTE_HEAD);
    snprintf(line, sizeof line, "program %s\n", o->prog);
    put_text(buf, cap, &len, line);
    for (int k = 0; k < N_FLAGS; k++) {
        const flag *fl = &FLAGS[k];
        if (!recorded(fl, o->program) || !field_leader(k)) continue;
        const int partner = field_partner(k);
        const bool given = o->given[k] || (partner >= 0 && o->given[partner]);
        char value[EX_MAX_STRING + 64];
        const bool set = value_text(&eff, fl, value, sizeof value);
        snprintf(line, sizeof line, "%c %s%s", given ? 'g' : 'd', fl->name, set ? " " : "");
        put_text(buf, cap, &len, line);
        if (set) put_escaped(buf, cap, &len, value);
        put_text(buf, cap, &len, "\n");
    }
    snprintf(line, sizeof line, "data %lld %lld %lld %lld %lld\n", (long long)e->examples, (long long)e->c,
             (long long)e->h, (long long)e->w, (long long)e->classes);
    put_text(buf, cap, &len, line);
    return len < cap ? len : -1;
}

/* Undo put_escaped in place; false for a malformed escape. */
static bool unescape(char *s) {
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        unsigned v;
        char hex[3] = {r[1], r[1] ? r[2] : '\0', '\0'};
        if (!hex[0] || !hex[1] || sscanf(hex, "%2x", &v) != 1) return false;
        *w++ = (char)v;
        r += 2;
    }
    *w = '\0';
    return true;
}

/* The saved run's settings, parsed. */
typedef struct saved_flag {
    bool present, given;
    const char *value; /* NULL: a string flag that was not set */
} saved_flag;

/* Text of method key `key` in cfg, for messages. */
static void key_text(const spt_method_config *cfg, int key, char *buf, size_t cap) {
    double v = 0;
    spt_method_config_get(cfg, key, &v);
    int type = SPT_PARAM_REAL;
    spt_method_param_type(key, &type);
    const char *name = spt_method_param_choice_name(key, (int)v);
    if (type == SPT_PARAM_BOOLEAN)
        snprintf(buf, cap, "%s", v != 0 ? "on" : "off");
    else if (name && v == floor(v))
        snprintf(buf, cap, "%s", name);
    else
        snprintf(buf, cap, "%g", v);
}

static void add_mismatch(char *list, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void add_mismatch(char *list, size_t cap, const char *fmt, ...) {
    size_t len = strlen(list);
    if (len + 3 >= cap) return;
    if (len) {
        snprintf(list + len, cap - len, "; ");
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(list + len, cap - len, fmt, ap);
    va_end(ap);
}

int ex_resume_settings(ex_opts *o) {
    static char note[SPT_CHECKPOINT_NOTE_MAX + 1];
    int64_t len = 0;
    int rc = spt_checkpoint_read_note(o->resume, note, SPT_CHECKPOINT_NOTE_MAX, &len);
    if (rc != SPT_OK)
        return ex_fail(o, "--resume %s: %s (%s)", o->resume, spt_last_error(), spt_status_string(rc));
    if (len == 0) {
        fprintf(stderr,
                "%s: warning: --resume %s records no settings (saved by an older version or another program): the "
                "flags are used as given and only the network is checked against the checkpoint\n",
                o->prog, o->resume);
        return -1;
    }
    note[len] = '\0';
    if (strlen(note) != (size_t)len || strncmp(note, NOTE_HEAD, sizeof NOTE_HEAD - 1) != 0)
        return ex_fail(o, "--resume %s: its note is not the settings of an example program", o->resume);

    saved_flag sf[N_FLAGS];
    memset(sf, 0, sizeof sf);
    const char *program = NULL;
    bool has_data = false;
    for (char *line = note + sizeof NOTE_HEAD - 1, *next; *line; line = next) {
        char *nl = strchr(line, '\n');
        if (!nl) return ex_fail(o, "--resume %s: its settings end in the middle of a line", o->resume);
        *nl = '\0';
        next = nl + 1;
        if (strncmp(line, "program ", 8) == 0) {
            program = line + 8;
            if (strcmp(program, o->prog) != 0)
                return ex_usage_error(o, "--resume %s: the run was saved by %s; resume it with %s", o->resume,
                                      program, program);
            continue;
        }
        if (strncmp(line, "data ", 5) == 0) {
            long long n, c, h, w, k;
            if (sscanf(line + 5, "%lld %lld %lld %lld %lld", &n, &c, &h, &w, &k) != 5)
                return ex_fail(o, "--resume %s: unreadable setting '%s'", o->resume, line);
            o->saved_examples = n, o->saved_c = c, o->saved_h = h, o->saved_w = w, o->saved_classes = k;
            has_data = true;
            continue;
        }
        if ((line[0] != 'g' && line[0] != 'd') || line[1] != ' ')
            return ex_fail(o, "--resume %s: unreadable setting '%.80s'", o->resume, line);
        char *name = line + 2, *sp = strchr(name, ' ');
        if (sp) *sp = '\0';
        int k = flag_index(name);
        if (k < 0 || !recorded(&FLAGS[k], o->program) || !field_leader(k))
            return ex_fail(o, "--resume %s: setting '%s' is unknown to this %s (saved by a newer version?)", o->resume,
                           name, o->prog);
        sf[k].present = true;
        sf[k].given = line[0] == 'g';
        sf[k].value = sp ? sp + 1 : NULL;
        if (sp && !unescape(sp + 1)) return ex_fail(o, "--resume %s: unreadable value of '%s'", o->resume, name);
    }
    if (!program) return ex_fail(o, "--resume %s: its settings do not name the program", o->resume);

    /* The saved run's options: this program's defaults with every recorded value. */
    ex_opts saved;
    defaults(&saved, o->program, o->prog);
    for (int k = 0; k < N_FLAGS; k++) {
        if (!sf[k].present) continue;
        char err[512];
        if (sf[k].value && parse_value(&saved, &FLAGS[k], sf[k].value, err, sizeof err) >= 0)
            return ex_fail(o, "--resume %s: setting --%s: %s", o->resume, FLAGS[k].name, err);
        if (!sf[k].value && FLAGS[k].kind == K_STR) *(const char **)(void *)((char *)&saved + FLAGS[k].off) = NULL;
        saved.given[k] = sf[k].given;
    }

    /* Flags of this command line against the saved values. */
    char mismatch[3072] = "";
    int n_mismatch = 0;
    const int i_model = flag_index("model");
    for (int k = 0; k < N_FLAGS; k++) {
        const flag *fl = &FLAGS[k];
        if (!o->cmdline[k] || !recorded(fl, o->program)) continue;
        const int lead = field_leader(k) ? k : field_partner(k), partner = field_partner(k);
        if (lead < 0 || !sf[lead].present) continue;
        if (partner >= 0 && partner < k && o->cmdline[partner]) continue; /* a switch pair: its field once */
        char now[EX_MAX_STRING + 64], then[EX_MAX_STRING + 64];
        const bool now_set = value_text(o, fl, now, sizeof now), then_set = value_text(&saved, fl, then, sizeof then);
        if (k == i_model) { /* another path may hold the same network: the checkpoint's is compared once loaded */
            if (!then_set) {
                add_mismatch(mismatch, sizeof mismatch, "--model %s (the saved run trained the program's own network)",
                             o->model);
                n_mismatch++;
            }
            continue;
        }
        if (fl->cls != R_STRICT || fl->mp_key != NO_KEY) continue; /* method keys: below */
        if (now_set == then_set && strcmp(now, then) == 0) continue;
        n_mismatch++;
        if (saved.model && (fl->off == F(widths) || fl->off == F(dropout) || fl->off == F(depth) ||
                            fl->off == F(width)))
            add_mismatch(mismatch, sizeof mismatch, "--%s (the saved run trained --model %s)", fl->name, saved.model);
        else if (fl->off == F(epochs))
            add_mismatch(mismatch, sizeof mismatch,
                         "--epochs %s (the saved run's: %s; a run's schedules and topology updates are planned for "
                         "its length, so it cannot be extended: start a new run with --epochs %s)",
                         now, then, now);
        else if (fl->kind == K_TRUE || fl->kind == K_FALSE) /* named by the value it sets */
            add_mismatch(mismatch, sizeof mismatch, "--%s (the saved run's: %s)",
                         partner >= 0 && (atoi(now) > 0) != (fl->kind == K_TRUE) ? FLAGS[partner].name : fl->name,
                         atoi(then) > 0 ? "on" : "off");
        else
            add_mismatch(mismatch, sizeof mismatch, "--%s %s (the saved run's: %s)", fl->name, now,
                         then_set ? then : "not set");
    }
    /* Method flags: the configurations they make, so that a default given explicitly is no change. */
    if (o->method == saved.method || !o->cmdline[flag_index("method")]) {
        ex_opts merged = saved;
        for (int k = 0; k < N_FLAGS; k++)
            if (o->cmdline[k] && recorded(&FLAGS[k], o->program)) {
                copy_field(&merged, o, &FLAGS[k]);
                merged.given[k] = true;
            }
        spt_method_config *cs = NULL, *cm = NULL;
        int st = -1;
        if (spt_method_config_create(saved.method, &cs) != SPT_OK || apply_method_flags(&saved, cs, true) >= 0)
            st = ex_fail(o, "--resume %s: the saved method settings are not valid here", o->resume);
        else if (spt_method_config_create(merged.method, &cm) != SPT_OK)
            st = ex_usage_error(o, "--method: %s", spt_last_error());
        else
            st = apply_method_flags(&merged, cm, false); /* a bad value: its usual message */
        for (int k = 0; st < 0 && k < N_FLAGS; k++) {
            const flag *fl = &FLAGS[k];
            if (!o->cmdline[k] || fl->mp_key == NO_KEY || !(fl->programs & o->program)) continue;
            const int keys[2] = {fl->mp_key == KEY_T_END ? SPT_MP_T_END : fl->mp_key,
                                 fl->mp_key == KEY_T_END ? SPT_MP_T_END_FRACTION : -1};
            for (int i = 0; i < 2; i++) {
                double a = 0, b = 0;
                int uses = 0;
                if (keys[i] < 0 || spt_method_uses_param(merged.method, keys[i], &uses) != SPT_OK || !uses) continue;
                spt_method_config_get(cs, keys[i], &a);
                spt_method_config_get(cm, keys[i], &b);
                if (a == b) continue;
                char then[64], now[64];
                key_text(cs, keys[i], then, sizeof then);
                key_text(cm, keys[i], now, sizeof now);
                add_mismatch(mismatch, sizeof mismatch, "--%s %s (the saved run's: %s)", fl->name, now, then);
                n_mismatch++;
                break;
            }
        }
        spt_method_config_destroy(cs);
        spt_method_config_destroy(cm);
        if (st >= 0) return st;
    }
    if (n_mismatch > 0)
        return ex_usage_error(o, "--resume %s: %d flag%s differ%s from the saved run's: %s. Leave %s out to continue "
                              "the saved run as it was",
                              o->resume, n_mismatch, n_mismatch == 1 ? "" : "s", n_mismatch == 1 ? "s" : "",
                              mismatch, n_mismatch == 1 ? "it" : "them");

    /* Adopt the saved values of every flag this command line leaves out. */
    for (int k = 0; k < N_FLAGS; k++) {
        if (!sf[k].present) continue;
        const int partner = field_partner(k);
        if (o->cmdline[k] || (partner >= 0 && o->cmdline[partner])) continue;
        copy_field(o, &saved, &FLAGS[k]);
        o->given[k] = saved.given[k];
        o->fixed[k] = true;
    }
    o->resume_recorded = true;
    o->has_saved_data = has_data;
    return -1;
}
