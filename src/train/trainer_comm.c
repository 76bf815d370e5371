/* Data-parallel training (sparsetrain/comm.h): the collectives around a
 * step. With a communicator of p > 1 ranks, a step on this rank's n
 * examples of a global batch of N goes:
 *
 *   forward (this rank's examples)
 *   begin   sum of [failed, n] over the ranks: N; a failure anywhere is
 *           agreed on (every rank returns the lowest failing rank's status
 *           and message) and the step changes nothing
 *   backward; a layer streaming RigL's dense gradient sums each
 *           block over the ranks as it goes (kernels/grow_collector.c),
 *           so no rank ever holds a rows x cols buffer; a rank whose
 *           backward failed still makes the calls it owes (drain)
 *   reduce  ONE sum over the ranks of every gradient not yet summed, each
 *           times n / N (the stored values' gradients: 4 bytes per nonzero,
 *           plus biases and batch-norm parameters; the dense gradients a
 *           method asked for; the sampled growth gradients), the
 *           batch norms' running statistics (weighted the same way), the
 *           loss, the correct count and a failure flag
 *   checks, method hooks, optimizer, drop/grow: the same inputs on every
 *           rank, so the same bits everywhere
 *   end     max over the ranks of [failed, h, ~h], h the checksum of the
 *           masks when the topology changed: ranks that drifted apart stop
 *           with SPT_ERR_STATE.
 */
#include <stdio.h>
#include <string.h>

#include "trainer.h"
#include "../kernels/grow_collector.h"
#include "../kernels/grow_sample.h"

bool spti_trainer_dp(const spti_trainer *t) { return t->comm && t->comm->size > 1; }

/* ---- checksums ------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* The masks of the weights (their kind and active positions); with values,
 * every parameter's values, the running statistics and the step too. */
static uint64_t model_hash(spti_trainer *t, bool values) {
    const spti_model *m = t->model;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *p = m->params[i];
        const int32_t kind = p->kind;
        h = fnv(h, &kind, sizeof kind);
        h = fnv(h, &p->n, sizeof p->n);
        if (p->kind == SPTI_PARAM_SPARSE) {
            h = fnv(h, p->csr->row_ptr, (size_t)(p->csr->rows + 1) * sizeof(int64_t));
            h = fnv(h, p->csr->col_idx, (size_t)p->csr->nnz * sizeof(int32_t));
        } else if (p->kind == SPTI_PARAM_MASKED) {
            h = fnv(h, p->mask, (size_t)(p->rows * p->cols));
        }
        if (values && p->value) h = fnv(h, p->value, (size_t)p->n * sizeof(float));
    }
    if (values) {
        h = fnv(h, &t->step, sizeof t->step);
        if (t->dp_running.running) spti_model_step_state_save(m, &t->dp_running);
        if (t->dp_running.running) h = fnv(h, t->dp_running.running, (size_t)t->dp_running.n_running * sizeof(float));
    }
    return h;
}

/* Collective: rc agreed on; then the ranks' checksums h compared. */
static int agree_hash(spti_trainer *t, int rc, uint64_t h, const char *what) {
    uint64_t v[2] = {h, ~h};
    SPTI_TRY(spti_comm_agree_max(t->comm, rc, v, 2));
    if (v[0] != ~v[1])
        return spti_fail(SPT_ERR_STATE,
                         "data-parallel training: the ranks' %s differ (checksum %016llx here, from %016llx to "
                         "%016llx over the ranks)",
                         what, (unsigned long long)h, (unsigned long long)~v[1], (unsigned long long)v[0]);
    return SPT_OK;
}

/* ---- attaching ------------------------------------------------------------------ */

int spt_trainer_set_comm(spt_trainer *t, spt_comm *c) {
    SPTI_CHECK_NULL(t);
    if (!c || c->size == 1) {
        t->comm = c;
        return SPT_OK;
    }
    if (!t->dp_running.running && t->undo.n_running > 0)
        SPTI_TRY(spti_trainer_prefix(__func__, spti_model_step_state_init(t->model, &t->dp_running)));
    t->comm = c;
    /* The same model, method state and step on every rank, or nothing. */
    const uint64_t h = model_hash(t, true);
    int rc = agree_hash(t, SPT_OK, h, "models (weights, masks or step)");
    if (rc != SPT_OK) {
        t->comm = NULL;
        return spti_fail(rc, "%s: %s; build every rank's model and trainer from the same seed, or load the same "
                             "checkpoint",
                         __func__, spt_last_error());
    }
    return SPT_OK;
}

int spt_trainer_set_sync_batchnorm(spt_trainer *t, int on) {
    SPTI_CHECK_NULL(t);
    if (on != 0 && on != 1) return spti_fail(SPT_ERR_INVALID, "%s: on must be 0 or 1 (got %d)", __func__, on);
    t->reduce.sync_bn = on;
    return SPT_OK;
}

int spt_trainer_get_comm(const spt_trainer *t, spt_comm **c) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(c);
    *c = t->comm;
    return SPT_OK;
}

/* ---- one step's gradients -------------------------------------------------------- */

static void set_reduce(spti_trainer *t, const spti_reduce *red) {
    for (int64_t i = 0; i < t->model->n_params; i++) {
        t->model->params[i]->reduce = red;
        t->model->params[i]->grad_reduced = false;
    }
}

/* Whether the backward of p streams its dense gradient (linear.c,
 * conv2d.c: every SPARSE weight asked for growth candidates). */
static bool streams(const spti_param *p) {
    return p->kind == SPTI_PARAM_SPARSE && p->request.grow_k > 0 && !p->request.sample;
}

/* The floats of the step's reduction, in parameter order, known before
 * the backward; with buf, packed times scale (to) or unpacked (from). A
 * requested dense gradient a layer did not fill (none does so today)
 * counts as zeros. */
static int64_t pack(spti_trainer *t, float *buf, float scale, bool to) {
    int64_t k = 0;
#define PACK(src, len)                                                                  \
    do {                                                                                \
        float *s_ = (src);                                                              \
        const int64_t n_ = (len);                                                       \
        if (buf && to)                                                                  \
            for (int64_t j_ = 0; j_ < n_; j_++) buf[k + j_] = s_ ? s_[j_] * scale : 0.0f; \
        else if (buf && s_)                                                             \
            memcpy(s_, buf + k, (size_t)n_ * sizeof(float));                            \
        k += n_;                                                                        \
    } while (0)
    const spti_model *m = t->model;
    for (int64_t i = 0; i < m->n_params; i++) {
        spti_param *p = m->params[i];
        if (streams(p)) continue; /* summed while streamed */
        PACK(p->grad, p->n);
        if (p->request.dense_grad) PACK(p->result.dense_grad, p->rows * p->cols);
        if (p->request.sample) PACK(p->result.sample ? p->result.sample->grad : NULL, p->request.sample->n);
    }
    if (t->dp_running.running) PACK(t->dp_running.running, t->dp_running.n_running);
#undef PACK
    return k;
}

/* The reduction buffer of this step (before the forward, so that a
 * failure is agreed on with the forward's). */
static int reserve(spti_trainer *t, int64_t *len) {
    *len = pack(t, NULL, 1.0f, true) + 3;
    if (*len <= t->ccap) return SPT_OK;
    float *b = spti_alloc((size_t)*len, sizeof(float));
    if (!b)
        return spti_fail(SPT_ERR_NOMEM, "trainer: out of memory for the %lld floats of the step's reduction",
                         (long long)*len);
    spti_free(t->cbuf);
    t->cbuf = b;
    t->ccap = *len;
    return SPT_OK;
}

/* Collective: the forward's status and this rank's n; the global batch. */
static int dp_begin(spti_trainer *t, int rc, int64_t n, int64_t *N) {
    uint64_t v[2] = {rc != SPT_OK, (uint64_t)n};
    char msg[512];
    snprintf(msg, sizeof msg, "%s", rc != SPT_OK ? spt_last_error() : "");
    SPTI_TRY(spti_comm_u64(t->comm, v, 2, SPT_COMM_SUM, "the forward's status"));
    if (v[0] != 0) {
        if (rc != SPT_OK) spti_fail(rc, "%s", msg);
        return spti_comm_agree(t->comm, rc);
    }
    *N = (int64_t)v[1];
    return SPT_OK;
}

/* A rank whose backward failed makes the streaming calls it still owes,
 * from the last layer down (the backward's order for a chain of layers). */
static void drain(spti_trainer *t) {
    for (int64_t i = t->model->n_params - 1; i >= 0; i--) {
        const spti_param *p = t->model->params[i];
        if (p->reduce && streams(p) && !p->grad_reduced) spti_grow_collect_drain(p->rows, p->cols, p->groups, p->reduce);
    }
}

/* Collective: the sum of the step's gradients (see the file comment) into
 * the len floats of t->cbuf; rc is the backward's. */
static int dp_reduce(spti_trainer *t, int rc, int64_t len, int64_t n, int64_t N, double *loss, int64_t *correct) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", rc != SPT_OK ? spt_last_error() : "");
    const float scale = (float)((double)n / (double)N);
    if (t->dp_running.running) spti_model_step_state_save(t->model, &t->dp_running);
    float *buf = t->cbuf;
    const int64_t k = pack(t, buf, scale, true);
    if (k + 3 != len) return spti_fail(SPT_ERR_INTERNAL, "trainer: the step's reduction changed size");
    buf[k] = (float)(*loss * scale);
    buf[k + 1] = (float)*correct;
    buf[k + 2] = rc != SPT_OK;
    SPTI_TRY(spti_comm_sum_f32(t->comm, buf, len, "the step's gradients"));
    if (buf[k + 2] != 0.0f) {
        if (rc != SPT_OK) spti_fail(rc, "%s", msg);
        return spti_comm_agree(t->comm, rc);
    }
    pack(t, buf, 1.0f, false);
    if (t->dp_running.running) spti_model_step_state_restore(t->model, &t->dp_running);
    *loss = buf[k];
    *correct = (int64_t)(buf[k + 1] + 0.5f);
    return SPT_OK;
}

int spti_trainer_grads(spti_trainer *t, const float *x, const int32_t *labels, int64_t n, double *loss,
                       int64_t *correct) {
    if (!spti_trainer_dp(t)) return spti_model_train_step(t->model, x, labels, n, loss, correct);
    double l = 0.0;
    int64_t c = 0, N = 0, len = 0;
    int rc = reserve(t, &len);
    /* Dropout: each rank draws from a stream of its own, keyed by the
     * model's stream (the same on every rank) and the rank; the model's
     * stream then moves on by one draw on every rank alike, so that a
     * checkpoint any rank writes resumes every rank exactly. */
    t->reduce.comm = t->comm; /* the forward's batch norms read it (sync_bn) */
    t->reduce.scale = 0.0f;
    set_reduce(t, &t->reduce);
    spti_rng shared = t->model->rng;
    const uint64_t key = spti_rng_u64(&shared);
    spti_rng_seed(&t->model->rng, key ^ (0x9e3779b97f4a7c15ull * (uint64_t)(t->comm->rank + 1)));
    if (rc == SPT_OK) rc = spti_model_train_forward(t->model, x, labels, n, &l, &c);
    t->model->rng = shared;
    rc = dp_begin(t, rc, n, &N);
    if (rc != SPT_OK) {
        set_reduce(t, NULL);
        return rc;
    }
    t->reduce.scale = (float)((double)n / (double)N);
    rc = spti_model_backward(t->model, x, t->model->dlogits, n);
    if (rc != SPT_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", spt_last_error());
        drain(t);
        spti_fail(rc, "%s", msg);
    }
    rc = dp_reduce(t, rc, len, n, N, &l, &c);
    set_reduce(t, NULL);
    SPTI_TRY(rc);
    /* The same sums on every rank: the same verdict. */
    SPTI_TRY(spti_model_check_grads(t->model));
    t->comm_batch = N;
    if (loss) *loss = l;
    if (correct) *correct = c;
    return SPT_OK;
}

int spti_trainer_grads_failed(spti_trainer *t, int rc) {
    if (!spti_trainer_dp(t)) return rc;
    int64_t N;
    return dp_begin(t, rc, 0, &N);
}

int spti_trainer_dp_agree(spti_trainer *t, int rc) {
    if (!spti_trainer_dp(t)) return rc;
    return spti_comm_agree(t->comm, rc);
}

int spti_trainer_dp_end(spti_trainer *t, int rc, bool topology_changed) {
    if (!spti_trainer_dp(t)) return rc;
    /* The masks when the topology changed, and the step: a failure after
     * the gradients' sum that did not hit every rank alike leaves the ranks
     * apart, and the trainer refuses further steps. */
    const uint64_t h = topology_changed ? model_hash(t, false) : 0, s = (uint64_t)t->step;
    uint64_t v[4] = {h, ~h, s, ~s};
    const int arc = spti_comm_agree_max(t->comm, rc, v, 4);
    if (v[2] != ~v[3]) {
        t->dp_diverged = true;
        return spti_fail(arc != SPT_OK ? arc : SPT_ERR_STATE,
                         "%s; the ranks' steps now differ (%lld to %lld): load a checkpoint into a new trainer",
                         arc != SPT_OK ? spt_last_error() : "data-parallel training", (long long)~v[3],
                         (long long)v[2]);
    }
    if (arc != SPT_OK) return arc;
    if (v[0] != ~v[1]) {
        t->dp_diverged = true;
        return spti_fail(SPT_ERR_STATE,
                         "data-parallel training: the ranks' masks differ after the topology update of step %lld "
                         "(checksum %016llx here, from %016llx to %016llx over the ranks); the ranks drifted apart",
                         (long long)(t->step - 1), (unsigned long long)h, (unsigned long long)~v[1],
                         (unsigned long long)v[0]);
    }
    return SPT_OK;
}
