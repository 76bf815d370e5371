/* The safetensors parser (safetensors.h): the header's JSON is read by
 * jansson (duplicate keys refused, UTF-8 checked), then every entry and
 * the tiling of the data are checked before the view is returned. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

static const struct {
    const char *name;
    int size;
} DTYPES[SPTI_ST_N_DTYPES] = {
    [SPTI_ST_BOOL] = {"BOOL", 1},       [SPTI_ST_U8] = {"U8", 1},     [SPTI_ST_I8] = {"I8", 1},
    [SPTI_ST_F8_E5M2] = {"F8_E5M2", 1}, [SPTI_ST_F8_E4M3] = {"F8_E4M3", 1}, [SPTI_ST_I16] = {"I16", 2},
    [SPTI_ST_U16] = {"U16", 2},         [SPTI_ST_F16] = {"F16", 2},   [SPTI_ST_BF16] = {"BF16", 2},
    [SPTI_ST_I32] = {"I32", 4},         [SPTI_ST_U32] = {"U32", 4},   [SPTI_ST_F32] = {"F32", 4},
    [SPTI_ST_F64] = {"F64", 8},         [SPTI_ST_I64] = {"I64", 8},   [SPTI_ST_U64] = {"U64", 8},
};

const char *spti_st_dtype_name(int dtype) {
    return dtype >= 0 && dtype < SPTI_ST_N_DTYPES ? DTYPES[dtype].name : "?";
}
int spti_st_dtype_size(int dtype) { return dtype >= 0 && dtype < SPTI_ST_N_DTYPES ? DTYPES[dtype].size : 0; }

static int bad(const char *fmt, const char *name, const char *detail) {
    return spti_fail(SPT_ERR_FORMAT, fmt, name ? name : "", detail ? detail : "");
}

/* A JSON integer in [0, max] into *out. */
static bool get_count(const json_t *j, int64_t max, int64_t *out) {
    if (!json_is_integer(j)) return false;
    json_int_t x = json_integer_value(j);
    if (x < 0 || x > max) return false;
    *out = (int64_t)x;
    return true;
}

/* One entry: {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}. */
static int parse_entry(const char *name, json_t *e, int64_t data_len, spti_st_tensor *t, int64_t *begin,
                       int64_t *end) {
    if (!json_is_object(e)) return bad("tensor \"%.200s\": not an object%s", name, NULL);
    json_t *dtype = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape"),
           *offs = json_object_get(e, "data_offsets");
    if (!dtype || !shape || !offs || json_object_size(e) != 3)
        return bad("tensor \"%.200s\": %s", name, "needs exactly the fields dtype, shape and data_offsets");
    if (!json_is_string(dtype)) return bad("tensor \"%.200s\": %s", name, "dtype is not a string");
    t->dtype = -1;
    for (int d = 0; d < SPTI_ST_N_DTYPES; d++)
        if (strcmp(json_string_value(dtype), DTYPES[d].name) == 0) t->dtype = d;
    if (t->dtype < 0) return bad("tensor \"%.200s\": unknown dtype \"%.40s\"", name, json_string_value(dtype));
    if (!json_is_array(shape) || json_array_size(shape) > SPTI_ST_MAX_DIMS)
        return spti_fail(SPT_ERR_FORMAT, "tensor \"%.200s\": shape is not an array of at most %d dimensions", name,
                         SPTI_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    int64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (!get_count(json_array_get(shape, (size_t)i), INT64_MAX, &t->shape[i]) ||
            !spti_mul_i64(numel, t->shape[i], &numel))
            return bad("tensor \"%.200s\": %s", name, "a dimension is not a non-negative integer, or they overflow");
    }
    t->numel = numel;
    if (!json_is_array(offs) || json_array_size(offs) != 2 || !get_count(json_array_get(offs, 0), data_len, begin) ||
        !get_count(json_array_get(offs, 1), data_len, end) || *end < *begin)
        return spti_fail(SPT_ERR_FORMAT, "tensor \"%.200s\": data_offsets is not [begin, end] with 0 <= begin <= end "
                         "<= %lld (the data's length)", name, (long long)data_len);
    int64_t bytes;
    if (!spti_mul_i64(numel, DTYPES[t->dtype].size, &bytes) || bytes != *end - *begin)
        return spti_fail(SPT_ERR_FORMAT, "tensor \"%.200s\": %lld bytes in data_offsets for %lld elements of %s", name,
                         (long long)(*end - *begin), (long long)numel, DTYPES[t->dtype].name);
    return SPT_OK;
}

typedef struct {
    int64_t begin, end;
    const char *name;
} range;

static int by_begin(const void *a, const void *b) {
    const range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end; /* empty tensors first at a position */
}
static int by_name(const void *a, const void *b) {
    return strcmp(((const spti_st_tensor *)a)->name, ((const spti_st_tensor *)b)->name);
}

int spti_safetensors_parse(const uint8_t *buf, int64_t len, spti_st_view *v) {
    *v = (spti_st_view){0};
    if (len < 8) return spti_fail(SPT_ERR_FORMAT, "%lld bytes: shorter than the 8-byte header length", (long long)len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    if (n < 2 || n > (uint64_t)SPTI_ST_MAX_HEADER || n > (uint64_t)(len - 8))
        return spti_fail(SPT_ERR_FORMAT, "header length %llu: not in [2, %lld] or beyond the file's %lld bytes",
                         (unsigned long long)n, (long long)SPTI_ST_MAX_HEADER, (long long)len);
    if (buf[8] != '{') return spti_fail(SPT_ERR_FORMAT, "the header does not start with '{'");
    const int64_t data_len = len - 8 - (int64_t)n;
    const uint8_t *data = buf + 8 + n;

    json_error_t err;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root) return spti_fail(SPT_ERR_FORMAT, "header JSON, line %d column %d: %.200s", err.line, err.column, err.text);
    int rc = SPT_OK;
    if (!json_is_object(root)) rc = spti_fail(SPT_ERR_FORMAT, "the header is not a JSON object");
    json_t *meta = rc == SPT_OK ? json_object_get(root, "__metadata__") : NULL;
    if (meta) {
        if (!json_is_object(meta)) rc = spti_fail(SPT_ERR_FORMAT, "__metadata__ is not an object");
        const char *k;
        json_t *val;
        json_object_foreach(meta, k, val) {
            if (rc == SPT_OK && !json_is_string(val))
                rc = bad("__metadata__ \"%.200s\": not a string%s", k, NULL);
        }
    }
    const int64_t count = rc == SPT_OK ? (int64_t)json_object_size(root) - (meta ? 1 : 0) : 0;
    spti_st_tensor *t = NULL;
    range *r = NULL;
    if (rc == SPT_OK && count > 0) {
        t = spti_calloc(count, sizeof *t);
        r = spti_calloc(count, sizeof *r);
        if (!t || !r) rc = spti_fail(SPT_ERR_NOMEM, "out of memory for the index of %lld tensors", (long long)count);
    }
    int64_t k = 0;
    if (rc == SPT_OK) {
        const char *name;
        json_t *e;
        json_object_foreach(root, name, e) {
            if (e == meta) continue;
            if (rc != SPT_OK) break;
            t[k].name = name;
            rc = parse_entry(name, e, data_len, &t[k], &r[k].begin, &r[k].end);
            t[k].data = data + r[k].begin;
            r[k].name = name;
            k++;
        }
    }
    if (rc == SPT_OK) { /* the ranges tile [0, data_len) */
        qsort(r, (size_t)count, sizeof *r, by_begin);
        int64_t at = 0;
        for (int64_t i = 0; i < count && rc == SPT_OK; i++) {
            if (r[i].begin != at)
                rc = spti_fail(SPT_ERR_FORMAT, "tensor \"%.200s\" starts at byte %lld of the data, where %s %lld",
                               r[i].name, (long long)r[i].begin,
                               r[i].begin > at ? "a gap starts at" : "it overlaps the previous one ending at",
                               (long long)at);
            at = r[i].end;
        }
        if (rc == SPT_OK && at != data_len)
            rc = spti_fail(SPT_ERR_FORMAT, "the tensors cover %lld bytes of data, the file holds %lld", (long long)at,
                           (long long)data_len);
    }
    spti_free(r);
    if (rc != SPT_OK) {
        spti_free(t);
        json_decref(root);
        return rc;
    }
    if (count > 1) qsort(t, (size_t)count, sizeof *t, by_name);
    *v = (spti_st_view){.t = t, .n = count, .json = root, .meta = meta};
    return SPT_OK;
}

void spti_safetensors_view_free(spti_st_view *v) {
    spti_free(v->t);
    if (v->json) json_decref((json_t *)v->json);
    *v = (spti_st_view){0};
}

const spti_st_tensor *spti_safetensors_find(const spti_st_view *v, const char *name) {
    if (v->n == 0) return NULL;
    spti_st_tensor key = {.name = name};
    return bsearch(&key, v->t, (size_t)v->n, sizeof key, by_name);
}

const char *spti_safetensors_meta(const spti_st_view *v, const char *key) {
    json_t *s = v->meta ? json_object_get((json_t *)v->meta, key) : NULL;
    return s ? json_string_value(s) : NULL;
}
