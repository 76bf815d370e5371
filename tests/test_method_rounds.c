/* spt_method_config_rounds(): the rounds a configured method trains, and
 * that the lottery method really prunes in exactly rounds - 1 end_round
 * calls (the count a program sizes its run with). */
#include <math.h>

#include "core/internal.h"
#include "test_support.h"

static int64_t rounds_of(int method, double sparsity, double rate, int64_t set_rounds) {
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(method, &cfg), SPT_OK);
    if (sparsity >= 0) assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, sparsity), SPT_OK);
    if (rate > 0) assert_status(spt_method_config_set(cfg, SPT_MP_LOTTERY_RATE, rate), SPT_OK);
    if (set_rounds > 0) assert_status(spt_method_config_set(cfg, SPT_MP_LOTTERY_ROUNDS, (double)set_rounds), SPT_OK);
    int64_t r = -1;
    assert_status(spt_method_config_rounds(cfg, &r), SPT_OK);
    spt_method_config_destroy(cfg);
    return r;
}

static void test_null(void **state) {
    (void)state;
    spt_method_config *cfg = NULL;
    int64_t r = 0;
    assert_status(spt_method_config_rounds(NULL, &r), SPT_ERR_NULL);
    assert_status(spt_method_config_create(SPT_METHOD_LOTTERY, &cfg), SPT_OK);
    assert_status(spt_method_config_rounds(cfg, NULL), SPT_ERR_NULL);
    spt_method_config_destroy(cfg);
}

static void test_one_round_methods(void **state) {
    (void)state;
    for (int m = SPT_METHOD_DENSE; m <= SPT_METHOD_SYNFLOW; m++)
        if (m != SPT_METHOD_LOTTERY) assert_int_equal(rounds_of(m, -1, 0, 0), 1);
}

static void test_lottery_counts(void **state) {
    (void)state;
    /* 0.8^10 = 0.107 > 0.1 >= 0.8^11: 11 pruning rounds, 12 training rounds. */
    assert_int_equal(rounds_of(SPT_METHOD_LOTTERY, 0.9, 0, 0), 12);
    /* An exact power: 0.5^2 = 0.25 reaches sparsity 0.75 in 2 rounds. */
    assert_int_equal(rounds_of(SPT_METHOD_LOTTERY, 0.75, 0.5, 0), 3);
    /* Rounds given: they decide (the rate is derived). */
    assert_int_equal(rounds_of(SPT_METHOD_LOTTERY, 0.9, 0, 3), 4);
    assert_int_equal(rounds_of(SPT_METHOD_LOTTERY, 0.9, 0.5, 1), 2);
}

static void test_unreachable(void **state) {
    (void)state;
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_LOTTERY, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.999999), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_LOTTERY_RATE, 0.001), SPT_OK);
    int64_t r = 42;
    assert_status(spt_method_config_rounds(cfg, &r), SPT_ERR_INVALID);
    assert_int_equal(r, 42);
    spt_method_config_destroy(cfg);
}

/* The trainer's lottery run accepts exactly rounds - 1 end_round calls. */
static void check_trainer_rounds(double sparsity, double rate, int64_t set_rounds) {
    const int64_t widths[3] = {6, 16, 3};
    spt_model *model = NULL;
    spt_optimizer *opt = NULL;
    spt_method_config *cfg = NULL;
    spt_trainer *t = NULL;
    assert_status(spt_model_create_mlp(widths, 3, 5, &model), SPT_OK);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt), SPT_OK);
    assert_status(spt_method_config_create(SPT_METHOD_LOTTERY, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, sparsity), SPT_OK);
    if (rate > 0) assert_status(spt_method_config_set(cfg, SPT_MP_LOTTERY_RATE, rate), SPT_OK);
    if (set_rounds > 0) assert_status(spt_method_config_set(cfg, SPT_MP_LOTTERY_ROUNDS, (double)set_rounds), SPT_OK);
    int64_t rounds = 0;
    assert_status(spt_method_config_rounds(cfg, &rounds), SPT_OK);
    assert_status(spt_trainer_create(model, opt, NULL, cfg, 100, 1, &t), SPT_OK);
    float x[6 * 4];
    int32_t y[4] = {0, 1, 2, 0};
    for (int i = 0; i < 6 * 4; i++) x[i] = (float)((i * 7) % 5) - 2.0f;
    for (int64_t r = 0; r < rounds; r++) {
        assert_status(spt_trainer_step(t, x, y, 4, NULL, NULL), SPT_OK);
        if (r + 1 < rounds) assert_status(spt_trainer_end_round(t), SPT_OK);
    }
    assert_status(spt_trainer_end_round(t), SPT_ERR_STATE); /* no pruning round left */
    double sp = 0;
    assert_status(spt_trainer_sparsity(t, &sp, NULL, NULL), SPT_OK);
    assert_true(fabs(sp - sparsity) < 0.02);
    spt_trainer_destroy(t);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(opt);
    spt_model_destroy(model);
}

static void test_matches_trainer(void **state) {
    (void)state;
    check_trainer_rounds(0.5, 0, 0);   /* derived: 0.8^4 = 0.41 <= 0.5 < 0.8^3 */
    check_trainer_rounds(0.75, 0.5, 0); /* exact power */
    check_trainer_rounds(0.8, 0, 2);   /* given */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_one_round_methods),
        cmocka_unit_test(test_lottery_counts),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_matches_trainer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
