/*
 * spt-predict: classify with a trained model, and time it.
 *
 *   spt-predict MODEL [--data DIR] [--format idx|mnist|cifar10] [--limit N] [--test-limit N]
 *                     [--batch B] [--latency-runs R] [--threads N] [--input FILE]
 *
 * MODEL is a checkpoint (--checkpoint of the training programs; it starts
 * with the magic "SPTCKPT\0") or a safetensors export (--export), which
 * carries its network's description. With the test split of a data set
 * (Fashion-MNIST by default) it prints the accuracy, the throughput at
 * batch B and the latency per example at batch 1, then a JSON line; with
 * --input FILE (raw little-endian float32 examples, N x C x H x W, already
 * normalised) it prints one predicted class per line.
 *
 * The data are normalised as the training programs do it: per channel,
 * with the mean and standard deviation of the TRAINING split (its first
 * --limit examples when training used --limit), applied to the test split.
 * A checkpoint records the training program's settings (its note), so its
 * --data, --format and --limit are the defaults here; an export records
 * none: give the training run's --limit.
 *
 * Exit status: 0 done, 1 a model, data or library failure, 2 bad usage.
 * Reads top to bottom: arguments, model, data, accuracy and throughput,
 * latency, report.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sparsetrain.h>

enum { FORMAT_GUESS, FORMAT_IDX, FORMAT_CIFAR10 };

typedef struct {
    const char *model, *data, *input;
    int format;
    long long limit, test_limit, batch, latency_runs, threads;
    bool data_given, format_given, limit_given;
    char note_data[4096]; /* --data adopted from a checkpoint's settings */
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
    printf("Usage: %s MODEL [FLAGS]\n"
           "Classify the test split of a data set (or a raw file) with a trained model and time it.\n"
           "Flags take their value as --flag VALUE or --flag=VALUE. Exit status: 0 done, 1 model, data or\n"
           "library failure, 2 bad usage.\n\n"
           "  MODEL              a checkpoint (--checkpoint of the training programs) or a safetensors\n"
           "                     export (--export)\n"
           "  --data DIR         data directory (default: the checkpoint's, else Fashion-MNIST in %s)\n"
           "  --format FMT       idx (or mnist) | cifar10 (default: the checkpoint's, else cifar10 when DIR\n"
           "                     holds data_batch_1.bin, else idx)\n"
           "  --limit N          the first N training examples give the normalisation (0 = all; default:\n"
           "                     the checkpoint's --limit, else 0): give the training run's --limit\n"
           "  --test-limit N     classify the first N test examples (0 = all, the default)\n"
           "  --batch B          batch of the accuracy and throughput pass (default 128)\n"
           "  --latency-runs R   single-example predictions timed for the latency, cycling through the\n"
           "                     test set (default 200; 0: none)\n"
           "  --threads N        threads (default: the library's, all cores), at most %d\n"
           "  --input FILE       classify FILE instead: raw little-endian float32 examples, N x C x H x W,\n"
           "                     already normalised; prints one class per line on stdout\n"
           "  --help, --version\n\n"
           "Normalisation: as in training, each channel of the test split is normalised with the mean\n"
           "and standard deviation of the training split (its first --limit examples), so the accuracy\n"
           "is the training program's own test_acc for the same --limit and --test-limit.\n",
           prog, SPT_FASHION_MNIST_DIR, SPT_MAX_THREADS);
}

/* A whole number in [lo, hi], or -1 after a usage message. */
static long long number(const char *flag, const char *v, long long lo, long long hi) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "%s: %s '%.64s': expected a whole number in [%lld, %lld] (see --help)\n", prog, flag, v, lo,
                hi);
        return -1;
    }
    return x;
}

/* -1 to go on, else the exit status. */
static int parse(int argc, char **argv, options *o) {
    *o = (options){.batch = 128, .latency_runs = 200};
    static char name[64];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) { help(); return 0; }
        if (!strcmp(a, "--version")) {
            printf("%s (libsparsetrain %s, %s)\n", prog, spt_version_string(), spt_simd_name());
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (o->model) return usage("unexpected argument '%.64s'", a);
            o->model = a;
            continue;
        }
        const char *v, *eq = strchr(a, '=');
        if (eq) { /* --flag=VALUE */
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            a = name, v = eq + 1;
        } else {
            if (i + 1 >= argc) return usage("%.64s needs a value", a);
            v = argv[++i];
        }
        long long *num = !strcmp(a, "--limit") ? &o->limit : !strcmp(a, "--test-limit") ? &o->test_limit
                       : !strcmp(a, "--batch") ? &o->batch : !strcmp(a, "--latency-runs") ? &o->latency_runs
                       : !strcmp(a, "--threads") ? &o->threads : NULL;
        if (num) {
            const long long lo = num == &o->batch ? 1 : 0;
            const long long hi = num == &o->threads ? SPT_MAX_THREADS : num == &o->batch ? 1 << 20 : 1000000000;
            if ((*num = number(a, v, lo, hi)) < 0) return 2;
            o->limit_given |= num == &o->limit;
        } else if (!strcmp(a, "--data")) {
            o->data = v, o->data_given = true;
        } else if (!strcmp(a, "--input")) {
            o->input = v;
        } else if (!strcmp(a, "--format")) {
            if (!strcmp(v, "idx") || !strcmp(v, "mnist")) o->format = FORMAT_IDX;
            else if (!strcmp(v, "cifar10")) o->format = FORMAT_CIFAR10;
            else return usage("--format '%.64s': expected idx, mnist or cifar10", v);
            o->format_given = true;
        } else {
            return usage("unknown flag '%.64s'", a);
        }
    }
    if (!o->model) return usage("%s", "no MODEL given");
    return -1;
}

/* The model in a checkpoint (by its magic) or a safetensors export; -1 to go on, else the exit status. */
static int load_model(const char *path, spt_model **m, const char **kind) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return 1;
    }
    char magic[8] = {0};
    const bool checkpoint = fread(magic, 1, sizeof magic, f) == sizeof magic && !memcmp(magic, "SPTCKPT", 8);
    fclose(f);
    int rc;
    if (checkpoint) {
        spt_trainer *t = NULL;
        *kind = "checkpoint";
        rc = spt_trainer_load(path, m, &t, NULL);
        spt_trainer_destroy(t); /* the model keeps its weights */
        return rc == SPT_OK ? -1 : fail(path, rc);
    }
    spt_net *net = NULL;
    *kind = "safetensors";
    rc = spt_safetensors_read_net(path, &net);
    if (rc == SPT_ERR_FORMAT) {
        fprintf(stderr, "%s: %s: neither a checkpoint (no SPTCKPT magic) nor a safetensors export (%s)\n", prog,
                path, spt_last_error());
        return 1;
    }
    if (rc == SPT_OK) rc = spt_model_create(net, 1, m);
    spt_net_destroy(net);
    if (rc == SPT_OK && (rc = spt_model_load_safetensors(*m, path)) != SPT_OK) {
        spt_model_destroy(*m);
        *m = NULL;
    }
    return rc == SPT_OK ? -1 : fail(path, rc);
}

/* A checkpoint of the training programs carries their settings as a note
 * ("spt-example-settings 1", then lines "g|d FLAG [VALUE]", %XX-escaped):
 * its --data, --format and --limit become the defaults, so that the data
 * are found and normalised as in training. True when the note was read. */
static bool adopt_settings(const char *path, options *o) {
    static char note[SPT_CHECKPOINT_NOTE_MAX + 1];
    int64_t len = 0;
    static const char head[] = "spt-example-settings 1\n";
    if (spt_checkpoint_read_note(path, note, SPT_CHECKPOINT_NOTE_MAX, &len) != SPT_OK || len < 1) return false;
    note[len] = '\0';
    if (strncmp(note, head, sizeof head - 1) != 0) return false;
    for (char *line = note + sizeof head - 1, *next; *line; line = next) {
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0', next = nl + 1;
        if ((line[0] != 'g' && line[0] != 'd') || line[1] != ' ') continue;
        char *key = line + 2, *val = strchr(key, ' ');
        if (!val) continue; /* a string that was not set */
        *val++ = '\0';
        char *w = val; /* undo the %XX escapes */
        for (const char *r = val; *r; r++) {
            unsigned x;
            if (*r == '%' && r[1] && r[2] && sscanf(r + 1, "%2x", &x) == 1) *w++ = (char)x, r += 2;
            else *w++ = *r;
        }
        *w = '\0';
        if (!strcmp(key, "data") && !o->data_given && *val) {
            snprintf(o->note_data, sizeof o->note_data, "%s", val);
            o->data = o->note_data;
        } else if (!strcmp(key, "format") && !o->format_given) {
            o->format = !strcmp(val, "cifar10") ? FORMAT_CIFAR10 : !strcmp(val, "idx") ? FORMAT_IDX : FORMAT_GUESS;
        } else if (!strcmp(key, "limit") && !o->limit_given) {
            o->limit = strtoll(val, NULL, 10);
        }
    }
    return true;
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

/* A JSON string member (after the first). */
static void json_str(const char *key, const char *s) {
    printf(",\"%s\":\"", key);
    for (; *s; s++) {
        const unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

/* --input: classify a raw file of examples, one class per line. */
static int classify_file(const options *o, spt_model *m, int64_t c, int64_t h, int64_t w) {
    FILE *f = fopen(o->input, "rb");
    if (!f) {
        fprintf(stderr, "%s: --input %s: %s\n", prog, o->input, strerror(errno));
        return 1;
    }
    struct stat st;
    const int64_t per = c * h * w * 4;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size % per != 0) {
        fprintf(stderr, "%s: --input %s: %lld bytes are not a whole number of %lld x %lld x %lld float32 examples\n",
                prog, o->input, S_ISREG(st.st_mode) ? (long long)st.st_size : 0LL, (long long)c, (long long)h,
                (long long)w);
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
        int rc = spt_layout_nchw_to_chwn(raw, k, c, h, w, x); /* the library's batches are C x H x W x N */
        if (rc == SPT_OK) rc = spt_model_predict(m, x, k, pred);
        if (rc != SPT_OK) {
            status = fail("--input", rc);
            break;
        }
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
    int64_t c = 0, h = 0, w = 0, classes = 0, nnz = 0, dense = 0;
    spt_model_input_shape(m, &c, &h, &w);
    spt_model_num_classes(m, &classes);
    spt_model_num_params(m, &dense, &nnz);
    if (o.input) {
        st = classify_file(&o, m, c, h, w);
        spt_model_destroy(m);
        return st;
    }
    const bool noted = !strcmp(kind, "checkpoint") && adopt_settings(o.model, &o);

    /* ---- data: the test split, normalised with the training split's statistics ---- */
    const char *dir = o.data ? o.data : SPT_FASHION_MNIST_DIR;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "%s: data directory %s: not found (or not a directory)%s\n", prog, dir,
                !o.data ? "; install Fashion-MNIST (apt-get install dataset-fashion-mnist) or give --data DIR"
                : !o.data_given ? " (the checkpoint's; give --data DIR)" : "");
        spt_model_destroy(m);
        return 1;
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/data_batch_1.bin", dir);
    /* as the training programs guess: anything named data_batch_1.bin means CIFAR-10 */
    const bool cifar = o.format ? o.format == FORMAT_CIFAR10 : o.data && lstat(probe, &sb) == 0;
    spt_dataset *train = NULL, *test = NULL;
    rc = cifar ? spt_dataset_load_cifar10(dir, SPT_SPLIT_TRAIN, o.limit, &train)
               : spt_dataset_load_mnist(dir, SPT_SPLIT_TRAIN, o.limit, &train);
    if (rc == SPT_OK)
        rc = cifar ? spt_dataset_load_cifar10(dir, SPT_SPLIT_TEST, o.test_limit, &test)
                   : spt_dataset_load_mnist(dir, SPT_SPLIT_TEST, o.test_limit, &test);
    int64_t n = 0, n_train = 0, dc = 0, dh = 0, dw = 0, dk = 0;
    float mean[16], sd[16];
    if (rc == SPT_OK) rc = spt_dataset_info(train, &n_train, NULL, NULL, NULL, NULL);
    if (rc == SPT_OK) rc = spt_dataset_info(test, &n, &dc, &dh, &dw, &dk);
    if (rc == SPT_OK && dc <= 16) rc = spt_dataset_compute_mean_std(train, mean, sd, dc);
    if (rc == SPT_OK && dc <= 16) rc = spt_dataset_set_normalization(test, mean, sd, dc);
    spt_dataset_destroy(train);
    if (rc != SPT_OK) {
        spt_dataset_destroy(test);
        spt_model_destroy(m);
        return fail(dir, rc);
    }
    /* A flat input (an MLP's C x 1 x 1) takes any example of C values. */
    const bool shape_ok = (c == dc && h == dh && w == dw) || (h == 1 && w == 1 && c == dc * dh * dw);
    if (!shape_ok || dk != classes || n < 1) {
        fprintf(stderr, "%s: the model takes %lld x %lld x %lld inputs in %lld classes; the data (%s) has %lld "
                "examples of %lld x %lld x %lld in %lld\n", prog, (long long)c, (long long)h, (long long)w,
                (long long)classes, dir, (long long)n, (long long)dc, (long long)dh, (long long)dw, (long long)dk);
        spt_dataset_destroy(test);
        spt_model_destroy(m);
        return 1;
    }

    /* ---- accuracy and throughput at batch B (after one warm-up batch), in order ---- */
    const int64_t B = o.batch, feat = c * h * w;
    float *x = malloc(sizeof *x * (size_t)(feat * B));
    int32_t *y = malloc(sizeof *y * (size_t)B), *pred = malloc(sizeof *pred * (size_t)B);
    double *lat = malloc(sizeof *lat * (size_t)(o.latency_runs + 1));
    spt_batcher *b = NULL;
    if (!x || !y || !pred || !lat) {
        st = fail("buffers", SPT_ERR_NOMEM);
        goto done;
    }
    int64_t got = 0, correct = 0;
    if ((rc = spt_batcher_create(test, B, 0, 0, &b)) != SPT_OK || (rc = spt_batcher_next(b, x, feat * B, y, B, &got))
        || (rc = spt_model_predict(m, x, got, pred))) {
        st = fail("warm-up", rc);
        goto done;
    }
    spt_batcher_destroy(b);
    b = NULL;
    double seconds = 0;
    if ((rc = spt_batcher_create(test, B, 0, 0, &b)) == SPT_OK) {
        while ((rc = spt_batcher_next(b, x, feat * B, y, B, &got)) == SPT_OK && got > 0) {
            const double t0 = now();
            rc = spt_model_predict(m, x, got, pred);
            seconds += now() - t0;
            if (rc != SPT_OK) break;
            for (int64_t i = 0; i < got; i++) correct += pred[i] == y[i];
        }
    }
    if (rc != SPT_OK) {
        st = fail("prediction", rc);
        goto done;
    }

    /* ---- latency per example at batch 1: R predictions of one example, cycling through the test set ---- */
    spt_batcher_destroy(b);
    b = NULL;
    double med = 0, p90 = 0;
    if (o.latency_runs > 0) {
        if ((rc = spt_batcher_create(test, 1, 0, 0, &b)) == SPT_OK) {
            for (int64_t r = -5; r < o.latency_runs; r++) { /* 5 warm-up runs */
                if ((rc = spt_batcher_next(b, x, feat, y, 1, &got)) == SPT_OK && got == 0) /* the next epoch */
                    rc = spt_batcher_next(b, x, feat, y, 1, &got);
                const double t0 = now();
                if (rc == SPT_OK) rc = spt_model_predict(m, x, 1, pred);
                if (rc != SPT_OK) break;
                if (r >= 0) lat[r] = now() - t0;
            }
        }
        if (rc != SPT_OK) {
            st = fail("latency", rc);
            goto done;
        }
        qsort(lat, (size_t)o.latency_runs, sizeof *lat, cmp_double);
        med = 1e6 * (o.latency_runs % 2 ? lat[o.latency_runs / 2]
                                        : 0.5 * (lat[o.latency_runs / 2 - 1] + lat[o.latency_runs / 2]));
        p90 = 1e6 * lat[(o.latency_runs * 9 + 9) / 10 - 1]; /* the smallest time >= 90% of the runs' */
    }

    /* ---- report: a summary, then the JSON line ---- */
    const double acc = (double)correct / (double)n, eps = seconds > 0 ? (double)n / seconds : 0;
    printf("%-24s %s (%s)\n", "model", o.model, kind);
    printf("%-24s %lld x %lld x %lld in %lld classes\n", "input", (long long)c, (long long)h, (long long)w,
           (long long)classes);
    printf("%-24s %lld nonzero of %lld (every parameter, biases included)\n", "parameters", (long long)nnz,
           (long long)dense);
    printf("%-24s %s (%s): %lld test examples\n", "data", dir, cifar ? "cifar10" : "idx", (long long)n);
    printf("%-24s per channel, statistics of the first %lld training examples%s\n", "normalisation",
           (long long)n_train, noted && !o.limit_given ? " (the checkpoint's --limit)" : "");
    printf("%-24s %.4f (%lld of %lld)\n", "test accuracy", acc, (long long)correct, (long long)n);
    printf("%-24s %.0f examples/s at batch %lld, %d threads\n", "throughput", eps, (long long)B,
           spt_get_num_threads());
    if (o.latency_runs > 0)
        printf("%-24s batch 1: median %.1f us, 90th percentile %.1f us (%lld runs)\n", "latency", med, p90,
               (long long)o.latency_runs);
    printf("{\"program\":\"spt-predict\"");
    json_str("model", o.model);
    printf(",\"kind\":\"%s\"", kind);
    json_str("data", dir);
    printf(",\"train_examples_normalisation\":%lld,\"test_examples\":%lld,\"test_acc\":%.6f,\"batch\":%lld,"
           "\"examples_per_second\":%.1f,\"latency_us_median\":%.1f,\"latency_us_p90\":%.1f,\"latency_runs\":%lld,"
           "\"nnz\":%lld,\"params_dense\":%lld,\"threads\":%d,\"simd\":\"%s\"}\n",
           (long long)n_train, (long long)n, acc, (long long)B, eps, med, p90, (long long)o.latency_runs,
           (long long)nnz, (long long)dense, spt_get_num_threads(), spt_simd_name());
    st = 0;
done:
    spt_batcher_destroy(b);
    free(x), free(y), free(pred), free(lat);
    spt_dataset_destroy(test);
    spt_model_destroy(m);
    return st;
}
