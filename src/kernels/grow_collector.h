/*
 * Streaming growth candidates (RigL without a rows x cols dense gradient).
 *
 * On a RigL update step a SPARSE linear or convolution layer computes its
 * dense gradient dY . X^T (a convolution's X: its im2col columns, or its
 * input when pointwise) in blocks of spti_grad_blocks rows into a small
 * scratch, and hands each block, still in cache, to the param's collector.
 * The blocks are the products of the full dense_grad path (nn/linear.c):
 * row blocks of spti_grad_block_rows(cols), or one group of a grouped
 * convolution per block, so both paths see bit-identical gradients.
 * The blocks are streamed from the largest dY rows down (the threshold
 * rises early); within a block positions increase. The collector keeps
 * every inactive position whose |g| may still be among the k largest of
 * the inactive ones: a candidate buffer of ~4k entries with a running
 * threshold t, the lower edge of the 16-bit key bucket holding the k-th
 * largest buffered key (an incremental histogram; raised after each block,
 * the buffer compacted to the keys >= t when full). t never exceeds the
 * k-th largest, so every key at or above the final threshold stays, ties
 * included. It also keeps
 * the gradient at the active positions (CSR order) and the first
 * non-finite entry. Growth (spti_grow_by_collector) then merges the
 * inactive candidates with the dropped active positions and selects
 * exactly as spti_grow_by_score does over the full matrix: the result is
 * the same positions, ties included.
 */
#ifndef SPTI_GROW_COLLECTOR_H
#define SPTI_GROW_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/comm.h"
#include "kernels.h"

/* One streaming lane: the state of one thread's share of the row blocks
 * (the collector has one lane per thread that streams). */
typedef struct spti_grow_lane {
    float t;           /* running threshold: keys below it are out (-inf at start) */
    float *key;        /* candidates: |g| (NaN as -1), increasing position inside each block */
    int64_t *pos;      /* their positions row*cols + col */
    int64_t n, cap;
    uint32_t *hist;    /* 2^16 bucket counts of the buffered keys */
    /* The stream's buffers, carved from spti_grow_collect's scratch (NULL
     * outside the call): */
    float *block;      /* block_rows x cols scratch of the blocked product */
    uint8_t *kept;     /* cols zero bytes: marks of one row's active columns */
    int32_t *idx;      /* cols: the columns of one row passing the threshold */
    int64_t nonfinite; /* first non-finite position this lane saw, -1 none */
    int rc;            /* status of this lane's share */
    char err[256];     /* its message (spt_last_error is per thread) */
} spti_grow_lane;

typedef struct spti_grow_collector {
    int64_t k;          /* the growth count it collects for (> 0) */
    /* The merged candidates after a backward (lane 0's buffers): every
     * inactive position whose key >= t, grouped by row block, increasing
     * position inside a block. */
    float t;
    float *key;
    int64_t *pos;
    int64_t n;
    float *active;      /* nnz: the dense gradient at the active entries, CSR order */
    int64_t nnz;
    float *bscore;      /* per row block: its largest squared dY row norm */
    int64_t *order;     /* row blocks in the order they are streamed */
    int64_t nblk;       /* blocks bscore and order hold */
    spti_grow_lane *lane;
    int n_lanes;
    int64_t block_rows; /* rows per block: candidates are sorted by block, then position */
    int64_t groups;     /* > 1: a grouped convolution's weight, one block per group */
    int64_t nonfinite;  /* a non-finite position of the gradient, -1 none */
    bool filled;        /* a backward has streamed this whole weight since begin */
    bool synced;        /* data-parallel: this step's collectives over the ranks are done */
    bool simd;          /* the AVX-512 row pass may run */
} spti_grow_collector;

/* Rows per block of the blocked weight-gradient product for a matrix of
 * `cols` columns. The full dense_grad path uses the same blocks, so both
 * paths see bit-identical gradients. */
int64_t spti_grad_block_rows(int64_t cols);
/* Rows per block of a rows x cols weight whose rows form `groups`
 * independent groups (a grouped convolution; 1 or less: not grouped): one
 * group per block (the full path's product per group), else
 * spti_grad_block_rows(cols). */
int64_t spti_grad_blocks(int64_t rows, int64_t cols, int64_t groups);

/* Make *c ready to collect the k (> 0) best growth candidates of a
 * weight of pattern m (rows in `groups` groups, see spti_grad_blocks) over
 * one backward streamed by n_lanes (>= 1) threads: (re)allocated as
 * needed, emptied, filled = false. SPT_ERR_NOMEM leaves *c usable (or
 * NULL). */
int spti_grow_collector_begin(spti_grow_collector **c, const spt_csr *m, int64_t k, int64_t groups, int n_lanes);
/* The row pass of feed, AVX-512 (grow_row_avx512.c; spti_simd_level() >= 2,
 * t > -1): the columns q < cols with |s[q]| >= t and !kept[q], increasing,
 * into idx; *nonfinite = whether s holds inf or NaN. Returns their number. */
int64_t spti_grow_row_pass_avx512(const float *s, int64_t cols, float t, const uint8_t *kept, int32_t *idx,
                                  bool *nonfinite);
/* Free (NULL accepted). */
void spti_grow_collector_destroy(spti_grow_collector *c);

/* The weight gradient of a weight of pattern m (rows x cols) for
 * dY[rows x ncols], X[cols x ncols] (groups > 1: X[groups * cols x ncols],
 * group q's rows against X's rows [q cols, (q + 1) cols), as a grouped
 * convolution): the dense dY . X^T in the blocks of spti_grad_blocks, each
 * fed to the collector *c (begun here for k > 0, see
 * spti_grow_collector_begin); (*c)->active then holds the gradient at the
 * active entries. No rows x cols buffer: one block per lane at a time, in
 * `scratch` (grown as needed and kept by the caller for the next call, so
 * that a stream faults in no fresh pages; NULL: a buffer of the call's
 * own, freed before it returns); the collector then holds O(k + nnz). With lanes_ok,
 * the OpenMP OpenBLAS and more than one thread, each thread streams its own
 * share of the blocks (one single-threaded product per block) into its own
 * lane; the lanes are then merged. The merged list differs with the thread
 * count only in candidates below the final k-th largest key, which the
 * selection never takes: growth is the same for any thread count. Without
 * lanes_ok (or when grouped) one lane streams every block, each block's
 * product called as the full path calls it (threaded by OpenBLAS). Fails
 * with SPT_ERR_NOMEM or SPT_ERR_SIZE.
 * With red (data-parallel training; NULL otherwise) each block is the global
 * batch's gradient: this rank's times red->scale, summed over red->comm
 * before it is fed (one lane, the blocks in the order of the summed block
 * scores, no sampled starting threshold), so every rank collects the same
 * candidates and active gradient; every rank makes the same collective
 * calls even when its own share fails. The layer-level call is
 * spti_weight_grad_stream (nn/layers.h). */
int spti_grow_collect(spti_grow_collector **c, const spt_csr *m, int64_t k, const float *dy, const float *X,
                      int64_t ncols, int64_t groups, bool lanes_ok, const spti_reduce *red, spti_scratch *scratch);
/* The collectives spti_grow_collect(..., red) makes for a rows x cols
 * weight (rows in `groups` groups), with zeros as this rank's share: a rank whose backward failed
 * before streaming the weight calls it so that the others do not wait
 * (data-parallel training). SPT_ERR_NOMEM when its zero block cannot be
 * had (the other ranks then wait: the engine's own timeout applies). */
int spti_grow_collect_drain(int64_t rows, int64_t cols, int64_t groups, const spti_reduce *red);
/* The lanes spti_grow_collect streams a rows x cols weight on: one per
 * thread with the OpenMP OpenBLAS (whose products inside a parallel region
 * run single-threaded), at most one per row block; else 1 (the products
 * themselves threaded). */
int spti_grow_lanes(int64_t rows, int64_t cols);

/* ---- growth selection (grow_by_score.c) ------------------------------------- */

/* Growth by score: the k positions of largest |score| (score rows x cols;
 * NaN lowest) among those not kept (kept = active and not dropped[j], j the
 * CSR entry), increasing, into grown[0..k). Ties: the seeded tie-break of
 * spti_select_largest among the tied candidates. One pass over the score
 * (rarely more); O(candidates near the top k) memory. */
int spti_grow_by_score(const spt_csr *m, const uint8_t *dropped, const float *score, int64_t k, uint64_t seed,
                       int64_t *grown);
/* The same selection from a collector a backward has filled (for the same
 * k and pattern): equal to spti_grow_by_score over the dense gradient the
 * collector streamed, ties included; drop[0..k) are the dropped entries'
 * CSR indices, increasing. O(k + candidates) memory, no pass over
 * rows x cols. SPT_ERR_STATE if the collector is not filled or was made for
 * another k. */
int spti_grow_by_collector(const spt_csr *m, const int64_t *drop, const spti_grow_collector *c, int64_t k,
                           uint64_t seed, int64_t *grown);

#endif
