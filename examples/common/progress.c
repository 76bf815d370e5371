/* The progress line on stderr (see example.h). */
#include <time.h>

#include "example.h"

double ex_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "1h02m", "3m07s" or "12s". */
static void fmt_duration(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 1e8) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, cap, "%lds", t);
}

void ex_progress_begin_epoch(ex_progress *p, int64_t epoch) {
    p->epoch = epoch;
    p->epoch_start = ex_now();
    p->last_draw = 0;
    p->loss_sum = p->correct_sum = p->seen = 0;
}

void ex_progress_clear(ex_progress *p) {
    if (p->live && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = false;
}

int ex_progress_step(void *user, int64_t step, int64_t batch_index, int64_t batches, double loss, double accuracy) {
    ex_progress *p = user;
    /* Examples in this batch: the last batch of an epoch holds the rest. */
    int64_t n = p->batch_size;
    if (batch_index == batches - 1) n = p->n_train - (batches - 1) * p->batch_size;
    p->loss_sum += loss * (double)n;
    p->correct_sum += accuracy * (double)n;
    p->seen += (double)n;
    if (!p->live) return 0;
    double now = ex_now();
    if (now - p->last_draw < 0.1 && batch_index + 1 < batches) return 0;
    p->last_draw = now;
    double ep = now - p->epoch_start, run = now - p->run_start;
    int64_t done = step - p->run_start_step;
    double eta = done > 0 ? run / (double)done * (double)(p->steps_total - step) : 0;
    char eta_s[32];
    fmt_duration(eta_s, sizeof eta_s, eta);
    fprintf(stderr, "\repoch %lld/%lld  step %lld/%lld  loss %.4f  acc %.4f  %.0f ex/s  ETA %s\033[K",
            (long long)p->epoch, (long long)p->epochs, (long long)step, (long long)p->steps_total,
            p->loss_sum / p->seen, p->correct_sum / p->seen, ep > 0 ? p->seen / ep : 0.0, eta_s);
    fflush(stderr);
    p->drawn = true;
    return 0;
}
