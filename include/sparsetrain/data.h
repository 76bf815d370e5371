/** @file
 * Image data sets and mini-batches.
 *
 * Two handles:
 *
 * - #spt_dataset: N labelled examples of C x H x W pixels (flat features are
 *   C = F, H = W = 1) plus an integer class label each, loaded from CIFAR-10
 *   binary files, IDX files (MNIST, Fashion-MNIST) or caller arrays, with an
 *   optional per-channel normalisation.
 * - #spt_batcher: an epoch-wise iterator over a dataset: mini-batches of a
 *   fixed size in a seeded shuffled order, with optional random crop and
 *   horizontal flip, in the library's activation layout.
 *
 * **Layouts.**
 * Caller arrays handed IN (spt_dataset_from_float(), spt_dataset_from_u8())
 * are example-major, the way users hold them: "N x C x H x W", element
 * (n, c, h, w) at `((n*C + c)*H + h)*W + w`.
 * Batches handed OUT (spt_dataset_gather(), spt_batcher_next()) are
 * feature-major with the batch contiguous, the layout every layer of the
 * library consumes: "C x H x W x B", element (c, h, w, b) at
 * `((c*H + h)*W + w)*B + b`, where B is the number of examples actually in
 * that batch. B may be smaller than the batcher's batch size on the last
 * batch of an epoch; the batch is then packed with stride B, not with the
 * batch size. Viewed as a matrix this is "F x B" with F = C*H*W.
 * Labels are int32, one per example, in 0 .. classes-1.
 *
 * **Pixel values.** A dataset stores pixels as loaded (bytes or floats) and
 * produces floats when a batch is built:
 * `out = (scale * pixel - mean[c]) / std[c]`,
 * where scale is 1/255 for byte pixels (files and spt_dataset_from_u8()), so
 * that they land in [0, 1], and 1 for float pixels (used as given). mean and
 * std are the dataset's normalisation: 0 and 1 (no change) until set with
 * spt_dataset_set_normalization(). Normalisation is applied when batches are
 * built, so changing it copies nothing and affects every later batch.
 *
 * **Conventions** are those of sparsetrain/core.h: int status returns,
 * output handles set to NULL on failure, spt_last_error() for the detail
 * (failures on files name the file and the problem). Length arguments
 * (`x_len`, `labels_len`) give the capacity of the caller's buffer in
 * elements; a buffer too short gives #SPT_ERR_SIZE and nothing is written.
 *
 * **Thread-safety.** A handle must not be used from two threads at once,
 * with one exception: one dataset may be read by several threads (for
 * example by several batchers) at once, as long as nobody changes or
 * destroys it meanwhile (spt_dataset_set_normalization() and
 * spt_dataset_destroy() change it; every other dataset function only reads
 * it). The loaders touch no shared state.
 */
#ifndef SPARSETRAIN_DATA_H
#define SPARSETRAIN_DATA_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A labelled image dataset held in memory (opaque). Create with a loader
 * or from arrays; free with spt_dataset_destroy(). */
typedef struct spt_dataset spt_dataset;

/** An epoch-wise mini-batch iterator over a dataset (opaque). Create with
 * spt_batcher_create(); free with spt_batcher_destroy(). */
typedef struct spt_batcher spt_batcher;

/** Which part of a standard data set a loader reads (passed as int). */
typedef enum spt_split {
    SPT_SPLIT_TRAIN = 0, /**< CIFAR-10: data_batch_1..5.bin (50000); IDX: train-* (60000) */
    SPT_SPLIT_TEST = 1   /**< CIFAR-10: test_batch.bin (10000); IDX: t10k-* (10000) */
} spt_split;

/** Where Debian's dataset-fashion-mnist package installs Fashion-MNIST:
 * train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
 * t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz. The default
 * directory of spt_dataset_load_mnist(). */
#define SPT_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ==== loading ============================================================= */

/** Load CIFAR-10 from its binary distribution (the directory
 * cifar-10-batches-bin of the "CIFAR-10 binary version").
 * The directory holds data_batch_1.bin .. data_batch_5.bin and
 * test_batch.bin, each exactly 10000 records of 1 label byte (0..9)
 * followed by 3072 pixel bytes: the red plane, then green, then blue, each
 * 32 x 32 row-major. The result has C = 3, H = W = 32, classes = 10, byte
 * pixels (scaled to [0, 1] in batches), examples in file order
 * (data_batch_1 first). Thread-safe.
 * @param[out] out receives the new dataset (NULL on failure). Caller owns it.
 * @param dir   the directory.
 * @param split #SPT_SPLIT_TRAIN (50000 examples) or #SPT_SPLIT_TEST (10000).
 * @param limit load only the first `limit` examples (for quick runs); 0 =
 *              all. The sizes of all files of the split are checked whatever
 *              the limit; labels are checked for the examples loaded.
 * @return #SPT_OK, #SPT_ERR_NULL (out or dir NULL), #SPT_ERR_INVALID (split),
 *         #SPT_ERR_SIZE (limit < 0), #SPT_ERR_IO (a file is missing or
 *         unreadable), #SPT_ERR_FORMAT (a file's size is not 10000 records
 *         of 3073 bytes, or a label is > 9), #SPT_ERR_NOMEM. */
SPT_API int spt_dataset_load_cifar10(const char *dir, int split, int64_t limit, spt_dataset **out);

/** Load CIFAR-10-format files given by path, in the order given.
 * Each file holds any positive whole number of 3073-byte records (same
 * record layout as in spt_dataset_load_cifar10()). For subsets and
 * hand-made files; the standard directory is easier with
 * spt_dataset_load_cifar10(). Thread-safe.
 * @param[out] out receives the new dataset (NULL on failure). Caller owns it.
 * @param paths   array of n_paths NUL-terminated paths.
 * @param n_paths number of paths, >= 1.
 * @param limit   load only the first `limit` examples; 0 = all.
 * @return #SPT_OK, #SPT_ERR_NULL (out, paths or one path NULL),
 *         #SPT_ERR_SIZE (n_paths < 1 or limit < 0), #SPT_ERR_IO,
 *         #SPT_ERR_FORMAT (a size of 0 or not a multiple of 3073, a label
 *         > 9), #SPT_ERR_NOMEM. */
SPT_API int spt_dataset_load_cifar10_files(const char *const *paths, int n_paths, int64_t limit, spt_dataset **out);

/** Load an IDX image file and label file (the MNIST / Fashion-MNIST format).
 * The image file has magic 0x00000803 (unsigned bytes, 3 dimensions) and
 * the big-endian dimensions N, rows, cols; the label file magic 0x00000801
 * and N; then the bytes. Either file may be gzip-compressed or plain: the
 * content decides, not the name. The result has C = 1, H = rows,
 * W = cols, classes = 10, byte pixels. Thread-safe.
 * @param[out] out receives the new dataset (NULL on failure). Caller owns it.
 * @param images_path the image file.
 * @param labels_path the label file.
 * @param limit load only the first `limit` examples; 0 = all. Both files
 *              are read to the end whatever the limit, so that a truncated
 *              or overlong file is always reported.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE (limit < 0), #SPT_ERR_IO
 *         (missing or unreadable file), #SPT_ERR_FORMAT (wrong magic, a
 *         zero dimension, image and label counts that differ, a file shorter
 *         or longer than its header says, corrupt gzip data, a label > 9),
 *         #SPT_ERR_NOMEM. */
SPT_API int spt_dataset_load_idx(const char *images_path, const char *labels_path, int64_t limit, spt_dataset **out);

/** Load MNIST or Fashion-MNIST (28 x 28 IDX files) from a directory.
 * For each file the first name that exists is used, e.g. for the test
 * images: t10k-images-idx3-ubyte.gz, t10k-images-idx3-ubyte,
 * t10k-images.idx3-ubyte (the distributed name, its unpacked form, and a
 * common renaming). Thread-safe.
 * @param[out] out receives the new dataset (NULL on failure). Caller owns it.
 * @param dir   the directory, or NULL for #SPT_FASHION_MNIST_DIR.
 * @param split #SPT_SPLIT_TRAIN reads train-images / train-labels,
 *              #SPT_SPLIT_TEST reads t10k-images / t10k-labels.
 * @param limit as for spt_dataset_load_idx() (0 = all).
 * @return what spt_dataset_load_idx() returns, and #SPT_ERR_INVALID (split),
 *         #SPT_ERR_IO (no candidate name exists: the message names the
 *         directory and the first name tried), #SPT_ERR_FORMAT (images not
 *         28 x 28). */
SPT_API int spt_dataset_load_mnist(const char *dir, int split, int64_t limit, spt_dataset **out);

/* ==== from caller arrays =================================================== */

/** Make a dataset from float pixels, copied (the caller keeps its arrays).
 * Pixel values are used as given (scale 1). Thread-safe.
 * @param[out] out receives the new dataset (NULL on failure). Caller owns it.
 * @param images n*c*h*w floats, layout "N x C x H x W" (example-major); all
 *               finite.
 * @param labels n int32 labels, each in 0 .. classes-1.
 * @param n number of examples, >= 1.
 * @param c channels, >= 1.
 * @param h height, >= 1.
 * @param w width, >= 1.
 * @param classes number of classes, >= 1.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE (a count < 1 or a product
 *         that overflows), #SPT_ERR_INVALID (a label out of range),
 *         #SPT_ERR_NONFINITE (a NaN or Inf pixel), #SPT_ERR_NOMEM. */
SPT_API int spt_dataset_from_float(const float *images, const int32_t *labels, int64_t n,
                                   int64_t c, int64_t h, int64_t w, int64_t classes, spt_dataset **out);

/** Make a dataset from byte pixels (0..255, scaled by 1/255 when batches
 * are built), copied. Thread-safe.
 * @param[out] out receives the new dataset (NULL on failure). Caller owns it.
 * @param images n*c*h*w bytes, layout "N x C x H x W".
 * @param labels n int32 labels, each in 0 .. classes-1.
 * @param n number of examples, >= 1.
 * @param c channels, >= 1.
 * @param h height, >= 1.
 * @param w width, >= 1.
 * @param classes number of classes, >= 1.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE, #SPT_ERR_INVALID (a label
 *         out of range), #SPT_ERR_NOMEM. */
SPT_API int spt_dataset_from_u8(const uint8_t *images, const int32_t *labels, int64_t n,
                                int64_t c, int64_t h, int64_t w, int64_t classes, spt_dataset **out);

/** Release a dataset. NULL is a no-op. Destroy every batcher over it first.
 * @param ds the dataset, or NULL. */
SPT_API void spt_dataset_destroy(spt_dataset *ds);

/* ==== shape and contents ================================================== */

/** The dataset's sizes. Each output pointer may be NULL (not wanted).
 * Reads ds only.
 * @param ds the dataset.
 * @param[out] count    number of examples N.
 * @param[out] channels C of one example.
 * @param[out] height   H of one example.
 * @param[out] width    W of one example (an example is F = C*H*W floats).
 * @param[out] classes  labels lie in 0 .. classes-1.
 * @return #SPT_OK, or #SPT_ERR_NULL if ds is NULL. */
SPT_API int spt_dataset_info(const spt_dataset *ds, int64_t *count, int64_t *channels, int64_t *height,
                             int64_t *width, int64_t *classes);

/** Build a batch of chosen examples, normalised, without augmentation.
 * Examples indices[0..n-1] are written in that order (repeats allowed).
 * Reads ds only.
 * @param ds the dataset.
 * @param indices n example indices, each in 0 .. N-1.
 * @param n number of examples, >= 1.
 * @param[out] x receives C*H*W*n floats, layout "C x H x W x B" with B = n.
 * @param x_len capacity of x in floats, >= C*H*W*n.
 * @param[out] labels receives n int32 labels; may be NULL if not wanted.
 * @return #SPT_OK, #SPT_ERR_NULL (ds, indices or x NULL), #SPT_ERR_SIZE
 *         (n < 1, x_len too small), #SPT_ERR_INVALID (an index out of
 *         range; nothing is written). */
SPT_API int spt_dataset_gather(const spt_dataset *ds, const int64_t *indices, int64_t n, float *x, int64_t x_len,
                               int32_t *labels);

/** Copy all N labels, in example order. Reads ds only.
 * @param ds the dataset.
 * @param[out] labels receives N int32 labels.
 * @param labels_len capacity of labels, >= N.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE (labels_len too small). */
SPT_API int spt_dataset_labels(const spt_dataset *ds, int32_t *labels, int64_t labels_len);

/* ==== normalisation ======================================================== */

/** Per-channel mean and population standard deviation of the dataset's
 * scaled pixels (bytes divided by 255; floats as given), over all examples
 * and positions, computed in double precision. The dataset's current
 * normalisation is ignored. A channel with zero variance reports std 1, so
 * that the result can always be passed to spt_dataset_set_normalization().
 * Typical use: compute on the training set, then set the same values on
 * the training and the test set. Reads ds only.
 * @param ds the dataset.
 * @param[out] mean receives `channels` means.
 * @param[out] std  receives `channels` standard deviations.
 * @param channels length of mean and std; must equal C.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE (channels != C). */
SPT_API int spt_dataset_compute_mean_std(const spt_dataset *ds, float *mean, float *std, int64_t channels);

/** Set the normalisation applied to every later batch:
 * `out = (scale*pixel - mean[c]) / std[c]`. Changes ds: no other thread
 * may use ds (or a batcher over it) meanwhile.
 * @param ds the dataset.
 * @param mean `channels` finite means (copied), or NULL together with std to
 *             remove the normalisation (mean 0, std 1).
 * @param std  `channels` standard deviations (copied), each finite and > 0
 *             and not so small that 1/std overflows; or NULL with mean.
 * @param channels length of mean and std; must equal C.
 * @return #SPT_OK, #SPT_ERR_NULL (ds NULL, or only one of mean and std
 *         NULL), #SPT_ERR_SIZE (channels != C), #SPT_ERR_INVALID (a bad
 *         value; the previous normalisation is kept). */
SPT_API int spt_dataset_set_normalization(spt_dataset *ds, const float *mean, const float *std, int64_t channels);

/** Read the current normalisation. Reads ds only.
 * @param ds the dataset.
 * @param[out] mean receives C means; may be NULL.
 * @param[out] std  receives C standard deviations; may be NULL.
 * @param channels length of mean and std; must equal C.
 * @return #SPT_OK, #SPT_ERR_NULL (ds NULL), #SPT_ERR_SIZE (channels != C). */
SPT_API int spt_dataset_get_normalization(const spt_dataset *ds, float *mean, float *std, int64_t channels);

/* ==== subsets ============================================================== */

/** New dataset holding copies of examples start .. start+count-1 with the
 * same normalisation: e.g. the first n for a quick run, or the last n as a
 * validation set. Reads ds only.
 * @param[out] out receives the new dataset (NULL on failure). Caller owns it.
 * @param ds    the source dataset.
 * @param start first example, >= 0.
 * @param count number of examples, >= 1, with start + count <= N.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE (the range is empty or not
 *         inside the dataset), #SPT_ERR_NOMEM. */
SPT_API int spt_dataset_subset(const spt_dataset *ds, int64_t start, int64_t count, spt_dataset **out);

/** Split a dataset at random into two new ones. `holdout` gets n_holdout
 * examples drawn without replacement by a generator seeded with `seed`,
 * `rest` the other N - n_holdout; both keep the original relative order and
 * the normalisation. Same seed, same split. Reads ds only.
 * @param ds        the source dataset (unchanged).
 * @param n_holdout size of the holdout, in 1 .. N-1.
 * @param seed      seed of the draw.
 * @param[out] rest    receives the N - n_holdout other examples. Caller owns it.
 * @param[out] holdout receives the holdout. Caller owns it.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE (n_holdout out of range),
 *         #SPT_ERR_NOMEM. On failure both outputs are NULL. */
SPT_API int spt_dataset_split_random(const spt_dataset *ds, int64_t n_holdout, uint64_t seed, spt_dataset **rest,
                                     spt_dataset **holdout);

/* ==== batcher ============================================================== */

/** Flags of spt_batcher_create(), OR-ed together. */
enum spt_batch_flags {
    SPT_BATCH_SHUFFLE = 1,  /**< a new seeded random order every epoch (else 0 .. N-1) */
    SPT_BATCH_DROP_LAST = 2 /**< skip the last batch of an epoch when it is short */
};

/** Create an iterator over a dataset in mini-batches of `batch_size`.
 * The order of epoch e is a function of (seed, e) only, and the
 * augmentation of the example at position p of epoch e a function of
 * (seed, e, p) only. So the stream of examples is reproducible from the
 * seed, the same whatever the batch size (only the cut into batches
 * differs) and whatever thread runs it. A new batcher starts at epoch 0,
 * position 0, without augmentation. Reads ds only.
 * @param[out] out receives the new batcher (NULL on failure). Caller owns it.
 * @param ds borrowed, not copied: it must outlive the batcher and must not
 *           be changed while a batch is being built.
 * @param batch_size examples per batch, >= 1; with #SPT_BATCH_DROP_LAST
 *           also <= N.
 * @param flags 0, or #SPT_BATCH_SHUFFLE and/or #SPT_BATCH_DROP_LAST.
 * @param seed drives the order of every epoch and the augmentation.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE (batch_size),
 *         #SPT_ERR_INVALID (unknown flag bits), #SPT_ERR_NOMEM. */
SPT_API int spt_batcher_create(const spt_dataset *ds, int64_t batch_size, int flags,
                               uint64_t seed, spt_batcher **out);

/** Release a batcher (not its dataset). NULL is a no-op.
 * @param b the batcher, or NULL. */
SPT_API void spt_batcher_destroy(spt_batcher *b);

/** Random augmentation of the batches that follow. Typical for CIFAR-10:
 * crop_pad 4, hflip 1. For every example independently:
 * - crop: with crop_pad > 0 the image is shifted by dy, dx drawn uniformly
 *   from -crop_pad .. crop_pad: `out(c,h,w) = in(c, h+dy, w+dx)`, and 0
 *   where h+dy or w+dx falls outside the image. This equals padding
 *   crop_pad pixels on every side and cropping H x W at a random place.
 *   The 0 fill is in the produced (normalised) values, i.e. the padding
 *   takes the channel's mean.
 * - flip: with hflip nonzero, with probability 1/2 the cropped image is
 *   mirrored left-right: `out(c,h,w) = cropped(c, h, W-1-w)`.
 *
 * crop_pad 0 and hflip 0 turn augmentation off (the default).
 * @param b the batcher.
 * @param crop_pad largest shift, in 0 .. min(H, W).
 * @param hflip nonzero for random horizontal flips.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_INVALID (crop_pad out of range). */
SPT_API int spt_batcher_set_augment(spt_batcher *b, int64_t crop_pad, int hflip);

/** Produce the next batch of the current epoch.
 * Every example appears exactly once per epoch (less the dropped tail with
 * #SPT_BATCH_DROP_LAST). At the end of an epoch the call yields B = 0 and
 * starts the next epoch, so a training loop reads:
 * @code
 * for (int epoch = 0; epoch < epochs; epoch++) {
 *     int64_t B;
 *     while ((rc = spt_batcher_next(b, x, x_len, y, y_len, &B)) == SPT_OK && B > 0)
 *         train_step(x, y, B);
 * }
 * @endcode
 * @param b the batcher.
 * @param[out] x receives C*H*W*B floats, layout "C x H x W x B".
 * @param x_len capacity of x in floats, >= C*H*W*batch_size.
 * @param[out] labels receives B int32 labels.
 * @param labels_len capacity of labels, >= batch_size.
 * @param[out] batch receives B: batch_size, or fewer on the last batch of
 *             an epoch (never fewer with #SPT_BATCH_DROP_LAST), or 0 at the
 *             end of an epoch.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE (a buffer too small; the
 *         batcher does not advance). */
SPT_API int spt_batcher_next(spt_batcher *b, float *x, int64_t x_len, int32_t *labels, int64_t labels_len,
                             int64_t *batch);

/** Deal each batch out over `size` processes (data-parallel training,
 * sparsetrain/comm.h): from then on spt_batcher_next() of the process of
 * rank `rank` gives the examples [B r / size, B (r+1) / size) of the batch of
 * B examples that a batcher without a shard would give (the same shuffled
 * order and augmentation draws on every rank, from the seed), and *batch is
 * that share's size; the position (spt_batcher_get_state()) still moves by
 * B, so checkpoints and batches_per_epoch are the global ones. A batch too
 * small to give every rank an example fails with #SPT_ERR_SIZE. rank 0 of
 * size 1 is the default (the whole batch).
 * @param b the batcher.
 * @param rank this process's rank, 0 .. size - 1.
 * @param size the number of processes, >= 1 and <= the batch size.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_INVALID (rank or size out of
 *         range), #SPT_ERR_SIZE (batch_size < size). Threads: not while
 *         another call uses b. */
SPT_API int spt_batcher_set_shard(spt_batcher *b, int rank, int size);

/** Number of batches spt_batcher_next() yields per epoch, not counting the
 * closing 0: ceil(N / batch_size), or floor with #SPT_BATCH_DROP_LAST.
 * @param b the batcher.
 * @param[out] batches receives the count.
 * @return #SPT_OK, #SPT_ERR_NULL. */
SPT_API int spt_batcher_batches_per_epoch(const spt_batcher *b, int64_t *batches);

/** The batcher's position, as plain numbers for a checkpoint.
 * spt_batcher_set_state() with these three values, on a batcher over the
 * same dataset with the same batch size, flags and augmentation, continues
 * with exactly the same batches, bit for bit.
 * @param b the batcher.
 * @param[out] epoch    epochs completed so far (0 at creation); may be NULL.
 * @param[out] position examples of the current epoch already delivered
 *                      (0 .. N); may be NULL.
 * @param[out] seed     the seed of the order and the augmentation; may be NULL.
 * @return #SPT_OK, #SPT_ERR_NULL (b NULL). */
SPT_API int spt_batcher_get_state(const spt_batcher *b, int64_t *epoch, int64_t *position, uint64_t *seed);

/** Move the batcher to (epoch, position) of the stream of `seed`.
 * @param b the batcher.
 * @param epoch    epochs completed, >= 0.
 * @param position examples of that epoch already delivered, 0 .. N.
 * @param seed     seed of the order and the augmentation from now on.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_INVALID (epoch or position out
 *         of range; the batcher is unchanged). */
SPT_API int spt_batcher_set_state(spt_batcher *b, int64_t epoch, int64_t position, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
