/*
 * spt-bench-train-step: time of one full training step (forward,
 * loss, backward, optimizer update, method hooks) through the public trainer
 * API, spt_trainer_step(), for the two reference models:
 *
 *   resnet20  spt_model_create_resnet(3, 32, 32, n = 3, width 1, 10 classes)
 *   mlp       spt_model_create_mlp(3072-4000-1000-4000-10)
 *
 * each dense (density 1: no method) and with every weight layer at density D
 * (static sparse method, explicit per-layer densities; --dense-first /
 * --dense-last keep the first / last weight layer dense). Data are random
 * (normal inputs, uniform labels) made here: no files. SGD, momentum 0.9,
 * weight decay 5e-4, constant lr 0.01.
 *
 * Times are per step: median, 10th and 90th percentile over --steps timed
 * steps after --warmup untimed ones (the warm-up also absorbs first-use
 * allocations and, in the timed dispatch mode, the dispatcher's one-off
 * timing of each new shape class). The clock is the
 * wall clock, or with --clock cpu the process' CPU time (with --threads 1:
 * the step's own work, even on a machine other programs keep busy).
 *
 * --profile re-runs the timed steps with every layer's forward / backward
 * wrapped by a timer and prints where a step's time goes per layer kind
 * (exclusive times: a residual block's own share is its add + ReLU and the
 * shortcut gradient sum); "other" is the rest of the step: zeroing grads,
 * loss, finite checks, the optimizer update and the method hooks.
 * --profile-layers prints the same per layer.
 *
 * The RigL section (for each model --model names, unless --no-rigl)
 * trains with RigL at --rigl-density and a small --rigl-delta-t so that
 * updates happen, and reports ordinary steps against update steps: the
 * update's extra cost is the dense weight gradient of that step plus drop /
 * grow. It also reports the largest allocation peak of each kind of step
 * beyond the live bytes at its start (through spt_set_allocator): what an
 * update step holds on top of an ordinary one.
 *
 * --torch PYTHON runs bench/torch_step.py with that interpreter after each
 * model's dense case: the same network, batch, threads and step count in
 * PyTorch (when it is installed; Debian's python3-torch), printed under the
 * dense row with the ratio of the two step times, so that the dense
 * baseline of every speedup is itself compared with what users run.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/internal.h"
#include "nn/layer.h"
#include "nn/model.h"
#include "train/trainer.h"

enum { MODEL_RESNET = 1, MODEL_MLP = 2, MAX_DENSITIES = 16, MAX_WRAPPED = 512, MAX_CATS = 512 };

typedef struct {
    int models, n_density, threads, steps, warmup, csv, dense_first, dense_last, profile, rigl, rigl_dt, rigl_only;
    int structure; /* SPT_STRUCTURE_* of the sparse cases (--structure) */
    double density[MAX_DENSITIES], rigl_density;
    const char *torch; /* --torch PYTHON, or NULL */
    const char *rigl_model; /* --rigl-model FILE, or NULL */
    int64_t batch;
} options;

/* CLOCK_MONOTONIC, or with --clock cpu the process' CPU time (all its
 * threads): with --threads 1 that is the work of the step whatever else
 * runs on the machine. */
static clockid_t g_clock = CLOCK_MONOTONIC;

static void usage(FILE *f) {
    fprintf(f,
            "usage: spt-bench-train-step [--model resnet20|mlp|all] [--density D[,D...]] [--batch B]\n"
            "                            [--steps N] [--warmup N] [--threads T] [--csv]\n"
            "                            [--dense-first] [--dense-last] [--profile] [--profile-layers]\n"
            "                            [--no-rigl | --rigl-only] [--rigl-density D] [--rigl-delta-t N]\n"
            "                            [--rigl-model FILE]\n"
            "                            [--clock wall|cpu]\n"
            "                            [--torch PYTHON] [--structure S] [--sparse-kernels]\n"
            "Times one training step (spt_trainer_step: forward, loss, backward, update) of\n"
            "ResNet-20 (CIFAR, 3x32x32) and the MLP 3072-4000-1000-4000-10 on random data,\n"
            "dense (D = 1) and static sparse with every weight layer at density D.\n"
            "Defaults: --model all --density 1,0.1 --batch 128 --steps 10 --warmup 3\n"
            "          --threads <all cores> --rigl-density 0.1 --rigl-delta-t 10 --clock wall\n"
            "--structure unstructured|fanin|nm|kernel|channel: the sparse cases' structure (static\n"
            "method; nm is 1:M with M = round(1/D); channel is GMP pruning whole rows at step 1).\n"
            "--sparse-kernels: every sparse weight on the sparse kernels (SPT_DISPATCH_SPARSE), e.g. a\n"
            "channel-pruned one on the CSR kernels rather than OpenBLAS over its whole rows.\n"
            "--torch PYTHON: after each dense case, the same step in PyTorch (bench/torch_step.py run\n"
            "with PYTHON, e.g. /usr/bin/python3 with Debian's python3-torch), and the ratio.\n"
            "--rigl-model FILE: the RigL section trains the network of a model file (docs/models.md)\n"
            "instead of the built-in models.\n"
            "--clock cpu times with the process' CPU time (meaningful with --threads 1 on a\n"
            "busy machine: other processes then do not inflate the numbers).\n");
}

static int parse_int(const char *s, long lo, long hi, int *v) {
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || *end || end == s || x < lo || x > hi) return -1;
    *v = (int)x;
    return 0;
}

static int parse_density(const char *s, double *d) {
    char *end;
    errno = 0;
    *d = strtod(s, &end);
    return (errno || *end || end == s || !(*d > 0.0 && *d <= 1.0)) ? -1 : 0;
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.models = MODEL_RESNET | MODEL_MLP, .n_density = 2, .density = {1.0, 0.1}, .batch = 128,
                   .steps = 10, .warmup = 3, .rigl = 1, .rigl_dt = 10, .rigl_density = 0.1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        int *flag = !strcmp(a, "--csv")              ? &o->csv
                    : !strcmp(a, "--dense-first")    ? &o->dense_first
                    : !strcmp(a, "--dense-last")     ? &o->dense_last
                    : !strcmp(a, "--profile")        ? &o->profile
                    : !strcmp(a, "--profile-layers") ? &o->profile
                                                     : NULL;
        if (flag) {
            *flag = !strcmp(a, "--profile-layers") ? 2 : (*flag > 1 ? *flag : 1);
            continue;
        }
        if (!strcmp(a, "--sparse-kernels")) { /* spt_set_dispatch_mode(SPT_DISPATCH_SPARSE) */
            spt_set_dispatch_mode(SPT_DISPATCH_SPARSE);
            continue;
        }
        if (!strcmp(a, "--rigl-only")) {
            o->rigl = o->rigl_only = 1;
            continue;
        }
        if (!strcmp(a, "--no-rigl")) {
            o->rigl = 0;
            continue;
        }
        if (i + 1 >= argc) return -1;
        const char *v = argv[++i];
        int n;
        if (!strcmp(a, "--model")) {
            if (!strcmp(v, "resnet20")) o->models = MODEL_RESNET;
            else if (!strcmp(v, "mlp")) o->models = MODEL_MLP;
            else if (!strcmp(v, "all")) o->models = MODEL_RESNET | MODEL_MLP;
            else return -1;
        } else if (!strcmp(a, "--density")) {
            o->n_density = 0;
            char *copy = strdup(v), *save = NULL;
            if (!copy) return -1;
            int bad = 0;
            for (char *tok = strtok_r(copy, ",", &save); tok && !bad; tok = strtok_r(NULL, ",", &save))
                bad = o->n_density == MAX_DENSITIES || parse_density(tok, &o->density[o->n_density++]);
            free(copy);
            if (bad || o->n_density == 0) return -1;
        } else if (!strcmp(a, "--clock")) {
            if (!strcmp(v, "wall")) g_clock = CLOCK_MONOTONIC;
            else if (!strcmp(v, "cpu")) g_clock = CLOCK_PROCESS_CPUTIME_ID;
            else return -1;
        } else if (!strcmp(a, "--torch")) {
            if (strchr(v, '\'')) return -1; /* it goes between single quotes into a shell command */
            o->torch = v;
        } else if (!strcmp(a, "--batch")) {
            if (parse_int(v, 1, 1 << 16, &n)) return -1;
            o->batch = n;
        } else if (!strcmp(a, "--steps")) {
            if (parse_int(v, 1, 100000, &o->steps)) return -1;
        } else if (!strcmp(a, "--warmup")) {
            if (parse_int(v, 0, 100000, &o->warmup)) return -1;
        } else if (!strcmp(a, "--threads")) {
            if (parse_int(v, 1, 1024, &o->threads)) return -1;
        } else if (!strcmp(a, "--rigl-density")) {
            if (parse_density(v, &o->rigl_density) || o->rigl_density >= 1.0) return -1;
        } else if (!strcmp(a, "--structure")) {
            static const char *const names[] = {"unstructured", "fanin", "nm", "channel", "kernel"};
            static const int values[] = {SPT_STRUCTURE_UNSTRUCTURED, SPT_STRUCTURE_FANIN, SPT_STRUCTURE_NM,
                                         SPT_STRUCTURE_CHANNEL, SPT_STRUCTURE_KERNEL};
            int k = 0;
            while (k < 5 && strcmp(v, names[k])) k++;
            if (k == 5) return -1;
            o->structure = values[k];
        } else if (!strcmp(a, "--rigl-model")) {
            o->rigl_model = v;
            o->rigl = 1;
        } else if (!strcmp(a, "--rigl-delta-t")) {
            if (parse_int(v, 1, 100000, &o->rigl_dt)) return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* ---- small helpers ---------------------------------------------------------- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* p-th percentile (0..100) of v[0..n), linear between order statistics; sorts v. */
static double percentile(double *v, int n, double p) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double r = p / 100.0 * (n - 1);
    int lo = (int)r;
    return lo + 1 < n ? v[lo] + (r - lo) * (v[lo + 1] - v[lo]) : v[n - 1];
}

static double loadavg1(void) {
    double l = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1.0;
        fclose(f);
    }
    return l;
}

static int die(const char *what) {
    fprintf(stderr, "spt-bench-train-step: %s: %s\n", what, spt_last_error());
    return 1;
}

static const char *model_name(int kind) { return kind == MODEL_RESNET ? "resnet20" : "mlp"; }

static int make_model(int kind, spt_model **m) {
    if (kind == MODEL_RESNET) return spt_model_create_resnet(3, 32, 32, 3, 1, 10, 1, m);
    const int64_t widths[] = {3072, 4000, 1000, 4000, 10};
    return spt_model_create_mlp(widths, 5, 1, m);
}

/* Number of weight layers (convolutions and linears) of the model. */
static int64_t weight_layers(const spt_model *m) {
    int64_t n = 0, layers = 0, rows;
    spt_model_num_layers(m, &layers);
    for (int64_t i = 0; i < layers; i++)
        if (spt_model_layer_weight(m, i, &rows, NULL, NULL, NULL) == SPT_OK && rows > 0) n++;
    return n;
}

/* SGD with momentum and a trainer: dense for density 1, else `method` with
 * every weight layer at `density` (first / last kept dense on request). */
static int make_trainer(spt_model *m, int method, double density, int dense_first, int dense_last, int delta_t,
                        int structure, spt_trainer **tr) {
    spt_optimizer *opt = NULL;
    spt_method_config *cfg = NULL;
    double *dens = NULL;
    int rc = spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt);
    if (rc == SPT_OK) rc = spt_optimizer_set_param(opt, SPT_OPT_LR, 0.01);
    if (rc == SPT_OK) rc = spt_optimizer_set_param(opt, SPT_OPT_MOMENTUM, 0.9);
    if (rc == SPT_OK) rc = spt_optimizer_set_param(opt, SPT_OPT_WEIGHT_DECAY, 5e-4);
    if (rc == SPT_OK && density < 1.0) {
        const int64_t nw = weight_layers(m);
        dens = malloc(sizeof *dens * (size_t)nw);
        if (!dens) rc = SPT_ERR_NOMEM;
        for (int64_t l = 0; rc == SPT_OK && l < nw; l++) dens[l] = density;
        if (rc == SPT_OK) rc = spt_method_config_create(method, &cfg);
        if (rc == SPT_OK) rc = spt_method_config_set_densities(cfg, dens, nw);
        if (rc == SPT_OK) rc = spt_method_config_set(cfg, SPT_MP_DENSE_FIRST, dense_first);
        if (rc == SPT_OK) rc = spt_method_config_set(cfg, SPT_MP_DENSE_LAST, dense_last);
        if (rc == SPT_OK && method == SPT_METHOD_RIGL) rc = spt_method_config_set(cfg, SPT_MP_DELTA_T, delta_t);
        if (rc == SPT_OK) rc = spt_method_config_set(cfg, SPT_MP_STRUCTURE, structure);
        if (rc == SPT_OK && structure == SPT_STRUCTURE_NM) {
            rc = spt_method_config_set(cfg, SPT_MP_STRUCTURE_N, 1);
            if (rc == SPT_OK) rc = spt_method_config_set(cfg, SPT_MP_STRUCTURE_M, (double)(int64_t)(1.0 / density + 0.5));
        }
        if (rc == SPT_OK && method == SPT_METHOD_GMP) { /* the final density from step 1 on */
            rc = spt_method_config_set(cfg, SPT_MP_PRUNE_START, 0);
            if (rc == SPT_OK) rc = spt_method_config_set(cfg, SPT_MP_PRUNE_END, 1);
            if (rc == SPT_OK) rc = spt_method_config_set(cfg, SPT_MP_PRUNE_FREQ, 1);
        }
    }
    /* A long run: RigL's updates (until 75% of it) and its drop fraction
     * (cosine over that span) stay steady over the steps timed here. */
    if (rc == SPT_OK) rc = spt_trainer_create(m, opt, NULL, cfg, 1000000, 7, tr);
    free(dens);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(opt);
    return rc;
}

typedef struct {
    float *x;
    int32_t *y;
    int64_t n;
} batch;

static int make_batch(const spt_model *m, int64_t n, uint64_t seed, batch *b) {
    int64_t c, h, w, classes;
    spt_model_input_shape(m, &c, &h, &w);
    spt_model_num_classes(m, &classes);
    b->n = n;
    b->x = malloc(sizeof(float) * (size_t)(c * h * w * n));
    b->y = malloc(sizeof(int32_t) * (size_t)n);
    if (!b->x || !b->y) return SPT_ERR_NOMEM;
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < c * h * w * n; i++) b->x[i] = spti_rng_normal(&rng);
    for (int64_t i = 0; i < n; i++) b->y[i] = (int32_t)spti_rng_below(&rng, (uint64_t)classes);
    return SPT_OK;
}

static void free_batch(batch *b) {
    free(b->x);
    free(b->y);
}

/* The method's per-step hooks timed with the bench's clock (the trainer's
 * own method time is wall-clock only). */
static struct {
    const spti_method_ops *orig;
    spti_method_ops ops;
    double ms;
} hook;

#define HOOK_TIMED(call)                \
    do {                                \
        double t0_ = now_ms();          \
        int rc_ = (call);               \
        hook.ms += now_ms() - t0_;      \
        return rc_;                     \
    } while (0)

static int hook_begin(spti_method *m, int64_t step) { HOOK_TIMED(hook.orig->begin_step(m, step)); }
static int hook_after_backward(spti_method *m, int64_t step, bool *skip) {
    HOOK_TIMED(hook.orig->after_backward(m, step, skip));
}
static int hook_after_step(spti_method *m, int64_t step) { HOOK_TIMED(hook.orig->after_step(m, step)); }

static void hook_install(spti_method *m) {
    hook.orig = m->ops;
    hook.ops = *m->ops;
    if (hook.ops.begin_step) hook.ops.begin_step = hook_begin;
    if (hook.ops.after_backward) hook.ops.after_backward = hook_after_backward;
    if (hook.ops.after_step) hook.ops.after_step = hook_after_step;
    hook.ms = 0.0;
    m->ops = &hook.ops;
}

/* The library's allocations counted (the RigL section): live bytes (a
 * header before each block holds its size) and their peak. */
static atomic_llong g_live, g_peak;

static void *counting_alloc(size_t size, void *user) {
    (void)user;
    unsigned char *p = malloc(size + 64);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    const long long now = atomic_fetch_add(&g_live, (long long)size) + (long long)size;
    long long cur = atomic_load(&g_peak);
    while (now > cur && !atomic_compare_exchange_weak(&g_peak, &cur, now)) {
    }
    return p + 64;
}

static void counting_free(void *ptr, void *user) {
    (void)user;
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - 64;
    size_t size;
    memcpy(&size, p, sizeof size);
    atomic_fetch_sub(&g_live, (long long)size);
    free(p);
}

/* Run `steps` steps, alternating between the two batches; t[i] gets each
 * step's milliseconds (t may be NULL), upd[i] whether it changed the
 * topology, meth[i] its milliseconds in method hooks, ext[i] the peak of
 * the counted allocations beyond the live bytes at its start (the last
 * three may be NULL). */
static int run_steps_ext(spt_trainer *tr, const batch *b, int steps, double *t, int *upd, double *meth,
                         long long *ext) {
    static int flip;
    for (int i = 0; i < steps; i++) {
        const batch *cur = &b[flip ^= 1];
        double loss, m0 = hook.ms;
        const long long live0 = atomic_load(&g_live);
        atomic_store(&g_peak, live0);
        double t0 = now_ms();
        int rc = spt_trainer_step(tr, cur->x, cur->y, cur->n, &loss, NULL);
        double dt = now_ms() - t0;
        if (rc != SPT_OK) return rc;
        if (t) t[i] = dt;
        if (meth) meth[i] = hook.ms - m0;
        if (upd) spt_trainer_last_update(tr, &upd[i], NULL);
        if (ext) ext[i] = atomic_load(&g_peak) - live0;
    }
    return SPT_OK;
}

static int run_steps(spt_trainer *tr, const batch *b, int steps, double *t, int *upd, double *meth) {
    return run_steps_ext(tr, b, steps, t, upd, meth, NULL);
}

/* ---- per-layer profile: wrap every layer's forward / backward ---------------------- */

typedef struct {
    char name[48];
    double fwd, bwd; /* exclusive milliseconds, summed over the profiled steps */
    double flop;     /* multiply-adds x 2 of one step's forward and backward products, per example */
} category;

typedef struct {
    spti_layer *L;
    const spti_layer_ops *orig;
    int cat;
} wrapped;

static struct {
    wrapped w[MAX_WRAPPED];
    int n_w;
    category c[MAX_CATS];
    int n_c;
    spti_layer_ops ops[32]; /* one wrapper per original ops table (keeps kind, flops, destroy) */
    const spti_layer_ops *ops_orig[32];
    int n_ops;
    double inner; /* time of the wrapped calls nested in the current one */
    const spti_layer *first; /* the model's first leaf: its backward computes no dX */
    const spt_model *model;  /* for its fused blocks */
} prof;

static wrapped *find_wrapped(const spti_layer *L) {
    for (int i = 0; i < prof.n_w; i++)
        if (prof.w[i].L == L) return &prof.w[i];
    return NULL;
}

/* Exclusive timing: the nested wrapped calls' time is taken off the caller's. */
#define TIMED(field, call)                                           \
    do {                                                             \
        double saved_ = prof.inner;                                  \
        prof.inner = 0.0;                                            \
        double t0_ = now_ms();                                       \
        int rc_ = (call);                                            \
        double dt_ = now_ms() - t0_;                                 \
        prof.c[w->cat].field += dt_ - prof.inner;                    \
        prof.inner = saved_ + dt_;                                   \
        return rc_;                                                  \
    } while (0)

static int prof_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    wrapped *w = find_wrapped(L);
    TIMED(fwd, w->orig->forward(L, x, y, N, ctx));
}

static int prof_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    wrapped *w = find_wrapped(L);
    TIMED(bwd, w->orig->backward(L, x, y, dy, dx, N));
}

static int prof_forward_act(spti_layer *L, const float *x, const float *res, bool relu, float *y, int64_t N,
                            const spti_fwd_ctx *ctx) {
    wrapped *w = find_wrapped(L);
    TIMED(fwd, w->orig->forward_act(L, x, res, relu, y, N, ctx));
}

static int prof_backward_act(spti_layer *L, const float *x, const float *y, const float *dy, bool relu, float *dx,
                             float *dres, int64_t N) {
    wrapped *w = find_wrapped(L);
    TIMED(bwd, w->orig->backward_act(L, x, y, dy, relu, dx, dres, N));
}

static int prof_forward2(spti_layer *L, const float *const *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    wrapped *w = find_wrapped(L);
    TIMED(fwd, w->orig->forward2(L, x, y, N, ctx));
}

static int prof_backward2(spti_layer *L, const float *const *x, const float *y, const float *dy, float *const *dx,
                          int64_t N) {
    wrapped *w = find_wrapped(L);
    TIMED(bwd, w->orig->backward2(L, x, y, dy, dx, N));
}

static int category_of(const char *name) {
    for (int i = 0; i < prof.n_c; i++)
        if (!strcmp(prof.c[i].name, name)) return i;
    if (prof.n_c == MAX_CATS) return MAX_CATS - 1;
    snprintf(prof.c[prof.n_c].name, sizeof prof.c[0].name, "%s", name);
    prof.c[prof.n_c].fwd = prof.c[prof.n_c].bwd = prof.c[prof.n_c].flop = 0.0;
    return prof.n_c++;
}

/* The category of a layer: its kind (convolutions split by kernel size and
 * stride), or its name with per_layer. */
static void wrap_layer(spti_layer *L, int per_layer) {
    if (prof.n_w == MAX_WRAPPED) return;
    char cat[48];
    if (per_layer) {
        snprintf(cat, sizeof cat, "%s", L->name);
    } else if (L->n_children > 0) {
        snprintf(cat, sizeof cat, "%s (own)", L->ops->kind);
    } else if (!strcmp(L->ops->kind, "conv2d")) {
        const spti_param *W = L->params[0];
        int64_t h_in = L->in_shape.h, h_out = L->out_shape.h;
        snprintf(cat, sizeof cat, "conv2d %lldx%lld%s", (long long)W->shape[2], (long long)W->shape[3],
                 h_out < h_in ? " s2" : "");
    } else {
        /* a batch norm the model runs fused with what follows it */
        int fuse = 0;
        for (int i = 0; prof.model && i < prof.model->n_layers; i++)
            if (prof.model->layers[i] == L) fuse = prof.model->fuse[i];
        snprintf(cat, sizeof cat, "%s%s", L->ops->kind, fuse == 1 ? "+relu" : fuse == 2 ? "+add+relu" : "");
    }
    int k = 0;
    while (k < prof.n_ops && prof.ops_orig[k] != L->ops) k++;
    if (k == prof.n_ops) {
        if (k == 32) return;
        prof.ops_orig[k] = L->ops;
        prof.ops[k] = *L->ops;
        prof.ops[k].forward = prof_forward;
        prof.ops[k].backward = prof_backward;
        if (L->ops->forward2) prof.ops[k].forward2 = prof_forward2;
        if (L->ops->backward2) prof.ops[k].backward2 = prof_backward2;
        if (L->ops->forward_act) prof.ops[k].forward_act = prof_forward_act;
        if (L->ops->backward_act) prof.ops[k].backward_act = prof_backward_act;
        prof.n_ops++;
    }
    const int c = category_of(cat);
    /* forward, dW and (but for the first layer) dX: the same product count */
    if (L->ops->flops && L->n_children == 0) prof.c[c].flop += L->ops->flops(L, false) * (L == prof.first ? 2.0 : 3.0);
    prof.w[prof.n_w++] = (wrapped){L, L->ops, c};
    L->ops = &prof.ops[k];
    for (int i = 0; i < L->n_children; i++) wrap_layer(L->children[i], per_layer);
}

static void unwrap_all(void) {
    for (int i = 0; i < prof.n_w; i++) prof.w[i].L->ops = prof.w[i].orig;
    prof.n_w = prof.n_c = prof.n_ops = 0;
}

/* How each weight layer runs now (its form and, for CSR weights, the path
 * the dispatcher chose once the layer has run). */
static void weight_forms(const spt_model *m, FILE *f, const char *pfx) {
    for (int i = 0; i < m->n_leaves; i++) {
        const spti_layer *L = m->leaves[i];
        if (L->n_params == 0 || !L->params[0]->is_weight) continue;
        const spti_param *W = L->params[0];
        const char *form = W->kind == SPTI_PARAM_SPARSE ? "sparse" : W->kind == SPTI_PARAM_MASKED ? "masked" : "dense";
        const char *path = "-";
        if (W->kind == SPTI_PARAM_SPARSE)
            path = W->ws.decided_nnz == 0 ? "direct conv (no CSR dispatch)"
                   : W->ws.path == SPTI_PATH_SPARSE ? "CSR sparse kernels"
                                                    : "CSR dense (OpenBLAS over a copy)";
        fprintf(f, "%s  %-30s %5lld x %-6lld %-7s nnz %9lld  %s\n", pfx, W->name, (long long)W->rows,
                (long long)W->cols, form, (long long)W->n, path);
    }
}

static int profile_case(spt_model *m, spt_trainer *tr, const batch *b, int steps, int per_layer, FILE *f,
                        const char *pfx) {
    prof.first = m->n_leaves > 0 ? m->leaves[0] : NULL;
    prof.model = m;
    for (int i = 0; i < m->n_layers; i++) wrap_layer(m->layers[i], per_layer);
    double *t = malloc(sizeof(double) * (size_t)steps);
    if (!t) return SPT_ERR_NOMEM;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    int rc = run_steps(tr, b, steps, t, NULL, NULL);
    getrusage(RUSAGE_SELF, &r1);
    if (rc == SPT_OK) {
        double total = 0.0, layers = 0.0;
        for (int i = 0; i < steps; i++) total += t[i];
        fprintf(f, "%s  %-28s %10s %10s %10s %7s %8s\n", pfx, "per step (mean)", "fwd_ms", "bwd_ms", "total_ms", "share",
                "GFLOP/s");
        for (int c = 0; c < prof.n_c; c++) {
            const category *k = &prof.c[c];
            double s = (k->fwd + k->bwd) / steps;
            layers += k->fwd + k->bwd;
            char gf[16] = "-";
            if (k->flop > 0.0 && s > 0.0) snprintf(gf, sizeof gf, "%.1f", k->flop * (double)b->n / (s * 1e-3) * 1e-9);
            fprintf(f, "%s  %-28s %10.2f %10.2f %10.2f %6.1f%% %8s\n", pfx, k->name, k->fwd / steps, k->bwd / steps, s,
                    100.0 * s * steps / total, gf);
        }
        double other = (total - layers) / steps;
        fprintf(f, "%s  %-28s %10s %10s %10.2f %6.1f%%\n", pfx, "other (grads, loss, update)", "", "", other,
                100.0 * other * steps / total);
        fprintf(f, "%s  %-28s %10s %10s %10.2f   (%.0f minor page faults per step)\n", pfx, "step", "", "",
                total / steps, (double)(r1.ru_minflt - r0.ru_minflt) / steps);
        weight_forms(m, f, pfx);
    }
    unwrap_all();
    free(t);
    return rc;
}

/* ---- the cases ------------------------------------------------------------------ */

/* Times one (model, density) case; *ms gets the median. */
static int run_case(const options *o, int kind, double density, int dense_first, int dense_last, double dense_ms,
                    double *ms) {
    spt_model *m = NULL;
    spt_trainer *tr = NULL;
    batch b[2] = {{0}};
    double *t = malloc(sizeof(double) * (size_t)o->steps);
    int rc = t ? make_model(kind, &m) : SPT_ERR_NOMEM;
    /* Static sparsity where it supports the structure, else the first
     * method that does (channel: a pruning method, GMP). */
    int method = SPT_METHOD_STATIC, ok = 0;
    if (spt_method_supports_structure(method, o->structure, &ok) != SPT_OK || !ok)
        for (int k = 0; k < spt_method_count(); k++)
            if (spt_method_supports_structure(k, o->structure, &ok) == SPT_OK && ok) {
                method = k;
                break;
            }
    if (rc == SPT_OK) rc = make_trainer(m, method, density, dense_first, dense_last, 0, o->structure, &tr);
    if (rc == SPT_OK) rc = make_batch(m, o->batch, 11, &b[0]);
    if (rc == SPT_OK) rc = make_batch(m, o->batch, 12, &b[1]);
    if (rc == SPT_OK) rc = run_steps(tr, b, o->warmup, NULL, NULL, NULL);
    if (rc == SPT_OK) rc = run_steps(tr, b, o->steps, t, NULL, NULL);
    if (rc == SPT_OK) {
        double flops = 0.0, nz_density = 1.0;
        spt_trainer_flops(tr, NULL, NULL, NULL, &flops);
        if (density < 1.0) {
            int64_t nnz, dense;
            spt_trainer_sparsity(tr, NULL, &nnz, &dense);
            nz_density = (double)nnz / (double)dense;
        }
        const double p10 = percentile(t, o->steps, 10), p90 = percentile(t, o->steps, 90);
        const double med = percentile(t, o->steps, 50);
        const char *ends = density >= 1.0 ? "-" : dense_first && dense_last ? "dense" : dense_first ? "first dense"
                                                 : dense_last             ? "last dense"
                                                                          : "sparse";
        char speed[16] = "-";
        if (dense_ms > 0.0) snprintf(speed, sizeof speed, "%.2f", dense_ms / med);
        /* (GMP's FLOPs average its whole schedule, dense start included: not this step's) */
        const double gflops = method == SPT_METHOD_GMP ? 0.0 : flops * (double)o->batch / (med * 1e-3) * 1e-9;
        char gflops_s[16] = "-";
        if (gflops > 0.0) snprintf(gflops_s, sizeof gflops_s, "%.1f", gflops);
        if (o->csv)
            printf("%s,%g,%s,%.4f,%lld,%d,%s,%.2f,%.2f,%.2f,%.0f,%s,%.1f\n", model_name(kind), density, ends,
                   nz_density, (long long)o->batch, spt_get_num_threads(), spt_simd_name(), med, p10, p90,
                   (double)o->batch / (med * 1e-3), speed, gflops);
        else
            printf("%-9s %7g %-11s %7.4f %6lld %7d %10.2f %9.2f %9.2f %10.0f %8s %8s\n", model_name(kind), density,
                   ends, nz_density, (long long)o->batch, spt_get_num_threads(), med, p10, p90,
                   (double)o->batch / (med * 1e-3), speed, gflops_s);
        fflush(stdout);
        *ms = med;
        if (o->profile) {
            FILE *f = o->csv ? stderr : stdout;
            rc = profile_case(m, tr, b, o->steps, o->profile > 1, f, o->csv ? "#" : "");
            fflush(f);
        }
    }
    spt_trainer_destroy(tr);
    spt_model_destroy(m);
    free_batch(&b[0]);
    free_batch(&b[1]);
    free(t);
    return rc;
}

/* --torch: the PyTorch twin of a dense case (bench/torch_step.py), printed
 * under its row; a missing interpreter or torch is reported, not fatal. */
static void run_torch(const options *o, int kind, double ours_ms) {
    char cmd[1024], line[512] = "";
    snprintf(cmd, sizeof cmd,
             "'%s' '%s/torch_step.py' --model %s --batch %lld --threads %d --steps %d --warmup %d --clock %s 2>&1",
             o->torch, SPT_BENCH_DIR, model_name(kind), (long long)o->batch, spt_get_num_threads(), o->steps,
             o->warmup, g_clock == CLOCK_MONOTONIC ? "wall" : "cpu");
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    char last[512] = "";
    while (p && fgets(line, sizeof line, p)) snprintf(last, sizeof last, "%s", line);
    const int status = p ? pclose(p) : -1;
    static const char ms_key[] = "\"ms_median\": ", ver_key[] = "\"torch\": \"";
    const char *ms = strstr(last, ms_key), *ver = strstr(last, ver_key);
    const double t = ms ? strtod(ms + sizeof ms_key - 1, NULL) : 0.0;
    char version[32] = "?";
    if (ver) sscanf(ver + sizeof ver_key - 1, "%31[^\"]", version);
    if (status != 0 || !(t > 0.0)) {
        last[strcspn(last, "\n")] = '\0';
        printf("%s  PyTorch: not run (%s)\n", o->csv ? "#" : "", last[0] ? last : "no output");
    } else if (o->csv) {
        printf("# torch,%s,%s,%lld,%d,%.2f,ours_over_torch,%.2f\n", model_name(kind), version, (long long)o->batch,
               spt_get_num_threads(), t, ours_ms / t);
    } else {
        printf("%-9s %7s %-11s %7s %6lld %7d %10.2f   (PyTorch %s, same network and steps: our dense step takes "
               "%.2fx its time)\n", model_name(kind), "torch", "-", "-", (long long)o->batch, spt_get_num_threads(), t,
               version, ours_ms / t);
    }
    fflush(stdout);
}

/* RigL on a model: ordinary steps against topology-update steps. */
static int run_rigl(const options *o, int kind) {
    spt_model *m = NULL;
    spt_trainer *tr = NULL;
    batch b[2] = {{0}};
    const int dt = o->rigl_dt, updates = o->steps < 3 ? 3 : o->steps, n = updates * dt;
    double *t = malloc(sizeof(double) * (size_t)n), *meth = malloc(sizeof(double) * (size_t)n);
    double *tu = malloc(sizeof(double) * (size_t)n), *tn = malloc(sizeof(double) * (size_t)n);
    double *mu = malloc(sizeof(double) * (size_t)n);
    int *upd = malloc(sizeof(int) * (size_t)n);
    long long *ext = malloc(sizeof(long long) * (size_t)n), ext_u = 0, ext_n = 0;
    int rc = t && meth && tu && tn && mu && upd && ext ? spt_set_allocator(counting_alloc, counting_free, NULL)
                                                       : SPT_ERR_NOMEM;
    atomic_store(&g_live, 0);
    if (rc == SPT_OK && o->rigl_model) {
        spt_net *net = NULL;
        rc = spt_net_read(o->rigl_model, &net);
        if (rc == SPT_OK) rc = spt_model_create(net, 1, &m);
        spt_net_destroy(net);
    } else if (rc == SPT_OK) {
        rc = make_model(kind, &m);
    }
    if (rc == SPT_OK) rc = make_trainer(m, SPT_METHOD_RIGL, o->rigl_density, 0, 0, dt, SPT_STRUCTURE_UNSTRUCTURED, &tr);
    if (rc == SPT_OK) hook_install(tr->method);
    if (rc == SPT_OK) rc = make_batch(m, o->batch, 11, &b[0]);
    if (rc == SPT_OK) rc = make_batch(m, o->batch, 12, &b[1]);
    /* Warm-up of at least two update periods (the first update included). */
    const int warm = o->warmup > 2 * dt ? o->warmup : 2 * dt;
    if (rc == SPT_OK) rc = run_steps(tr, b, warm, NULL, NULL, NULL);
    if (rc == SPT_OK) rc = run_steps_ext(tr, b, n, t, upd, meth, ext);
    if (rc == SPT_OK) {
        int nu = 0, nn = 0;
        for (int i = 0; i < n; i++) {
            if (upd[i]) {
                mu[nu] = meth[i];
                tu[nu++] = t[i];
                ext_u = ext[i] > ext_u ? ext[i] : ext_u;
            } else {
                tn[nn++] = t[i];
                ext_n = ext[i] > ext_n ? ext[i] : ext_n;
            }
        }
        if (nu == 0 || nn == 0) {
            fprintf(stderr, "spt-bench-train-step: RigL made %d update steps out of %d\n", nu, n);
            rc = SPT_ERR_INTERNAL;
        } else {
            const double normal = percentile(tn, nn, 50), update = percentile(tu, nu, 50);
            const double hooks = percentile(mu, nu, 50), extra = update - normal;
            if (o->csv) {
                printf("# rigl,model,density,delta_t,batch,threads,normal_ms,update_ms,extra_ms,hooks_ms,updates,"
                       "normal_peak_bytes,update_peak_bytes\n"
                       "# rigl,%s,%g,%d,%lld,%d,%.2f,%.2f,%.2f,%.2f,%d,%lld,%lld\n",
                       o->rigl_model ? o->rigl_model : model_name(kind), o->rigl_density, dt, (long long)o->batch,
                       spt_get_num_threads(), normal,
                       update, extra, hooks, nu, ext_n, ext_u);
            } else {
                printf("\nRigL, %s, density %g, delta_t %d, batch %lld, %d threads (medians over %d ordinary and "
                       "%d update steps)\n",
                       o->rigl_model ? o->rigl_model : model_name(kind), o->rigl_density, dt, (long long)o->batch,
                       spt_get_num_threads(), nn, nu);
                printf("  ordinary step            %9.2f ms\n", normal);
                printf("  update step              %9.2f ms  (p10 %.2f, p90 %.2f)\n", update,
                       percentile(tu, nu, 10), percentile(tu, nu, 90));
                printf("  extra per update         %9.2f ms  = %.1f ordinary steps\n", extra, extra / normal);
                printf("    in drop/grow hooks     %9.2f ms\n", hooks);
                printf("    rest of the step       %9.2f ms  (the dense weight gradients, streamed into the\n"
                       "                                         growth collectors, less the skipped optimizer update)\n",
                       extra - hooks);
                printf("  amortised at delta_t 100 %9.2f%% per step\n", 100.0 * extra / 100.0 / normal);
                printf("  allocation peak beyond the step's start (largest): ordinary step %.2f MB, update step "
                       "%.2f MB\n",
                       (double)ext_n / 1e6, (double)ext_u / 1e6);
            }
            /* The next step is an update (the run stopped at a multiple of
             * delta_t): take it, then profile the ordinary steps after it. */
            if (o->profile && dt > 1) {
                FILE *f = o->csv ? stderr : stdout;
                fprintf(f, "%sRigL ordinary steps after an update:\n", o->csv ? "#" : "");
                rc = run_steps(tr, b, 1, NULL, NULL, NULL);
                if (rc == SPT_OK) rc = profile_case(m, tr, b, dt - 1, o->profile > 1, f, o->csv ? "#" : "");
            }
        }
    }
    if (tr) tr->method->ops = hook.orig;
    spt_trainer_destroy(tr);
    spt_model_destroy(m);
    spt_set_allocator(NULL, NULL, NULL);
    free_batch(&b[0]);
    free_batch(&b[1]);
    free(ext);
    free(t);
    free(meth);
    free(tu);
    free(tn);
    free(mu);
    free(upd);
    return rc;
}

int main(int argc, char **argv) {
    options o;
    if (parse(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    if (spt_set_num_threads(o.threads) != SPT_OK) return die("threads");
    /* Dense first within each model: it is the speedup's reference. */
    qsort(o.density, (size_t)o.n_density, sizeof(double), cmp_double);
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    const double load0 = loadavg1();
    if (o.csv)
        printf("model,density,first_last,nnz_fraction,batch,threads,simd,ms_median,ms_p10,ms_p90,examples_per_s,"
               "speedup_vs_dense,gflop_per_s\n");
    else
        printf("training step (spt_trainer_step), SGD momentum, %d warm-up + %d timed steps, %s kernels, "
               "OPENBLAS_CORETYPE=%s, %s clock, load average %.2f at start, sparse cases %s\n"
               "%-9s %7s %-11s %7s %6s %7s %10s %9s %9s %10s %8s %8s\n",
               o.warmup, o.steps, spt_simd_name(), coretype ? coretype : "(unset)",
               g_clock == CLOCK_MONOTONIC ? "wall" : "CPU-time", load0,
               o.structure == SPT_STRUCTURE_CHANNEL ? "GMP, whole rows (channel)"
                                                    : spt_method_param_choice_name(SPT_MP_STRUCTURE, o.structure),
               "model", "density",
               "first/last", "nnz", "batch", "threads", "ms/step", "p10", "p90", "examples/s", "speedup",
               "GFLOP/s");
    for (int kind = MODEL_RESNET; kind <= MODEL_MLP; kind++) {
        if (!(o.models & kind) || o.rigl_only) continue;
        double dense_ms = 0.0;
        for (int di = o.n_density - 1; di >= 0; di--) {
            double ms = 0.0;
            const double d = o.density[di];
            if (run_case(&o, kind, d, o.dense_first, o.dense_last, dense_ms, &ms) != SPT_OK)
                return die(model_name(kind));
            if (d >= 1.0) {
                dense_ms = ms;
                if (o.torch) run_torch(&o, kind, ms);
            }
        }
    }
    if (o.rigl_model && run_rigl(&o, 0) != SPT_OK) return die("rigl");
    for (int kind = MODEL_RESNET; kind <= MODEL_MLP && !o.rigl_model; kind++)
        if (o.rigl && (o.models & kind) && run_rigl(&o, kind) != SPT_OK) return die("rigl");
    printf("%sload average %.2f at start, %.2f at end\n", o.csv ? "# " : "", load0, loadavg1());
    return 0;
}
