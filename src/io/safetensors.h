/*
 * safetensors files (https://huggingface.co/docs/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON (an object: tensor name ->
 * {"dtype", "shape", "data_offsets": [begin, end)} relative to the data,
 * and an optional "__metadata__" object of strings), then the data.
 *
 * The parser (safetensors_parse.c; the JSON is read by jansson) checks
 * everything the format promises before anyone reads a tensor: N within
 * the file and at most SPTI_ST_MAX_HEADER, a JSON object with no
 * duplicate key, entries with exactly the three fields, a known dtype,
 * non-negative dimensions whose product times the dtype's size is the
 * byte range without overflow, and ranges that tile the data exactly (no
 * gap, no overlap, nothing after the last), so that every byte of the
 * file belongs to one tensor. The view points into the caller's buffer.
 *
 * The model's side (what names and layouts a model is written as and
 * read from) is safetensors_write.c and safetensors_read.c; the layout is
 * documented in docs/safetensors.md.
 */
#ifndef SPTI_SAFETENSORS_H
#define SPTI_SAFETENSORS_H

#include <stdint.h>

#include "../nn/model.h"

/* The dtypes of the format; the parser knows them all (any valid file
 * parses), the model loader converts F32, F64, F16 and BF16 values and
 * I32 / I64 indices. */
typedef enum {
    SPTI_ST_BOOL, SPTI_ST_U8, SPTI_ST_I8, SPTI_ST_F8_E5M2, SPTI_ST_F8_E4M3, SPTI_ST_I16, SPTI_ST_U16, SPTI_ST_F16,
    SPTI_ST_BF16, SPTI_ST_I32, SPTI_ST_U32, SPTI_ST_F32, SPTI_ST_F64, SPTI_ST_I64, SPTI_ST_U64, SPTI_ST_N_DTYPES
} spti_st_dtype;

enum { SPTI_ST_MAX_DIMS = 8 };
/* The reference implementation's limit on the header. */
#define SPTI_ST_MAX_HEADER ((int64_t)100 << 20)

const char *spti_st_dtype_name(int dtype);
int spti_st_dtype_size(int dtype);

typedef struct spti_st_tensor {
    const char *name;    /* owned by the view */
    int dtype;
    int ndim;
    int64_t shape[SPTI_ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* numel elements, little-endian, not necessarily aligned */
} spti_st_tensor;

typedef struct spti_st_view {
    spti_st_tensor *t; /* sorted by name */
    int64_t n;
    void *json;        /* the parsed header (jansson), owner of the names and metadata */
    void *meta;        /* its "__metadata__" object, or NULL */
} spti_st_view;

/* Parse and check buf[0..len) (the file). On failure the view is empty
 * and the status is SPT_ERR_FORMAT (message: the first problem found) or
 * SPT_ERR_NOMEM. */
int spti_safetensors_parse(const uint8_t *buf, int64_t len, spti_st_view *v);
void spti_safetensors_view_free(spti_st_view *v);
/* The tensor called `name`, or NULL. */
const spti_st_tensor *spti_safetensors_find(const spti_st_view *v, const char *name);
/* The metadata string under `key`, or NULL. */
const char *spti_safetensors_meta(const spti_st_view *v, const char *key);

/* The model's side: load a parsed file into a model (safetensors_read.c;
 * shared with the fuzz target). Nothing changes in the model on failure. */
int spti_safetensors_load_view(spti_model *m, const spti_st_view *v);

/* Metadata keys the writer sets (docs/safetensors.md). */
#define SPTI_ST_META_FORMAT "spt.format"   /* "libsparsetrain-1" */
#define SPTI_ST_META_NET "spt.net"         /* the model file text of the description */
#define SPTI_ST_FORMAT_NAME "libsparsetrain-1"

#endif
