/* The MPI engine of communicators (public sparsetrain/mpi.h): the three
 * collectives of spt_comm_ops over a duplicated MPI communicator. Built
 * into libsparsetrain_mpi only; uses nothing but the public API. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsetrain/mpi.h"

typedef struct mpi_ctx {
    MPI_Comm comm; /* the duplicate, MPI_ERRORS_RETURN */
    int rank, size;
    bool world;    /* made by spt_comm_create_mpi_world */
    float *tmp;    /* the ring's receive buffer */
    size_t tmp_cap;
} mpi_ctx;

/* Communicators spt_comm_create_mpi_world made that are alive, and
 * whether it initialised MPI (then the last one finalises it). */
static int world_alive;
static bool world_initialised_here;

/* An MPI failure as the calling thread's error: its call and MPI's text. */
static int mpi_failed(const char *call, int err) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", err);
    char msg[MPI_MAX_ERROR_STRING + 64];
    snprintf(msg, sizeof msg, "%s: %s", call, text);
    spt_set_error(SPT_ERR_CALLBACK, msg);
    return 1;
}

/* At most INT_MAX elements per MPI call. */
#define PIECE ((int64_t)1 << 30)

/* Send ns floats to `to` and receive nr from `from` (the peer's sizes
 * match: each side's ns is the other's nr), in pieces of PIECE. */
static int exchange(mpi_ctx *c, const float *send, int64_t ns, float *recv, int64_t nr, int to, int from, int tag) {
    for (int64_t off = 0; off < ns || off < nr; off += PIECE) {
        const int64_t ks = ns - off, kr = nr - off;
        const int a = (int)(ks < 0 ? 0 : ks < PIECE ? ks : PIECE), b = (int)(kr < 0 ? 0 : kr < PIECE ? kr : PIECE);
        int err = MPI_Sendrecv(send + (a ? off : 0), a, MPI_FLOAT, to, tag, recv + (b ? off : 0), b, MPI_FLOAT, from,
                               tag, c->comm, MPI_STATUS_IGNORE);
        if (err != MPI_SUCCESS) return mpi_failed("MPI_Sendrecv", err);
    }
    return 0;
}

static int reserve_tmp(mpi_ctx *c, int64_t n) {
    if ((size_t)n <= c->tmp_cap) return 0;
    float *t = realloc(c->tmp, (size_t)n * sizeof(float));
    if (!t) {
        spt_set_error(SPT_ERR_NOMEM, "MPI communicator: out of memory for the receive buffer");
        return 1;
    }
    c->tmp = t;
    c->tmp_cap = (size_t)n;
    return 0;
}

/* Small sums: every rank's buffer to every rank, added in rank order. */
static int gather_sum(mpi_ctx *c, float *buf, int64_t n) {
    const int p = c->size;
    if (reserve_tmp(c, n * p)) return 1;
    int err = MPI_Allgather(buf, (int)n, MPI_FLOAT, c->tmp, (int)n, MPI_FLOAT, c->comm);
    if (err != MPI_SUCCESS) return mpi_failed("MPI_Allgather", err);
    for (int64_t j = 0; j < n; j++) {
        float s = c->tmp[j];
        for (int r = 1; r < p; r++) s += c->tmp[(int64_t)r * n + j];
        buf[j] = s;
    }
    return 0;
}

/* Ring all-reduce: chunk q = [n q / p, n (q+1) / p). Reduce-scatter: at
 * step s rank r sends chunk r - s to r + 1 and adds chunk r - s - 1 from
 * r - 1 into its own; after p - 1 steps it holds the whole sum of chunk
 * r + 1 (the additions of chunk q start at rank q and go round the ring).
 * All-gather: the whole chunks go round the ring, copied. Every rank ends
 * with the same bits. */
static int ring_sum(mpi_ctx *c, float *buf, int64_t n) {
    const int p = c->size, r = c->rank, right = (r + 1) % p, left = (r + p - 1) % p;
#define LO(q) (n * (int64_t)(q) / p)
#define LEN(q) (LO((q) + 1) - LO(q))
    if (reserve_tmp(c, n / p + 1)) return 1;
    for (int s = 0; s < p - 1; s++) {
        const int qs = ((r - s) % p + p) % p, qr = ((r - s - 1) % p + p) % p;
        const int64_t len = LEN(qr);
        if (exchange(c, buf + LO(qs), LEN(qs), c->tmp, len, right, left, 0)) return 1;
        float *dst = buf + LO(qr);
        for (int64_t j = 0; j < len; j++) dst[j] += c->tmp[j];
    }
    for (int s = 0; s < p - 1; s++) {
        const int qs = ((r + 1 - s) % p + p) % p, qr = ((r - s) % p + p) % p;
        if (exchange(c, buf + LO(qs), LEN(qs), buf + LO(qr), LEN(qr), right, left, 1)) return 1;
    }
#undef LEN
#undef LO
    return 0;
}

static int op_allreduce_f32(void *ctx, float *buf, int64_t n) {
    mpi_ctx *c = ctx;
    if (c->size == 1 || n == 0) return 0;
    if (n * c->size <= 65536) return gather_sum(c, buf, n);
    return ring_sum(c, buf, n);
}

static int op_allreduce_u64(void *ctx, uint64_t *buf, int64_t n, int op) {
    mpi_ctx *c = ctx;
    if (n > INT_MAX) {
        spt_set_error(SPT_ERR_SIZE, "MPI communicator: more than INT_MAX integers to reduce");
        return 1;
    }
    int err = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_UINT64_T, op == SPT_COMM_MAX ? MPI_MAX : MPI_SUM, c->comm);
    return err == MPI_SUCCESS ? 0 : mpi_failed("MPI_Allreduce", err);
}

static int op_broadcast(void *ctx, void *buf, int64_t bytes, int root) {
    mpi_ctx *c = ctx;
    for (int64_t off = 0; off < bytes; off += PIECE) {
        const int k = (int)(bytes - off < PIECE ? bytes - off : PIECE);
        int err = MPI_Bcast((char *)buf + off, k, MPI_BYTE, root, c->comm);
        if (err != MPI_SUCCESS) return mpi_failed("MPI_Bcast", err);
    }
    return 0;
}

static void op_destroy(void *ctx) {
    mpi_ctx *c = ctx;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&c->comm);
    if (c->world && --world_alive == 0 && world_initialised_here && !finalized) {
        MPI_Finalize();
        world_initialised_here = false;
    }
    free(c->tmp);
    free(c);
}

static const spt_comm_ops mpi_ops = {op_allreduce_f32, op_allreduce_u64, op_broadcast, op_destroy};

static int create(MPI_Comm comm, bool world, spt_comm **out) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized)
        return spt_set_error(SPT_ERR_STATE, finalized ? "spt_comm_create_mpi: MPI was finalised"
                                                      : "spt_comm_create_mpi: MPI is not initialised (MPI_Init)");
    mpi_ctx *c = calloc(1, sizeof *c);
    if (!c) return spt_set_error(SPT_ERR_NOMEM, "spt_comm_create_mpi: out of memory");
    int err = MPI_Comm_dup(comm, &c->comm);
    if (err != MPI_SUCCESS) {
        free(c);
        mpi_failed("spt_comm_create_mpi: MPI_Comm_dup", err);
        return SPT_ERR_CALLBACK;
    }
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, &c->size);
    c->world = world;
    if (world) world_alive++;
    /* spt_comm_create frees c through op_destroy when it fails. */
    return spt_comm_create(&mpi_ops, c, c->rank, c->size, out);
}

int spt_comm_create_mpi(MPI_Comm comm, spt_comm **out) {
    if (!out) return spt_set_error(SPT_ERR_NULL, "spt_comm_create_mpi: out is NULL");
    *out = NULL;
    return create(comm, false, out);
}

int spt_comm_create_mpi_world(spt_comm **out) {
    if (!out) return spt_set_error(SPT_ERR_NULL, "spt_comm_create_mpi_world: out is NULL");
    *out = NULL;
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (finalized) return spt_set_error(SPT_ERR_STATE, "spt_comm_create_mpi_world: MPI was finalised");
    if (!initialized) {
        int provided = 0;
        int err = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (err != MPI_SUCCESS) {
            mpi_failed("spt_comm_create_mpi_world: MPI_Init_thread", err);
            return SPT_ERR_CALLBACK;
        }
        world_initialised_here = true;
    }
    return create(MPI_COMM_WORLD, true, out);
}

int spt_mpi_launched(int *size) {
    if (!size) return spt_set_error(SPT_ERR_NULL, "spt_mpi_launched: size is NULL");
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    *size = 1;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end == '\0' && n >= 1 && n <= INT_MAX) {
                *size = (int)n;
                break;
            }
        }
    }
    return SPT_OK;
}
