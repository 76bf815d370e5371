/* Lottery tickets: p% of the survivors pruned per round by magnitude,
 * survivors rewound to their values at the rewind step, optimizer slots
 * zeroed, exact final sparsity (layer-wise and global), SPARSE for the last
 * round, checkpoint with the rewind values, invalid configs, NOMEM. */
#include "test_prune_util.h"

#include "train/trainer.h"

static spti_method *make_lt(spt_method_config *c, spti_param **w, int n, int64_t total) {
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, n, total, &m), SPT_OK);
    assert_string_equal(m->ops->name, "lottery");
    assert_non_null(m->ops->end_round);
    assert_int_equal(m->ops->init(m, w, n, NULL), SPT_OK);
    return m;
}

/* Simulated training of `steps` steps from `t`: active values move, both
 * optimizer slots get nonzero values, after_step runs. */
static void train(spti_method *m, int64_t *t, int64_t steps, spti_rng *r) {
    for (int64_t s = 0; s < steps; s++, (*t)++) {
        for (int l = 0; l < m->n_weights; l++) {
            spti_param *p = m->weights[l];
            assert_int_equal(spti_param_ensure_slots(p, 2), SPT_OK);
            for (int64_t i = 0; i < p->n; i++) {
                if (p->kind == SPTI_PARAM_MASKED && !p->mask[i]) continue;
                p->value[i] += 0.2f * spti_rng_normal(r);
                p->opt.slot[0][i] = 1.0f + (float)s;
                p->opt.slot[1][i] = 2.0f;
            }
        }
        assert_int_equal(m->ops->after_step(m, *t), SPT_OK);
    }
}

static void check_rounds(int global) {
    spti_param *w[2] = {pr_weight("a", 20, 25, 1.0f, 1), pr_weight("b", 10, 30, 1.0f, 2)};
    spt_method_config *c = pr_config(SPT_METHOD_LOTTERY, 0.9, SPT_DISTRIBUTION_UNIFORM, global);
    assert_int_equal(spt_method_config_set(c, SPT_MP_LOTTERY_RATE, 0.5), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_REWIND_STEP, 3), SPT_OK);
    spti_method *m = make_lt(c, w, 2, 1000);
    spti_rng r;
    spti_rng_seed(&r, 9);
    int64_t t = 0;
    assert_status(m->ops->end_round(m, t), SPT_ERR_STATE); /* rewind point not reached */
    train(m, &t, 3, &r);
    pr_snap rewind[2] = {pr_take(w[0]), pr_take(w[1])}; /* values after 3 steps */
    const int64_t size[2] = {500, 300};
    /* 0.5^4 = 0.0625 <= 0.1: four rounds, the last one exactly to 0.1 */
    for (int64_t round = 1; round <= 4; round++) {
        train(m, &t, 7, &r);
        pr_snap before[2] = {pr_take(w[0]), pr_take(w[1])};
        int64_t updates = m->topology_updates;
        assert_int_equal(m->ops->end_round(m, t), SPT_OK);
        assert_int_equal(m->topology_updates, updates + 1);
        double frac = round == 4 ? 0.1 : pow(0.5, (double)round);
        int64_t k[2] = {llround(frac * 500), llround(frac * 300)}, kg[1] = {llround(frac * 800)};
        double *key[2];
        uint8_t *cand[2] = {before[0].active, before[1].active};
        for (int l = 0; l < 2; l++) {
            key[l] = malloc((size_t)size[l] * sizeof(double));
            for (int64_t i = 0; i < size[l]; i++) key[l][i] = fabs((double)before[l].w[i]);
        }
        pr_check_top(w, 2, key, cand, global, global ? kg : k);
        if (!global) {
            assert_int_equal(pr_active(w[0]), k[0]);
            assert_int_equal(pr_active(w[1]), k[1]);
        } else {
            assert_int_equal(pr_active(w[0]) + pr_active(w[1]), kg[0]);
        }
        for (int l = 0; l < 2; l++) {
            pr_snap after = pr_take(w[l]);
            for (int64_t i = 0; i < size[l]; i++) assert_true(after.w[i] == (after.active[i] ? rewind[l].w[i] : 0.0f));
            for (int s = 0; s < 2; s++)
                for (int64_t i = 0; i < w[l]->n; i++) assert_true(w[l]->opt.slot[s][i] == 0.0f);
            bool sparse = round == 4 || after.nnz <= 0.3 * (double)size[l];
            assert_int_equal(w[l]->kind, sparse ? SPTI_PARAM_SPARSE : SPTI_PARAM_MASKED);
            pr_free(&after);
            pr_free(&before[l]);
            free(key[l]);
        }
    }
    assert_status(m->ops->end_round(m, t), SPT_ERR_STATE); /* all rounds done */
    pr_free(&rewind[0]);
    pr_free(&rewind[1]);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    spti_param_destroy(w[0]);
    spti_param_destroy(w[1]);
}

static void test_rounds_layerwise(void **state) {
    (void)state;
    check_rounds(0);
}

static void test_rounds_global(void **state) {
    (void)state;
    check_rounds(1);
}

/* Rewind step 0: back to the initial values. Rounds set, rate unset: the
 * rate is derived so that the rounds reach S geometrically. */
static void test_rewind_init_and_rounds(void **state) {
    (void)state;
    spti_param *w[1] = {pr_weight("a", 20, 20, 1.0f, 3)};
    pr_snap init = pr_take(w[0]);
    spt_method_config *c = pr_config(SPT_METHOD_LOTTERY, 0.75, SPT_DISTRIBUTION_UNIFORM, 0);
    assert_int_equal(spt_method_config_set(c, SPT_MP_LOTTERY_ROUNDS, 2), SPT_OK);
    spti_method *m = make_lt(c, w, 1, 100);
    spti_rng r;
    spti_rng_seed(&r, 4);
    int64_t t = 0;
    train(m, &t, 5, &r);
    assert_int_equal(m->ops->end_round(m, t), SPT_OK);
    assert_int_equal(pr_active(w[0]), 200); /* rate 1 - 0.25^(1/2) = 0.5 */
    pr_snap s = pr_take(w[0]);
    for (int64_t i = 0; i < s.cells; i++) assert_true(s.w[i] == (s.active[i] ? init.w[i] : 0.0f));
    pr_free(&s);
    train(m, &t, 5, &r);
    assert_int_equal(m->ops->end_round(m, t), SPT_OK);
    assert_int_equal(pr_active(w[0]), 100);
    assert_int_equal(w[0]->kind, SPTI_PARAM_SPARSE);
    s = pr_take(w[0]);
    for (int64_t i = 0; i < s.cells; i++) assert_true(s.w[i] == (s.active[i] ? init.w[i] : 0.0f));
    pr_free(&s);
    pr_free(&init);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    spti_param_destroy(w[0]);
}

/* Save after the rewind values exist; a fresh method loaded from it prunes
 * and rewinds exactly like the original. */
static void test_save_load(void **state) {
    (void)state;
    spti_param *a[1] = {pr_weight("a", 10, 12, 1.0f, 5)}, *b[1] = {pr_weight("a", 10, 12, 1.0f, 6)};
    spt_method_config *c = pr_config(SPT_METHOD_LOTTERY, 0.8, SPT_DISTRIBUTION_UNIFORM, 0);
    assert_int_equal(spt_method_config_set(c, SPT_MP_REWIND_STEP, 2), SPT_OK);
    spti_method *m = make_lt(c, a, 1, 100), *m2 = make_lt(c, b, 1, 100);
    spti_rng r;
    spti_rng_seed(&r, 8);
    int64_t t = 0;
    train(m, &t, 4, &r);
    assert_int_equal(m->ops->end_round(m, t), SPT_OK);
    int64_t len = 0;
    assert_status(m->ops->save(m, NULL, 0, &len), SPT_OK);
    assert_int_equal(len, 64 + 120 * 4);
    uint8_t *buf = malloc((size_t)len);
    assert_status(m->ops->save(m, buf, len - 1, &len), SPT_ERR_SIZE);
    assert_status(m->ops->save(m, buf, len, &len), SPT_OK);
    assert_status(m2->ops->load(m2, buf, len - 4), SPT_ERR_FORMAT);
    assert_status(m2->ops->load(m2, buf, len), SPT_OK);
    /* same weights and topology in b as in a, then one more round on both */
    pr_snap sa = pr_take(a[0]);
    int64_t *pos = malloc((size_t)sa.cells * sizeof(int64_t)), nnz = 0;
    for (int64_t i = 0; i < sa.cells; i++)
        if (sa.active[i]) pos[nnz++] = i;
    memcpy(b[0]->value, sa.w, (size_t)sa.cells * sizeof(float));
    assert_int_equal(spti_param_mask(b[0], pos, nnz), SPT_OK);
    assert_int_equal(m->ops->end_round(m, t), SPT_OK);
    assert_int_equal(m2->ops->end_round(m2, t), SPT_OK);
    pr_snap x = pr_take(a[0]), y = pr_take(b[0]);
    assert_memory_equal(x.w, y.w, (size_t)x.cells * sizeof(float));
    assert_memory_equal(x.active, y.active, (size_t)x.cells);
    pr_free(&x);
    pr_free(&y);
    pr_free(&sa);
    free(pos);
    buf[0] ^= 1;
    assert_status(m2->ops->load(m2, buf, len), SPT_ERR_FORMAT);
    free(buf);
    spti_method_destroy(m);
    spti_method_destroy(m2);
    spt_method_config_destroy(c);
    spti_param_destroy(a[0]);
    spti_param_destroy(b[0]);
}

static void test_invalid(void **state) {
    (void)state;
    spti_param *w[1] = {pr_weight("a", 8, 10, 1.0f, 7)};
    spti_method *m = NULL;
    spt_method_config *c = pr_config(SPT_METHOD_LOTTERY, 0.99, SPT_DISTRIBUTION_UNIFORM, 0);
    assert_int_equal(spt_method_config_set(c, SPT_MP_LOTTERY_RATE, 0.001), SPT_OK);
    assert_status(spti_method_lottery.create(&spti_method_lottery, c, w, 1, 100, &m), SPT_ERR_INVALID); /* > 1000 rounds */
    assert_int_equal(spt_method_config_set(c, SPT_MP_LOTTERY_RATE, 0.2), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_REWIND_STEP, 100), SPT_OK);
    assert_status(spti_method_lottery.create(&spti_method_lottery, c, w, 1, 100, &m), SPT_ERR_INVALID);
    assert_int_equal(spt_method_config_set(c, SPT_MP_REWIND_STEP, 0), SPT_OK);
    assert_status(spti_method_lottery.create(&spti_method_lottery, c, w, 0, 100, &m), SPT_ERR_SIZE);
    assert_status(spti_method_lottery.create(&spti_method_lottery, c, w, 1, -5, &m), SPT_ERR_SIZE);
    assert_status(spti_method_lottery.create(&spti_method_lottery, NULL, w, 1, 100, &m), SPT_ERR_NULL);
    assert_int_equal(spt_method_config_set(c, SPT_MP_LOTTERY_RATE, 1.0), SPT_ERR_INVALID);
    assert_status(spti_method_lottery.create(&spti_method_lottery, c, w, 1, 100, &m), SPT_OK);
    assert_status(m->ops->init(m, w, 2, NULL), SPT_ERR_SIZE);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    spti_param_destroy(w[0]);
}

static void test_nomem(void **state) {
    (void)state;
    bool ok = false;
    for (long fail = 0; !ok; fail++) {
        spt_test_alloc_install();
        spti_param *w[2] = {pr_weight("a", 8, 10, 1.0f, 51), pr_weight("b", 6, 8, 1.0f, 52)};
        spt_method_config *c = pr_config(SPT_METHOD_LOTTERY, 0.5, SPT_DISTRIBUTION_UNIFORM, 1);
        spti_method *m = NULL;
        spt_test_alloc_fail_at(fail);
        int rc = spti_method_lottery.create(&spti_method_lottery, c, w, 2, 10, &m);
        if (rc == SPT_OK) rc = m->ops->init(m, w, 2, NULL);
        for (int k = 0; k < 4 && rc == SPT_OK; k++) rc = m->ops->end_round(m, k);
        int64_t len = 0;
        if (rc == SPT_ERR_STATE) rc = m->ops->save(m, NULL, 0, &len); /* ran out of rounds: done */
        spt_test_alloc_fail_at(-1);
        if (rc != SPT_OK) assert_int_equal(rc, SPT_ERR_NOMEM);
        ok = rc == SPT_OK;
        spti_method_destroy(m);
        spt_method_config_destroy(c);
        spti_param_destroy(w[0]);
        spti_param_destroy(w[1]);
        assert_int_equal(spt_test_alloc_live(), 0);
        spt_test_alloc_uninstall();
    }
}

/* End to end: rounds through spt_trainer_end_round reach the exact target
 * (global) after the computed number of rounds; retraining still learns. */
static void test_trainer_end_to_end(void **state) {
    (void)state;
    spt_method_config *c = pr_config(SPT_METHOD_LOTTERY, 0.8, SPT_DISTRIBUTION_ERK, 1);
    assert_int_equal(spt_method_config_set(c, SPT_MP_LOTTERY_RATE, 0.5), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_REWIND_STEP, 2), SPT_OK);
    spt_model *model;
    spt_optimizer *opt;
    spt_trainer *t = pr_trainer(c, 100, &model, &opt);
    spti_rng r;
    spti_rng_seed(&r, 3);
    double first, last, sp;
    int64_t nnz, dense, round;
    for (int k = 0; k < 3; k++) { /* 0.5^3 = 0.125 <= 0.2: three rounds */
        pr_run(t, &r, 20, &first, &last);
        assert_status(spt_trainer_end_round(t), SPT_OK);
        assert_status(spt_trainer_sparsity(t, &sp, &nnz, &dense), SPT_OK);
        int64_t want = k == 2 ? llround(0.2 * PR_DENSE_WEIGHTS) : llround(pow(0.5, k + 1) * PR_DENSE_WEIGHTS);
        assert_int_equal(nnz, want);
    }
    assert_status(spt_trainer_get_round(t, &round), SPT_OK);
    assert_int_equal(round, 3);
    assert_status(spt_trainer_end_round(t), SPT_ERR_STATE);
    pr_run(t, &r, 30, &first, &last);
    assert_true(last < first);
    spt_trainer_destroy(t);
    spt_optimizer_destroy(opt);
    spt_model_destroy(model);
    spt_method_config_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounds_layerwise), cmocka_unit_test(test_rounds_global),
        cmocka_unit_test(test_rewind_init_and_rounds), cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_invalid), cmocka_unit_test(test_nomem), cmocka_unit_test(test_trainer_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
