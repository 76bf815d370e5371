/* Parsing a checkpoint image: header, checksum, then every section, with
 * every count checked against the bytes that remain before anything is
 * allocated. The result is a view into the caller's buffer. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "checkpoint_format.h"
#include "../core/le_io.h"

/* "ARCH", or the tag in hex when it is not printable. */
static const char *tag_text(uint32_t tag, char buf[12]) {
    for (int i = 0; i < 4; i++) {
        char c = (char)(tag >> (8 * i));
        if (c < 'A' || c > 'Z') {
            snprintf(buf, 12, "0x%08x", (unsigned)tag);
            return buf;
        }
        buf[i] = c;
    }
    buf[4] = '\0';
    return buf;
}

#define BAD(...) spti_fail(SPT_ERR_FORMAT, __VA_ARGS__)

static bool rng_ok(const uint64_t s[4]) { return (s[0] | s[1] | s[2] | s[3]) != 0; } /* xoshiro: never all 0 */

static int parse_arch(spti_rcur *r, spti_ckpt_view *v) {
    uint32_t reserved = 1;
    spti_get_u32(r, &v->arch);
    spti_get_u32(r, &reserved);
    spti_get_u64(r, &v->model_seed);
    for (int i = 0; i < 4; i++) spti_get_u64(r, &v->model_rng[i]);
    if (r->bad) return BAD("section ARCH: truncated");
    if (reserved != 0) return BAD("section ARCH: reserved field is %u, not 0", (unsigned)reserved);
    if (!rng_ok(v->model_rng)) return BAD("section ARCH: the model's random state is all zero");
    if (v->arch == SPTI_ARCH_MLP) {
        if (!spti_get_i64(r, &v->n_widths) || v->n_widths < 2)
            return BAD("section ARCH: an MLP needs at least 2 widths");
        if (!(v->widths = spti_get_view(r, v->n_widths, 8)))
            return BAD("section ARCH: %lld widths announced, %lld bytes left", (long long)v->n_widths,
                       (long long)spti_rcur_left(r));
    } else if (v->arch == SPTI_ARCH_RESNET) {
        int64_t *f[6] = {&v->in_c, &v->in_h, &v->in_w, &v->blocks, &v->width_mult, &v->classes};
        for (int i = 0; i < 6; i++) spti_get_i64(r, f[i]);
        if (r->bad) return BAD("section ARCH: truncated ResNet fields");
    } else if (v->arch == SPTI_ARCH_NET && v->version >= 2) {
        int64_t *f[4] = {&v->in_c, &v->in_h, &v->in_w, &v->n_nodes};
        for (int i = 0; i < 4; i++) spti_get_i64(r, f[i]);
        if (r->bad || v->n_nodes < 1) return BAD("section ARCH: truncated network, or no node");
        if (!(v->nodes = spti_get_view(r, v->n_nodes, SPTI_CKPT_NODE_BYTES)))
            return BAD("section ARCH: %lld nodes announced, %lld bytes left", (long long)v->n_nodes,
                       (long long)spti_rcur_left(r));
    } else {
        return BAD("section ARCH: unknown architecture kind %u", (unsigned)v->arch);
    }
    return SPT_OK;
}

/* Per-parameter fixed part: name, 4 u32, 4 i64 shape, i64 n. */
enum { PARAM_FIXED_BYTES = SPTI_CKPT_NAME_BYTES + 16 + 32 + 8 };

/* CSR structure: row_ptr from 0 to n, non-decreasing; columns strictly
 * increasing within each row and inside [0, cols). */
static int check_csr(const spti_ckpt_param *p, int64_t idx) {
    if (spti_decode_i64(p->row_ptr) != 0 || spti_decode_i64(p->row_ptr + 8 * p->rows) != p->n)
        return BAD("parameter %lld (%s): row pointers must run from 0 to %lld", (long long)idx, p->name,
                   (long long)p->n);
    int64_t prev_end = 0;
    for (int64_t row = 0; row < p->rows; row++) {
        int64_t end = spti_decode_i64(p->row_ptr + 8 * (row + 1));
        if (end < prev_end || end > p->n)
            return BAD("parameter %lld (%s): row pointer %lld is out of order", (long long)idx, p->name,
                       (long long)(row + 1));
        int64_t last = -1;
        for (int64_t k = prev_end; k < end; k++) {
            int64_t c = (int32_t)spti_load_u32(p->col_idx + 4 * k);
            if (c <= last || c >= p->cols)
                return BAD("parameter %lld (%s): column %lld of row %lld is out of range or order", (long long)idx,
                           p->name, (long long)c, (long long)row);
            last = c;
        }
        prev_end = end;
    }
    return SPT_OK;
}

/* Inactive entries of a MASKED parameter hold 0 (param.h). */
static int check_mask(const spti_ckpt_param *p, int64_t idx) {
    for (int64_t i = 0; i < p->n; i++) {
        if (p->mask[i] > 1) return BAD("parameter %lld (%s): mask byte %lld is not 0 or 1", (long long)idx, p->name,
                                       (long long)i);
        if (!p->mask[i] && spti_decode_f32(p->values + 4 * i) != 0.0f)
            return BAD("parameter %lld (%s): inactive entry %lld is not 0", (long long)idx, p->name, (long long)i);
    }
    return SPT_OK;
}

static int parse_param(spti_rcur *r, spti_ckpt_param *p, int64_t idx) {
    const uint8_t *name = spti_get_view(r, SPTI_CKPT_NAME_BYTES, 1);
    uint32_t kind = 0, ndim = 0, slots = 0, reserved = 0;
    spti_get_u32(r, &kind);
    spti_get_u32(r, &ndim);
    spti_get_u32(r, &slots);
    spti_get_u32(r, &reserved);
    for (int i = 0; i < 4; i++) spti_get_i64(r, &p->shape[i]);
    spti_get_i64(r, &p->n);
    if (r->bad) return BAD("parameter %lld: truncated", (long long)idx);
    if (!memchr(name, '\0', SPTI_CKPT_NAME_BYTES) || name[0] == '\0')
        return BAD("parameter %lld: the name is empty or not terminated", (long long)idx);
    memcpy(p->name, name, SPTI_CKPT_NAME_BYTES);
    if (kind > SPTI_PARAM_SPARSE || ndim < 1 || ndim > 4 || slots > SPTI_MAX_SLOTS || reserved != 0)
        return BAD("parameter %lld (%s): kind %u, %u dims, %u slots, reserved %u: out of range", (long long)idx,
                   p->name, (unsigned)kind, (unsigned)ndim, (unsigned)slots, (unsigned)reserved);
    p->kind = (int)kind;
    p->ndim = (int)ndim;
    p->n_slots = (int)slots;
    for (int i = 0; i < 4; i++)
        if (i < p->ndim ? (p->shape[i] < 1 || p->shape[i] > INT32_MAX) : p->shape[i] != 0)
            return BAD("parameter %lld (%s): dimension %d is %lld", (long long)idx, p->name, i,
                       (long long)p->shape[i]);
    int64_t cells;
    if (!spti_count_elems(p->shape, p->ndim, sizeof(float), &cells))
        return BAD("parameter %lld (%s): the shape overflows", (long long)idx, p->name);
    p->rows = p->shape[0];
    p->cols = cells / p->rows;
    bool n_ok = p->kind == SPTI_PARAM_SPARSE ? (p->n >= 0 && p->n <= cells && p->n <= INT32_MAX && p->cols <= INT32_MAX)
                                             : p->n == cells;
    if (!n_ok)
        return BAD("parameter %lld (%s): %lld stored entries for a %lld x %lld %s parameter", (long long)idx, p->name,
                   (long long)p->n, (long long)p->rows, (long long)p->cols,
                   p->kind == SPTI_PARAM_SPARSE ? "sparse" : "dense");
    if (p->kind == SPTI_PARAM_MASKED) p->mask = spti_get_view(r, cells, 1);
    if (p->kind == SPTI_PARAM_SPARSE) {
        p->row_ptr = spti_get_view(r, p->rows + 1, 8);
        p->col_idx = spti_get_view(r, p->n, 4);
    }
    p->values = spti_get_view(r, p->n, 4);
    for (int s = 0; s < p->n_slots; s++) p->slots[s] = spti_get_view(r, p->n, 4);
    if (r->bad)
        return BAD("parameter %lld (%s): %lld entries announced, the section ends first", (long long)idx, p->name,
                   (long long)p->n);
    if (p->kind == SPTI_PARAM_SPARSE) return check_csr(p, idx);
    if (p->kind == SPTI_PARAM_MASKED) return check_mask(p, idx);
    return SPT_OK;
}

static int parse_params(spti_rcur *r, spti_ckpt_view *v) {
    int64_t n;
    if (!spti_get_i64(r, &n)) return BAD("section PARM: truncated");
    if (n < 0 || n > spti_rcur_left(r) / PARAM_FIXED_BYTES)
        return BAD("section PARM: %lld parameters announced, %lld bytes left", (long long)n,
                   (long long)spti_rcur_left(r));
    v->params = spti_calloc_or_fail(n, sizeof *v->params, "checkpoint: parameter records");
    if (!v->params) return SPT_ERR_NOMEM;
    v->n_params = n;
    for (int64_t i = 0; i < n; i++) {
        int rc = parse_param(r, &v->params[i], i);
        if (rc != SPT_OK) return spti_trainer_prefix("section PARM", rc);
    }
    return SPT_OK;
}

enum { LAYER_MIN_BYTES = 24 };

static int parse_layers(spti_rcur *r, spti_ckpt_view *v) {
    int64_t n;
    if (!spti_get_i64(r, &n)) return BAD("section LAYR: truncated");
    if (n < 0 || n > spti_rcur_left(r) / LAYER_MIN_BYTES)
        return BAD("section LAYR: %lld entries announced, %lld bytes left", (long long)n, (long long)spti_rcur_left(r));
    v->layers = spti_calloc_or_fail(n, sizeof *v->layers, "checkpoint: layer records");
    if (!v->layers) return SPT_ERR_NOMEM;
    v->n_layers = n;
    for (int64_t i = 0; i < n; i++) {
        spti_ckpt_layer *L = &v->layers[i];
        uint32_t reserved = 1;
        spti_get_i64(r, &L->leaf);
        spti_get_u32(r, &L->type);
        spti_get_u32(r, &reserved);
        if (r->bad) return BAD("section LAYR: entry %lld is truncated", (long long)i);
        if (L->leaf < 0 || L->leaf > INT32_MAX || reserved != 0 || (i > 0 && L->leaf <= v->layers[i - 1].leaf))
            return BAD("section LAYR: entry %lld: leaf %lld out of order or reserved field set", (long long)i,
                       (long long)L->leaf);
        if (L->type == SPTI_CKPT_LAYER_BATCHNORM) {
            spti_get_i64(r, &L->c);
            if (r->bad || L->c < 1) return BAD("section LAYR: entry %lld: bad channel count", (long long)i);
            L->mean = spti_get_view(r, L->c, 4);
            L->var = spti_get_view(r, L->c, 4);
            if (r->bad)
                return BAD("section LAYR: entry %lld: %lld channels announced, the section ends first", (long long)i,
                           (long long)L->c);
        } else if (L->type == SPTI_CKPT_LAYER_DROPOUT) {
            spti_get_f32(r, &L->rate);
            spti_get_u32(r, &reserved);
            if (r->bad || reserved != 0) return BAD("section LAYR: entry %lld: bad dropout record", (long long)i);
        } else {
            return BAD("section LAYR: entry %lld: unknown layer state type %u", (long long)i, (unsigned)L->type);
        }
    }
    return SPT_OK;
}

static int parse_optimizer(spti_rcur *r, spti_ckpt_view *v) {
    if (!(v->opt = spti_get_view(r, SPTI_OPTIMIZER_STATE_BYTES, 1))) return BAD("section OPTM: truncated");
    return SPT_OK;
}

static int parse_schedule(spti_rcur *r, spti_ckpt_view *v) {
    spti_lr_schedule *s = &v->sched;
    uint32_t kind = 0, reserved = 1;
    spti_get_u32(r, &kind);
    spti_get_u32(r, &reserved);
    spti_get_f64(r, &s->base);
    spti_get_i64(r, &s->warmup_steps);
    spti_get_f64(r, &s->warmup_start);
    spti_get_f64(r, &s->gamma);
    spti_get_i64(r, &s->total_steps);
    spti_get_f64(r, &s->floor_factor);
    spti_get_i64(r, &s->n_milestones);
    if (r->bad) return BAD("section LRSC: truncated");
    if (kind > SPT_LR_COSINE || reserved != 0)
        return BAD("section LRSC: kind %u or reserved field out of range", (unsigned)kind);
    s->kind = (int)kind;
    if (s->n_milestones < 0 || s->n_milestones > SPTI_LR_MAX_MILESTONES ||
        !(v->milestones = spti_get_view(r, s->n_milestones, 8)))
        return BAD("section LRSC: %lld milestones announced, %lld bytes left", (long long)s->n_milestones,
                   (long long)spti_rcur_left(r));
    v->has_sched = true;
    return SPT_OK;
}

static int parse_method(spti_rcur *r, spti_ckpt_view *v) {
    uint32_t method = 0, reserved = 1;
    spti_get_u32(r, &method);
    spti_get_u32(r, &reserved);
    spti_get_i64(r, &v->n_keys);
    if (r->bad) return BAD("section METH: truncated");
    v->method = (int32_t)method;
    if (reserved != 0 || (v->method != SPTI_CKPT_NO_METHOD && !spt_method_name(v->method)))
        return BAD("section METH: unknown method %d", (int)v->method);
    if (v->n_keys < 0 || v->n_keys > SPT_MP_COUNT_ || (v->method == SPTI_CKPT_NO_METHOD) != (v->n_keys == 0))
        return BAD("section METH: %lld configuration keys (this library knows %d)", (long long)v->n_keys,
                   SPT_MP_COUNT_);
    v->key_values = spti_get_view(r, v->n_keys, 8);
    v->key_set = spti_get_view(r, v->n_keys, 1);
    if (r->bad) return BAD("section METH: truncated configuration");
    for (int64_t k = 0; k < v->n_keys; k++)
        if (v->key_set[k] > 1) return BAD("section METH: key %lld has a bad was-set flag", (long long)k);
    if (!spti_get_i64(r, &v->n_densities) || v->n_densities < 0 ||
        !(v->densities = spti_get_view(r, v->n_densities, 8)))
        return BAD("section METH: bad per-layer density list");
    if (!spti_get_i64(r, &v->state_len) || v->state_len < 0 || !(v->state = spti_get_view(r, v->state_len, 1)))
        return BAD("section METH: the method state's length runs past the section");
    if (v->method == SPTI_CKPT_NO_METHOD && (v->n_densities != 0 || v->state_len != 0))
        return BAD("section METH: a method state without a method");
    return SPT_OK;
}

static int parse_trainer(spti_rcur *r, spti_ckpt_view *v) {
    int64_t *f[5] = {&v->total_steps, &v->step, &v->round, &v->round_start, &v->update_steps};
    for (int i = 0; i < 5; i++) spti_get_i64(r, f[i]);
    spti_get_u64(r, &v->seed);
    for (int i = 0; i < 4; i++) spti_get_u64(r, &v->rng[i]);
    uint32_t flags = 0, reserved = 1;
    spti_get_u32(r, &flags);
    spti_get_u32(r, &reserved);
    spti_get_f64(r, &v->step_seconds);
    spti_get_f64(r, &v->method_seconds);
    spti_get_f64(r, &v->train_flops_sum);
    if (r->bad) return BAD("section TRNR: truncated");
    if ((flags & ~3u) != 0 || reserved != 0) return BAD("section TRNR: unknown flags 0x%x", (unsigned)flags);
    v->init_pending = (flags & 1u) != 0;
    v->last_update = (flags & 2u) != 0;
    if (v->total_steps < 1 || v->step < 0 || v->round < 0 || v->round_start < 0 || v->round_start > v->step ||
        v->update_steps < 0 || v->update_steps > v->step)
        return BAD("section TRNR: step counters out of range (total %lld, step %lld, round %lld from %lld)",
                   (long long)v->total_steps, (long long)v->step, (long long)v->round, (long long)v->round_start);
    if (!rng_ok(v->rng)) return BAD("section TRNR: the random state is all zero");
    if (!(v->step_seconds >= 0.0) || !(v->method_seconds >= 0.0) || !(v->train_flops_sum >= 0.0))
        return BAD("section TRNR: negative or NaN statistics");
    return SPT_OK;
}

static int parse_batcher(spti_rcur *r, spti_ckpt_view *v) {
    spti_get_i64(r, &v->epoch);
    spti_get_i64(r, &v->position);
    spti_get_u64(r, &v->batcher_seed);
    if (r->bad) return BAD("section BTCH: truncated");
    if (v->epoch < 0 || v->position < 0)
        return BAD("section BTCH: epoch %lld, position %lld", (long long)v->epoch, (long long)v->position);
    v->has_batcher = true;
    return SPT_OK;
}

static int parse_note(spti_rcur *r, spti_ckpt_view *v) {
    const int64_t n = spti_rcur_left(r);
    if (n < 1 || n > SPT_CHECKPOINT_NOTE_MAX)
        return BAD("section NOTE: %lld bytes, a note holds 1 to %d", (long long)n, SPT_CHECKPOINT_NOTE_MAX);
    v->note = r->p + r->pos;
    v->note_len = n;
    r->pos += n;
    return SPT_OK;
}

typedef struct section_kind {
    uint32_t tag;
    bool required;
    int (*parse)(spti_rcur *r, spti_ckpt_view *v);
} section_kind;

static const section_kind SECTIONS[] = {
    {SPTI_TAG_ARCH, true, parse_arch},      {SPTI_TAG_PARM, true, parse_params},
    {SPTI_TAG_LAYR, true, parse_layers},    {SPTI_TAG_OPTM, true, parse_optimizer},
    {SPTI_TAG_LRSC, false, parse_schedule}, {SPTI_TAG_METH, true, parse_method},
    {SPTI_TAG_TRNR, true, parse_trainer},   {SPTI_TAG_BTCH, false, parse_batcher},
    {SPTI_TAG_NOTE, false, parse_note},
};
enum { N_KINDS = sizeof SECTIONS / sizeof SECTIONS[0] };

enum { SECTION_OPTIONAL = SPTI_CKPT_SECTION_OPTIONAL };

static int parse_sections(spti_rcur *r, uint32_t n_sections, spti_ckpt_view *v) {
    bool seen[N_KINDS] = {false};
    char tb[12];
    for (uint32_t i = 0; i < n_sections; i++) {
        uint32_t tag = 0, flags = 0;
        uint64_t length = 0;
        spti_get_u32(r, &tag);
        spti_get_u32(r, &flags);
        spti_get_u64(r, &length);
        if (r->bad) return BAD("section %u of %u: header truncated", (unsigned)i, (unsigned)n_sections);
        if (length > (uint64_t)spti_rcur_left(r))
            return BAD("section %s: %llu bytes announced, %lld left", tag_text(tag, tb), (unsigned long long)length,
                       (long long)spti_rcur_left(r));
        if ((flags & ~SECTION_OPTIONAL) != 0)
            return BAD("section %s: unknown flags 0x%x", tag_text(tag, tb), (unsigned)flags);
        spti_rcur sub = {.p = r->p + r->pos, .len = (int64_t)length};
        r->pos += (int64_t)length;
        int k = 0;
        while (k < N_KINDS && SECTIONS[k].tag != tag) k++;
        if (k == N_KINDS) {
            if (flags & SECTION_OPTIONAL) continue;
            return spti_fail(SPT_ERR_VERSION, "section %s is unknown to this library and not optional",
                             tag_text(tag, tb));
        }
        if (seen[k]) return BAD("section %s appears twice", tag_text(tag, tb));
        seen[k] = true;
        SPTI_TRY(SECTIONS[k].parse(&sub, v));
        if (sub.pos != sub.len)
            return BAD("section %s: %lld bytes left over", tag_text(tag, tb), (long long)(sub.len - sub.pos));
    }
    if (spti_rcur_left(r) != 0) return BAD("%lld bytes after the last section", (long long)spti_rcur_left(r));
    for (int k = 0; k < N_KINDS; k++)
        if (SECTIONS[k].required && !seen[k]) return BAD("section %s is missing", tag_text(SECTIONS[k].tag, tb));
    return SPT_OK;
}

static uint32_t crc_of(const uint8_t *p, int64_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (int64_t off = 0; off < n;) {
        int64_t chunk = n - off < (1 << 30) ? n - off : (1 << 30);
        crc = crc32(crc, p + off, (uInt)chunk);
        off += chunk;
    }
    return (uint32_t)crc;
}

int spti_checkpoint_parse(const uint8_t *buf, int64_t len, spti_ckpt_view *v) {
    memset(v, 0, sizeof *v);
    const int64_t min = SPTI_CKPT_HEADER_BYTES + SPTI_CKPT_TRAILER_BYTES;
    if (len < 8 || memcmp(buf, spti_ckpt_magic, 8) != 0) {
        /* A prefix of the magic is a truncated checkpoint, anything else is not one. */
        if (len >= 0 && len < 8 && memcmp(buf, spti_ckpt_magic, (size_t)len) == 0)
            return BAD("truncated: %lld bytes, a checkpoint has at least %lld", (long long)len, (long long)min);
        return BAD("not a checkpoint (wrong magic)");
    }
    if (len < 12) return BAD("truncated: %lld bytes, a checkpoint has at least %lld", (long long)len, (long long)min);
    uint32_t version = spti_load_u32(buf + 8);
    if (version > SPTI_CKPT_VERSION)
        return spti_fail(SPT_ERR_VERSION,
                         "written in checkpoint format version %u by a newer libsparsetrain; this library (%s) reads "
                         "versions 1 to %d",
                         (unsigned)version, SPT_VERSION_STRING, SPTI_CKPT_VERSION);
    if (version == 0) return BAD("format version 0 does not exist");
    if (len < min) return BAD("truncated: %lld bytes, a checkpoint has at least %lld", (long long)len, (long long)min);
    uint64_t payload = spti_load_u64(buf + 16);
    if (payload > (uint64_t)(len - min))
        return BAD("truncated: %lld bytes, the header announces %llu", (long long)len,
                   (unsigned long long)payload + (unsigned long long)min);
    if (payload < (uint64_t)(len - min))
        return BAD("%lld bytes after the end the header announces", (long long)((uint64_t)(len - min) - payload));
    const int64_t body = SPTI_CKPT_HEADER_BYTES + (int64_t)payload;
    uint32_t stored = spti_load_u32(buf + body), computed = crc_of(buf, body);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    stored = computed; /* fuzz builds only: let mutations reach the sections */
#endif
    if (stored != computed)
        return spti_fail(SPT_ERR_CHECKSUM, "checksum mismatch (stored %08x, computed %08x): the file is corrupted",
                         (unsigned)stored, (unsigned)computed);
    uint32_t flags = spti_load_u32(buf + 12), n_sections = spti_load_u32(buf + 24), reserved = spti_load_u32(buf + 28);
    if (flags != 0 || reserved != 0) return BAD("header flags 0x%x or reserved field 0x%x set", flags, reserved);
    v->version = version;
    spti_rcur r = {.p = buf + SPTI_CKPT_HEADER_BYTES, .len = (int64_t)payload};
    int rc = parse_sections(&r, n_sections, v);
    if (rc != SPT_OK) spti_checkpoint_view_free(v);
    return rc;
}

void spti_checkpoint_view_free(spti_ckpt_view *v) {
    if (!v) return;
    spti_free(v->params);
    spti_free(v->layers);
    memset(v, 0, sizeof *v);
}
