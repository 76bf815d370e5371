/*
 * spt-predict: classify with a trained model, and time it.
 *
 *   spt-predict MODEL [--data DIR] [--format idx|cifar10] [--limit N] [--test-limit N]
 *                     [--batch B] [--latency-runs R] [--threads N] [--input FILE]
 *
 * MODEL is a checkpoint (--checkpoint of the training programs) or a
 * safetensors export (--export), which carries its network's description.
 * With the test split of a data set (Fashion-MNIST by default) it prints
 * the accuracy, the throughput at batch B and the latency per example at
 * batch 1, then a JSON line; with --input FILE (raw little-endian float32
 * examples, N x C x H x W, already normalised) it prints one predicted
 * class per line. The data are normalised as the training programs do it:
 * per channel, with the mean and standard deviation of the training split
 * (its first --limit examples when training used --limit).
 *
 * Exit status: 0 done, 1 a model, data or library failure, 2 bad usage.
 * Reads top to bottom: arguments, model, data, accuracy and throughput,
 * latency, report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sparsetrain.h>

typedef struct {
    const char *model, *data, *input;
    int format; /* 0 guess, 1 idx, 2 cifar10 */
    long long limit, test_limit, batch, latency_runs, threads;
} options;

static const char *prog = "spt-predict";

static int usage(const char *fmt, const char *arg) {
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see --help)\n");
    return 2;
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, spt_last_error(), spt_status_string(rc));
    return 1;
}

static void help(void) {
    printf("usage: %s MODEL [flags]\n"
           "Classify with a trained model (a checkpoint or a safetensors export) and time it.\n\n"
           "  MODEL              a checkpoint (--checkpoint) or a safetensors export (--export)\n"
           "  --data DIR         data set directory (default %s, Fashion-MNIST)\n"
           "  --format F         idx | cifar10 (default: cifar10 when DIR has data_batch_1.bin)\n"
           "  --limit N          training examples whose statistics normalise the data, as --limit in training\n"
           "                     (default: all)\n"
           "  --test-limit N     test examples to classify (default: all)\n"
           "  --batch B          batch size of the accuracy and throughput pass (default 128)\n"
           "  --latency-runs R   single-example predictions timed for the latency (default 200; 0: none)\n"
           "  --threads N        threads (default 0: all cores)\n"
           "  --input FILE       classify FILE instead: raw little-endian float32 examples, N x C x H x W,\n"
           "                     already normalised; prints one class per line\n"
           "  --help, --version\n",
           prog, SPT_FASHION_MNIST_DIR);
}

/* A whole number in [lo, hi], or -1 after a usage message. */
static long long number(const char *flag, const char *v, long long lo, long long hi) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "%s: %s '%s': expected a whole number in [%lld, %lld] (see --help)\n", prog, flag, v, lo, hi);
        return -1;
    }
    return x;
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.batch = 128, .latency_runs = 200, .limit = 0, .test_limit = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) { help(); return 0; }
        if (!strcmp(a, "--version")) { printf("%s %s\n", prog, spt_version_string()); return 0; }
        if (strncmp(a, "--", 2) != 0) {
            if (o->model) return usage("unexpected argument '%s'", a);
            o->model = a;
            continue;
        }
        if (i + 1 >= argc) return usage("%s needs a value", a);
        const char *v = argv[++i];
        long long *num = !strcmp(a, "--limit") ? &o->limit : !strcmp(a, "--test-limit") ? &o->test_limit
                       : !strcmp(a, "--batch") ? &o->batch : !strcmp(a, "--latency-runs") ? &o->latency_runs
                       : !strcmp(a, "--threads") ? &o->threads : NULL;
        if (num) {
            const long long lo = num == &o->batch ? 1 : 0;
            const long long hi = num == &o->threads ? SPT_MAX_THREADS : num == &o->batch ? 1 << 20 : 1000000000;
            if ((*num = number(a, v, lo, hi)) < 0) return 2;
        } else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--input")) o->input = v;
        else if (!strcmp(a, "--format")) {
            if (!strcmp(v, "idx")) o->format = 1;
            else if (!strcmp(v, "cifar10")) o->format = 2;
            else return usage("--format '%s': expected idx or cifar10", v);
        } else {
            return usage("unknown flag '%s'", a);
        }
    }
    if (!o->model) return usage("%s", "no MODEL given");
    return -1;
}

/* The model in a safetensors export (its description and weights) or a checkpoint. */
static int load_model(const char *path, spt_model **m, const char **kind) {
    spt_net *net = NULL;
    int rc = spt_safetensors_read_net(path, &net);
    if (rc == SPT_OK) {
        *kind = "safetensors";
        rc = spt_model_create(net, 1, m);
        spt_net_destroy(net);
        if (rc == SPT_OK && (rc = spt_model_load_safetensors(*m, path)) != SPT_OK) {
            spt_model_destroy(*m);
            *m = NULL;
        }
        return rc == SPT_OK ? -1 : fail(path, rc);
    }
    if (rc != SPT_ERR_FORMAT) return fail(path, rc);
    char as_st[512];
    snprintf(as_st, sizeof as_st, "%s", spt_last_error());
    spt_trainer *t = NULL;
    *kind = "checkpoint";
    rc = spt_trainer_load(path, m, &t, NULL);
    spt_trainer_destroy(t); /* the model keeps its weights */
    if (rc == SPT_OK) return -1;
    fprintf(stderr, "%s: %s: neither a safetensors export (%s) nor a checkpoint (%s)\n", prog, path, as_st,
            spt_last_error());
    return 1;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* --input: classify a raw file of examples, one class per line. */
static int classify_file(const options *o, spt_model *m, int64_t c, int64_t h, int64_t w) {
    FILE *f = fopen(o->input, "rb");
    if (!f) { fprintf(stderr, "%s: --input %s: %s\n", prog, o->input, strerror(errno)); return 1; }
    struct stat st;
    const int64_t per = c * h * w * 4;
    if (fstat(fileno(f), &st) != 0 || st.st_size == 0 || st.st_size % per != 0) {
        fprintf(stderr, "%s: --input %s: %lld bytes are not a whole number of %lld x %lld x %lld float32 examples\n",
                prog, o->input, (long long)st.st_size, (long long)c, (long long)h, (long long)w);
        fclose(f);
        return 1;
    }
    const int64_t n = st.st_size / per, B = o->batch;
    float *raw = malloc((size_t)(per * B)), *x = malloc((size_t)(per * B));
    int32_t *pred = malloc(sizeof *pred * (size_t)B);
    int status = raw && x && pred ? 0 : (fprintf(stderr, "%s: out of memory\n", prog), 1);
    for (int64_t i = 0; i < n && status == 0; i += B) {
        const int64_t k = n - i < B ? n - i : B;
        if (fread(raw, (size_t)per, (size_t)k, f) != (size_t)k) {
            fprintf(stderr, "%s: --input %s: read error\n", prog, o->input);
            status = 1;
            break;
        }
        int rc = spt_layout_nchw_to_chwn(raw, k, c, h, w, x);
        if (rc == SPT_OK) rc = spt_model_predict(m, x, k, pred);
        if (rc != SPT_OK) { status = fail("--input", rc); break; }
        for (int64_t j = 0; j < k; j++) printf("%d\n", pred[j]);
    }
    free(raw), free(x), free(pred);
    fclose(f);
    return status;
}

int main(int argc, char **argv) {
    /* ---- arguments ---- */
    options o;
    int st = parse(argc, argv, &o);
    if (st >= 0) return st;
    int rc;
    if (o.threads && (rc = spt_set_num_threads((int)o.threads)) != SPT_OK) return fail("--threads", rc);

    /* ---- model ---- */
    spt_model *m = NULL;
    const char *kind = "";
    if ((st = load_model(o.model, &m, &kind)) >= 0) return st;
    int64_t c, h, w, classes, nnz, dense;
    spt_model_input_shape(m, &c, &h, &w);
    spt_model_num_classes(m, &classes);
    spt_model_num_params(m, &dense, &nnz);
    if (o.input) {
        st = classify_file(&o, m, c, h, w);
        spt_model_destroy(m);
        return st;
    }

    /* ---- data: the test split, normalised with the training split's statistics ---- */
    const char *dir = o.data ? o.data : SPT_FASHION_MNIST_DIR;
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/data_batch_1.bin", dir);
    struct stat sb;
    const int cifar = o.format ? o.format == 2 : o.data && stat(probe, &sb) == 0;
    spt_dataset *train = NULL, *test = NULL;
    rc = cifar ? spt_dataset_load_cifar10(dir, SPT_SPLIT_TRAIN, o.limit, &train)
               : spt_dataset_load_mnist(dir, SPT_SPLIT_TRAIN, o.limit, &train);
    if (rc == SPT_OK)
        rc = cifar ? spt_dataset_load_cifar10(dir, SPT_SPLIT_TEST, o.test_limit, &test)
                   : spt_dataset_load_mnist(dir, SPT_SPLIT_TEST, o.test_limit, &test);
    int64_t n = 0, dc = 0, dh = 0, dw = 0, dk = 0;
    float mean[16], sd[16];
    if (rc == SPT_OK) rc = spt_dataset_info(test, &n, &dc, &dh, &dw, &dk);
    if (rc == SPT_OK && dc <= 16) rc = spt_dataset_compute_mean_std(train, mean, sd, dc);
    if (rc == SPT_OK && dc <= 16) rc = spt_dataset_set_normalization(test, mean, sd, dc);
    spt_dataset_destroy(train);
    if (rc != SPT_OK) {
        spt_dataset_destroy(test);
        spt_model_destroy(m);
        return fail(dir, rc);
    }
    if (dc * dh * dw != c * h * w || dk > classes) {
        fprintf(stderr, "%s: the model takes %lld x %lld x %lld inputs in %lld classes; the data (%s) has %lld x %lld "
                "x %lld in %lld\n", prog, (long long)c, (long long)h, (long long)w, (long long)classes, dir,
                (long long)dc, (long long)dh, (long long)dw, (long long)dk);
        spt_dataset_destroy(test);
        spt_model_destroy(m);
        return 1;
    }

    /* ---- accuracy and throughput at batch B (after one warm-up batch) ---- */
    const int64_t B = o.batch, feat = c * h * w;
    float *x = malloc(sizeof *x * (size_t)(feat * B));
    int32_t *y = malloc(sizeof *y * (size_t)B), *pred = malloc(sizeof *pred * (size_t)B);
    spt_batcher *b = NULL;
    if (!x || !y || !pred || (rc = spt_batcher_create(test, B, 0, 0, &b)) != SPT_OK) {
        if (rc == SPT_OK) rc = SPT_ERR_NOMEM;
        st = fail("batches", rc);
        goto done;
    }
    int64_t got = 0, correct = 0;
    if ((rc = spt_batcher_next(b, x, feat * B, y, B, &got)) != SPT_OK || (rc = spt_model_predict(m, x, got, pred)))
        { st = fail("warm-up", rc); goto done; }
    spt_batcher_destroy(b);
    b = NULL;
    spt_batcher_create(test, B, 0, 0, &b);
    double seconds = 0;
    while ((rc = spt_batcher_next(b, x, feat * B, y, B, &got)) == SPT_OK && got > 0) {
        const double t0 = now();
        rc = spt_model_predict(m, x, got, pred);
        seconds += now() - t0;
        if (rc != SPT_OK) break;
        for (int64_t i = 0; i < got; i++) correct += pred[i] == y[i];
    }
    if (rc != SPT_OK) { st = fail("prediction", rc); goto done; }

    /* ---- latency per example at batch 1 ---- */
    double *lat = malloc(sizeof *lat * (size_t)(o.latency_runs + 1));
    spt_batcher_destroy(b);
    b = NULL;
    if (!lat || (rc = spt_batcher_create(test, 1, 0, 0, &b)) != SPT_OK) {
        free(lat);
        st = fail("latency", rc == SPT_OK ? SPT_ERR_NOMEM : rc);
        goto done;
    }
    for (int64_t r = -5; r < o.latency_runs; r++) { /* 5 warm-up runs */
        if ((rc = spt_batcher_next(b, x, feat, y, 1, &got)) == SPT_OK && got == 0)
            rc = spt_batcher_next(b, x, feat, y, 1, &got);
        const double t0 = now();
        if (rc == SPT_OK) rc = spt_model_predict(m, x, 1, pred);
        if (rc != SPT_OK) break;
        if (r >= 0) lat[r] = now() - t0;
    }
    if (rc != SPT_OK) { free(lat); st = fail("latency", rc); goto done; }
    qsort(lat, (size_t)o.latency_runs, sizeof *lat, cmp_double);
    const double med = o.latency_runs ? lat[o.latency_runs / 2] * 1e6 : 0,
                 p90 = o.latency_runs ? lat[(o.latency_runs * 9) / 10] * 1e6 : 0;
    free(lat);

    /* ---- report ---- */
    const double acc = (double)correct / (double)n, eps = seconds > 0 ? (double)n / seconds : 0;
    fprintf(stderr, "model        %s (%s), %lld of %lld parameters nonzero\n", o.model, kind, (long long)nnz,
            (long long)dense);
    fprintf(stderr, "test set     %s: %lld examples, accuracy %.4f\n", dir, (long long)n, acc);
    fprintf(stderr, "throughput   %.0f examples/s at batch %lld\n", eps, (long long)B);
    fprintf(stderr, "latency      batch 1: median %.1f us, 90th percentile %.1f us (%lld runs)\n", med, p90,
            (long long)o.latency_runs);
    printf("{\"program\":\"spt-predict\",\"kind\":\"%s\",\"test_examples\":%lld,\"test_acc\":%.6f,\"batch\":%lld,"
           "\"examples_per_second\":%.1f,\"latency_us_median\":%.1f,\"latency_us_p90\":%.1f,\"latency_runs\":%lld,"
           "\"nnz\":%lld,\"params_dense\":%lld,\"threads\":%d,\"simd\":\"%s\"}\n",
           kind, (long long)n, acc, (long long)B, eps, med, p90, (long long)o.latency_runs, (long long)nnz,
           (long long)dense, spt_get_num_threads(), spt_simd_name());
    st = 0;
done:
    spt_batcher_destroy(b);
    free(x), free(y), free(pred);
    spt_dataset_destroy(test);
    spt_model_destroy(m);
    return st;
}
