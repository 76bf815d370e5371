/*
 * Communicators (public sparsetrain/comm.h): the handle, the counted
 * collectives the library calls, and the per-step agreement on a status.
 */
#ifndef SPTI_COMM_H
#define SPTI_COMM_H

#include <stdbool.h>
#include <stdint.h>

#include "sparsetrain/comm.h"

struct spt_comm {
    spt_comm_ops ops;
    void *ctx;
    int rank, size;
    spt_comm_stats stats;
};

/* How a gradient computed on this rank's share of the batch becomes the
 * global batch's: multiply by `scale` (this rank's examples / all ranks'
 * examples), then sum over `comm`. Passed down to the kernels that reduce
 * while they stream (kernels/grow_collector.h). */
typedef struct spti_reduce {
    spt_comm *comm;
    float scale;
    bool sync_bn; /* batch norms normalise with the global batch's statistics */
} spti_reduce;

/* The collectives, counted; a failure of the engine is SPT_ERR_CALLBACK
 * with a message naming `what`. */
int spti_comm_sum_f32(spt_comm *c, float *buf, int64_t n, const char *what);
int spti_comm_u64(spt_comm *c, uint64_t *buf, int64_t n, int op, const char *what);
int spti_comm_bcast(spt_comm *c, void *buf, int64_t bytes, int root, const char *what);

/* Collective: every rank passes its status `rc` (its message in
 * spt_last_error when rc != SPT_OK). Returns SPT_OK when every rank passed
 * SPT_OK; otherwise every rank returns the status of the lowest failing
 * rank, with that rank's message (prefixed "rank r of p: " on the others). */
int spti_comm_agree(spt_comm *c, int rc);
/* spti_comm_agree that also takes the largest over the ranks of vals[0..n)
 * (in place, n <= SPTI_COMM_AGREE_MAX) in the same collective. */
#define SPTI_COMM_AGREE_MAX 7
int spti_comm_agree_max(spt_comm *c, int rc, uint64_t *vals, int n);

#endif
