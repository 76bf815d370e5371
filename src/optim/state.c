/* The optimizer's scalar state as a fixed little-endian byte record, for
 * checkpoints (layout in optim.h). Independent of the host's byte order. */
#include <math.h>
#include <string.h>

#include "optim.h"

static const uint8_t magic[4] = {'S', 'P', 'T', 'O'};

static void put_u32(uint8_t *b, uint32_t x) {
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(x >> (8 * i));
}
static void put_u64(uint8_t *b, uint64_t x) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(x >> (8 * i));
}
static void put_f64(uint8_t *b, double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    put_u64(b, u);
}
static uint32_t get_u32(const uint8_t *b) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) x |= (uint32_t)b[i] << (8 * i);
    return x;
}
static uint64_t get_u64(const uint8_t *b) {
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)b[i] << (8 * i);
    return x;
}
static double get_f64(const uint8_t *b) {
    uint64_t u = get_u64(b);
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

enum { FLAG_NESTEROV = 1u, FLAG_DECOUPLED = 2u };

void spti_optimizer_encode(const spti_optimizer *opt, uint8_t out[SPTI_OPTIMIZER_STATE_BYTES]) {
    memcpy(out, magic, 4);
    put_u32(out + 4, SPTI_OPTIMIZER_STATE_VERSION);
    put_u32(out + 8, (uint32_t)opt->kind);
    put_u32(out + 12, (opt->nesterov ? FLAG_NESTEROV : 0u) | (opt->decoupled ? FLAG_DECOUPLED : 0u));
    put_f64(out + 16, opt->lr);
    put_f64(out + 24, opt->momentum);
    put_f64(out + 32, opt->weight_decay);
    put_f64(out + 40, opt->beta1);
    put_f64(out + 48, opt->beta2);
    put_f64(out + 56, opt->eps);
    put_u64(out + 64, (uint64_t)opt->step);
}

static int bad_field(const char *field, double v) {
    return spti_fail(SPT_ERR_FORMAT, "optimizer state: %s (%g) is out of its domain", field, v);
}

int spti_optimizer_decode(const uint8_t *buf, int64_t len, spti_optimizer *opt) {
    if (len < SPTI_OPTIMIZER_STATE_BYTES)
        return spti_fail(SPT_ERR_FORMAT, "optimizer state: %lld bytes, need %d", (long long)len,
                         SPTI_OPTIMIZER_STATE_BYTES);
    if (memcmp(buf, magic, 4) != 0) return spti_fail(SPT_ERR_FORMAT, "optimizer state: wrong magic");
    uint32_t version = get_u32(buf + 4);
    if (version > SPTI_OPTIMIZER_STATE_VERSION)
        return spti_fail(SPT_ERR_VERSION, "optimizer state: format version %u is newer than %d", (unsigned)version,
                         SPTI_OPTIMIZER_STATE_VERSION);
    if (version == 0) return spti_fail(SPT_ERR_FORMAT, "optimizer state: format version 0");
    uint32_t kind = get_u32(buf + 8), flags = get_u32(buf + 12);
    if (kind != SPT_OPTIMIZER_SGD && kind != SPT_OPTIMIZER_ADAM) return bad_field("kind", (double)kind);
    if (flags & ~(uint32_t)(FLAG_NESTEROV | FLAG_DECOUPLED)) return bad_field("flags", (double)flags);
    spti_optimizer o = {.kind = (int)kind,
                        .nesterov = (flags & FLAG_NESTEROV) != 0,
                        .decoupled = (flags & FLAG_DECOUPLED) != 0,
                        .lr = get_f64(buf + 16),
                        .momentum = get_f64(buf + 24),
                        .weight_decay = get_f64(buf + 32),
                        .beta1 = get_f64(buf + 40),
                        .beta2 = get_f64(buf + 48),
                        .eps = get_f64(buf + 56),
                        .step = (int64_t)get_u64(buf + 64)};
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
