/* Epoch-wise mini-batches over a dataset.
 *
 * Reproducibility without hidden state: the order of epoch e is drawn from
 * a generator keyed by (seed, e), and the augmentation of the example at
 * position p of epoch e from one keyed by (seed, e, p). So (seed, epoch,
 * position) is the whole state: a checkpoint stores three numbers, and the
 * stream does not depend on how it was cut into batches. */
#include "dataset.h"

struct spt_batcher {
    const spt_dataset *ds; /* borrowed */
    int64_t batch_size;
    int flags;
    uint64_t seed;
    int64_t epoch, position;
    int64_t crop_pad;
    int hflip;
    int shard_rank, shard_size; /* this process's share of each batch (0 of 1: all of it) */
    int64_t *order; /* n: the examples of the current epoch in order */
    spti_aug *aug;  /* min(batch_size, n): one batch of augmentation draws */
};

enum { TAG_ORDER = 1, TAG_AUGMENT = 2 };

static void keyed_rng(spti_rng *r, uint64_t seed, uint64_t tag, uint64_t epoch, uint64_t pos) {
    const uint64_t golden = 0x9e3779b97f4a7c15ULL;
    uint64_t k = spti_mix64(seed + golden * tag);
    k = spti_mix64(k ^ spti_mix64(epoch + golden));
    k = spti_mix64(k ^ spti_mix64(pos + 2 * golden));
    spti_rng_seed(r, k);
}

static void make_order(spt_batcher *b) {
    int64_t n = b->ds->n;
    for (int64_t i = 0; i < n; i++) b->order[i] = i;
    if (!(b->flags & SPT_BATCH_SHUFFLE)) return;
    spti_rng r;
    keyed_rng(&r, b->seed, TAG_ORDER, (uint64_t)b->epoch, 0);
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)spti_rng_below(&r, (uint64_t)i + 1);
        int64_t t = b->order[i];
        b->order[i] = b->order[j], b->order[j] = t;
    }
}

int spt_batcher_create(const spt_dataset *ds, int64_t batch_size, int flags, uint64_t seed, spt_batcher **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(ds);
    int64_t floats;
    if (batch_size < 1 || !spti_mul_i64(batch_size, ds->feat, &floats))
        return spti_fail(SPT_ERR_SIZE, "%s: batch_size (%lld) must be >= 1 and batch_size x %lld features must fit",
                         __func__, (long long)batch_size, (long long)ds->feat);
    if (flags & ~(SPT_BATCH_SHUFFLE | SPT_BATCH_DROP_LAST))
        return spti_fail(SPT_ERR_INVALID, "%s: unknown flag bits 0x%x", __func__,
                         (unsigned)flags & ~(unsigned)(SPT_BATCH_SHUFFLE | SPT_BATCH_DROP_LAST));
    if ((flags & SPT_BATCH_DROP_LAST) && batch_size > ds->n)
        return spti_fail(SPT_ERR_SIZE, "%s: with SPT_BATCH_DROP_LAST, batch_size (%lld) > count (%lld) gives no batch",
                         __func__, (long long)batch_size, (long long)ds->n);
    spt_batcher *b = spti_calloc_or_fail(1, sizeof *b, "batcher");
    if (b == NULL) return SPT_ERR_NOMEM;
    b->ds = ds, b->batch_size = batch_size, b->flags = flags, b->seed = seed;
    b->shard_rank = 0, b->shard_size = 1;
    b->order = spti_alloc_or_fail(ds->n, sizeof(int64_t), "batcher order");
    b->aug = spti_alloc_or_fail(batch_size < ds->n ? batch_size : ds->n, sizeof(spti_aug), "batcher augmentation");
    if (b->order == NULL || b->aug == NULL) {
        spt_batcher_destroy(b);
        return SPT_ERR_NOMEM;
    }
    make_order(b);
    *out = b;
    return SPT_OK;
}

void spt_batcher_destroy(spt_batcher *b) {
    if (b == NULL) return;
    spti_free(b->order);
    spti_free(b->aug);
    spti_free(b);
}

int spt_batcher_set_augment(spt_batcher *b, int64_t crop_pad, int hflip) {
    SPTI_CHECK_NULL(b);
    int64_t lim = b->ds->h < b->ds->w ? b->ds->h : b->ds->w;
    if (crop_pad < 0 || crop_pad > lim)
        return spti_fail(SPT_ERR_INVALID, "%s: crop_pad (%lld) must be in 0..%lld (min of height and width)", __func__,
                         (long long)crop_pad, (long long)lim);
    b->crop_pad = crop_pad;
    b->hflip = hflip != 0;
    return SPT_OK;
}

static void draw_augment(spt_batcher *b, int64_t start, int64_t count) {
    const uint64_t span = 2 * (uint64_t)b->crop_pad + 1;
    for (int64_t i = 0; i < count; i++) {
        spti_rng r;
        keyed_rng(&r, b->seed, TAG_AUGMENT, (uint64_t)b->epoch, (uint64_t)(start + i));
        b->aug[i].dy = (int32_t)((int64_t)spti_rng_below(&r, span) - b->crop_pad);
        b->aug[i].dx = (int32_t)((int64_t)spti_rng_below(&r, span) - b->crop_pad);
        b->aug[i].flip = b->hflip ? (int32_t)spti_rng_below(&r, 2) : 0;
    }
}

int spt_batcher_next(spt_batcher *b, float *x, int64_t x_len, int32_t *labels, int64_t labels_len, int64_t *batch) {
    SPTI_CHECK_NULL(b);
    SPTI_CHECK_NULL(x);
    SPTI_CHECK_NULL(labels);
    SPTI_CHECK_NULL(batch);
    const spt_dataset *ds = b->ds;
    if (x_len < b->batch_size * ds->feat) /* the product was checked at create */
        return spti_fail(SPT_ERR_SIZE, "%s: x_len (%lld) < batch_size %lld x %lld features", __func__,
                         (long long)x_len, (long long)b->batch_size, (long long)ds->feat);
    if (labels_len < b->batch_size)
        return spti_fail(SPT_ERR_SIZE, "%s: labels_len (%lld) < batch_size (%lld)", __func__, (long long)labels_len,
                         (long long)b->batch_size);
    if (spti_batcher_epoch_done(b)) {
        b->epoch++;
        b->position = 0;
        make_order(b);
        *batch = 0;
        return SPT_OK;
    }
    const int64_t left = ds->n - b->position;
    const int64_t B = left < b->batch_size ? left : b->batch_size;
    /* This rank's share: [B r / p, B (r+1) / p) of the global batch. */
    const int64_t p = b->shard_size, lo = B * b->shard_rank / p, hi = B * (b->shard_rank + 1) / p;
    if (hi <= lo)
        return spti_fail(SPT_ERR_SIZE, "%s: a batch of %lld examples leaves rank %d of %d none", __func__,
                         (long long)B, b->shard_rank, b->shard_size);
    bool augment = b->crop_pad > 0 || b->hflip;
    if (augment) draw_augment(b, b->position + lo, hi - lo);
    spti_dataset_gather(ds, b->order + b->position + lo, hi - lo, augment ? b->aug : NULL, x, labels);
    b->position += B;
    *batch = hi - lo;
    return SPT_OK;
}

int spt_batcher_set_shard(spt_batcher *b, int rank, int size) {
    SPTI_CHECK_NULL(b);
    if (size < 1 || rank < 0 || rank >= size)
        return spti_fail(SPT_ERR_INVALID, "%s: rank %d of size %d (need size >= 1, 0 <= rank < size)", __func__, rank,
                         size);
    if (b->batch_size < size)
        return spti_fail(SPT_ERR_SIZE, "%s: batch_size (%lld) < %d ranks: some rank would get no example", __func__,
                         (long long)b->batch_size, size);
    b->shard_rank = rank, b->shard_size = size;
    return SPT_OK;
}

int spt_batcher_batches_per_epoch(const spt_batcher *b, int64_t *batches) {
    SPTI_CHECK_NULL(b);
    SPTI_CHECK_NULL(batches);
    int64_t n = b->ds->n, bs = b->batch_size;
    *batches = (b->flags & SPT_BATCH_DROP_LAST) ? n / bs : n / bs + (n % bs != 0);
    return SPT_OK;
}

int spt_batcher_get_state(const spt_batcher *b, int64_t *epoch, int64_t *position, uint64_t *seed) {
    SPTI_CHECK_NULL(b);
    if (epoch) *epoch = b->epoch;
    if (position) *position = b->position;
    if (seed) *seed = b->seed;
    return SPT_OK;
}

int spt_batcher_set_state(spt_batcher *b, int64_t epoch, int64_t position, uint64_t seed) {
    SPTI_CHECK_NULL(b);
    if (epoch < 0) return spti_fail(SPT_ERR_INVALID, "%s: epoch (%lld) must be >= 0", __func__, (long long)epoch);
    if (position < 0 || position > b->ds->n)
        return spti_fail(SPT_ERR_INVALID, "%s: position (%lld) must be in 0..%lld", __func__, (long long)position,
                         (long long)b->ds->n);
    b->epoch = epoch, b->position = position, b->seed = seed;
    make_order(b);
    return SPT_OK;
}

void spti_batcher_info(const spt_batcher *b, int64_t *batch_size, const spt_dataset **ds) {
    if (batch_size) *batch_size = b->batch_size;
    if (ds) *ds = b->ds;
}

void spti_batcher_shard(const spt_batcher *b, int *rank, int *size) {
    *rank = b->shard_rank;
    *size = b->shard_size;
}

bool spti_batcher_epoch_done(const spt_batcher *b) {
    const int64_t left = b->ds->n - b->position;
    return left == 0 || ((b->flags & SPT_BATCH_DROP_LAST) && left < b->batch_size);
}
