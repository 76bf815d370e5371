/* Concurrency rules of the C API (sparsetrain/core.h): distinct handles may
 * be used from distinct threads at once, and each thread has its own error
 * message. Four threads each run a whole short training run (its own data,
 * model, trainer; steps, a checkpoint save and load, more steps) at the same
 * time; each ends bit for bit where the same run ends alone. */
#include <pthread.h>

#include "test_checkpoint_util.h"

enum { THREADS = 4, STEPS = 12 };

static char g_dir[64];

typedef struct job {
    int kind, index;
    uint8_t *bytes; /* the run's final parameter values and CSR patterns */
    size_t len;
    char error[256]; /* the thread's own last error after its failing call */
    int status;      /* status of that failing call */
} job;

static uint8_t *param_bytes(const spti_model *m, size_t *len) {
    size_t n = 0;
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *p = m->params[i];
        n += (size_t)p->n * sizeof(float);
        if (p->kind == SPTI_PARAM_SPARSE) n += (size_t)p->n * sizeof(int32_t);
    }
    uint8_t *buf = malloc(n + 1), *w = buf;
    if (!buf) return NULL;
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *p = m->params[i];
        memcpy(w, p->value, (size_t)p->n * sizeof(float));
        w += (size_t)p->n * sizeof(float);
        if (p->kind == SPTI_PARAM_SPARSE) {
            memcpy(w, p->csr->col_idx, (size_t)p->n * sizeof(int32_t));
            w += (size_t)p->n * sizeof(int32_t);
        }
    }
    *len = n;
    return buf;
}

/* One whole run. Past the set-up (whose checks do not fail), a failure
 * comes back as a NULL result rather than through cmocka, whose asserts
 * belong to the main thread. */
static void *run_job(void *arg) {
    job *j = arg;
    ck_run r;
    ck_run_init(&r, j->kind);
    char path[128];
    snprintf(path, sizeof path, "%s/run%d.ckpt", g_dir, j->index);
    for (int s = 0; s < STEPS; s++) {
        int64_t B = 0;
        spt_batcher_next(r.b, r.x, r.feat * CK_BATCH, r.y, CK_BATCH, &B);
        if (B == 0) spt_batcher_next(r.b, r.x, r.feat * CK_BATCH, r.y, CK_BATCH, &B);
        if (B == 0 || spt_trainer_step(r.t, r.x, r.y, B, NULL, NULL) != SPT_OK) goto out;
        if (s == STEPS / 2) {
            spt_model *m2 = NULL;
            spt_trainer *t2 = NULL;
            if (spt_trainer_save(r.t, r.b, path) != SPT_OK || spt_trainer_load(path, &m2, &t2, r.b) != SPT_OK)
                goto out;
            spt_trainer_destroy(r.t);
            spt_model_destroy(r.m);
            r.t = t2;
            r.m = m2;
            remove(path);
        }
    }
    j->bytes = param_bytes(r.m, &j->len);
    /* A failing call: its message is this thread's. */
    j->status = spt_trainer_step(r.t, r.x, r.y, 0, NULL, NULL);
    snprintf(j->error, sizeof j->error, "%s", spt_last_error());
out:
    ck_run_free(&r);
    return NULL;
}

static void test_distinct_runs_in_threads(void **state) {
    (void)state;
    static const int kinds[THREADS] = {RUN_RIGL_MLP, RUN_GMP_MLP, RUN_SET_RESNET, RUN_RIGL_MLP};
    job alone[THREADS], together[THREADS];
    for (int i = 0; i < THREADS; i++) {
        alone[i] = (job){.kind = kinds[i], .index = i};
        run_job(&alone[i]);
        assert_non_null(alone[i].bytes);
    }
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        together[i] = (job){.kind = kinds[i], .index = THREADS + i};
        assert_int_equal(pthread_create(&th[i], NULL, run_job, &together[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_non_null(together[i].bytes);
        assert_int_equal(together[i].len, alone[i].len);
        assert_memory_equal(together[i].bytes, alone[i].bytes, alone[i].len);
        assert_int_equal(together[i].status, SPT_ERR_SIZE);
        assert_non_null(strstr(together[i].error, "batch size (0)"));
        free(alone[i].bytes);
        free(together[i].bytes);
    }
}

/* Each thread's last error is its own: a failure in one thread neither
 * replaces nor clears another's message. */
static void *fail_other(void *arg) {
    (void)arg;
    spt_optimizer *o = NULL;
    int *rc = malloc(sizeof *rc);
    *rc = spt_optimizer_create(-7, &o);
    return rc;
}

static void test_last_error_per_thread(void **state) {
    (void)state;
    assert_status(spt_trainer_step(NULL, NULL, NULL, 1, NULL, NULL), SPT_ERR_NULL);
    char mine[256];
    snprintf(mine, sizeof mine, "%s", spt_last_error());
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fail_other, NULL), 0);
    void *res;
    assert_int_equal(pthread_join(th, &res), 0);
    assert_int_not_equal(*(int *)res, SPT_OK);
    free(res);
    assert_string_equal(spt_last_error(), mine);
}

static int setup_dir(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/spt_conc_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    return rmdir(g_dir);
}

int main(void) {
    /* One OpenMP thread per run: four runs on a shared machine. */
    if (spt_set_num_threads(1) != SPT_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distinct_runs_in_threads),
        cmocka_unit_test(test_last_error_per_thread),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
