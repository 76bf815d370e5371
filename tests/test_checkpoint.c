/* Checkpoints: round trips (dense, RigL-sparse, GMP-masked, ResNet with
 * batch norm) restore every byte; resuming from a checkpoint mid-epoch
 * reproduces the uninterrupted run bit for bit. */
#include "test_checkpoint_util.h"
#include "core/le_io.h"

static char g_dir[64];

static void path_in_dir(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", g_dir, name); }

/* Train, save, load; the loaded trainer equals the saved one. */
static void round_trip(int kind, int steps, int want_kind) {
    ck_run r;
    ck_run_init(&r, kind);
    ck_train(r.t, r.b, r.x, r.y, r.feat, steps, NULL);
    bool found = false; /* the form the test is about really occurs */
    for (int64_t i = 0; i < r.m->n_params; i++) found |= (int)r.m->params[i]->kind == want_kind;
    assert_true(found);
    char path[128];
    path_in_dir(path, sizeof path, "rt.ckpt");
    assert_status(spt_trainer_save(r.t, r.b, path), SPT_OK);
    assert_int_equal(access(path, F_OK), 0);
    char tmp[140];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed away */

    spt_model *m2 = NULL;
    spt_trainer *t2 = NULL;
    spt_batcher *b2 = ck_batcher(r.ds);
    assert_status(spt_trainer_load(path, &m2, &t2, b2), SPT_OK);
    assert_non_null(m2);
    assert_non_null(t2);
    assert_ptr_equal(t2->model, m2);
    ck_assert_same_trainer(r.t, t2);
    assert_true(r.t->step_seconds == t2->step_seconds);
    int64_t e1, p1, e2, p2;
    uint64_t s1, s2;
    assert_status(spt_batcher_get_state(r.b, &e1, &p1, &s1), SPT_OK);
    assert_status(spt_batcher_get_state(b2, &e2, &p2, &s2), SPT_OK);
    assert_true(e1 == e2 && p1 == p2 && s1 == s2);

    /* Saving the loaded trainer gives the same bytes. */
    char path2[128];
    path_in_dir(path2, sizeof path2, "rt2.ckpt");
    assert_status(spt_trainer_save(t2, b2, path2), SPT_OK);
    long l1, l2;
    uint8_t *f1 = ck_read(path, &l1), *f2 = ck_read(path2, &l2);
    assert_non_null(f1);
    assert_non_null(f2);
    assert_int_equal(l1, l2);
    assert_memory_equal(f1, f2, (size_t)l1);
    free(f1);
    free(f2);
    remove(path);
    remove(path2);
    spt_trainer_destroy(t2);
    spt_model_destroy(m2);
    spt_batcher_destroy(b2);
    ck_run_free(&r);
}

static void test_round_trip_dense_mlp(void **state) {
    (void)state;
    round_trip(RUN_DENSE_MLP, 5, SPTI_PARAM_DENSE);
}
static void test_round_trip_rigl_mlp(void **state) {
    (void)state;
    round_trip(RUN_RIGL_MLP, 7, SPTI_PARAM_SPARSE);
}
static void test_round_trip_gmp_masked(void **state) {
    (void)state;
    round_trip(RUN_GMP_MLP, 6, SPTI_PARAM_MASKED);
}
static void test_round_trip_resnet_bn(void **state) {
    (void)state;
    round_trip(RUN_RESNET, 3, SPTI_PARAM_DENSE);
}
static void test_round_trip_sparse_resnet(void **state) {
    (void)state;
    round_trip(RUN_SET_RESNET, 5, SPTI_PARAM_SPARSE);
}

/* Train N steps, save, M more (A); load, the same M steps (B): A == B. */
static void exact_resume(int kind, int n, int m) {
    ck_run r;
    ck_run_init(&r, kind);
    ck_train(r.t, r.b, r.x, r.y, r.feat, n, NULL);
    int64_t pos;
    assert_status(spt_batcher_get_state(r.b, NULL, &pos, NULL), SPT_OK);
    assert_true(pos > 0 && pos < CK_N); /* mid-epoch */
    char path[128];
    path_in_dir(path, sizeof path, "resume.ckpt");
    assert_status(spt_trainer_save(r.t, r.b, path), SPT_OK);
    double loss_a[32], loss_b[32];
    ck_train(r.t, r.b, r.x, r.y, r.feat, m, loss_a);

    spt_model *m2 = NULL;
    spt_trainer *t2 = NULL;
    spt_batcher *b2 = ck_batcher(r.ds);
    assert_status(spt_trainer_load(path, &m2, &t2, b2), SPT_OK);
    ck_train(t2, b2, r.x, r.y, r.feat, m, loss_b);
    assert_memory_equal(loss_a, loss_b, (size_t)m * sizeof(double));
    ck_assert_same_model(r.m, m2);
    assert_int_equal(r.t->step, t2->step);
    assert_int_equal(r.t->update_steps, t2->update_steps);
    assert_memory_equal(&r.t->rng, &t2->rng, sizeof r.t->rng);
    int64_t na, nb;
    uint8_t *sa = ck_method_state(r.t, &na), *sb = ck_method_state(t2, &nb);
    assert_int_equal(na, nb);
    if (na) assert_memory_equal(sa, sb, (size_t)na);
    free(sa);
    free(sb);
    remove(path);
    spt_trainer_destroy(t2);
    spt_model_destroy(m2);
    spt_batcher_destroy(b2);
    ck_run_free(&r);
}

static void test_exact_resume_rigl(void **state) {
    (void)state;
    exact_resume(RUN_RIGL_MLP, 8, 13); /* drop/grow steps on both sides of the save */
}
static void test_exact_resume_gmp(void **state) {
    (void)state;
    exact_resume(RUN_GMP_MLP, 5, 10);
}
static void test_exact_resume_resnet(void **state) {
    (void)state;
    exact_resume(RUN_SET_RESNET, 3, 4);
}

/* A trainer whose data-driven initialisation is still pending keeps it
 * pending, and its first step after loading scores exactly as it would have. */
static void test_pending_init_round_trip(void **state) {
    (void)state;
    spt_dataset *ds = ck_dataset(8, 1, 1);
    int64_t widths[3] = {8, 12, CK_K};
    spt_model *m = NULL;
    assert_status(spt_model_create_mlp(widths, 3, 3, &m), SPT_OK);
    spt_optimizer *o = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_SNIP, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.5), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, cfg, 10, 2, &t), SPT_OK);
    assert_true(t->init_pending);
    char path[128];
    path_in_dir(path, sizeof path, "snip.ckpt");
    assert_status(spt_trainer_save(t, NULL, path), SPT_OK);
    spt_model *m2 = NULL;
    spt_trainer *t2 = NULL;
    assert_status(spt_trainer_load(path, &m2, &t2, NULL), SPT_OK);
    assert_true(t2->init_pending);
    ck_assert_same_trainer(t, t2);
    spt_batcher *b1 = ck_batcher(ds), *b2 = ck_batcher(ds);
    float x[8 * CK_BATCH];
    int32_t y[CK_BATCH];
    double la[3], lb[3];
    ck_train(t, b1, x, y, 8, 3, la);
    ck_train(t2, b2, x, y, 8, 3, lb);
    assert_memory_equal(la, lb, sizeof la);
    ck_assert_same_trainer(t, t2);
    remove(path);
    spt_batcher_destroy(b1);
    spt_batcher_destroy(b2);
    spt_trainer_destroy(t2);
    spt_model_destroy(m2);
    spt_trainer_destroy(t);
    spt_model_destroy(m);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(o);
    spt_dataset_destroy(ds);
}

/* Lottery tickets: the rewind values and the round survive a checkpoint
 * taken after a round ended. */
static void test_lottery_round_trip(void **state) {
    (void)state;
    spt_dataset *ds = ck_dataset(8, 1, 1);
    int64_t widths[3] = {8, 12, CK_K};
    spt_model *m = NULL;
    assert_status(spt_model_create_mlp(widths, 3, 3, &m), SPT_OK);
    spt_optimizer *o = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
    assert_status(spt_optimizer_set_param(o, SPT_OPT_MOMENTUM, 0.5), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_LOTTERY, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.5), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_LOTTERY_ROUNDS, 2), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, cfg, 10, 2, &t), SPT_OK);
    spt_batcher *b = ck_batcher(ds);
    float x[8 * CK_BATCH];
    int32_t y[CK_BATCH];
    ck_train(t, b, x, y, 8, 4, NULL);
    assert_status(spt_trainer_end_round(t), SPT_OK);
    ck_train(t, b, x, y, 8, 2, NULL);
    char path[128];
    path_in_dir(path, sizeof path, "lt.ckpt");
    assert_status(spt_trainer_save(t, b, path), SPT_OK);
    spt_model *m2 = NULL;
    spt_trainer *t2 = NULL;
    spt_batcher *b2 = ck_batcher(ds);
    assert_status(spt_trainer_load(path, &m2, &t2, b2), SPT_OK);
    ck_assert_same_trainer(t, t2);
    assert_int_equal(t2->round, 1);
    double la[3], lb[3];
    ck_train(t, b, x, y, 8, 3, la);
    assert_status(spt_trainer_end_round(t), SPT_OK);
    ck_train(t2, b2, x, y, 8, 3, lb);
    assert_status(spt_trainer_end_round(t2), SPT_OK);
    assert_memory_equal(la, lb, sizeof la);
    ck_assert_same_trainer(t, t2);
    remove(path);
    spt_batcher_destroy(b);
    spt_batcher_destroy(b2);
    spt_trainer_destroy(t2);
    spt_model_destroy(m2);
    spt_trainer_destroy(t);
    spt_model_destroy(m);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(o);
    spt_dataset_destroy(ds);
}

/* An application's note (spt_trainer_save_note): read back without
 * loading, byte for byte; ignored by spt_trainer_load (the run resumes as
 * without it); stored in an optional section; every refusal. */
static void test_note(void **state) {
    (void)state;
    ck_run r;
    ck_run_init(&r, RUN_RIGL_MLP);
    ck_train(r.t, r.b, r.x, r.y, r.feat, 3, NULL);
    char path[128], plain[128];
    path_in_dir(path, sizeof path, "note.ckpt");
    path_in_dir(plain, sizeof plain, "plain.ckpt");
    const char note[] = "program=spt-train-mlp\nwidths=24,16\n\001\000binary too";
    const int64_t nlen = (int64_t)sizeof note;
    assert_status(spt_trainer_save_note(r.t, r.b, note, nlen, path), SPT_OK);
    assert_status(spt_trainer_save(r.t, r.b, plain), SPT_OK);

    char buf[256];
    int64_t len = -1;
    assert_status(spt_checkpoint_read_note(path, buf, sizeof buf, &len), SPT_OK);
    assert_int_equal(len, nlen);
    assert_memory_equal(buf, note, (size_t)nlen);
    assert_status(spt_checkpoint_read_note(path, NULL, 0, &len), SPT_ERR_SIZE); /* asks for the length */
    assert_int_equal(len, nlen);
    assert_status(spt_checkpoint_read_note(path, buf, nlen - 1, &len), SPT_ERR_SIZE);
    assert_int_equal(len, nlen);
    assert_non_null(strstr(spt_last_error(), "note.ckpt"));
    len = -1;
    assert_status(spt_checkpoint_read_note(plain, buf, sizeof buf, &len), SPT_OK);
    assert_int_equal(len, 0);

    /* The section is NOTE, flagged optional, and only that differs from the plain file. */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t img[1 << 20];
    size_t n = fread(img, 1, sizeof img, f);
    fclose(f);
    assert_true(n > 100 && n < sizeof img);
    uint8_t *tag = NULL;
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(img + i, "NOTE", 4) == 0) tag = img + i;
    assert_non_null(tag);
    assert_int_equal(tag[4], 1); /* section flags: optional */
    assert_int_equal(spti_load_u64(tag + 8), (uint64_t)nlen);

    /* Loading ignores the note: the same run as from the plain file. */
    spt_model *m1 = NULL, *m2 = NULL;
    spt_trainer *t1 = NULL, *t2 = NULL;
    assert_status(spt_trainer_load(path, &m1, &t1, NULL), SPT_OK);
    assert_status(spt_trainer_load(plain, &m2, &t2, NULL), SPT_OK);
    ck_assert_same_model(m1, m2);
    spt_trainer_destroy(t1), spt_model_destroy(m1);
    spt_trainer_destroy(t2), spt_model_destroy(m2);

    /* A damaged file: the reader checks it as the loader does. */
    img[n / 2] ^= 0x40;
    char bad[128];
    path_in_dir(bad, sizeof bad, "bad.ckpt");
    f = fopen(bad, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(img, 1, n, f), n);
    fclose(f);
    assert_status(spt_checkpoint_read_note(bad, buf, sizeof buf, &len), SPT_ERR_CHECKSUM);
    assert_non_null(strstr(spt_last_error(), "bad.ckpt"));

    /* Refusals. */
    static char big[SPT_CHECKPOINT_NOTE_MAX + 1];
    assert_status(spt_trainer_save_note(r.t, r.b, big, SPT_CHECKPOINT_NOTE_MAX + 1, bad), SPT_ERR_SIZE);
    assert_non_null(strstr(spt_last_error(), "note_len"));
    assert_status(spt_trainer_save_note(r.t, r.b, big, -1, bad), SPT_ERR_SIZE);
    assert_status(spt_trainer_save_note(r.t, r.b, NULL, 4, bad), SPT_ERR_NULL);
    assert_status(spt_trainer_save_note(r.t, r.b, big, SPT_CHECKPOINT_NOTE_MAX, bad), SPT_OK);
    assert_status(spt_checkpoint_read_note(bad, big, sizeof big, &len), SPT_OK);
    assert_int_equal(len, SPT_CHECKPOINT_NOTE_MAX);
    assert_status(spt_checkpoint_read_note(NULL, buf, sizeof buf, &len), SPT_ERR_NULL);
    assert_status(spt_checkpoint_read_note(path, buf, sizeof buf, NULL), SPT_ERR_NULL);
    assert_status(spt_checkpoint_read_note(path, NULL, 8, &len), SPT_ERR_NULL);
    assert_status(spt_checkpoint_read_note(path, buf, -1, &len), SPT_ERR_SIZE);
    assert_status(spt_checkpoint_read_note(g_dir, buf, sizeof buf, &len), SPT_ERR_IO); /* a directory */
    remove(path), remove(plain), remove(bad);
    ck_run_free(&r);
}

static int setup(void **state) {
    (void)state;
    ck_tmpdir(g_dir, sizeof g_dir);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    rmdir(g_dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_dense_mlp),  cmocka_unit_test(test_round_trip_rigl_mlp),
        cmocka_unit_test(test_round_trip_gmp_masked), cmocka_unit_test(test_round_trip_resnet_bn),
        cmocka_unit_test(test_round_trip_sparse_resnet), cmocka_unit_test(test_exact_resume_rigl),
        cmocka_unit_test(test_exact_resume_gmp),      cmocka_unit_test(test_exact_resume_resnet),
        cmocka_unit_test(test_pending_init_round_trip), cmocka_unit_test(test_lottery_round_trip),
        cmocka_unit_test(test_note),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
