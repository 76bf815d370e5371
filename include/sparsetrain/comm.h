/** @file
 * Communicators: the collective operations data-parallel training needs,
 * behind a small table of functions that a distributed engine fills in.
 *
 * libsparsetrain itself knows no engine. An #spt_comm is a table of three
 * collectives (#spt_comm_ops) over a context the caller owns; the optional
 * component `libsparsetrain_mpi` (`sparsetrain/mpi.h`,
 * spt_comm_create_mpi()) fills it in over an MPI communicator, and any other
 * engine can do the same with spt_comm_create().
 *
 * Attached to a trainer (spt_trainer_set_comm()) and to a batcher
 * (spt_batcher_set_shard()), it makes every rank hold the whole model and
 * train on its share of each global batch; per step the ranks agree on a
 * status (one rank's failure stops every rank with its message), sum the
 * gradients of the stored nonzeros (plus biases and batch-norm parameters),
 * and, after a topology update, compare a checksum of their masks. The
 * details, costs and limits: docs/distributed.md.
 *
 * Every collective is called by every rank in the same order: the trainer
 * calls them from spt_trainer_set_comm(), spt_trainer_step() and
 * spt_trainer_train_epoch(), so all ranks must make those calls together.
 *
 * Threads: an #spt_comm is used by one thread at a time (the library calls
 * its functions from the thread that called the trainer, never from its
 * OpenMP workers).
 */
#ifndef SPARSETRAIN_COMM_H
#define SPARSETRAIN_COMM_H

#include <stdint.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A communicator handle: rank, size, the collectives and byte counters.
 * Create with spt_comm_create() (or spt_comm_create_mpi()), free with
 * spt_comm_destroy(). */
typedef struct spt_comm spt_comm;

/** Operations of #spt_comm_ops::allreduce_u64. */
typedef enum spt_comm_op {
    SPT_COMM_SUM = 0, /**< the sum (modulo 2^64) */
    SPT_COMM_MAX = 1  /**< the largest value */
} spt_comm_op;

/** The collectives an engine provides. Each returns 0 on success and
 * anything else on failure (the trainer then fails with #SPT_ERR_CALLBACK;
 * an engine that cannot fail cleanly, e.g. MPI's default error handler,
 * may also end the processes itself). `ctx` is the pointer given to
 * spt_comm_create(). */
typedef struct spt_comm_ops {
    /** Sum `buf[0..n)` over all ranks, in place, n >= 0. Every rank must get
     * the same bits (the library relies on it: identical masks follow from
     * identical sums), and the order of the additions must be a function of
     * the rank count alone, so that a run is reproducible. */
    int (*allreduce_f32)(void *ctx, float *buf, int64_t n);
    /** Reduce `buf[0..n)` over all ranks with `op` (#spt_comm_op), in place. */
    int (*allreduce_u64)(void *ctx, uint64_t *buf, int64_t n, int op);
    /** Copy `bytes` bytes at `buf` from rank `root` to every rank. */
    int (*broadcast)(void *ctx, void *buf, int64_t bytes, int root);
    /** Free `ctx` when the communicator is destroyed (NULL: nothing). */
    void (*destroy)(void *ctx);
} spt_comm_ops;

/** Traffic counted by a communicator: calls and payload bytes (the data
 * handed to each collective on this rank, not the engine's wire traffic;
 * docs/scaling.md turns payload into wire bytes). */
typedef struct spt_comm_stats {
    int64_t calls;       /**< collectives called */
    int64_t f32_bytes;   /**< payload of allreduce_f32 (4 bytes per float) */
    int64_t u64_bytes;   /**< payload of allreduce_u64 (8 bytes per value) */
    int64_t bcast_bytes; /**< payload of broadcast */
} spt_comm_stats;

/** Make a communicator of `size` ranks of which this process is `rank`,
 * calling `ops` on `ctx`. `*ops` is copied; `ctx` is borrowed, or owned
 * when `ops->destroy` is set (freed by spt_comm_destroy(), and by this call
 * when it fails). All three collectives are required.
 * @param ops the engine's collectives (copied).
 * @param ctx the engine's context, passed to every collective.
 * @param rank this process's rank, 0 .. size - 1.
 * @param size the number of ranks, >= 1.
 * @param[out] out the new communicator; NULL on failure.
 * @return #SPT_OK; #SPT_ERR_NULL (ops, a collective or out NULL);
 * #SPT_ERR_INVALID (size < 1, rank outside [0, size)); #SPT_ERR_NOMEM.
 * Threads: any. */
SPT_API int spt_comm_create(const spt_comm_ops *ops, void *ctx, int rank, int size, spt_comm **out);
/** Free a communicator (calling ops->destroy on its context if set). Not
 * while a trainer still uses it.
 * @param c the communicator, or NULL (nothing). */
SPT_API void spt_comm_destroy(spt_comm *c);
/** This process's rank.
 * @param c the communicator.
 * @return the rank, or -1 for NULL. */
SPT_API int spt_comm_rank(const spt_comm *c);
/** The number of ranks.
 * @param c the communicator.
 * @return the size, or -1 for NULL. */
SPT_API int spt_comm_size(const spt_comm *c);
/** The traffic counted since creation or the last spt_comm_reset_stats().
 * @param c the communicator.
 * @param[out] stats receives the counters.
 * @return #SPT_OK or #SPT_ERR_NULL. */
SPT_API int spt_comm_get_stats(const spt_comm *c, spt_comm_stats *stats);
/** Set the counters to zero.
 * @param c the communicator, or NULL (nothing). */
SPT_API void spt_comm_reset_stats(spt_comm *c);

/** The trainer (sparsetrain/train.h). */
typedef struct spt_trainer spt_trainer;

/**
 * Train data-parallel over a communicator: from now on every rank's
 * spt_trainer_step() is one step of the global batch made of all ranks'
 * examples (docs/distributed.md). Collective: every rank calls it, with
 * trainers built alike (same model, method, optimizer, schedule, seeds and
 * total_steps, or the same checkpoint loaded). It compares a checksum of
 * the ranks' models (weights, masks, running statistics, step) and refuses
 * with #SPT_ERR_STATE on every rank when they differ. Dropout then draws
 * from a stream per rank and step, keyed by the model's stream, which
 * moves on alike on every rank (so any rank's checkpoint resumes all).
 *
 * Once attached, these calls are collective (every rank makes them, in the
 * same order, with the same arguments but its own examples):
 * spt_trainer_step(), spt_trainer_train_epoch() (with a batcher whose
 * spt_batcher_set_shard() matches the communicator's rank and size),
 * spt_trainer_prepare(), spt_trainer_evaluate() (each rank evaluates its
 * share of the data set; the results are the whole set's). A step's `loss`
 * and `correct` are the global batch's. A failure on any rank (bad data,
 * a non-finite loss, out of memory) fails the call on every rank with the
 * failing rank's status and message ("rank r of p: ..." on the others),
 * before any weight changes; after every topology update the ranks compare
 * a checksum of their masks and stop with #SPT_ERR_STATE when they differ.
 * A failure after the gradients were summed that leaves the ranks at
 * different steps makes every later step fail with #SPT_ERR_STATE.
 * Everything else (checkpoints, statistics, layer info) stays local.
 *
 * @param t the trainer.
 * @param c the communicator, borrowed: it must outlive the trainer or be
 *          detached first. NULL, or a communicator of one rank, detaches
 *          (no collective then).
 * @return #SPT_OK; #SPT_ERR_NULL (t); #SPT_ERR_STATE (the ranks' models
 *         differ); #SPT_ERR_NOMEM; #SPT_ERR_CALLBACK (the engine failed).
 * Threads: not while another call uses t.
 */
SPT_API int spt_trainer_set_comm(spt_trainer *t, spt_comm *c);
/**
 * Synchronised batch-norm statistics (SyncBatchNorm) in data-parallel
 * training: each batch norm normalises with the mean and variance of the
 * global batch (all ranks' examples), and its backward uses the global
 * batch's sums, as one process training on the whole batch would. It costs
 * two sums of C + 1 and C floats per batch norm in the forward and one of
 * 2C in the backward (C channels), each a round trip between the ranks.
 * Off by default: each rank normalises with its own examples' statistics
 * (as PyTorch's DistributedDataParallel does), the running statistics
 * being averaged over the ranks after every step either way. No effect
 * without a communicator. Not saved in checkpoints (set it again after
 * loading).
 * @param t the trainer.
 * @param on 1 to synchronise, 0 (the default) not to.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_INVALID (on not 0 or 1).
 * Threads: not while another call uses t.
 */
SPT_API int spt_trainer_set_sync_batchnorm(spt_trainer *t, int on);

/** The communicator attached to a trainer.
 * @param t the trainer.
 * @param[out] c receives it (NULL: none).
 * @return #SPT_OK or #SPT_ERR_NULL. */
SPT_API int spt_trainer_get_comm(const spt_trainer *t, spt_comm **c);

#ifdef __cplusplus
}
#endif

#endif
