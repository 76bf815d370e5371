/* spt_model_save_safetensors: the model's parameters and batch-norm
 * statistics as a safetensors file (layout: sparsetrain/safetensors.h).
 *
 * Two passes over the parameters: the first lays out the data (the I64
 * row offsets first, so that every tensor is aligned to its element size
 * in a file whose data starts at a multiple of 8) and builds the JSON
 * header; the second writes each tensor straight into the mapped
 * temporary file (mapped_file.h), so nothing of model size is copied. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "../core/le_io.h"
#include "../nn/layers.h"
#include "mapped_file.h"
#include "safetensors.h"
#include "sparsetrain/net_file.h"
#include "sparsetrain/safetensors.h"

/* One tensor group of the file. */
typedef struct {
    const spti_param *p;       /* a parameter, or NULL for batch-norm statistics */
    spti_layer *bn;            /* the batch norm (p == NULL) */
    bool csr;                  /* written as the CSR triple */
    int64_t nnz;               /* csr: active entries */
    int64_t off[3];            /* data offsets: dense (or mean, var) / crow, col, values */
} item;

/* The JSON of one tensor, added to the header under `name` (a suffix is
 * appended when given). */
static int add_entry(json_t *hdr, const char *name, const char *suffix, const char *dtype, int ndim,
                     const int64_t *shape, int64_t begin, int64_t bytes) {
    char key[96];
    snprintf(key, sizeof key, "%s%s", name, suffix);
    json_t *sh = json_array();
    for (int i = 0; i < ndim && sh; i++)
        if (json_array_append_new(sh, json_integer((json_int_t)shape[i])) != 0) {
            json_decref(sh);
            sh = NULL;
        }
    json_t *e = sh ? json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype, "shape", sh, "data_offsets",
                               (json_int_t)begin, (json_int_t)(begin + bytes))
                   : NULL;
    if (!e || json_object_set_new(hdr, key, e) != 0)
        return spti_fail(SPT_ERR_NOMEM, "out of memory building the header (%s)", key);
    return SPT_OK;
}

static int add_meta(json_t *meta, const char *name, const char *suffix, const char *value) {
    char key[96];
    snprintf(key, sizeof key, "%s%s", name, suffix);
    if (json_object_set_new(meta, key, json_string(value)) != 0)
        return spti_fail(SPT_ERR_NOMEM, "out of memory building the header (%s)", key);
    return SPT_OK;
}

/* The description as model-file text, into metadata "spt.net". */
static int add_net(const spti_model *m, json_t *meta) {
    spt_net *net = NULL;
    SPTI_TRY(spt_model_net(m, &net));
    int64_t len = 0;
    int rc = spt_net_format(net, NULL, 0, &len);
    char *text = rc == SPT_ERR_SIZE ? spti_alloc_or_fail(len + 1, 1, "model description text") : NULL;
    rc = text ? spt_net_format(net, text, len + 1, &len) : SPT_ERR_NOMEM;
    if (rc == SPT_OK) rc = add_meta(meta, SPTI_ST_META_NET, "", text);
    spti_free(text);
    spt_net_destroy(net);
    return rc;
}

/* Lay out the data and build the header. */
static int plan(item *it, int64_t n_items, json_t *hdr, json_t *meta,
                int64_t *data_len) {
    int64_t at = 0;
    for (int64_t i = 0; i < n_items; i++) /* row offsets first: I64, aligned to 8 */
        if (it[i].csr) {
            it[i].off[0] = at;
            at += (it[i].p->rows + 1) * 8;
        }
    for (int64_t i = 0; i < n_items; i++) {
        const spti_param *p = it[i].p;
        if (!p) { /* batch-norm statistics */
            float *mean, *var;
            int64_t c;
            spti_batchnorm_running(it[i].bn, &mean, &var, &c);
            it[i].off[0] = at;
            SPTI_TRY(add_entry(hdr, it[i].bn->name, ".running_mean", "F32", 1, &c, at, 4 * c));
            at += 4 * c;
            it[i].off[1] = at;
            SPTI_TRY(add_entry(hdr, it[i].bn->name, ".running_var", "F32", 1, &c, at, 4 * c));
            at += 4 * c;
        } else if (it[i].csr) {
            const int64_t nnz = it[i].nnz, rows1 = p->rows + 1;
            SPTI_TRY(add_entry(hdr, p->name, ".crow_indices", "I64", 1, &rows1, it[i].off[0], 8 * rows1));
            it[i].off[1] = at;
            SPTI_TRY(add_entry(hdr, p->name, ".col_indices", "I32", 1, &nnz, at, 4 * nnz));
            at += 4 * nnz;
            it[i].off[2] = at;
            SPTI_TRY(add_entry(hdr, p->name, ".values", "F32", 1, &nnz, at, 4 * nnz));
            at += 4 * nnz;
            char shape[128];
            int len = snprintf(shape, sizeof shape, "[");
            for (int d = 0; d < p->ndim; d++)
                len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%lld", d ? ", " : "",
                                (long long)p->shape[d]);
            snprintf(shape + len, sizeof shape - (size_t)len, "]");
            SPTI_TRY(add_meta(meta, p->name, ".format", "csr"));
            SPTI_TRY(add_meta(meta, p->name, ".shape", shape));
        } else {
            it[i].off[0] = at;
            SPTI_TRY(add_entry(hdr, p->name, "", "F32", p->ndim, p->shape, at, 4 * p->rows * p->cols));
            at += 4 * p->rows * p->cols;
        }
    }
    *data_len = at;
    return SPT_OK;
}

/* The active entries of a DENSE / MASKED / SPARSE weight as CSR, written
 * at crow / col / val. */
static void write_csr(const spti_param *p, uint8_t *crow, uint8_t *col, uint8_t *val) {
    spti_wcur wr = {.buf = crow}, wc = {.buf = col}, wv = {.buf = val};
    if (p->kind == SPTI_PARAM_SPARSE) {
        spti_put_i64s(&wr, p->csr->row_ptr, p->rows + 1);
        spti_put_i32s(&wc, p->csr->col_idx, p->n);
        spti_put_f32s(&wv, p->csr->values, p->n);
        return;
    }
    int64_t k = 0;
    spti_put_i64(&wr, 0);
    for (int64_t r = 0; r < p->rows; r++) {
        for (int64_t c = 0; c < p->cols; c++) {
            const int64_t at = r * p->cols + c;
            if (p->kind == SPTI_PARAM_MASKED && !p->mask[at]) continue;
            spti_put_i32s(&wc, (const int32_t[]){(int32_t)c}, 1);
            spti_put_f32s(&wv, &p->value[at], 1);
            k++;
        }
        spti_put_i64(&wr, k);
    }
}

static void write_data(const item *it, int64_t n_items, uint8_t *data) {
    for (int64_t i = 0; i < n_items; i++) {
        const spti_param *p = it[i].p;
        if (!p) {
            float *mean, *var;
            int64_t c;
            spti_batchnorm_running(it[i].bn, &mean, &var, &c);
            spti_wcur w = {.buf = data + it[i].off[0]};
            spti_put_f32s(&w, mean, c);
            spti_put_f32s(&w, var, c);
        } else if (it[i].csr) {
            write_csr(p, data + it[i].off[0], data + it[i].off[1], data + it[i].off[2]);
        } else {
            spti_wcur w = {.buf = data + it[i].off[0]};
            if (p->kind == SPTI_PARAM_DENSE) spti_put_f32s(&w, p->value, p->n);
            else /* a weight with CSR or a mask, written dense (SPT_SAFETENSORS_DENSE) */
                for (int64_t r = 0; r < p->rows; r++) {
                    float row[256];
                    for (int64_t c0 = 0; c0 < p->cols; c0 += 256) {
                        const int64_t nc = p->cols - c0 < 256 ? p->cols - c0 : 256;
                        memset(row, 0, sizeof row);
                        if (p->kind == SPTI_PARAM_MASKED) {
                            for (int64_t c = 0; c < nc; c++) row[c] = p->value[r * p->cols + c0 + c];
                        } else {
                            const spt_csr *s = p->csr;
                            for (int64_t k = s->row_ptr[r]; k < s->row_ptr[r + 1]; k++)
                                if (s->col_idx[k] >= c0 && s->col_idx[k] < c0 + nc) row[s->col_idx[k] - c0] = s->values[k];
                        }
                        spti_put_f32s(&w, row, nc);
                    }
                }
        }
    }
}

/* The items of a model: every parameter in the documented order, then
 * each batch norm's statistics. */
static int collect(spti_model *m, int flags, item **out, int64_t *n_out) {
    int64_t n = m->n_params;
    for (int i = 0; i < m->n_leaves; i++) n += spti_layer_is_batchnorm(m->leaves[i]);
    item *it = spti_calloc_or_fail(n > 0 ? n : 1, sizeof *it, "export plan");
    if (!it) return SPT_ERR_NOMEM;
    int64_t k = 0;
    for (int64_t i = 0; i < m->n_params; i++, k++) {
        const spti_param *p = m->params[i];
        it[k].p = p;
        it[k].csr = p->is_weight && p->kind != SPTI_PARAM_DENSE && !(flags & SPT_SAFETENSORS_DENSE);
        if (it[k].csr) {
            it[k].nnz = p->kind == SPTI_PARAM_SPARSE ? p->n : p->mask_nnz;
            if (p->cols > INT32_MAX) {
                spti_free(it);
                return spti_fail(SPT_ERR_SIZE, "%s: %lld columns do not fit I32 column indices", p->name,
                                 (long long)p->cols);
            }
        }
    }
    for (int i = 0; i < m->n_leaves; i++)
        if (spti_layer_is_batchnorm(m->leaves[i])) it[k++].bn = m->leaves[i];
    *out = it;
    *n_out = n;
    return SPT_OK;
}

static int export_model(spti_model *m, int flags, spti_out_file *f) {
    item *it = NULL;
    int64_t n_items = 0, data_len = 0;
    SPTI_TRY(spti_model_materialize(m));
    SPTI_TRY(collect(m, flags, &it, &n_items));
    json_t *hdr = json_object(), *meta = json_object();
    int rc = hdr && meta && json_object_set(hdr, "__metadata__", meta) == 0
                 ? SPT_OK
                 : spti_fail(SPT_ERR_NOMEM, "out of memory building the header");
    if (rc == SPT_OK) rc = add_meta(meta, SPTI_ST_META_FORMAT, "", SPTI_ST_FORMAT_NAME);
    if (rc == SPT_OK) rc = add_net(m, meta);
    if (rc == SPT_OK) rc = plan(it, n_items, hdr, meta, &data_len);
    char *text = rc == SPT_OK ? json_dumps(hdr, JSON_COMPACT) : NULL;
    if (rc == SPT_OK && !text) rc = spti_fail(SPT_ERR_NOMEM, "out of memory writing the header");
    if (rc == SPT_OK) {
        const int64_t len = (int64_t)strlen(text), padded = (len + 8 + 7) / 8 * 8 - 8; /* data at a multiple of 8 */
        uint8_t *buf = NULL;
        rc = spti_out_file_map(f, 8 + padded + data_len, &buf);
        if (rc == SPT_OK) {
            spti_store_u64(buf, (uint64_t)padded);
            memcpy(buf + 8, text, (size_t)len);
            memset(buf + 8 + len, ' ', (size_t)(padded - len));
            write_data(it, n_items, buf + 8 + padded);
        }
    }
    free(text);
    json_decref(meta);
    json_decref(hdr);
    spti_free(it);
    return rc;
}

int spt_model_save_safetensors(spt_model *m, const char *path, int flags) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(path);
    if (path[0] == '\0') return spti_fail(SPT_ERR_INVALID, "%s: path is empty", __func__);
    if (flags & ~SPT_SAFETENSORS_DENSE)
        return spti_fail(SPT_ERR_INVALID, "%s: unknown flags 0x%x (known: SPT_SAFETENSORS_DENSE = 1)", __func__,
                         (unsigned)flags);
    spti_out_file f;
    SPTI_TRY(spti_out_file_open(&f, path));
    return spti_out_file_close(&f, __func__, export_model(m, flags, &f));
}
