/*
 * spt-bench-inference: inference speed of a sparse model against its dense
 * twin, in the same run: latency per example at batch 1 and throughput at
 * batch 128 (spt_model_forward, evaluation mode), for
 *
 *   mlp       spt_model_create_mlp(3072-4000-1000-4000-10), the SET paper's
 *             CIFAR-10 MLP (docs/results.md)
 *   resnet20  spt_model_create_resnet(3, 32, 32, n = 3, width 1, 10 classes)
 *
 * with every weight layer at density D (static method, explicit per-layer
 * densities; the topology is random, which is what speed depends on) and
 * dense (no method). Inputs are random normal, made here.
 *
 * Protocol: for each model, the dense twin and each density are measured in
 * turn, and the whole round is repeated --rounds times (interleaving them,
 * so that drift in the machine's speed hits all alike); each figure is the
 * median over the rounds of the per-round median over --reps forwards at
 * batch 1 (cycling through 64 different inputs) and --reps-128 forwards at
 * batch 128, after warm-up forwards. At batch 1 the sparse path runs the
 * matrix-vector kernel (src/kernels/spmv.c); --variant scalar|gather|auto
 * picks its variant (auto: spmv.c's choice by CPU and row length),
 * and --variant both reports the two.
 *
 *   spt-bench-inference [--model mlp|resnet20|all] [--densities 0.1,0.05,0.01]
 *                       [--threads N] [--rounds R] [--reps N] [--reps-128 N] [--variant V]
 *
 * Output: one Markdown table row per model and density (latency median in
 * microseconds, speed-up over the dense twin, examples/s at 128, speed-up).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "kernels/kernels.h"
#include "nn/model.h"

enum { MAX_D = 8, POOL = 64, MAX_ROUNDS = 64 };

typedef struct {
    int models, nd, threads, rounds, reps, reps128, variant; /* variant: -1 auto, 0 scalar, 1 gather, 2 both */
    double d[MAX_D];
} options;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what) {
    fprintf(stderr, "spt-bench-inference: %s: %s\n", what, spt_last_error());
    exit(1);
}

static spt_model *make(int which, double density) {
    spt_model *m = NULL;
    if (which == 1) {
        const int64_t widths[5] = {3072, 4000, 1000, 4000, 10};
        if (spt_model_create_mlp(widths, 5, 3, &m) != SPT_OK) die("mlp");
    } else if (spt_model_create_resnet(3, 32, 32, 3, 1, 10, 3, &m) != SPT_OK) {
        die("resnet20");
    }
    if (density >= 1.0) return m;
    int64_t layers = 0, nw = 0, rows;
    spt_model_num_layers(m, &layers);
    for (int64_t i = 0; i < layers; i++)
        if (spt_model_layer_weight(m, i, &rows, NULL, NULL, NULL) == SPT_OK && rows > 0) nw++;
    double *dens = malloc(sizeof *dens * (size_t)nw);
    for (int64_t l = 0; l < nw; l++) dens[l] = density;
    spt_optimizer *opt = NULL;
    spt_method_config *cfg = NULL;
    spt_trainer *t = NULL;
    if (spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt) != SPT_OK ||
        spt_method_config_create(SPT_METHOD_STATIC, &cfg) != SPT_OK ||
        spt_method_config_set_densities(cfg, dens, nw) != SPT_OK ||
        spt_trainer_create(m, opt, NULL, cfg, 1, 3, &t) != SPT_OK)
        die("sparse model");
    spt_trainer_destroy(t); /* the model keeps its sparse weights */
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(opt);
    free(dens);
    return m;
}

/* Median seconds of one forward at batch n over `reps`, inputs cycling through the pool. */
static double time_forward(spt_model *m, const float *pool, int64_t feat, int64_t n, int reps, float *logits) {
    double *t = malloc(sizeof *t * (size_t)reps);
    float *x = malloc(sizeof *x * (size_t)(feat * n));
    for (int w = 0; w < 5; w++)
        if (spt_model_forward(m, pool, n, logits) != SPT_OK) die("forward");
    for (int r = 0; r < reps; r++) {
        const float *in = pool;
        if (n == 1) in = pool + (int64_t)(r % POOL) * feat; /* the pool holds POOL examples at batch 1 */
        else memcpy(x, pool, sizeof *x * (size_t)(feat * n));
        const double t0 = now();
        if (spt_model_forward(m, n == 1 ? in : x, n, logits) != SPT_OK) die("forward");
        t[r] = now() - t0;
    }
    const double med = median(t, reps);
    free(t);
    free(x);
    return med;
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.models = 3, .nd = 0, .threads = 0, .rounds = 5, .reps = 400, .reps128 = 20, .variant = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return -1;
        i++;
        if (!strcmp(a, "--model")) o->models = !strcmp(v, "mlp") ? 1 : !strcmp(v, "resnet20") ? 2 : !strcmp(v, "all") ? 3 : 0;
        else if (!strcmp(a, "--densities")) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *tok = strtok(buf, ","); tok && o->nd < MAX_D; tok = strtok(NULL, ",")) o->d[o->nd++] = atof(tok);
        } else if (!strcmp(a, "--threads")) o->threads = atoi(v);
        else if (!strcmp(a, "--rounds")) o->rounds = atoi(v);
        else if (!strcmp(a, "--reps")) o->reps = atoi(v);
        else if (!strcmp(a, "--reps-128")) o->reps128 = atoi(v);
        else if (!strcmp(a, "--variant"))
            o->variant = !strcmp(v, "auto") ? -1 : !strcmp(v, "scalar") ? 0 : !strcmp(v, "gather") ? 1 : !strcmp(v, "both") ? 2 : -2;
        else return -1;
    }
    if (!o->models || o->rounds < 1 || o->rounds > MAX_ROUNDS || o->reps < 1 || o->reps128 < 1 || o->variant < -1)
        return -1;
    for (int i = 0; i < o->nd; i++)
        if (!(o->d[i] > 0 && o->d[i] < 1)) return -1;
    return 0;
}

int main(int argc, char **argv) {
    options o;
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: spt-bench-inference [--model mlp|resnet20|all] [--densities D,...] [--threads N] "
                        "[--rounds R] [--reps N] [--reps-128 N] [--variant auto|scalar|gather|both]\n");
        return 2;
    }
    if (o.threads > 0) spt_set_num_threads(o.threads);
    const int nv = o.variant == 2 ? 2 : 1;
    printf("| model | density | batch-1 variant | batch 1: latency (us) | vs dense | batch 128: examples/s | vs dense |\n");
    printf("|---|---:|---|---:|---:|---:|---:|\n");
    for (int which = 1; which <= 2; which++) {
        if (!(o.models & which)) continue;
        double dens_mlp[MAX_D] = {0.1, 0.05, 0.01}, dens_res[MAX_D] = {0.1};
        const double *dl = o.nd ? o.d : which == 1 ? dens_mlp : dens_res;
        const int nd = o.nd ? o.nd : which == 1 ? 3 : 1;
        const int nm = 1 + nd;
        spt_model *m[MAX_D + 1];
        for (int k = 0; k < nm; k++) m[k] = make(which, k == 0 ? 1.0 : dl[k - 1]);
        int64_t c, h, w;
        spt_model_input_shape(m[0], &c, &h, &w);
        const int64_t feat = c * h * w;
        float *pool = malloc(sizeof *pool * (size_t)(feat * (POOL > 128 ? POOL : 128)));
        spti_rng rng;
        spti_rng_seed(&rng, 11);
        for (int64_t i = 0; i < feat * 128; i++) pool[i] = spti_rng_normal(&rng);
        float *logits = malloc(sizeof *logits * 10 * 128);
        /* per model k and variant v: round medians */
        double lat[MAX_D + 1][2][MAX_ROUNDS], thr[MAX_D + 1][MAX_ROUNDS];
        for (int r = 0; r < o.rounds; r++)
            for (int k = 0; k < nm; k++) {
                for (int v = 0; v < nv; v++) {
                    spti_spmv_set_variant(o.variant == 2 ? v : o.variant);
                    lat[k][v][r] = time_forward(m[k], pool, feat, 1, o.reps, logits);
                }
                spti_spmv_set_variant(o.variant == 2 ? -1 : o.variant);
                thr[k][r] = 128.0 / time_forward(m[k], pool, feat, 128, o.reps128, logits);
            }
        double l0 = median(lat[0][0], o.rounds), t0 = median(thr[0], o.rounds);
        const char *name = which == 1 ? "MLP 3072-4000-1000-4000-10" : "ResNet-20";
        printf("| %s | 1 (dense) | (OpenBLAS) | %.1f | 1.0x | %.0f | 1.0x |\n", name, l0 * 1e6, t0);
        for (int k = 1; k < nm; k++) {
            const double t = median(thr[k], o.rounds);
            for (int v = 0; v < nv; v++) {
                const int var = o.variant == 2 ? v : o.variant;
                const char *vn = var == 0 ? "scalar" : var == 1 ? "gather" : "auto";
                const double l = median(lat[k][v], o.rounds);
                printf("| %s | %g | %s | %.1f | %.1fx | %.0f | %.1fx |\n", name, dl[k - 1], vn, l * 1e6, l0 / l, t,
                       t / t0);
            }
        }
        fflush(stdout);
        for (int k = 0; k < nm; k++) spt_model_destroy(m[k]);
        free(pool);
        free(logits);
    }
    return 0;
}
