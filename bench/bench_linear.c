/*
 * spt-bench-linear: one linear layer's training products, sparse kernels
 * against dense OpenBLAS (cblas_sgemm), in the same run with the same thread
 * count.
 *
 *   forward  Y[out x B]  = W . X[in x B] + bias
 *   dX       dX[in x B]  = W^T . dY[out x B]
 *   dW       sparse: dW at the nonzeros (SDDMM); dense: dY . X^T (out x in)
 *
 * Usage: spt-bench-linear [--out N] [--in N] [--batch B] [--density D[,D...]]
 *                         [--threads T] [--repeat R] [--csv] [--fanin]
 * Times are medians over R timed runs of the three products (after three
 * warm-up runs). The sparse side runs the layer path (spti_csr_forward +
 * spti_csr_backward pinned to the sparse kernels, including the per-call
 * gather of the transposed values); the dense side is three cblas_sgemm
 * calls on a dense W (no scatter of W, no gather of dW: the plain dense
 * layer).
 * --fanin adds, per density, a constant fan-in layer (f = round(D in)
 * random inputs per row, the same nonzeros give or take a row's rounding)
 * run on the CSR kernels (fanin_csr_ms) and on the constant fan-in (ELL)
 * kernels (ell_ms: kernels/ell.h, forward + the one-pass backward), timed
 * alternately with the unstructured CSR layer in the same loop.
 * OPENBLAS_* environment variables apply to the dense baseline as set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "kernels/ell.h"
#include "kernels/kernels.h"
#include "tensor/csr.h"

typedef struct {
    int64_t out, in, batch;
    double density[32];
    int n_density, threads, repeat, csv, fanin;
} options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: spt-bench-linear [--out N] [--in N] [--batch B] [--density D[,D...]]\n"
            "                        [--threads T] [--repeat R] [--csv] [--fanin]\n"
            "Times forward + dX + dW of one linear layer: sparse kernels vs dense OpenBLAS.\n"
            "Defaults: --out 4096 --in 4096 --batch 128 --density 0.2,0.1,0.05,0.02,0.01\n"
            "          --threads <all cores> --repeat 20\n");
}

static int parse_i64(const char *s, int64_t lo, int64_t *v) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end || end == s || x < lo) return -1;
    *v = x;
    return 0;
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.out = 4096, .in = 4096, .batch = 128, .threads = 0, .repeat = 20};
    const double def[] = {0.2, 0.1, 0.05, 0.02, 0.01};
    o->n_density = 5;
    memcpy(o->density, def, sizeof def);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int64_t v;
        if (!strcmp(a, "--fanin")) {
            o->fanin = 1;
            continue;
        }
        if (!strcmp(a, "--csv")) {
            o->csv = 1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) return -1;
        const char *val = argv[++i];
        if (!strcmp(a, "--out") || !strcmp(a, "--in") || !strcmp(a, "--batch")) {
            if (parse_i64(val, 1, &v) || v > (1 << 20)) return -1;
            *(!strcmp(a, "--out") ? &o->out : !strcmp(a, "--in") ? &o->in : &o->batch) = v;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "--repeat")) {
            if (parse_i64(val, 1, &v) || v > 100000) return -1;
            *(!strcmp(a, "--threads") ? &o->threads : &o->repeat) = (int)v;
        } else if (!strcmp(a, "--density")) {
            o->n_density = 0;
            char *copy = strdup(val), *save = NULL;
            for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                char *end;
                double d = strtod(tok, &end);
                if (*end || !(d > 0.0 && d <= 1.0) || o->n_density == 32) {
                    free(copy);
                    return -1;
                }
                o->density[o->n_density++] = d;
            }
            free(copy);
            if (o->n_density == 0) return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fill(float *a, int64_t n, spti_rng *rng) {
    for (int64_t i = 0; i < n; i++) a[i] = spti_rng_uniform(rng) * 2.0f - 1.0f;
}

/* Random out x in pattern with exactly round(d*out*in) nonzeros, uniform
 * over the cells (selection sampling: positions come out sorted). */
static spt_csr *random_csr(int64_t out, int64_t in, double d, spti_rng *rng) {
    int64_t cells = out * in, need = (int64_t)(d * (double)cells + 0.5);
    if (need < 1) need = 1;
    spt_csr *m;
    if (spti_csr_alloc(out, in, need, &m) != SPT_OK) return NULL;
    int64_t k = 0;
    for (int64_t p = 0; p < cells && k < need; p++)
        if ((double)spti_rng_uniform(rng) * (double)(cells - p) < (double)(need - k)) {
            m->row_ptr[p / in + 1]++;
            m->col_idx[k] = (int32_t)(p % in);
            m->values[k++] = spti_rng_uniform(rng) * 2.0f - 1.0f;
        }
    m->nnz = k;
    for (int64_t r = 0; r < out; r++) m->row_ptr[r + 1] += m->row_ptr[r];
    spti_csr_build_transpose(m);
    return m;
}

/* out x in, f distinct random inputs per row (a constant fan-in layer). */
static spt_csr *fanin_csr(int64_t out, int64_t in, int64_t f, spti_rng *rng) {
    spt_csr *m;
    if (f > in) f = in;
    if (spti_csr_alloc(out, in, out * f, &m) != SPT_OK) return NULL;
    uint8_t *taken = calloc((size_t)in, 1);
    if (!taken) {
        spt_csr_destroy(m);
        return NULL;
    }
    for (int64_t r = 0; r < out; r++) {
        memset(taken, 0, (size_t)in);
        for (int64_t j = 0; j < f;) {
            const int64_t c = (int64_t)spti_rng_below(rng, (uint64_t)in);
            if (!taken[c]) taken[c] = 1, j++;
        }
        int64_t k = r * f;
        for (int64_t c = 0; c < in; c++)
            if (taken[c]) {
                m->col_idx[k] = (int32_t)c;
                m->values[k++] = spti_rng_uniform(rng) * 2.0f - 1.0f;
            }
        m->row_ptr[r + 1] = (r + 1) * f;
    }
    free(taken);
    spti_csr_build_transpose(m);
    return m;
}

int main(int argc, char **argv) {
    options o;
    if (parse(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    if (spt_set_num_threads(o.threads) != SPT_OK) {
        fprintf(stderr, "spt-bench-linear: %s\n", spt_last_error());
        return 1;
    }
    const int64_t out = o.out, in = o.in, B = o.batch;
    spti_rng rng;
    spti_rng_seed(&rng, 42);
    float *X = spti_alloc(in * B, sizeof(float)), *dX = spti_alloc(in * B, sizeof(float));
    float *Y = spti_alloc(out * B, sizeof(float)), *dY = spti_alloc(out * B, sizeof(float));
    float *bias = spti_alloc(out, sizeof(float));
    float *Wd = spti_alloc(out * in, sizeof(float)), *dWd = spti_alloc(out * in, sizeof(float));
    if (!X || !dX || !Y || !dY || !bias || !Wd || !dWd) {
        fprintf(stderr, "spt-bench-linear: out of memory\n");
        return 1;
    }
    fill(X, in * B, &rng);
    fill(dY, out * B, &rng);
    fill(bias, out, &rng);
    fill(Wd, out * in, &rng);
    double *t = malloc(sizeof(double) * (size_t)o.repeat);
    const int warm = 3;

    /* Dense baseline: the same for every density. */
    for (int i = 0; i < warm + o.repeat; i++) {
        double t0 = now_ms();
        int rc = spti_gemm_fwd(Wd, out, in, X, B, bias, Y);
        rc |= spti_gemm_dx(Wd, out, in, dY, B, dX, false);
        rc |= spti_gemm_dw(dY, out, X, in, B, dWd, false);
        if (rc) {
            fprintf(stderr, "spt-bench-linear: %s\n", spt_last_error());
            return 1;
        }
        if (i >= warm) t[i - warm] = now_ms() - t0;
    }
    const double dense_ms = median(t, o.repeat);

    /* The processor and the batch blocking the kernels chose for it (on
     * stderr with --csv, as a # comment). */
    fprintf(o.csv ? stderr : stdout, "%sCPU: %s, L2 %lld KiB per core (CPUID); batch windows: forward %lld (X %lld rows), backward %lld "
           "(dY %lld rows); OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s\n",
           o.csv ? "# " : "", spti_cpu_name(), (long long)(spti_cpu_l2_bytes() / 1024),
           (long long)spti_spmm_window(in, B), (long long)in, (long long)spti_spmm_window(out, B), (long long)out,
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)",
           getenv("OPENBLAS_L2_SIZE") ? getenv("OPENBLAS_L2_SIZE") : "(unset)");
    if (o.csv)
        printf("out,in,batch,density,nnz,threads,simd,dense_ms,sparse_ms,speedup%s\n",
               o.fanin ? ",fanin_nnz,fanin_csr_ms,ell_ms,ell_fwd_ms,ell_bwd_ms,csr_fwd_ms,csr_bwd_ms" : "");
    else
        printf("linear layer %lld x %lld, batch %lld, %d threads, %s kernels, median of %d runs\n"
               "%8s %10s %10s %10s %8s%s\n",
               (long long)out, (long long)in, (long long)B, spti_num_threads(), spt_simd_name(), o.repeat, "density",
               "nnz", "dense_ms", "sparse_ms", "speedup",
               o.fanin ? "  fanin_csr_ms   ell_ms  ell/csr  (fwd, bwd: csr | ell)" : "");
    double *tf = malloc(sizeof(double) * (size_t)o.repeat), *te = malloc(sizeof(double) * (size_t)o.repeat);
    double *p[4];
    for (int k = 0; k < 4; k++) p[k] = malloc(sizeof(double) * (size_t)o.repeat);
    for (int di = 0; di < o.n_density; di++) {
        spt_csr *W = random_csr(out, in, o.density[di], &rng);
        float *dW = W ? spti_alloc(W->nnz, sizeof(float)) : NULL;
        spt_csr *Wf = NULL;
        int64_t f = (int64_t)(o.density[di] * (double)in + 0.5);
        if (f < 1) f = 1;
        float *dWf = NULL;
        if (o.fanin) {
            Wf = fanin_csr(out, in, f, &rng);
            dWf = Wf ? spti_alloc(Wf->nnz, sizeof(float)) : NULL;
        }
        if (!W || !dW || (o.fanin && (!Wf || !dWf))) {
            fprintf(stderr, "spt-bench-linear: out of memory\n");
            return 1;
        }
        /* The sparse path exactly as a layer runs it (its workspace pinned
         * to the sparse kernels rather than left to the dispatcher). */
        spti_csr_ws ws = {.path = SPTI_PATH_SPARSE, .decided_nnz = W->nnz, .decided_N = B};
        spti_csr_ws wsf = {.path = SPTI_PATH_SPARSE, .decided_nnz = Wf ? Wf->nnz : 0, .decided_N = B};
        for (int i = 0; i < warm + o.repeat; i++) {
            double t0 = now_ms();
            int rc = spti_csr_forward(W, X, B, bias, Y, &ws);
            rc |= spti_csr_backward(W, X, dY, B, dX, false, dW, false, &ws);
            if (rc) {
                fprintf(stderr, "spt-bench-linear: %s\n", spt_last_error());
                return 1;
            }
            if (i >= warm) t[i - warm] = now_ms() - t0;
            if (!o.fanin) continue;
            /* The constant fan-in layer: CSR kernels, then ELL kernels. */
            t0 = now_ms();
            rc = spti_csr_forward(Wf, X, B, bias, Y, &wsf);
            const double t1 = now_ms();
            rc |= spti_csr_backward(Wf, X, dY, B, dX, false, dWf, false, &wsf);
            const double t2 = now_ms();
            spti_ell_forward(Wf, f, X, B, bias, Y);
            const double t3 = now_ms();
            spti_ell_backward(Wf, f, X, dY, B, dX, false, dWf, false);
            const double t4 = now_ms();
            if (rc) {
                fprintf(stderr, "spt-bench-linear: %s\n", spt_last_error());
                return 1;
            }
            if (i >= warm) {
                tf[i - warm] = t2 - t0;
                te[i - warm] = t4 - t2;
                p[0][i - warm] = t1 - t0;
                p[1][i - warm] = t2 - t1;
                p[2][i - warm] = t3 - t2;
                p[3][i - warm] = t4 - t3;
            }
        }
        spti_csr_ws_release(&ws);
        spti_csr_ws_release(&wsf);
        const double sparse_ms = median(t, o.repeat);
        double fanin_ms = 0, ell_ms = 0, pm[4] = {0};
        if (o.fanin) {
            fanin_ms = median(tf, o.repeat);
            ell_ms = median(te, o.repeat);
            for (int k = 0; k < 4; k++) pm[k] = median(p[k], o.repeat);
        }
        if (o.csv) {
            printf("%lld,%lld,%lld,%g,%lld,%d,%s,%.3f,%.3f,%.2f", (long long)out, (long long)in, (long long)B,
                   o.density[di], (long long)W->nnz, spti_num_threads(), spt_simd_name(), dense_ms, sparse_ms,
                   dense_ms / sparse_ms);
            if (o.fanin)
                printf(",%lld,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f", (long long)Wf->nnz, fanin_ms, ell_ms, pm[2], pm[3], pm[0],
                       pm[1]);
            printf("\n");
        } else {
            printf("%8g %10lld %10.3f %10.3f %8.2f", o.density[di], (long long)W->nnz, dense_ms, sparse_ms,
                   dense_ms / sparse_ms);
            if (o.fanin)
                printf("  %12.3f %8.3f %8.2f  (%.3f, %.3f | %.3f, %.3f)", fanin_ms, ell_ms, fanin_ms / ell_ms, pm[0],
                       pm[1], pm[2], pm[3]);
            printf("\n");
        }
        fflush(stdout);
        spti_free(dW);
        spt_csr_destroy(W);
        spti_free(dWf);
        spt_csr_destroy(Wf);
    }
    for (int k = 0; k < 4; k++) free(p[k]);
    free(tf);
    free(te);
    free(t);
    spti_free(X);
    spti_free(dX);
    spti_free(Y);
    spti_free(dY);
    spti_free(bias);
    spti_free(Wd);
    spti_free(dWd);
    return 0;
}
