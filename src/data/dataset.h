/*
 * The dataset handle and the helpers the data loaders share (internal).
 *
 * Pixels are kept as loaded, example-major "N x C x H x W": bytes for files
 * and spt_dataset_from_u8 (614 MB as floats, a quarter of the memory: CIFAR-10's training
 * set is 154 MB as bytes), floats for
 * spt_dataset_from_float. Scaling and normalisation are
 * folded into one multiply-add per channel, applied when a batch is built.
 */
#ifndef SPTI_DATA_DATASET_H
#define SPTI_DATA_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/internal.h"

struct spt_dataset {
    int64_t n, c, h, w, classes;
    int64_t feat;      /* c*h*w */
    bool is_u8;        /* pixels in u8 (scale 1/255) or f32 (scale 1) */
    uint8_t *u8;       /* n*feat, when is_u8 */
    float *f32;        /* n*feat, otherwise */
    int32_t *labels;   /* n */
    float *mean, *std; /* c each: the normalisation as set */
    float *mul, *add;  /* c each: out = pixel*mul[c] + add[c] */
};

/* Allocate a dataset of the given shape with uninitialised pixels and
 * labels and no normalisation. Sizes must be >= 1 (checked: SPT_ERR_SIZE,
 * with `fn` naming the public caller). */
int spti_dataset_new(int64_t n, int64_t c, int64_t h, int64_t w, int64_t classes, bool is_u8, const char *fn,
                     spt_dataset **out);

/* Recompute mul/add from mean/std and the pixel scale. */
void spti_dataset_update_affine(spt_dataset *ds);

/* New dataset of examples idx[0..n-1] of ds (copies, same normalisation). */
int spti_dataset_take(const spt_dataset *ds, const int64_t *idx, int64_t n, const char *fn, spt_dataset **out);

/* Augmentation of one example: shift (dy, dx) then optional mirror. */
typedef struct spti_aug {
    int32_t dy, dx;
    int32_t flip;
} spti_aug;

/* Write examples idx[0..n-1] as "C x H x W x n" into x, labels into y (if
 * not NULL). aug is NULL or n entries. Indices must be valid (unchecked). */
void spti_dataset_gather(const spt_dataset *ds, const int64_t *idx, int64_t n, const spti_aug *aug, float *x,
                         int32_t *y);

/* IDX image + label files (idx.c). rows/cols > 0 demand those dimensions
 * (0: any). Arguments are checked by the caller. */
int spti_load_idx(const char *images_path, const char *labels_path, int64_t limit, int64_t rows, int64_t cols,
                  const char *fn, spt_dataset **out);

/* dir + "/" + name into buf (cap bytes). SPT_ERR_INVALID if too long. */
int spti_path_join(const char *dir, const char *name, char *buf, size_t cap, const char *fn);

/* Thread-safe strerror text of errno value `err` into buf. */
const char *spti_errno_text(int err, char *buf, size_t cap);

/* A batcher's batch size and the dataset it reads (for the trainer, which
 * sizes its batch buffers once from them). Either output may be NULL. */
void spti_batcher_info(const spt_batcher *b, int64_t *batch_size, const spt_dataset **ds);
/* The share of each batch the batcher gives (spt_batcher_set_shard). */
void spti_batcher_shard(const spt_batcher *b, int *rank, int *size);

/* Whether the current epoch has no batch left (the next spt_batcher_next
 * returns 0 and starts a new epoch). */
bool spti_batcher_epoch_done(const spt_batcher *b);

#endif /* SPTI_DATA_DATASET_H */
