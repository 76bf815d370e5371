/* The optimizer's scalar state as a fixed little-endian byte record, for
 * checkpoints (layout in optim.h), through the cursors of core/le_io.h.
 * Independent of the host's byte order. */
#include <math.h>
#include <string.h>

#include "../core/le_io.h"
#include "optim.h"

static const uint8_t magic[4] = {'S', 'P', 'T', 'O'};

enum { FLAG_NESTEROV = 1u, FLAG_DECOUPLED = 2u };

void spti_optimizer_encode(const spti_optimizer *opt, uint8_t out[SPTI_OPTIMIZER_STATE_BYTES]) {
    spti_wcur w = {.buf = out, .len = 0};
    spti_put_bytes(&w, magic, 4);
    spti_put_u32(&w, SPTI_OPTIMIZER_STATE_VERSION);
    spti_put_u32(&w, (uint32_t)opt->kind);
    spti_put_u32(&w, (opt->nesterov ? FLAG_NESTEROV : 0u) | (opt->decoupled ? FLAG_DECOUPLED : 0u));
    spti_put_f64(&w, opt->lr);
    spti_put_f64(&w, opt->momentum);
    spti_put_f64(&w, opt->weight_decay);
    spti_put_f64(&w, opt->beta1);
    spti_put_f64(&w, opt->beta2);
    spti_put_f64(&w, opt->eps);
    spti_put_i64(&w, opt->step); /* w.len == SPTI_OPTIMIZER_STATE_BYTES */
}

static int bad_field(const char *field, double v) {
    return spti_fail(SPT_ERR_FORMAT, "optimizer state: %s (%g) is out of its domain", field, v);
}

int spti_optimizer_decode(const uint8_t *buf, int64_t len, spti_optimizer *opt) {
    if (len < SPTI_OPTIMIZER_STATE_BYTES)
        return spti_fail(SPT_ERR_FORMAT, "optimizer state: %lld bytes, need %d", (long long)len,
                         SPTI_OPTIMIZER_STATE_BYTES);
    spti_rcur r = {.p = buf, .len = SPTI_OPTIMIZER_STATE_BYTES};
    const uint8_t *mg = spti_get_view(&r, 4, 1);
    if (memcmp(mg, magic, 4) != 0) return spti_fail(SPT_ERR_FORMAT, "optimizer state: wrong magic");
    uint32_t version = 0, kind = 0, flags = 0;
    spti_get_u32(&r, &version);
    if (version > SPTI_OPTIMIZER_STATE_VERSION)
        return spti_fail(SPT_ERR_VERSION, "optimizer state: format version %u is newer than %d", (unsigned)version,
                         SPTI_OPTIMIZER_STATE_VERSION);
    if (version == 0) return spti_fail(SPT_ERR_FORMAT, "optimizer state: format version 0");
    spti_get_u32(&r, &kind);
    spti_get_u32(&r, &flags);
    if (kind != SPT_OPTIMIZER_SGD && kind != SPT_OPTIMIZER_ADAM) return bad_field("kind", (double)kind);
    if (flags & ~(uint32_t)(FLAG_NESTEROV | FLAG_DECOUPLED)) return bad_field("flags", (double)flags);
    spti_optimizer o = {.kind = (int)kind,
                        .nesterov = (flags & FLAG_NESTEROV) != 0,
                        .decoupled = (flags & FLAG_DECOUPLED) != 0};
    spti_get_f64(&r, &o.lr);
    spti_get_f64(&r, &o.momentum);
    spti_get_f64(&r, &o.weight_decay);
    spti_get_f64(&r, &o.beta1);
    spti_get_f64(&r, &o.beta2);
    spti_get_f64(&r, &o.eps);
    spti_get_i64(&r, &o.step);
    if (r.bad) return spti_fail(SPT_ERR_INTERNAL, "optimizer state: record layout");
    /* The same domains as the setters (every field is checked whatever the
     * kind: the record always carries all of them). */
    if (!(isfinite(o.lr) && o.lr > 0.0)) return bad_field("lr", o.lr);
    if (!(o.momentum >= 0.0 && o.momentum < 1.0)) return bad_field("momentum", o.momentum);
    if (!(isfinite(o.weight_decay) && o.weight_decay >= 0.0)) return bad_field("weight_decay", o.weight_decay);
    if (!(o.beta1 >= 0.0 && o.beta1 < 1.0)) return bad_field("beta1", o.beta1);
    if (!(o.beta2 >= 0.0 && o.beta2 < 1.0)) return bad_field("beta2", o.beta2);
    if (!(isfinite(o.eps) && o.eps > 0.0)) return bad_field("eps", o.eps);
    if (o.step < 0) return bad_field("step", (double)o.step);
    *opt = o;
    return SPT_OK;
}

int64_t spt_optimizer_state_bytes(void) { return SPTI_OPTIMIZER_STATE_BYTES; }

int spt_optimizer_save_state(const spt_optimizer *opt, void *buf, int64_t cap, int64_t *written) {
    SPTI_CHECK_NULL(opt);
    SPTI_CHECK_NULL(buf);
    if (cap < SPTI_OPTIMIZER_STATE_BYTES)
        return spti_fail(SPT_ERR_SIZE, "%s: buffer of %lld bytes, need %d", __func__, (long long)cap,
                         SPTI_OPTIMIZER_STATE_BYTES);
    spti_optimizer_encode(opt, buf);
    if (written) *written = SPTI_OPTIMIZER_STATE_BYTES;
    return SPT_OK;
}

int spt_optimizer_load_state(spt_optimizer *opt, const void *buf, int64_t len) {
    SPTI_CHECK_NULL(opt);
    SPTI_CHECK_NULL(buf);
    return spti_optimizer_decode(buf, len, opt);
}
