/* Communicators: the handle over an engine's collectives (comm.h). */
#include <stdio.h>
#include <string.h>

#include "comm.h"
#include "internal.h"

int spt_comm_create(const spt_comm_ops *ops, void *ctx, int rank, int size, spt_comm **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    int rc = SPT_OK;
    if (!ops || !ops->allreduce_f32 || !ops->allreduce_u64 || !ops->broadcast)
        rc = spti_fail(SPT_ERR_NULL, "%s: ops or one of its collectives is NULL", __func__);
    else if (size < 1 || rank < 0 || rank >= size)
        rc = spti_fail(SPT_ERR_INVALID, "%s: rank %d of size %d (need size >= 1, 0 <= rank < size)", __func__, rank,
                       size);
    spt_comm *c = rc == SPT_OK ? spti_calloc(1, sizeof *c) : NULL;
    if (rc == SPT_OK && !c) rc = spti_fail(SPT_ERR_NOMEM, "%s: out of memory", __func__);
    if (rc != SPT_OK) {
        if (ops && ops->destroy) ops->destroy(ctx);
        return rc;
    }
    c->ops = *ops, c->ctx = ctx, c->rank = rank, c->size = size;
    *out = c;
    return SPT_OK;
}

void spt_comm_destroy(spt_comm *c) {
    if (!c) return;
    if (c->ops.destroy) c->ops.destroy(c->ctx);
    spti_free(c);
}

int spt_comm_rank(const spt_comm *c) { return c ? c->rank : -1; }
int spt_comm_size(const spt_comm *c) { return c ? c->size : -1; }

int spt_comm_get_stats(const spt_comm *c, spt_comm_stats *stats) {
    SPTI_CHECK_NULL(c);
    SPTI_CHECK_NULL(stats);
    *stats = c->stats;
    return SPT_OK;
}

void spt_comm_reset_stats(spt_comm *c) {
    if (c) memset(&c->stats, 0, sizeof c->stats);
}

/* A failed collective: what it was, and the engine's message if it set one. */
static int engine_failed(const char *what, const char *op) {
    char engine[512];
    snprintf(engine, sizeof engine, "%s", spt_last_error());
    return spti_fail(SPT_ERR_CALLBACK, "communicator: the %s of %s failed%s%s", op, what, engine[0] ? ": " : "",
                     engine);
}

int spti_comm_sum_f32(spt_comm *c, float *buf, int64_t n, const char *what) {
    c->stats.calls++;
    c->stats.f32_bytes += 4 * n;
    spt_clear_error();
    if (c->ops.allreduce_f32(c->ctx, buf, n) != 0) return engine_failed(what, "sum");
    return SPT_OK;
}

int spti_comm_u64(spt_comm *c, uint64_t *buf, int64_t n, int op, const char *what) {
    c->stats.calls++;
    c->stats.u64_bytes += 8 * n;
    spt_clear_error();
    if (c->ops.allreduce_u64(c->ctx, buf, n, op) != 0) return engine_failed(what, "reduction");
    return SPT_OK;
}

int spti_comm_bcast(spt_comm *c, void *buf, int64_t bytes, int root, const char *what) {
    c->stats.calls++;
    c->stats.bcast_bytes += bytes;
    spt_clear_error();
    if (c->ops.broadcast(c->ctx, buf, bytes, root) != 0) return engine_failed(what, "broadcast");
    return SPT_OK;
}

int spti_comm_agree_max(spt_comm *c, int rc, uint64_t *vals, int n) {
    /* The lowest failing rank r as size - r, the largest of all ranks'. */
    uint64_t buf[1 + SPTI_COMM_AGREE_MAX];
    if (n < 0 || n > SPTI_COMM_AGREE_MAX) return spti_fail(SPT_ERR_INTERNAL, "communicator: %d values to agree on", n);
    buf[0] = rc != SPT_OK ? (uint64_t)(c->size - c->rank) : 0;
    for (int i = 0; i < n; i++) buf[1 + i] = vals[i];
    char mine[512];
    snprintf(mine, sizeof mine, "%s", rc != SPT_OK ? spt_last_error() : "");
    int crc = spti_comm_u64(c, buf, 1 + n, SPT_COMM_MAX, "the step status");
    if (crc != SPT_OK) return crc;
    for (int i = 0; i < n; i++) vals[i] = buf[1 + i];
    if (buf[0] == 0) return SPT_OK;
    const int root = c->size - (int)buf[0];
    struct {
        int32_t rc;
        char msg[512];
    } m;
    memset(&m, 0, sizeof m);
    if (c->rank == root) {
        m.rc = rc;
        snprintf(m.msg, sizeof m.msg, "%s", mine);
    }
    crc = spti_comm_bcast(c, &m, (int64_t)sizeof m, root, "a failing rank's message");
    if (crc != SPT_OK) return crc;
    m.msg[sizeof m.msg - 1] = '\0';
    if (c->rank == root) return spti_fail(rc, "%s", mine);
    if (m.rc == SPT_OK) m.rc = SPT_ERR_INTERNAL; /* a root that failed must say how */
    return spti_fail(m.rc, "rank %d of %d: %s", root, c->size, m.msg);
}

int spti_comm_agree(spt_comm *c, int rc) { return spti_comm_agree_max(c, rc, NULL, 0); }
