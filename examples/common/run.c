/* The training run shared by the example programs (see example.h). */
#define _GNU_SOURCE /* dladdr (the MPI component next to the library) */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "checkpoint_glue.h"
#include <dlfcn.h>
#include "example.h"

enum { MAX_MILESTONES = 64 };

/* Status of a library call that failed on a value from the command line:
 * arguments out of their domain are the user's (2), the rest (out of
 * memory, a state the run cannot be in) are failures (1). */
static int lib_error(const ex_opts *o, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int lib_error(const ex_opts *o, int rc, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (rc == SPT_ERR_INVALID || rc == SPT_ERR_SIZE) return ex_usage_error(o, "%s: %s", what, spt_last_error());
    return ex_fail(o, "%s: %s (%s)", what, spt_last_error(), spt_status_string(rc));
}

static int make_optimizer(const ex_opts *o, spt_optimizer **out) {
    int rc = spt_optimizer_create(o->optimizer, out);
    if (rc != SPT_OK) return lib_error(o, rc, "--optimizer");
    if (o->optimizer != SPT_OPTIMIZER_SGD && (ex_given(o, "momentum") || ex_given(o, "nesterov")))
        return ex_usage_error(o, "--momentum and --nesterov apply to --optimizer sgd only");
    /* Adam keeps its own default rate (0.001) unless --lr is given or the network's width caps it
     * (ex_apply_network_defaults) */
    const double lr = o->optimizer == SPT_OPTIMIZER_ADAM && !ex_given(o, "lr") ? (o->lr < 0.001 ? o->lr : 0.001)
                                                                                : o->lr;
    if (o->optimizer == SPT_OPTIMIZER_ADAM && !ex_given(o, "lr") && lr == 0.001)
        rc = SPT_OK;
    else if ((rc = spt_optimizer_set_param(*out, SPT_OPT_LR, lr)) != SPT_OK)
        return lib_error(o, rc, "--lr %g", o->lr);
    if (o->optimizer == SPT_OPTIMIZER_SGD) {
        if ((rc = spt_optimizer_set_param(*out, SPT_OPT_MOMENTUM, o->momentum)) != SPT_OK)
            return lib_error(o, rc, "--momentum %g", o->momentum);
        if ((rc = spt_optimizer_set_param(*out, SPT_OPT_NESTEROV, o->nesterov)) != SPT_OK)
            return lib_error(o, rc, "--nesterov");
    }
    if ((rc = spt_optimizer_set_param(*out, SPT_OPT_WEIGHT_DECAY, o->weight_decay)) != SPT_OK)
        return lib_error(o, rc, "--weight-decay %g", o->weight_decay);
    return -1;
}

/* The lr schedule of one round (lottery rounds restart it). With
 * batches_per_epoch 0 (before the data is read) only the flags' values are
 * checked. */
static int make_schedule(const ex_opts *o, const spt_optimizer *opt, int64_t batches_per_epoch,
                         spt_lr_schedule **out, char *used, size_t used_cap) {
    if (used) used[0] = '\0';
    double base;
    int rc = spt_optimizer_get_param(opt, SPT_OPT_LR, &base);
    if (rc == SPT_OK) rc = spt_lr_schedule_create(o->lr_schedule, out);
    if (rc != SPT_OK) return lib_error(o, rc, "--lr-schedule");
    if ((rc = spt_lr_schedule_set_param(*out, SPT_LR_BASE, base)) != SPT_OK)
        return lib_error(o, rc, "--lr %g", o->lr);
    if ((rc = spt_lr_schedule_set_param(*out, SPT_LR_WARMUP_STEPS, (double)o->warmup)) != SPT_OK)
        return lib_error(o, rc, "--warmup %lld", (long long)o->warmup);
    const int64_t round_steps = o->epochs * batches_per_epoch;
    if (o->lr_schedule == SPT_LR_COSINE && batches_per_epoch > 0) {
        if ((rc = spt_lr_schedule_set_param(*out, SPT_LR_TOTAL_STEPS, (double)round_steps)) != SPT_OK)
            return lib_error(o, rc, "--lr-schedule cosine");
        if (o->warmup >= round_steps)
            return ex_usage_error(o, "--warmup %lld: must be shorter than the %lld steps of the run",
                                  (long long)o->warmup, (long long)round_steps);
    } else if (o->lr_schedule == SPT_LR_STEP) {
        int64_t ms[MAX_MILESTONES];
        int n;
        if (o->milestones) {
            n = ex_parse_int_list(o->milestones, ms, MAX_MILESTONES);
            if (n < 0)
                return ex_usage_error(o, "--milestones '%s': expected increasing epochs like 15,25", o->milestones);
        } else {
            n = 0;
            if (o->epochs / 2 >= 1) ms[n++] = o->epochs / 2;
            if (o->epochs * 3 / 4 > o->epochs / 2) ms[n++] = o->epochs * 3 / 4;
        }
        const int64_t per = batches_per_epoch > 0 ? batches_per_epoch : 1;
        for (int i = 0, len = 0; used && i < n && len >= 0 && (size_t)len < used_cap; i++)
            len += snprintf(used + len, used_cap - (size_t)len, "%s%lld", i ? "," : "", (long long)ms[i]);
        for (int i = 0; i < n; i++) {
            if (ms[i] > INT64_MAX / per)
                return ex_usage_error(o, "--milestones: epoch %lld is too large", (long long)ms[i]);
            ms[i] *= per;
        }
        if ((rc = spt_lr_schedule_set_milestones(*out, n ? ms : NULL, n)) != SPT_OK)
            return lib_error(o, rc, "--milestones %s", o->milestones ? o->milestones : "(default)");
        if ((rc = spt_lr_schedule_set_param(*out, SPT_LR_GAMMA, o->gamma)) != SPT_OK)
            return lib_error(o, rc, "--gamma %g", o->gamma);
    }
    return -1;
}

static void epoch_line(const ex_progress *p, const ex_epoch_row *r, double epoch_seconds) {
    fprintf(stderr,
            "epoch %lld/%lld  step %lld  loss %.4f  train_acc %.4f  test_acc %.4f  lr %.4g  sparsity %.4f  %.1f s\n",
            (long long)r->epoch, (long long)p->epochs, (long long)r->step, r->loss, r->train_acc, r->test_acc, r->lr,
            r->sparsity, epoch_seconds);
    fflush(stderr);
}

/* Read --model FILE: 2 for a file the format refuses (a bad value), 1 if it
 * cannot be read. */
static int read_model_file(const ex_opts *o, spt_net **net) {
    int rc = spt_net_read(o->model, net);
    if (rc == SPT_ERR_FORMAT) return ex_usage_error(o, "--model: %s", spt_last_error());
    if (rc != SPT_OK) return ex_fail(o, "--model: %s (%s)", spt_last_error(), spt_status_string(rc));
    return -1;
}

/* The flags that size the network, for messages. */
static void size_flags(const ex_opts *o, char *buf, size_t cap) {
    if (o->model)
        snprintf(buf, cap, "--model %s", o->model);
    else if (o->program == EX_MLP)
        snprintf(buf, cap, "--widths %s", o->widths);
    else
        snprintf(buf, cap, "--depth %lld --width %lld", (long long)o->depth, (long long)o->width);
}

/* The network to train for examples of c x h x w in `classes` classes: the
 * program's own, or --model FILE's (whose input and classes must be the
 * data's; checked when `check_shape`). *out is borrowed for the file's. */
static int describe(const ex_opts *o, ex_run *x, int64_t c, int64_t h, int64_t w, int64_t classes,
                    bool check_shape, spt_net **out, bool *owned) {
    *out = NULL;
    *owned = false;
    if (!o->model) {
        int st = x->own(o, c, h, w, classes, out, x->desc, sizeof x->desc);
        *owned = *out != NULL;
        return st;
    }
    const char *base = strrchr(o->model, '/');
    snprintf(x->desc, sizeof x->desc, "model %s", base ? base + 1 : o->model);
    *out = x->file_net;
    if (!check_shape) return -1;
    int64_t mc = 0, mh = 0, mw = 0, mclasses = 0;
    int rc = spt_net_shapes(x->file_net, &mc, &mh, &mw, &mclasses);
    if (rc != SPT_OK) return lib_error(o, rc, "--model %s", o->model);
    if (mc != c || mh != h || mw != w)
        return ex_usage_error(o, "--model %s: the network's input is %lld x %lld x %lld, the data's examples are "
                              "%lld x %lld x %lld (change the file's \"input\" line)",
                              o->model, (long long)mc, (long long)mh, (long long)mw, (long long)c, (long long)h,
                              (long long)w);
    if (mclasses != classes)
        return ex_usage_error(o, "--model %s: the last layer has %lld outputs, the data has %lld classes", o->model,
                              (long long)mclasses, (long long)classes);
    return -1;
}

/* Whether the network normalises its activations (a batchnorm layer). */
static bool has_batchnorm(const spt_net *net) {
    int64_t n = 0;
    spt_net_num_nodes(net, &n);
    for (int64_t i = 0; i < n; i++) {
        int kind = -1;
        if (spt_net_node(net, i, &kind, NULL, NULL) == SPT_OK && kind == SPT_LAYER_BATCHNORM) return true;
    }
    return false;
}

/* "12.3 GiB" */
static const char *bytes_text(double b, char *buf, size_t cap) {
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (b >= 1024 && u < 6) b /= 1024, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
    return buf;
}

/* The nonzeros `net`'s weights will have under the run's method (its
 * allocation: --sparsity or --epsilon over the distribution, kept-dense and
 * pinned layers as the trainer treats them): the overall density and the
 * largest mean number of nonzeros per output of any weight layer (its
 * effective fan-in). false when it cannot be told (the trainer then reports
 * the error). */
static bool weight_plan(const ex_opts *o, const ex_run *x, const spt_net *net, double *density, double *fan_in) {
    int64_t n = 0;
    if (spt_net_weights(net, 0, NULL, NULL, NULL, &n) != SPT_OK || n < 1) return false;
    double sparsity = 0, epsilon = 0, first = 0, last = 0, dist = 0;
    int uses_s = 0, uses_e = 0;
    if (spt_method_uses_param(o->method, SPT_MP_SPARSITY, &uses_s) != SPT_OK ||
        spt_method_uses_param(o->method, SPT_MP_EPSILON, &uses_e) != SPT_OK)
        return false;
    if (uses_s) spt_method_config_get(x->cfg, SPT_MP_SPARSITY, &sparsity);
    if (uses_e) spt_method_config_get(x->cfg, SPT_MP_EPSILON, &epsilon);
    spt_method_config_get(x->cfg, SPT_MP_DENSE_FIRST, &first);
    spt_method_config_get(x->cfg, SPT_MP_DENSE_LAST, &last);
    spt_method_config_get(x->cfg, SPT_MP_DISTRIBUTION, &dist);
    int32_t *ndim = calloc((size_t)n, sizeof *ndim);
    int64_t *shape = calloc((size_t)n * 4, sizeof *shape), *nnz = calloc((size_t)n, sizeof *nnz);
    double *pinned = calloc((size_t)n, sizeof *pinned), *dens = calloc((size_t)n, sizeof *dens);
    uint8_t *keep = calloc((size_t)n, sizeof *keep);
    bool ok = ndim && shape && nnz && pinned && dens && keep &&
              spt_net_weights(net, n, ndim, shape, pinned, &n) == SPT_OK;
    if (ok) {
        keep[0] |= first != 0;
        keep[n - 1] |= last != 0;
        for (int64_t l = 0; l < n; l++) keep[l] |= pinned[l] >= 1.0;
        if (epsilon > 0)
            ok = spt_sparsity_allocate_epsilon((int)dist, epsilon, n, ndim, shape, keep, dens, nnz, NULL) == SPT_OK;
        else if (sparsity > 0)
            ok = spt_sparsity_allocate((int)dist, sparsity, n, ndim, shape, keep, dens, nnz, NULL) == SPT_OK;
        else
            for (int64_t l = 0; l < n; l++) dens[l] = 1.0;
    }
    if (ok) {
        double kept = 0, total = 0, widest = 0;
        for (int64_t l = 0; l < n; l++) {
            double per_row = (double)shape[4 * l + 1];
            if (ndim[l] == 4) per_row *= (double)shape[4 * l + 2] * (double)shape[4 * l + 3];
            const double size = per_row * (double)shape[4 * l];
            const double d = pinned[l] > 0 && pinned[l] < 1 ? pinned[l] : dens[l];
            total += size;
            kept += d * size;
            if (d * per_row > widest) widest = d * per_row;
        }
        *density = total > 0 ? kept / total : 1.0;
        *fan_in = widest;
    }
    free(ndim), free(shape), free(nnz), free(pinned), free(dens), free(keep);
    return ok;
}

/* The least memory the run needs for `net`, against the machine's
 * physical memory (sysconf): the weights at the target density with their
 * gradients, optimizer slots and (when sparse) a column index each; the
 * other parameters (biases, batch norm) with theirs; the activations of
 * one batch. A method that starts dense (gmp, lottery, snip, grasp,
 * synflow) needs the dense size at first: this is a lower bound, and a run
 * above it cannot fit. Refused with exit 2, naming the flag. */
static int check_memory(const ex_opts *o, const ex_run *x, const spt_net *net) {
    char flags[EX_MAX_STRING + 96];
    size_flags(o, flags, sizeof flags);
    int64_t values = 0, weights = 0, acts = 0;
    int rc = spt_net_size(net, NULL, &values, &weights, &acts);
    if (rc != SPT_OK) return lib_error(o, rc, "%s", flags);
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return -1; /* unknown: nothing to compare with */
    const double have = (double)pages * (double)page;
    double sparsity = 0, momentum = 0, epsilon = 0;
    int uses = 0;
    if (spt_method_uses_param(o->method, SPT_MP_SPARSITY, &uses) == SPT_OK && uses)
        spt_method_config_get(x->cfg, SPT_MP_SPARSITY, &sparsity);
    if (spt_method_uses_param(o->method, SPT_MP_EPSILON, &uses) == SPT_OK && uses)
        spt_method_config_get(x->cfg, SPT_MP_EPSILON, &epsilon);
    double density = 1.0 - sparsity, fan_in = 0;
    if (epsilon > 0) { /* no global budget: the allocation itself */
        if (!weight_plan(o, x, net, &density, &fan_in)) return -1; /* not computable here: the trainer will say */
        const size_t len = strlen(flags);
        snprintf(flags + len, sizeof flags - len, " --epsilon %g", epsilon);
    }
    int slots = 2; /* Adam's two moments */
    if (o->optimizer == SPT_OPTIMIZER_SGD) {
        spt_optimizer_get_param(x->opt, SPT_OPT_MOMENTUM, &momentum);
        slots = momentum > 0 ? 1 : 0;
    }
    const double per_weight = 4.0 * (2 + slots) + (density < 1 ? 4.0 : 0.0);
    const double w_bytes = (double)weights * density * per_weight;
    const double p_bytes = (double)(values - weights) * 4.0 * (2 + slots);
    const int64_t examples = o->batch > o->eval_batch ? o->batch : o->eval_batch;
    const double a_bytes = (double)acts * (double)examples * 4.0;
    const double need = w_bytes + p_bytes + a_bytes;
    if (need <= have) return -1;
    char t_need[32], t_have[32], t_w[32], t_a[32];
    if (a_bytes > have - w_bytes - p_bytes && a_bytes >= w_bytes + p_bytes) {
        const char *which = o->eval_batch > o->batch ? "eval-batch" : "batch";
        return ex_usage_error(o, "--%s %lld: the activations of %lld examples of %s need %s, with the model at least "
                              "%s of memory, more than this machine's %s",
                              which, (long long)examples, (long long)examples, x->desc,
                              bytes_text(a_bytes, t_a, sizeof t_a), bytes_text(need, t_need, sizeof t_need),
                              bytes_text(have, t_have, sizeof t_have));
    }
    return ex_usage_error(o, "%s: the model needs at least %s of memory (%lld weights at density %.3g with their "
                          "gradients, %d optimizer slot%s%s: %s; activations of %lld examples: %s), more than this "
                          "machine's %s",
                          flags, bytes_text(need, t_need, sizeof t_need), (long long)weights, density, slots,
                          slots == 1 ? "" : "s", density < 1 ? " and indices" : "", bytes_text(w_bytes, t_w, sizeof t_w),
                          (long long)examples, bytes_text(a_bytes, t_a, sizeof t_a),
                          bytes_text(have, t_have, sizeof t_have));
}

void ex_run_free(ex_run *x) {
    spt_trainer_destroy(x->tr);
    spt_comm_destroy(x->comm); /* (MPI_Finalize) */
    spt_model_destroy(x->model);
    spt_batcher_destroy(x->batcher);
    spt_lr_schedule_destroy(x->sched);
    spt_optimizer_destroy(x->opt);
    spt_method_config_destroy(x->cfg);
    if (x->net != x->file_net) spt_net_destroy(x->net);
    spt_net_destroy(x->file_net);
    if (x->csv) fclose(x->csv);
    memset(x, 0, sizeof *x);
}

/* Examples of the training split known without reading it: --limit, and
 * CIFAR-10's 50000; 0 when unknown (an IDX file's count is in the file). */
static int64_t known_examples(const ex_opts *o, int format) {
    const int64_t cifar = 50000;
    if (format == EX_FORMAT_CIFAR10) return o->limit > 0 && o->limit < cifar ? o->limit : cifar;
    return o->limit;
}

int ex_setup(ex_opts *o, ex_run *x, ex_net_fn own) {
    memset(x, 0, sizeof *x);
    x->own = own;
    int rc, st;
    if (o->resume && (st = ex_resume_settings(o)) >= 0) return st;
    if ((rc = spt_set_num_threads((int)o->threads)) != SPT_OK)
        return lib_error(o, rc, "--threads %lld", (long long)o->threads);
    if ((rc = spt_set_dispatch_mode(o->dispatch)) != SPT_OK) return lib_error(o, rc, "--dispatch");
    if (o->model) { /* a bad file is refused before the data is read */
        static const char *const own_flags[] = {"widths", "dropout", "depth", "width"};
        for (size_t i = 0; i < sizeof own_flags / sizeof own_flags[0]; i++)
            if (ex_given(o, own_flags[i])) return ex_usage_error(o, "--%s does not apply with --model", own_flags[i]);
        if ((st = read_model_file(o, &x->file_net)) >= 0) return st;
    }
    /* The network for the format's usual examples (the file's own input with --model). */
    x->format = ex_data_format(o);
    const bool cifar = x->format == EX_FORMAT_CIFAR10;
    spt_net *net = NULL;
    bool owned = false;
    if ((st = describe(o, x, cifar ? 3 : 1, cifar ? 32 : 28, cifar ? 32 : 28, 10, false, &net, &owned)) >= 0)
        return st;
    if ((rc = spt_method_config_create(o->method, &x->cfg)) != SPT_OK) st = lib_error(o, rc, "--method");
    if (st < 0) st = ex_apply_method_flags(o, x->cfg);
    if (st < 0) {
        double density = 1, fan_in = 0;
        int64_t acts = 0;
        if (!weight_plan(o, x, net, &density, &fan_in)) fan_in = 0;
        if (spt_net_size(net, NULL, NULL, NULL, &acts) != SPT_OK) acts = 0;
        ex_apply_network_defaults(o, has_batchnorm(net), fan_in, acts);
    }
    if (st < 0 && (rc = spt_method_config_rounds(x->cfg, &x->rounds)) != SPT_OK)
        st = lib_error(o, rc, "--sparsity/--lottery-rate");
    if (st < 0) st = make_optimizer(o, &x->opt);
    if (st < 0 && o->lr_schedule != SPT_LR_STEP && (ex_given(o, "milestones") || ex_given(o, "gamma")))
        st = ex_usage_error(o, "--milestones and --gamma apply to --lr-schedule step only");
    /* Check the schedule's flags now; it is made again once the epoch length is known. */
    if (st < 0) {
        st = make_schedule(o, x->opt, 0, &x->sched, NULL, 0);
        spt_lr_schedule_destroy(x->sched);
        x->sched = NULL;
    }
    if (st < 0) st = check_memory(o, x, net);
    const int64_t known = known_examples(o, x->format);
    if (st < 0 && known > 0 && o->batch > known)
        st = ex_usage_error(o, "--batch %lld: larger than the %lld training examples (%s)", (long long)o->batch,
                            (long long)known, o->limit > 0 ? "--limit" : "CIFAR-10's training set");
    if (owned) spt_net_destroy(net);
    return st;
}

/* Under mpirun -np N (N > 1) and without --no-mpi / SPT_NO_MPI=1: join the
 * other processes (one communicator over MPI_COMM_WORLD). The MPI component
 * (libsparsetrain_mpi, sparsetrain/mpi.h) is loaded only then, so that a
 * program not started by mpirun never loads MPI. Every rank but 0 then
 * writes nothing to stdout and no file; its errors go to stderr with its
 * rank. */
#define EX_STR_(x) #x
#define EX_STR(x) EX_STR_(x)
/* The MPI component next to the loaded libsparsetrain (found with dladdr:
 * a dlopen by bare name searches the RUNPATH of its caller, which under a
 * sanitizer's interceptor is not the program), else by name. */
static void *load_mpi_component(void) {
    static const char name[] = "libsparsetrain_mpi.so." EX_STR(SPT_VERSION_MAJOR);
    Dl_info info;
    if (dladdr((void *)spt_version_string, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        char path[4096];
        if (slash && (size_t)(slash - info.dli_fname) + sizeof name + 1 < sizeof path) {
            snprintf(path, sizeof path, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname, name);
            void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
            if (h) return h;
        }
    }
    return dlopen(name, RTLD_NOW | RTLD_GLOBAL); /* GLOBAL: MPI's plug-ins need libmpi's symbols */
}

static int start_mpi(ex_opts *o, ex_run *x) {
    o->mpi_rank = 0, o->mpi_size = 1;
    const char *env = getenv("SPT_NO_MPI");
    if (o->no_mpi || (env && *env && strcmp(env, "0") != 0)) return -1;
    const char *ompi = getenv("OMPI_COMM_WORLD_SIZE"), *pmi = getenv("PMI_SIZE");
    const long launched = strtol(ompi ? ompi : pmi ? pmi : "1", NULL, 10);
    if (launched < 2) return -1; /* not under a launcher, or alone */
    void *h = load_mpi_component();
    int (*world_fn)(spt_comm **) = h ? (int (*)(spt_comm **))dlsym(h, "spt_comm_create_mpi_world") : NULL;
    if (!world_fn)
        return ex_fail(o, "started by mpirun (%ld processes), but the MPI component cannot be loaded (%s; build "
                          "libsparsetrain with MPI: Debian's libopenmpi-dev), or train each process alone with --no-mpi",
                       launched, dlerror());
    int rc = world_fn(&x->comm);
    if (rc != SPT_OK)
        return ex_fail(o, "cannot join the other MPI processes: %s (--no-mpi trains alone)", spt_last_error());
    o->mpi_rank = spt_comm_rank(x->comm);
    o->mpi_size = spt_comm_size(x->comm);
    if (o->mpi_rank > 0 && !freopen("/dev/null", "w", stdout))
        return ex_fail(o, "cannot silence stdout: %s", strerror(errno));
    return -1;
}

int ex_main(ex_opts *o, ex_net_fn own) {
    ex_run run;
    spt_dataset *train = NULL, *test = NULL;
    bool is_cifar = false;
    int st = ex_setup(o, &run, own);
    if (st < 0) st = start_mpi(o, &run);
    if (st < 0) st = ex_load_data(o, &train, &test, &is_cifar);
    if (st < 0) st = ex_train(o, &run, train, test);
    ex_run_free(&run);
    spt_dataset_destroy(test);
    spt_dataset_destroy(train);
    return st;
}

/* The canonical text of a description (spt_net_format), malloc'd; NULL on failure. */
static char *net_text(const spt_net *net) {
    int64_t len = 0;
    spt_net_format(net, NULL, 0, &len);
    char *buf = len > 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && spt_net_format(net, buf, len + 1, &len) != SPT_OK) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* --resume: the restored model must be the network the flags describe. */
static int check_resumed_net(const ex_opts *o, const ex_run *x) {
    spt_net *saved = NULL;
    int rc = spt_model_net(x->model, &saved);
    if (rc != SPT_OK) return ex_fail(o, "--resume %s: %s", o->resume, spt_last_error());
    char *a = net_text(saved), *b = net_text(x->net);
    spt_net_destroy(saved);
    const bool same = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    if (same) return -1;
    char flags[EX_MAX_STRING + 64];
    size_flags(o, flags, sizeof flags);
    return ex_usage_error(o, "--resume %s: the checkpoint holds another network than %s describes (%s); give the "
                          "saved run's",
                          o->resume, flags, x->desc);
}

static int train_loop(const ex_opts *o, ex_run *x, const spt_dataset *test, ex_progress *pr, ex_result *res,
                      int64_t batches_per_epoch);

int ex_train(const ex_opts *o, ex_run *x, const spt_dataset *train, const spt_dataset *test) {
    ex_result res = {.model = x->desc, .method = o->method, .rounds = x->rounds, .batch = o->batch};
    const bool is_cifar = x->format == EX_FORMAT_CIFAR10;
    int rc, st;
    /* The network for the data's examples, checked again now that their shape is known. */
    int64_t n_train = 0, c = 0, h = 0, w = 0, classes = 0;
    spt_dataset_info(train, &n_train, &c, &h, &w, &classes);
    bool owned = false;
    if ((st = describe(o, x, c, h, w, classes, true, &x->net, &owned)) >= 0) return st;
    if ((st = check_memory(o, x, x->net)) >= 0) return st;
    if (o->batch > n_train)
        return ex_usage_error(o, "--batch %lld: larger than the %lld training examples", (long long)o->batch,
                              (long long)n_train);
    /* Peak memory so far: the data sets. The end-of-run peak less this is
     * what the model and its training state took. */
    struct rusage ru;
    res.rss_before_model_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? (long)ru.ru_maxrss : -1;

    /* Mini-batches: a new shuffle every epoch, the short last batch kept. */
    int64_t batches = 0;
    if ((rc = spt_batcher_create(train, o->batch, SPT_BATCH_SHUFFLE, (uint64_t)o->seed, &x->batcher)) != SPT_OK)
        return lib_error(o, rc, "--batch %lld", (long long)o->batch);
    const bool augment = o->augment < 0 ? (is_cifar && o->program == EX_RESNET) : o->augment != 0;
    if (augment && (rc = spt_batcher_set_augment(x->batcher, 4, 1)) != SPT_OK)
        return lib_error(o, rc, "--augment");
    spt_batcher_batches_per_epoch(x->batcher, &batches);
    if (o->epochs > INT64_MAX / x->rounds / batches)
        return ex_usage_error(o, "--epochs %lld: too many steps", (long long)o->epochs);
    if ((st = make_schedule(o, x->opt, batches, &x->sched, x->milestones, sizeof x->milestones)) >= 0) return st;

    const int64_t total_steps = x->rounds * o->epochs * batches;
    if (o->resume) {
        /* The saved run brings its own model, optimizer state and method. */
        if (o->has_saved_data && (o->saved_examples != n_train || o->saved_c != c || o->saved_h != h ||
                                  o->saved_w != w || o->saved_classes != classes))
            return ex_fail(o, "--resume %s: the saved run trained on %lld examples of %lld x %lld x %lld in %lld "
                           "classes; the data here (%s) has %lld of %lld x %lld x %lld in %lld classes",
                           o->resume, (long long)o->saved_examples, (long long)o->saved_c, (long long)o->saved_h,
                           (long long)o->saved_w, (long long)o->saved_classes,
                           o->data ? o->data : SPT_FASHION_MNIST_DIR, (long long)n_train, (long long)c, (long long)h,
                           (long long)w, (long long)classes);
        if ((st = ex_checkpoint_resume(o, &x->model, &x->tr, x->batcher)) >= 0) return st;
        if ((st = check_resumed_net(o, x)) >= 0) return st;
    } else {
        rc = spt_model_create(x->net, (uint64_t)o->seed, &x->model);
        if (rc == SPT_ERR_NOMEM)
            return ex_fail(o, "cannot build the model (%s): %s (%s)", x->desc, spt_last_error(),
                           spt_status_string(rc));
        if (rc != SPT_OK) return lib_error(o, rc, "%s", x->desc);
        if (!o->model && o->dropout > 0 && (rc = spt_model_set_dropout(x->model, o->dropout)) != SPT_OK)
            return lib_error(o, rc, "--dropout %g", o->dropout);
        if (o->init_from && (rc = spt_model_load_safetensors(x->model, o->init_from)) != SPT_OK)
            return ex_fail(o, "--init-from: %s (%s)", spt_last_error(), spt_status_string(rc));
        rc = spt_trainer_create(x->model, x->opt, x->sched, x->cfg, total_steps, (uint64_t)o->seed, &x->tr);
        if (rc != SPT_OK) return lib_error(o, rc, "cannot set up the method");
    }
    if (x->comm) { /* every rank trains on its share of each batch */
        if ((rc = spt_batcher_set_shard(x->batcher, o->mpi_rank, o->mpi_size)) != SPT_OK)
            return lib_error(o, rc, "--batch %lld over %d processes", (long long)o->batch, o->mpi_size);
        if ((rc = spt_trainer_set_comm(x->tr, x->comm)) != SPT_OK)
            return ex_fail(o, "cannot train with the other processes: %s", spt_last_error());
        if (o->sync_bn && (rc = spt_trainer_set_sync_batchnorm(x->tr, 1)) != SPT_OK)
            return lib_error(o, rc, "--sync-bn");
    }
    /* The settings saved with every checkpoint: the flags, and what the program and library chose. */
    static char note[SPT_CHECKPOINT_NOTE_MAX];
    ex_effective eff = {.augment = augment, .milestones = o->lr_schedule == SPT_LR_STEP ? x->milestones : NULL,
                        .examples = n_train, .c = c, .h = h, .w = w, .classes = classes};
    spt_optimizer_get_param(x->opt, SPT_OPT_LR, &eff.lr);
    x->note = note;
    x->note_len = ex_settings_note(o, &eff, note, sizeof note);
    if (x->note_len < 0) return ex_usage_error(o, "the flags are too long to be saved with a checkpoint");
    /* A run resumed from a checkpoint without settings ran with the checkpoint's optimizer and method,
     * which the flags need not describe: its checkpoints record none either. */
    if (o->resume && !o->resume_recorded) x->note_len = 0;
    const bool writer = o->mpi_rank == 0; /* one process writes the log, checkpoints and export */
    if (writer && o->log && !(x->csv = ex_csv_open(o->log, o->resume != NULL)))
        return ex_fail(o, "cannot write the log %s: %s", o->log, strerror(errno));

    ex_progress pr = {0};
    pr.live = writer && (o->progress || isatty(STDERR_FILENO));
    pr.epochs = x->rounds * o->epochs;
    pr.steps_total = total_steps;
    pr.batch_size = o->batch;
    pr.n_train = n_train;
    if ((st = train_loop(o, x, test, &pr, &res, batches)) >= 0) return st;
    if (writer && o->export_to && (rc = spt_model_save_safetensors(x->model, o->export_to,
                                                          o->export_dense ? SPT_SAFETENSORS_DENSE : 0)) != SPT_OK)
        return ex_fail(o, "--export: %s (%s)", spt_last_error(), spt_status_string(rc));
    if ((st = ex_print_summary(o, x->tr, x->model, &res)) >= 0) return st;
    return EX_EXIT_OK;
}

static int train_loop(const ex_opts *o, ex_run *x, const spt_dataset *test, ex_progress *pr, ex_result *res,
                      int64_t batches_per_epoch) {
    int64_t step = 0, round = 0;
    spt_trainer_get_step(x->tr, &step);
    spt_trainer_get_round(x->tr, &round);
    const int64_t first_epoch = step / batches_per_epoch;
    double train_seconds = 0, examples = 0;
    pr->run_start = ex_now();
    pr->run_start_step = step;
    res->test_acc = res->test_loss = res->train_acc = res->train_loss = 0;
    if (first_epoch >= pr->epochs) { /* resumed after the last epoch: report on the model as it is */
        int rc = spt_trainer_evaluate(x->tr, test, o->eval_batch, &res->test_loss, &res->test_acc);
        if (rc != SPT_OK) return ex_fail(o, "evaluation failed: %s", spt_last_error());
    }
    for (int64_t e = first_epoch; e < pr->epochs; e++) {
        /* Lottery: the first R rounds end with pruning and rewinding. */
        if (e / o->epochs > round) {
            int rc = spt_trainer_end_round(x->tr);
            if (rc != SPT_OK) return ex_fail(o, "cannot end round %lld: %s", (long long)round + 1, spt_last_error());
            round++;
        }
        ex_progress_begin_epoch(pr, e + 1);
        double t0 = ex_now(), loss = 0, acc = 0;
        int rc = spt_trainer_train_epoch(x->tr, x->batcher, pr->live ? ex_progress_step : NULL, pr, &loss, &acc);
        double t1 = ex_now();
        ex_progress_clear(pr);
        if (rc != SPT_OK) {
            spt_trainer_get_step(x->tr, &step);
            return ex_fail(o, "training failed at step %lld: %s", (long long)step, spt_last_error());
        }
        train_seconds += t1 - t0;
        examples += (double)pr->n_train;
        ex_epoch_row row = {.epoch = e + 1, .loss = loss, .train_acc = acc};
        rc = spt_trainer_evaluate(x->tr, test, o->eval_batch, &row.test_loss, &row.test_acc);
        if (rc != SPT_OK) return ex_fail(o, "evaluation failed: %s", spt_last_error());
        spt_trainer_get_step(x->tr, &row.step);
        spt_trainer_get_lr(x->tr, &row.lr);
        spt_trainer_sparsity(x->tr, &row.sparsity, NULL, NULL);
        row.seconds = ex_now() - pr->run_start;
        if (o->mpi_rank == 0) epoch_line(pr, &row, ex_now() - t0);
        if (x->csv && ex_csv_row(x->csv, &row) != 0)
            return ex_fail(o, "cannot write the log %s: %s", o->log, strerror(errno));
        if (o->checkpoint && o->mpi_rank == 0) {
            int st = ex_checkpoint_save(o, x->tr, x->batcher, x->note, x->note_len);
            if (st >= 0) return st;
        }
        res->test_acc = row.test_acc;
        res->test_loss = row.test_loss;
        res->train_acc = acc;
        res->train_loss = loss;
        if (o->stop_after > 0 && e + 1 - first_epoch >= o->stop_after) break;
    }
    spt_trainer_get_step(x->tr, &res->steps);
    res->epochs = res->steps / batches_per_epoch;
    res->seconds = ex_now() - pr->run_start;
    res->examples_per_second = train_seconds > 0 ? examples / train_seconds : 0;
    return -1;
}
