/** @file
 * Checkpoints: save a training run to one file and resume it exactly.
 *
 * A checkpoint holds everything the next training step depends on: the
 * architecture (the model's network description, sparsetrain/net.h: any
 * model, the built-in MLP and ResNet included), every parameter in its current form (dense,
 * masked, or sparse as CSR: only the nonzeros are stored), the optimizer's
 * slots (momentum, Adam moments) and scalar state, batch-norm running
 * statistics and dropout rates, the learning-rate schedule, the sparse
 * method's configuration and scheduler state, the step and round counters,
 * the random states of the trainer and the model and, when a batcher is
 * given, the batcher's position (epoch, position, seed).
 *
 * Resuming is exact: training N steps, saving, and training M more gives
 * bit for bit the parameters and losses of loading the checkpoint and
 * training the same M steps (same machine and thread count, so that the
 * kernels make the same choices).
 *
 * The file format is little-endian, versioned, sectioned and checksummed
 * (CRC-32); docs/checkpoint-format.md describes it byte by byte.
 *
 * Thread-safety: as for the trainer: do not use the trainer, its model or
 * the batcher from another thread during a call.
 */
#ifndef SPARSETRAIN_CHECKPOINT_H
#define SPARSETRAIN_CHECKPOINT_H

#include "core.h"
#include "data.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the checkpoint file format this library writes. It reads
 * this version and every older one; a newer file gives #SPT_ERR_VERSION. */
#define SPT_CHECKPOINT_FORMAT_VERSION 2

/**
 * Save a training run to `path`, atomically.
 *
 * The checkpoint is first written in full to "<path>.tmp" in the same
 * directory, flushed and fsync'ed, then renamed over `path`, and the
 * directory is fsync'ed. A crash or a failure at any point leaves the
 * previous file at `path` intact (a stale "<path>.tmp" may remain after a
 * crash; the next save replaces it). The image is encoded straight into
 * the temporary file through a memory mapping, so saving holds no copy of
 * the model in memory (its blocks are reserved first: a full disk is an
 * #SPT_ERR_IO, not a crash).
 *
 * @param t        the trainer (read only).
 * @param batcher  the batcher feeding the run, whose position (epoch,
 *                 position in the epoch, seed) is saved; may be NULL.
 * @param path     the file to write (replaced if it exists).
 * @return SPT_OK; SPT_ERR_NULL (t or path); SPT_ERR_INVALID (empty path);
 *         SPT_ERR_UNSUPPORTED (a trainer around a caller's own method
 *         object); SPT_ERR_IO (the file or the
 *         temporary file cannot be created, written, synced or renamed:
 *         the message names the file and the system's reason);
 *         SPT_ERR_NOMEM. On failure the file at `path` is unchanged.
 */
SPT_API int spt_trainer_save(const spt_trainer *t, const spt_batcher *batcher, const char *path);

/** Largest note spt_trainer_save_note() stores, in bytes. */
#define SPT_CHECKPOINT_NOTE_MAX 65536

/**
 * spt_trainer_save() with an application's note: up to
 * #SPT_CHECKPOINT_NOTE_MAX bytes that the library stores as they are (an
 * optional section, which readers older than this call skip) and never
 * interprets, e.g. the settings of the program that ran the training, so
 * that the program can check a resumed run against them (the example
 * programs do). spt_checkpoint_read_note() reads it back without loading
 * the run; spt_trainer_load() ignores it. spt_trainer_save() is this call
 * with no note.
 * @param t, batcher, path as for spt_trainer_save().
 * @param note      the bytes; may be NULL when note_len is 0.
 * @param note_len  in [0, #SPT_CHECKPOINT_NOTE_MAX]; 0 stores no note.
 * @return as spt_trainer_save(); also #SPT_ERR_SIZE (note_len out of
 *         range) and #SPT_ERR_NULL (note NULL with note_len > 0), before
 *         anything is written.
 */
SPT_API int spt_trainer_save_note(const spt_trainer *t, const spt_batcher *batcher, const void *note,
                                  int64_t note_len, const char *path);

/**
 * The note of a checkpoint (spt_trainer_save_note()), without loading the
 * run: the file is read and checked as spt_trainer_load() checks it
 * (header, version, checksum, every section's fields) but no model is
 * built, so a program can look at its own settings before it loads its
 * data.
 * @param path      the checkpoint file.
 * @param buf       receives the note (not NUL terminated); may be NULL
 *                  when cap is 0 (to ask for the length).
 * @param cap       bytes available at buf, >= 0; #SPT_CHECKPOINT_NOTE_MAX
 *                  always suffices.
 * @param[out] len  the note's length; 0 when the checkpoint has none (saved
 *                  by spt_trainer_save(), or by an older library).
 * @return #SPT_OK; #SPT_ERR_NULL (path or len, or buf with cap > 0);
 *         #SPT_ERR_SIZE (cap < 0, or a note longer than cap: *len holds its
 *         length and buf is unchanged); for the file, as spt_trainer_load():
 *         #SPT_ERR_IO, #SPT_ERR_FORMAT, #SPT_ERR_CHECKSUM, #SPT_ERR_VERSION,
 *         #SPT_ERR_NOMEM, with a message naming the file.
 */
SPT_API int spt_checkpoint_read_note(const char *path, void *buf, int64_t cap, int64_t *len);

/**
 * Load a checkpoint: build a new model and a new trainer over it in the
 * saved state, ready to continue with the next step.
 *
 * The model is built by its builder from the saved architecture and seed,
 * the trainer by spt_trainer_create() with the saved optimizer, schedule,
 * method configuration, run length and seed; then every saved value
 * replaces the fresh one (parameters in their saved form, slots, running
 * statistics, counters, random states, the method's scheduler state).
 *
 * Every field is validated; every length or count in the file is checked
 * against the bytes that remain before anything is allocated, and the
 * model the file describes may hold at most 2^24 + 1024 x (file size in
 * bytes) weights, so a hostile file cannot make the loader allocate much
 * more than its own size.
 *
 * @param path         the checkpoint file.
 * @param[out] model_out    receives the new model (NULL on failure); the
 *                          caller destroys it with spt_model_destroy(),
 *                          after the trainer.
 * @param[out] trainer_out  receives the new trainer over *model_out (NULL
 *                          on failure); destroy it with spt_trainer_destroy().
 * @param batcher      may be NULL; otherwise a batcher over the same data,
 *                     batch size and flags as the saved run's: it is moved
 *                     to the saved position (spt_batcher_set_state()), so
 *                     the next batches are the ones the saved run would
 *                     have seen. Unchanged on failure.
 * @return SPT_OK; SPT_ERR_NULL (path, model_out or trainer_out);
 *         SPT_ERR_IO (the file cannot be opened or read); SPT_ERR_FORMAT
 *         (not a checkpoint, truncated, or a field out of range);
 *         SPT_ERR_CHECKSUM (the content does not match its checksum);
 *         SPT_ERR_VERSION (written by a newer format version);
 *         SPT_ERR_STATE (a batcher was given but the checkpoint holds no
 *         batcher state); SPT_ERR_INVALID (the saved position does not fit
 *         the batcher's data); SPT_ERR_NOMEM. Messages name the file and
 *         the problem, e.g. "spt_trainer_load: run.ckpt: checksum mismatch
 *         (...)". On failure nothing is returned and nothing leaks.
 */
SPT_API int spt_trainer_load(const char *path, spt_model **model_out, spt_trainer **trainer_out,
                             spt_batcher *batcher);

#ifdef __cplusplus
}
#endif
#endif
