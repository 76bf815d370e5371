/* Encoding a trainer into a checkpoint image in memory (the layout is in
 * checkpoint_format.h and docs/checkpoint-format.md). One encoder runs
 * twice: first counting bytes, then writing into a buffer of that size. */
#include <string.h>
#include <zlib.h>

#include "../data/dataset.h"
#include "../nn/layers.h"
#include "checkpoint_format.h"
#include "../core/le_io.h"

const uint8_t spti_ckpt_magic[8] = {'S', 'P', 'T', 'C', 'K', 'P', 'T', '\0'};

typedef struct enc {
    const spti_trainer *t;
    const spt_batcher *b;
    const spti_ckpt_arch *arch;
    int64_t method_len; /* bytes of the method's save hook */
    const uint8_t *note; /* the application's note (NOTE), note_len bytes */
    int64_t note_len;
    spti_wcur w;
    uint32_t n_sections;
} enc;

/* A section's header with its length patched once the content is written. */
static int64_t section_begin_flags(enc *e, uint32_t tag, uint32_t flags) {
    spti_put_u32(&e->w, tag);
    spti_put_u32(&e->w, flags); /* section flags */
    spti_put_u64(&e->w, 0); /* length, patched by section_end */
    e->n_sections++;
    return e->w.len;
}
static int64_t section_begin(enc *e, uint32_t tag) { return section_begin_flags(e, tag, 0); }
static void section_end(enc *e, int64_t start) {
    if (e->w.buf) spti_store_u64(e->w.buf + start - 8, (uint64_t)(e->w.len - start));
}

static void put_rng(spti_wcur *w, const spti_rng *r) {
    for (int i = 0; i < 4; i++) spti_put_u64(w, r->s[i]);
}

static void put_arch(enc *e) {
    const spti_ckpt_arch *a = e->arch;
    int64_t s = section_begin(e, SPTI_TAG_ARCH);
    spti_put_u32(&e->w, a->kind);
    spti_put_u32(&e->w, 0);
    spti_put_u64(&e->w, a->seed);
    put_rng(&e->w, &e->t->model->rng);
    const spti_net *net = a->net; /* the writer writes kind NET only */
    const int64_t in[3] = {net->in.c, net->in.h, net->in.w};
    spti_put_i64s(&e->w, in, 3);
    spti_put_i64(&e->w, net->n);
    for (int64_t i = 0; i < net->n; i++) {
        const spti_net_node *nd = &net->nodes[i];
        uint8_t name[SPTI_NET_NAME] = {0};
        memcpy(name, nd->name, strnlen(nd->name, SPTI_NET_NAME - 1));
        spti_put_u32(&e->w, (uint32_t)nd->kind);
        spti_put_u32(&e->w, 0);
        spti_put_bytes(&e->w, name, sizeof name);
        spti_put_i64(&e->w, nd->input);
        for (int k = 0; k < SPT_LP_COUNT_; k++) spti_put_f64(&e->w, nd->p[k]);
    }
    section_end(e, s);
}

static void put_param(spti_wcur *w, const spti_param *p) {
    uint8_t name[SPTI_CKPT_NAME_BYTES] = {0};
    memcpy(name, p->name, strnlen(p->name, SPTI_CKPT_NAME_BYTES - 1));
    spti_put_bytes(w, name, sizeof name);
    spti_put_u32(w, (uint32_t)p->kind);
    spti_put_u32(w, (uint32_t)p->ndim);
    spti_put_u32(w, (uint32_t)p->opt.n_slots);
    spti_put_u32(w, 0);
    for (int i = 0; i < 4; i++) spti_put_i64(w, i < p->ndim ? p->shape[i] : 0);
    spti_put_i64(w, p->n);
    if (p->kind == SPTI_PARAM_MASKED) spti_put_bytes(w, p->mask, p->rows * p->cols);
    if (p->kind == SPTI_PARAM_SPARSE) {
        spti_put_i64s(w, p->csr->row_ptr, p->rows + 1);
        spti_put_i32s(w, p->csr->col_idx, p->n);
    }
    spti_put_f32s(w, p->value, p->n);
    for (int s = 0; s < p->opt.n_slots; s++) spti_put_f32s(w, p->opt.slot[s], p->n);
}

static void put_params(enc *e) {
    const spti_model *m = e->t->model;
    int64_t s = section_begin(e, SPTI_TAG_PARM);
    spti_put_i64(&e->w, m->n_params);
    for (int64_t i = 0; i < m->n_params; i++) put_param(&e->w, m->params[i]);
    section_end(e, s);
}

/* Layer state outside the params: BN running statistics, dropout rates. */
static void put_layers(enc *e) {
    const spti_model *m = e->t->model;
    int64_t count = 0;
    for (int i = 0; i < m->n_leaves; i++)
        if (spti_ckpt_is_batchnorm(m->leaves[i]) || spti_dropout_rate(m->leaves[i]) >= 0.0f) count++;
    int64_t s = section_begin(e, SPTI_TAG_LAYR);
    spti_put_i64(&e->w, count);
    for (int i = 0; i < m->n_leaves; i++) {
        float *mean, *var;
        int64_t c;
        if (spti_ckpt_is_batchnorm(m->leaves[i]) && spti_batchnorm_running(m->leaves[i], &mean, &var, &c) == SPT_OK) {
            spti_put_i64(&e->w, i);
            spti_put_u32(&e->w, SPTI_CKPT_LAYER_BATCHNORM);
            spti_put_u32(&e->w, 0);
            spti_put_i64(&e->w, c);
            spti_put_f32s(&e->w, mean, c);
            spti_put_f32s(&e->w, var, c);
        } else if (spti_dropout_rate(m->leaves[i]) >= 0.0f) {
            float rate = spti_dropout_rate(m->leaves[i]);
            spti_put_i64(&e->w, i);
            spti_put_u32(&e->w, SPTI_CKPT_LAYER_DROPOUT);
            spti_put_u32(&e->w, 0);
            spti_put_f32s(&e->w, &rate, 1);
            spti_put_u32(&e->w, 0);
        }
    }
    section_end(e, s);
}

static void put_optimizer(enc *e) {
    uint8_t rec[SPTI_OPTIMIZER_STATE_BYTES];
    spti_optimizer_encode(&e->t->opt, rec);
    int64_t s = section_begin(e, SPTI_TAG_OPTM);
    spti_put_bytes(&e->w, rec, sizeof rec);
    section_end(e, s);
}

static void put_schedule(enc *e) {
    const spti_lr_schedule *c = e->t->sched;
    if (!c) return;
    int64_t s = section_begin(e, SPTI_TAG_LRSC);
    spti_put_u32(&e->w, (uint32_t)c->kind);
    spti_put_u32(&e->w, 0);
    spti_put_f64(&e->w, c->base);
    spti_put_i64(&e->w, c->warmup_steps);
    spti_put_f64(&e->w, c->warmup_start);
    spti_put_f64(&e->w, c->gamma);
    spti_put_i64(&e->w, c->total_steps);
    spti_put_f64(&e->w, c->floor_factor);
    spti_put_i64(&e->w, c->n_milestones);
    spti_put_i64s(&e->w, c->milestones, c->n_milestones);
    section_end(e, s);
}

static int put_method(enc *e) {
    const spti_trainer *t = e->t;
    const spt_method_config *cfg = t->cfg;
    int64_t s = section_begin(e, SPTI_TAG_METH);
    spti_put_u32(&e->w, cfg ? (uint32_t)cfg->method : (uint32_t)SPTI_CKPT_NO_METHOD);
    spti_put_u32(&e->w, 0);
    spti_put_i64(&e->w, cfg ? SPT_MP_COUNT_ : 0);
    if (cfg) {
        for (int k = 0; k < SPT_MP_COUNT_; k++) spti_put_f64(&e->w, cfg->value[k]);
        for (int k = 0; k < SPT_MP_COUNT_; k++) spti_put_u8(&e->w, cfg->was_set[k] ? 1 : 0);
    }
    spti_put_i64(&e->w, cfg ? cfg->n_densities : 0);
    for (int64_t i = 0; cfg && i < cfg->n_densities; i++) spti_put_f64(&e->w, cfg->densities[i]);
    spti_put_i64(&e->w, e->method_len);
    if (e->method_len > 0 && e->w.buf) {
        int64_t got = 0;
        SPTI_TRY(t->method->ops->save(t->method, e->w.buf + e->w.len, e->method_len, &got));
        if (got != e->method_len)
            return spti_fail(SPT_ERR_INTERNAL, "checkpoint: method %s saved %lld bytes, announced %lld",
                             t->method->ops->name, (long long)got, (long long)e->method_len);
    }
    e->w.len += e->method_len;
    section_end(e, s);
    return SPT_OK;
}

static void put_trainer(enc *e) {
    const spti_trainer *t = e->t;
    int64_t s = section_begin(e, SPTI_TAG_TRNR);
    const int64_t f[5] = {t->total_steps, t->step, t->round, t->round_start, t->update_steps};
    spti_put_i64s(&e->w, f, 5);
    spti_put_u64(&e->w, t->seed);
    put_rng(&e->w, &t->rng);
    spti_put_u32(&e->w, (t->init_pending ? 1u : 0u) | (t->last_update ? 2u : 0u));
    spti_put_u32(&e->w, 0);
    spti_put_f64(&e->w, t->step_seconds);
    spti_put_f64(&e->w, t->method_seconds);
    spti_put_f64(&e->w, t->train_flops_sum);
    section_end(e, s);
}

static int put_batcher(enc *e) {
    if (!e->b) return SPT_OK;
    int64_t epoch, position;
    uint64_t seed;
    SPTI_TRY(spt_batcher_get_state(e->b, &epoch, &position, &seed));
    int64_t s = section_begin(e, SPTI_TAG_BTCH);
    spti_put_i64(&e->w, epoch);
    spti_put_i64(&e->w, position);
    spti_put_u64(&e->w, seed);
    section_end(e, s);
    return SPT_OK;
}

/* The application's note, optional: readers that do not know NOTE skip it. */
static void put_note(enc *e) {
    if (e->note_len <= 0) return;
    int64_t s = section_begin_flags(e, SPTI_TAG_NOTE, SPTI_CKPT_SECTION_OPTIONAL);
    spti_put_bytes(&e->w, e->note, e->note_len);
    section_end(e, s);
}

static int encode_pass(enc *e) {
    e->n_sections = 0;
    uint8_t *head = e->w.buf;
    spti_put_bytes(&e->w, spti_ckpt_magic, 8);
    spti_put_u32(&e->w, SPTI_CKPT_VERSION);
    spti_put_u32(&e->w, 0); /* flags */
    spti_put_u64(&e->w, 0); /* payload length, patched below */
    spti_put_u32(&e->w, 0); /* sections, patched below */
    spti_put_u32(&e->w, 0); /* reserved */
    put_arch(e);
    put_params(e);
    put_layers(e);
    put_optimizer(e);
    put_schedule(e);
    SPTI_TRY(put_method(e));
    put_trainer(e);
    SPTI_TRY(put_batcher(e));
    put_note(e);
    if (head) {
        spti_store_u64(head + 16, (uint64_t)(e->w.len - SPTI_CKPT_HEADER_BYTES));
        spti_store_u32(head + 24, e->n_sections);
        /* zlib's crc32 takes uInt lengths: feed it in chunks. */
        uLong crc = crc32(0L, Z_NULL, 0);
        for (int64_t off = 0; off < e->w.len;) {
            int64_t chunk = e->w.len - off < (1 << 30) ? e->w.len - off : (1 << 30);
            crc = crc32(crc, head + off, (uInt)chunk);
            off += chunk;
        }
        spti_store_u32(head + e->w.len, (uint32_t)crc);
    }
    e->w.len += SPTI_CKPT_TRAILER_BYTES;
    return SPT_OK;
}

/* A parameter's slots must be the first n_slots, all present. */
static int check_params(const spti_model *m) {
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *p = m->params[i];
        for (int s = 0; s < SPTI_MAX_SLOTS; s++)
            if ((s < p->opt.n_slots) != (p->opt.slot[s] != NULL))
                return spti_fail(SPT_ERR_INTERNAL, "checkpoint: parameter %s has %d slots but slot %d is %s", p->name,
                                 p->opt.n_slots, s, p->opt.slot[s] ? "present" : "missing");
    }
    return SPT_OK;
}

int spti_checkpoint_encode(const spti_trainer *t, const spt_batcher *b, uint8_t **out, int64_t *len) {
    return spti_checkpoint_encode_note(t, b, NULL, 0, out, len);
}

int spti_checkpoint_encode_to(const spti_trainer *t, const spt_batcher *b, const void *note, int64_t note_len,
                              spti_ckpt_sink sink, void *ctx, int64_t *len) {
    *len = 0;
    if (t->method && !t->cfg)
        return spti_fail(SPT_ERR_UNSUPPORTED, "checkpoint: the trainer runs a caller's method object, which a "
                                              "checkpoint cannot rebuild");
    SPTI_TRY(check_params(t->model));
    spti_ckpt_arch arch;
    SPTI_TRY(spti_ckpt_arch_of(t->model, &arch));
    enc e = {.t = t, .b = b, .arch = &arch, .note = note, .note_len = note ? note_len : 0};
    int rc = SPT_OK;
    if (t->method) rc = t->method->ops->save(t->method, NULL, 0, &e.method_len);
    if (rc == SPT_OK) rc = encode_pass(&e); /* count */
    uint8_t *buf = NULL;
    if (rc == SPT_OK) rc = sink(ctx, e.w.len, &buf);
    if (rc == SPT_OK) {
        int64_t size = e.w.len;
        e.w = (spti_wcur){.buf = buf, .len = 0};
        rc = encode_pass(&e); /* write */
        if (rc == SPT_OK && e.w.len != size)
            rc = spti_fail(SPT_ERR_INTERNAL, "checkpoint: wrote %lld bytes, counted %lld", (long long)e.w.len,
                           (long long)size);
    }
    spti_ckpt_arch_free(&arch);
    if (rc == SPT_OK) *len = e.w.len;
    return rc;
}

/* The memory sink: a new buffer. */
static int memory_sink(void *ctx, int64_t size, uint8_t **buf) {
    *buf = spti_alloc_or_fail(size, 1, "checkpoint image");
    *(uint8_t **)ctx = *buf;
    return *buf ? SPT_OK : SPT_ERR_NOMEM;
}

int spti_checkpoint_encode_note(const spti_trainer *t, const spt_batcher *b, const void *note, int64_t note_len,
                                uint8_t **out, int64_t *len) {
    *out = NULL;
    *len = 0;
    uint8_t *buf = NULL;
    int64_t n = 0;
    int rc = spti_checkpoint_encode_to(t, b, note, note_len, memory_sink, &buf, &n);
    if (rc != SPT_OK) {
        spti_free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return SPT_OK;
}
