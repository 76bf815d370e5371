/* The training run shared by the example programs (see example.h). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "checkpoint_glue.h"
#include "example.h"

enum { MAX_MILESTONES = 64 };

/* Status of a library call that failed on a value from the command line:
 * arguments out of their domain are the user's (2), the rest are failures. */
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
    if (rc == SPT_ERR_INVALID || rc == SPT_ERR_SIZE || rc == SPT_ERR_STATE)
        return ex_usage_error(o, "%s: %s", what, spt_last_error());
    return ex_fail(o, "%s: %s (%s)", what, spt_last_error(), spt_status_string(rc));
}

static int make_optimizer(const ex_opts *o, spt_optimizer **out) {
    int rc = spt_optimizer_create(o->optimizer, out);
    if (rc != SPT_OK) return lib_error(o, rc, "--optimizer");
    if (o->optimizer != SPT_OPTIMIZER_SGD && (ex_given(o, "momentum") || ex_given(o, "nesterov")))
        return ex_usage_error(o, "--momentum and --nesterov apply to --optimizer sgd only");
    if (o->optimizer == SPT_OPTIMIZER_ADAM && !ex_given(o, "lr"))
        rc = SPT_OK; /* Adam keeps its own default rate (0.001) unless --lr is given */
    else if ((rc = spt_optimizer_set_param(*out, SPT_OPT_LR, o->lr)) != SPT_OK)
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
                         spt_lr_schedule **out) {
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

/* The network of --model FILE, checked against the data's examples and classes. */
static int build_from_file(const ex_opts *o, const spt_dataset *train, spt_model **out, char *desc, size_t cap) {
    const char *base = strrchr(o->model, '/');
    snprintf(desc, cap, "model %s", base ? base + 1 : o->model);
    if (!out) return -1;
    spt_net *net = NULL;
    int st = read_model_file(o, &net);
    if (st >= 0) return st;
    int rc = spt_model_create(net, (uint64_t)o->seed, out);
    spt_net_destroy(net);
    if (rc != SPT_OK) return lib_error(o, rc, "--model %s", o->model);
    int64_t c, h, w, classes, mc, mh, mw, mclasses;
    spt_dataset_info(train, NULL, &c, &h, &w, &classes);
    spt_model_input_shape(*out, &mc, &mh, &mw);
    spt_model_num_classes(*out, &mclasses);
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

void ex_run_free(ex_run *x) {
    spt_trainer_destroy(x->tr);
    spt_model_destroy(x->model);
    spt_batcher_destroy(x->batcher);
    spt_lr_schedule_destroy(x->sched);
    spt_optimizer_destroy(x->opt);
    spt_method_config_destroy(x->cfg);
    if (x->csv) fclose(x->csv);
    memset(x, 0, sizeof *x);
}

int ex_setup(const ex_opts *o, ex_run *x) {
    memset(x, 0, sizeof *x);
    int rc, st;
    if (o->threads > INT_MAX) return ex_usage_error(o, "--threads %lld: too many", (long long)o->threads);
    if ((rc = spt_set_num_threads((int)o->threads)) != SPT_OK)
        return lib_error(o, rc, "--threads %lld", (long long)o->threads);
    if ((rc = spt_set_dispatch_mode(o->dispatch)) != SPT_OK) return lib_error(o, rc, "--dispatch");
    if (o->model) { /* a bad file is refused before the data is read */
        static const char *const own[] = {"widths", "dropout", "depth", "width"};
        for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
            if (ex_given(o, own[i])) return ex_usage_error(o, "--%s does not apply with --model", own[i]);
        spt_net *net = NULL;
        if ((st = read_model_file(o, &net)) >= 0) return st;
        spt_net_destroy(net);
    }
    if ((rc = spt_method_config_create(o->method, &x->cfg)) != SPT_OK) return lib_error(o, rc, "--method");
    if ((st = ex_apply_method_flags(o, x->cfg)) >= 0) return st;
    if ((rc = spt_method_config_rounds(x->cfg, &x->rounds)) != SPT_OK)
        return lib_error(o, rc, "--sparsity/--lottery-rate");
    if ((st = make_optimizer(o, &x->opt)) >= 0) return st;
    if (o->lr_schedule != SPT_LR_STEP && (ex_given(o, "milestones") || ex_given(o, "gamma")))
        return ex_usage_error(o, "--milestones and --gamma apply to --lr-schedule step only");
    /* Check the schedule's flags now; it is made again once the epoch length is known. */
    st = make_schedule(o, x->opt, 0, &x->sched);
    spt_lr_schedule_destroy(x->sched);
    x->sched = NULL;
    return st;
}

static int train_loop(const ex_opts *o, ex_run *x, const spt_dataset *test, ex_progress *pr, ex_result *res,
                      int64_t batches_per_epoch);

int ex_train(const ex_opts *o, ex_run *x, ex_model_builder build, const spt_dataset *train,
             const spt_dataset *test, bool is_cifar) {
    char desc[512] = "";
    ex_result res = {.model = desc, .method = o->method, .rounds = x->rounds, .batch = o->batch};
    if (o->model) build = build_from_file;
    int rc, st;
    /* Peak memory so far: the data sets. The end-of-run peak less this is
     * what the model and its training state took. */
    struct rusage ru;
    res.rss_before_model_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? (long)ru.ru_maxrss : -1;

    /* Mini-batches: a new shuffle every epoch, the short last batch kept. */
    int64_t n_train = 0, batches = 0;
    spt_dataset_info(train, &n_train, NULL, NULL, NULL, NULL);
    if ((rc = spt_batcher_create(train, o->batch, SPT_BATCH_SHUFFLE, (uint64_t)o->seed, &x->batcher)) != SPT_OK)
        return lib_error(o, rc, "--batch %lld", (long long)o->batch);
    bool augment = o->augment < 0 ? (is_cifar && o->program == EX_RESNET) : o->augment != 0;
    if (augment && (rc = spt_batcher_set_augment(x->batcher, 4, 1)) != SPT_OK)
        return lib_error(o, rc, "--augment");
    spt_batcher_batches_per_epoch(x->batcher, &batches);
    if (o->epochs > INT64_MAX / x->rounds / batches)
        return ex_usage_error(o, "--epochs %lld: too many steps", (long long)o->epochs);
    if ((st = make_schedule(o, x->opt, batches, &x->sched)) >= 0) return st;

    const int64_t total_steps = x->rounds * o->epochs * batches;
    if (o->resume) {
        /* The saved run brings its own model, optimizer state and method. */
        if ((st = build(o, train, NULL, desc, sizeof desc)) >= 0) return st;
        if ((st = ex_checkpoint_resume(o, &x->model, &x->tr, x->batcher)) >= 0) return st;
    } else {
        if ((st = build(o, train, &x->model, desc, sizeof desc)) >= 0) return st;
        rc = spt_trainer_create(x->model, x->opt, x->sched, x->cfg, total_steps, (uint64_t)o->seed, &x->tr);
        if (rc != SPT_OK) return lib_error(o, rc, "cannot set up the method");
    }
    if (o->log && !(x->csv = ex_csv_open(o->log, o->resume != NULL)))
        return ex_fail(o, "cannot write the log %s: %s", o->log, strerror(errno));

    ex_progress pr = {0};
    pr.live = o->progress || isatty(STDERR_FILENO);
    pr.epochs = x->rounds * o->epochs;
    pr.steps_total = total_steps;
    pr.batch_size = o->batch;
    pr.n_train = n_train;
    if ((st = train_loop(o, x, test, &pr, &res, batches)) >= 0) return st;
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
        epoch_line(pr, &row, ex_now() - t0);
        if (x->csv && ex_csv_row(x->csv, &row) != 0)
            return ex_fail(o, "cannot write the log %s: %s", o->log, strerror(errno));
        if (o->checkpoint) {
            int st = ex_checkpoint_save(o, x->tr, x->batcher);
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
