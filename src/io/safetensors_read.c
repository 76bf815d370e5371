/* spt_model_load_safetensors and spt_safetensors_read_net: a safetensors
 * file (layout: sparsetrain/safetensors.h) into a model.
 *
 * All or nothing: every tensor the model needs is found and checked
 * (shape, dtype, finite values, valid CSR), then each parameter's new
 * storage is built beside the old one, and only when all are built are
 * they swapped in and the batch-norm statistics copied, so that a bad
 * file or a failed allocation leaves the model as it was. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/le_io.h"
#include "../nn/layers.h"
#include "mapped_file.h"
#include "safetensors.h"
#include "sparsetrain/net_file.h"
#include "sparsetrain/safetensors.h"

/* ---- element readers ------------------------------------------------------------ */

static float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023;
    float f;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    uint32_t bits = exp == 31 ? sign | 0x7f800000u | man << 13 : sign | (exp + 112) << 23 | man << 13;
    memcpy(&f, &bits, 4);
    return f;
}

static float get_float(const spti_st_tensor *t, int64_t i) {
    const uint8_t *b = t->data;
    uint32_t u;
    float f;
    switch (t->dtype) {
    case SPTI_ST_F32: u = spti_load_u32(b + 4 * i); memcpy(&f, &u, 4); return f;
    case SPTI_ST_BF16: u = (uint32_t)(b[2 * i] | b[2 * i + 1] << 8) << 16; memcpy(&f, &u, 4); return f;
    case SPTI_ST_F16: return half_to_float((uint16_t)(b[2 * i] | b[2 * i + 1] << 8));
    default: { /* F64 */
        const uint64_t v = spti_load_u64(b + 8 * i);
        double d;
        memcpy(&d, &v, 8);
        return (float)d;
    }
    }
}

static int64_t get_index(const spti_st_tensor *t, int64_t i) {
    return t->dtype == SPTI_ST_I32 ? (int64_t)(int32_t)spti_load_u32(t->data + 4 * i)
                                   : (int64_t)spti_load_u64(t->data + 8 * i);
}

/* ---- finding and checking ---------------------------------------------------------- */

static bool is_float(int dtype) {
    return dtype == SPTI_ST_F32 || dtype == SPTI_ST_F64 || dtype == SPTI_ST_F16 || dtype == SPTI_ST_BF16;
}
static bool is_index(int dtype) { return dtype == SPTI_ST_I32 || dtype == SPTI_ST_I64; }

static const spti_st_tensor *find(const spti_st_view *v, const char *name, const char *suffix, int64_t *used) {
    char key[96];
    snprintf(key, sizeof key, "%s%s", name, suffix);
    const spti_st_tensor *t = spti_safetensors_find(v, key);
    if (t) (*used)++;
    return t;
}

/* A float tensor of `numel` elements, all finite. */
static int check_values(const spti_st_tensor *t, int64_t numel) {
    if (!is_float(t->dtype))
        return spti_fail(SPT_ERR_FORMAT, "tensor \"%s\": dtype %s, expected F32, F64, F16 or BF16", t->name,
                         spti_st_dtype_name(t->dtype));
    if (t->numel != numel)
        return spti_fail(SPT_ERR_FORMAT, "tensor \"%s\": %lld elements, expected %lld", t->name, (long long)t->numel,
                         (long long)numel);
    for (int64_t i = 0; i < numel; i++)
        if (!isfinite(get_float(t, i)))
            return spti_fail(SPT_ERR_FORMAT, "tensor \"%s\": element %lld is not finite (as a float)", t->name,
                             (long long)i);
    return SPT_OK;
}

static bool same_shape(const spti_st_tensor *t, const spti_param *p) {
    if (t->ndim != p->ndim) return false;
    for (int d = 0; d < p->ndim; d++)
        if (t->shape[d] != p->shape[d]) return false;
    return true;
}

static void shape_text(const int64_t *shape, int ndim, char *buf, size_t cap) {
    int len = snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && (size_t)len < cap; d++)
        len += snprintf(buf + len, cap - (size_t)len, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if ((size_t)len < cap) snprintf(buf + len, cap - (size_t)len, "]");
}

/* Where a parameter comes from: a dense tensor, or the CSR triple. */
typedef struct {
    const spti_st_tensor *dense, *crow, *col, *val;
} source;

/* The CSR triple of p: lengths, dtypes, offsets from 0 to nnz, columns
 * inside and increasing within each row; the metadata's shape if given. */
static int check_csr(const spti_st_view *v, const spti_param *p, const source *s) {
    const spti_st_tensor *crow = s->crow, *col = s->col;
    if (!crow || !col || !s->val)
        return spti_fail(SPT_ERR_FORMAT, "weight \"%s\": a sparse weight needs .crow_indices, .col_indices and "
                         ".values", p->name);
    if (!is_index(crow->dtype) || !is_index(col->dtype) || crow->ndim != 1 || col->ndim != 1 || s->val->ndim != 1)
        return spti_fail(SPT_ERR_FORMAT, "weight \"%s\": CSR indices must be 1-D I32 or I64 tensors and the values "
                         "1-D", p->name);
    char key[96], want[128];
    snprintf(key, sizeof key, "%s.format", p->name);
    const char *fmt = spti_safetensors_meta(v, key);
    if (fmt && strcmp(fmt, "csr") != 0)
        return spti_fail(SPT_ERR_FORMAT, "weight \"%s\": metadata format \"%.40s\", expected \"csr\"", p->name, fmt);
    snprintf(key, sizeof key, "%s.shape", p->name);
    const char *shape = spti_safetensors_meta(v, key);
    shape_text(p->shape, p->ndim, want, sizeof want);
    if (shape) { /* compare without spaces */
        char a[128], b[128];
        int na = 0, nb = 0;
        for (const char *c = shape; *c && na < 127; c++) if (*c != ' ') a[na++] = *c;
        for (const char *c = want; *c && nb < 127; c++) if (*c != ' ') b[nb++] = *c;
        a[na] = b[nb] = '\0';
        if (strcmp(a, b) != 0)
            return spti_fail(SPT_ERR_FORMAT, "weight \"%s\": shape %.60s in the metadata, the model's is %s", p->name,
                             shape, want);
    }
    if (crow->numel != p->rows + 1)
        return spti_fail(SPT_ERR_FORMAT, "weight \"%s\": %lld row offsets, expected rows + 1 = %lld", p->name,
                         (long long)crow->numel, (long long)(p->rows + 1));
    const int64_t nnz = col->numel;
    if (get_index(crow, 0) != 0 || get_index(crow, p->rows) != nnz)
        return spti_fail(SPT_ERR_FORMAT, "weight \"%s\": row offsets must run from 0 to nnz = %lld", p->name,
                         (long long)nnz);
    for (int64_t r = 0; r < p->rows; r++) {
        const int64_t a = get_index(crow, r), b = get_index(crow, r + 1);
        if (b < a || b > nnz)
            return spti_fail(SPT_ERR_FORMAT, "weight \"%s\": row offsets decrease or pass nnz at row %lld", p->name,
                             (long long)r);
        for (int64_t k = a; k < b; k++) {
            const int64_t c = get_index(col, k);
            if (c < 0 || c >= p->cols || (k > a && c <= get_index(col, k - 1)))
                return spti_fail(SPT_ERR_FORMAT, "weight \"%s\": row %lld: column %lld outside [0, %lld) or not "
                                 "increasing", p->name, (long long)r, (long long)c, (long long)p->cols);
        }
    }
    return check_values(s->val, nnz);
}

/* Find and check the source of every parameter. */
static int resolve(const spti_model *m, const spti_st_view *v, source *src, int64_t *used) {
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *p = m->params[i];
        source *s = &src[i];
        s->dense = find(v, p->name, "", used);
        s->crow = find(v, p->name, ".crow_indices", used);
        s->col = find(v, p->name, ".col_indices", used);
        s->val = find(v, p->name, ".values", used);
        const bool sparse = s->crow || s->col || s->val;
        if (s->dense && sparse)
            return spti_fail(SPT_ERR_FORMAT, "parameter \"%s\" is in the file both dense and sparse", p->name);
        if (!s->dense && !sparse)
            return spti_fail(SPT_ERR_FORMAT, "the file has no tensor \"%s\" (nor its sparse form)", p->name);
        if (sparse && !p->is_weight)
            return spti_fail(SPT_ERR_FORMAT, "parameter \"%s\" is a bias or batch-norm parameter: it must be dense",
                             p->name);
        if (s->dense) {
            if (!same_shape(s->dense, p)) {
                char got[128], want[128];
                shape_text(s->dense->shape, s->dense->ndim, got, sizeof got);
                shape_text(p->shape, p->ndim, want, sizeof want);
                return spti_fail(SPT_ERR_FORMAT, "tensor \"%s\": shape %s, the model's is %s", p->name, got, want);
            }
            SPTI_TRY(check_values(s->dense, p->rows * p->cols));
        } else {
            SPTI_TRY(check_csr(v, p, s));
        }
    }
    return SPT_OK;
}

/* The running statistics of every batch norm: two sources per layer. */
static int resolve_bn(const spti_model *m, const spti_st_view *v, const spti_st_tensor **stats, int64_t *used) {
    int64_t k = 0;
    for (int i = 0; i < m->n_leaves; i++) {
        spti_layer *L = m->leaves[i];
        if (!spti_layer_is_batchnorm(L)) continue;
        float *mean, *var;
        int64_t c;
        spti_batchnorm_running(L, &mean, &var, &c);
        const char *sfx[2] = {".running_mean", ".running_var"};
        for (int j = 0; j < 2; j++, k++) {
            stats[k] = find(v, L->name, sfx[j], used);
            if (!stats[k])
                return spti_fail(SPT_ERR_FORMAT, "the file has no tensor \"%s%s\"", L->name, sfx[j]);
            SPTI_TRY(check_values(stats[k], c));
            for (int64_t e = 0; j == 1 && e < c; e++)
                if (get_float(stats[k], e) < 0)
                    return spti_fail(SPT_ERR_FORMAT, "tensor \"%s%s\": a negative variance", L->name, sfx[j]);
        }
    }
    return SPT_OK;
}

/* Every tensor of the file was used, but PyTorch's batch counters. */
static int check_unused(const spti_st_view *v, int64_t used) {
    int64_t ignored = 0;
    for (int64_t i = 0; i < v->n; i++) {
        const char *n = v->t[i].name, *dot = strrchr(n, '.');
        if (dot && strcmp(dot, ".num_batches_tracked") == 0) ignored++;
    }
    if (used + ignored == v->n) return SPT_OK;
    return spti_fail(SPT_ERR_FORMAT, "the file has %lld tensors the model does not have (names are the model's "
                     "parameters: spt_model_layer_info)", (long long)(v->n - used - ignored));
}

/* ---- building and swapping ------------------------------------------------------------ */

/* A new parameter like p holding the source's values. */
static int build(const spti_param *p, const source *s, spti_param **out) {
    spti_param *np = NULL;
    SPTI_TRY(p->is_weight ? spti_param_create_unallocated(p->name, p->ndim, p->shape, &np)
                          : spti_param_create(p->name, p->ndim, p->shape, false, &np));
    np->is_weight = p->is_weight;
    np->no_weight_decay = p->no_weight_decay;
    np->density = p->density;
    np->loaded = true;
    int rc = SPT_OK;
    if (s->dense) {
        rc = spti_param_materialize(np);
        for (int64_t i = 0; rc == SPT_OK && i < np->n; i++) np->value[i] = get_float(s->dense, i);
    } else {
        const int64_t nnz = s->col->numel;
        int64_t *pos = spti_alloc_or_fail(nnz > 0 ? nnz : 1, sizeof *pos, "sparse weight positions");
        if (!pos) rc = SPT_ERR_NOMEM;
        for (int64_t r = 0; rc == SPT_OK && r < p->rows; r++)
            for (int64_t k = get_index(s->crow, r); k < get_index(s->crow, r + 1); k++)
                pos[k] = r * p->cols + get_index(s->col, k);
        if (rc == SPT_OK) rc = spti_param_sparsify(np, pos, nnz);
        for (int64_t k = 0; rc == SPT_OK && k < nnz; k++) np->value[k] = get_float(s->val, k);
        spti_free(pos);
    }
    if (rc != SPT_OK) {
        spti_param_destroy(np);
        return rc;
    }
    *out = np;
    return SPT_OK;
}

int spti_safetensors_load_view(spti_model *m, const spti_st_view *v) {
    if (m->has_trainer)
        return spti_fail(SPT_ERR_STATE, "a trainer is attached to the model: load the weights before creating it");
    int64_t n_bn = 0, used = 0;
    for (int i = 0; i < m->n_leaves; i++) n_bn += spti_layer_is_batchnorm(m->leaves[i]);
    source *src = spti_calloc_or_fail(m->n_params > 0 ? m->n_params : 1, sizeof *src, "load plan");
    const spti_st_tensor **stats = src ? spti_calloc_or_fail(2 * n_bn + 1, sizeof *stats, "load plan") : NULL;
    spti_param **fresh = stats ? spti_calloc_or_fail(m->n_params > 0 ? m->n_params : 1, sizeof *fresh, "load plan")
                               : NULL;
    int rc = fresh ? SPT_OK : SPT_ERR_NOMEM;
    if (rc == SPT_OK) rc = resolve(m, v, src, &used);
    if (rc == SPT_OK) rc = resolve_bn(m, v, stats, &used);
    if (rc == SPT_OK) rc = check_unused(v, used);
    for (int64_t i = 0; rc == SPT_OK && i < m->n_params; i++) rc = build(m->params[i], &src[i], &fresh[i]);
    if (rc == SPT_OK) { /* nothing can fail from here */
        for (int64_t i = 0; i < m->n_params; i++) {
            spti_param old = *m->params[i];
            *m->params[i] = *fresh[i];
            *fresh[i] = old;
        }
        int64_t k = 0;
        for (int i = 0; i < m->n_leaves; i++) {
            if (!spti_layer_is_batchnorm(m->leaves[i])) continue;
            float *mean, *var;
            int64_t c;
            spti_batchnorm_running(m->leaves[i], &mean, &var, &c);
            for (int64_t e = 0; e < c; e++) mean[e] = get_float(stats[k], e);
            for (int64_t e = 0; e < c; e++) var[e] = get_float(stats[k + 1], e);
            k += 2;
        }
    }
    for (int64_t i = 0; fresh && i < m->n_params; i++) spti_param_destroy(fresh[i]); /* the old storage, or the new on failure */
    spti_free(fresh);
    spti_free(stats);
    spti_free(src);
    return rc;
}

/* ---- the public calls ------------------------------------------------------------------ */

/* Map and parse `path`, run `use` on the view, unmap; a failure restated
 * as "<func>: <path>: <problem>". */
static int with_file(const char *func, const char *path, int (*use)(const spti_st_view *, void *), void *ctx) {
    const uint8_t *buf;
    int64_t len;
    SPTI_TRY(spti_map_file(func, path, &buf, &len));
    spti_st_view v;
    int rc = spti_safetensors_parse(buf, len, &v);
    if (rc == SPT_OK) rc = use(&v, ctx);
    spti_safetensors_view_free(&v);
    spti_unmap_file(buf, len);
    if (rc == SPT_OK) return SPT_OK;
    char msg[384];
    snprintf(msg, sizeof msg, "%s", spt_last_error());
    return spti_fail(rc, "%s: %s: %s", func, path, msg);
}

static int load_into(const spti_st_view *v, void *m) { return spti_safetensors_load_view(m, v); }

static int read_net(const spti_st_view *v, void *out) {
    const char *text = spti_safetensors_meta(v, SPTI_ST_META_NET);
    if (!text)
        return spti_fail(SPT_ERR_FORMAT, "no \"%s\" metadata: not an export of libsparsetrain (build the model "
                         "yourself and load its weights)", SPTI_ST_META_NET);
    return spt_net_parse(text, (int64_t)strlen(text), out);
}

int spt_model_load_safetensors(spt_model *m, const char *path) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(path);
    return with_file(__func__, path, load_into, m);
}

int spt_safetensors_read_net(const char *path, spt_net **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(path);
    return with_file(__func__, path, read_net, out);
}
