/* The public optimizer handle: kinds, hyper-parameter keys and domains,
 * getters, and the checkpoint byte record (round trip, corruption, resume). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/param.h"
#include "optim/optim.h"
#include "test_support.h"

static void test_pinned_values(void **state) {
    (void)state;
    assert_int_equal(SPT_OPTIMIZER_SGD, 0);
    assert_int_equal(SPT_OPTIMIZER_ADAM, 1);
    assert_int_equal(SPT_OPT_LR, 0);
    assert_int_equal(SPT_OPT_MOMENTUM, 1);
    assert_int_equal(SPT_OPT_NESTEROV, 2);
    assert_int_equal(SPT_OPT_WEIGHT_DECAY, 3);
    assert_int_equal(SPT_OPT_BETA1, 4);
    assert_int_equal(SPT_OPT_BETA2, 5);
    assert_int_equal(SPT_OPT_EPS, 6);
    assert_int_equal(SPT_OPT_DECOUPLED_WEIGHT_DECAY, 7);
    assert_int_equal(spt_optimizer_state_bytes(), 72);
}

static void test_create(void **state) {
    (void)state;
    spt_optimizer *opt = (spt_optimizer *)&opt;
    assert_status(spt_optimizer_create(2, &opt), SPT_ERR_INVALID);
    assert_null(opt);
    assert_status(spt_optimizer_create(-1, &opt), SPT_ERR_INVALID);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, NULL), SPT_ERR_NULL);
    spt_optimizer_destroy(NULL);

    spt_test_alloc_install();
    spt_test_alloc_fail_at(0);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_ADAM, &opt), SPT_ERR_NOMEM);
    assert_null(opt);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();

    /* defaults */
    double v;
    int kind;
    int64_t step;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt), SPT_OK);
    assert_status(spt_optimizer_get_kind(opt, &kind), SPT_OK);
    assert_int_equal(kind, SPT_OPTIMIZER_SGD);
    assert_status(spt_optimizer_get_step(opt, &step), SPT_OK);
    assert_int_equal(step, 0);
    assert_status(spt_optimizer_get_param(opt, SPT_OPT_LR, &v), SPT_OK);
    assert_true(v == 0.1);
    assert_status(spt_optimizer_get_param(opt, SPT_OPT_MOMENTUM, &v), SPT_OK);
    assert_true(v == 0.0);
    assert_status(spt_optimizer_get_kind(NULL, &kind), SPT_ERR_NULL);
    assert_status(spt_optimizer_get_kind(opt, NULL), SPT_ERR_NULL);
    assert_status(spt_optimizer_get_step(NULL, &step), SPT_ERR_NULL);
    assert_status(spt_optimizer_get_step(opt, NULL), SPT_ERR_NULL);
    spt_optimizer_destroy(opt);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_ADAM, &opt), SPT_OK);
    assert_status(spt_optimizer_get_param(opt, SPT_OPT_LR, &v), SPT_OK);
    assert_true(v == 1e-3);
    assert_status(spt_optimizer_get_param(opt, SPT_OPT_BETA1, &v), SPT_OK);
    assert_true(v == 0.9);
    assert_status(spt_optimizer_get_param(opt, SPT_OPT_BETA2, &v), SPT_OK);
    assert_true(v == 0.999);
    assert_status(spt_optimizer_get_param(opt, SPT_OPT_EPS, &v), SPT_OK);
    assert_true(v == 1e-8);
    assert_status(spt_optimizer_get_param(opt, SPT_OPT_DECOUPLED_WEIGHT_DECAY, &v), SPT_OK);
    assert_true(v == 0.0);
    spt_optimizer_destroy(opt);
}

typedef struct domain_case {
    int kind, key;
    double value;
    int status;
} domain_case;

static void test_set_get_domains(void **state) {
    (void)state;
    const int S = SPT_OPTIMIZER_SGD, A = SPT_OPTIMIZER_ADAM, OK = SPT_OK, BAD = SPT_ERR_INVALID;
    const domain_case cases[] = {
        {S, SPT_OPT_LR, 0.5, OK},          {S, SPT_OPT_LR, 0.0, BAD},          {S, SPT_OPT_LR, -1.0, BAD},
        {A, SPT_OPT_LR, INFINITY, BAD},    {A, SPT_OPT_LR, NAN, BAD},          {A, SPT_OPT_LR, 1e-4, OK},
        {S, SPT_OPT_MOMENTUM, 0.0, OK},    {S, SPT_OPT_MOMENTUM, 0.99, OK},    {S, SPT_OPT_MOMENTUM, 1.0, BAD},
        {S, SPT_OPT_MOMENTUM, -0.1, BAD},  {S, SPT_OPT_MOMENTUM, NAN, BAD},    {A, SPT_OPT_MOMENTUM, 0.9, BAD},
        {S, SPT_OPT_NESTEROV, 1.0, OK},    {S, SPT_OPT_NESTEROV, 0.5, BAD},    {S, SPT_OPT_NESTEROV, 2.0, BAD},
        {A, SPT_OPT_NESTEROV, 1.0, BAD},   {S, SPT_OPT_WEIGHT_DECAY, 0.0, OK}, {A, SPT_OPT_WEIGHT_DECAY, 5e-4, OK},
        {S, SPT_OPT_WEIGHT_DECAY, -1e-4, BAD}, {S, SPT_OPT_WEIGHT_DECAY, INFINITY, BAD},
        {A, SPT_OPT_BETA1, 0.0, OK},       {A, SPT_OPT_BETA1, 0.95, OK},       {A, SPT_OPT_BETA1, 1.0, BAD},
        {A, SPT_OPT_BETA1, -0.5, BAD},     {A, SPT_OPT_BETA2, 0.9999, OK},     {A, SPT_OPT_BETA2, 1.0, BAD},
        {A, SPT_OPT_BETA2, NAN, BAD},      {S, SPT_OPT_BETA1, 0.9, BAD},       {S, SPT_OPT_BETA2, 0.9, BAD},
        {A, SPT_OPT_EPS, 1e-6, OK},        {A, SPT_OPT_EPS, 0.0, BAD},         {A, SPT_OPT_EPS, -1e-8, BAD},
        {A, SPT_OPT_EPS, INFINITY, BAD},   {S, SPT_OPT_EPS, 1e-8, BAD},        {A, SPT_OPT_DECOUPLED_WEIGHT_DECAY, 1, OK},
        {A, SPT_OPT_DECOUPLED_WEIGHT_DECAY, 0.3, BAD}, {S, SPT_OPT_DECOUPLED_WEIGHT_DECAY, 1, BAD},
        {S, -1, 0.1, BAD},                 {A, 8, 0.1, BAD},                   {S, 1000, 0.1, BAD},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        spt_optimizer *opt;
        assert_status(spt_optimizer_create(cases[c].kind, &opt), SPT_OK);
        double before = -7.0, after = -7.0;
        int get_rc = spt_optimizer_get_param(opt, cases[c].key, &before);
        spt_clear_error();
        assert_status(spt_optimizer_set_param(opt, cases[c].key, cases[c].value), cases[c].status);
        if (cases[c].status == SPT_OK) {
            assert_status(spt_optimizer_get_param(opt, cases[c].key, &after), SPT_OK);
            assert_true(after == cases[c].value);
        } else if (get_rc == SPT_OK) {
            /* a valid key with a bad value: unchanged */
            assert_status(spt_optimizer_get_param(opt, cases[c].key, &after), SPT_OK);
            assert_true(after == before);
        } else {
            /* a key of the other kind or an unknown key is refused by get too */
            assert_int_equal(get_rc, SPT_ERR_INVALID);
            assert_true(before == -7.0);
        }
        spt_optimizer_destroy(opt);
    }
    double v;
    assert_status(spt_optimizer_set_param(NULL, SPT_OPT_LR, 0.1), SPT_ERR_NULL);
    assert_status(spt_optimizer_get_param(NULL, SPT_OPT_LR, &v), SPT_ERR_NULL);
    spt_optimizer *opt;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt), SPT_OK);
    assert_status(spt_optimizer_get_param(opt, SPT_OPT_LR, NULL), SPT_ERR_NULL);
    spt_optimizer_destroy(opt);
}

/* ---- checkpoint record ------------------------------------------------------------ */

static spt_optimizer *configured_adam(void) {
    spt_optimizer *opt;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_ADAM, &opt), SPT_OK);
    assert_status(spt_optimizer_set_param(opt, SPT_OPT_LR, 3e-4), SPT_OK);
    assert_status(spt_optimizer_set_param(opt, SPT_OPT_BETA1, 0.85), SPT_OK);
    assert_status(spt_optimizer_set_param(opt, SPT_OPT_BETA2, 0.98), SPT_OK);
    assert_status(spt_optimizer_set_param(opt, SPT_OPT_EPS, 1e-7), SPT_OK);
    assert_status(spt_optimizer_set_param(opt, SPT_OPT_WEIGHT_DECAY, 0.01), SPT_OK);
    assert_status(spt_optimizer_set_param(opt, SPT_OPT_DECOUPLED_WEIGHT_DECAY, 1), SPT_OK);
    return opt;
}

static uint64_t le64(const uint8_t *b) {
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = x << 8 | b[i];
    return x;
}

static void test_state_round_trip(void **state) {
    (void)state;
    spt_optimizer *a = configured_adam();
    a->step = 0x0102030405060708LL; /* a count whose bytes are all distinct */
    uint8_t buf[100];
    memset(buf, 0xEE, sizeof buf);
    int64_t written = 0;
    assert_status(spt_optimizer_save_state(a, buf, sizeof buf, &written), SPT_OK);
    assert_int_equal(written, 72);
    assert_int_equal(buf[72], 0xEE); /* nothing beyond the record */
    /* fixed little-endian layout */
    assert_memory_equal(buf, "SPTO", 4);
    assert_int_equal(buf[4], 1);
    assert_int_equal(buf[8], SPT_OPTIMIZER_ADAM);
    assert_int_equal(buf[12], 2); /* decoupled flag */
    double lr;
    uint64_t bits = le64(buf + 16);
    memcpy(&lr, &bits, sizeof lr);
    assert_true(lr == 3e-4);
    assert_int_equal(buf[64], 0x08);
    assert_int_equal(buf[71], 0x01);

    /* load into an optimizer of the other kind: everything is replaced */
    spt_optimizer *b;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &b), SPT_OK);
    assert_status(spt_optimizer_load_state(b, buf, written), SPT_OK);
    int kind;
    int64_t step;
    assert_status(spt_optimizer_get_kind(b, &kind), SPT_OK);
    assert_int_equal(kind, SPT_OPTIMIZER_ADAM);
    assert_status(spt_optimizer_get_step(b, &step), SPT_OK);
    assert_true(step == a->step);
    for (int key = SPT_OPT_LR; key <= SPT_OPT_DECOUPLED_WEIGHT_DECAY; key++) {
        double va, vb;
        int ra = spt_optimizer_get_param(a, key, &va), rb = spt_optimizer_get_param(b, key, &vb);
        assert_int_equal(ra, rb);
        if (ra == SPT_OK) assert_true(va == vb);
    }
    uint8_t again[72];
    assert_status(spt_optimizer_save_state(b, again, sizeof again, NULL), SPT_OK);
    assert_memory_equal(buf, again, 72);

    /* SGD flags too */
    spt_optimizer *s;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &s), SPT_OK);
    assert_status(spt_optimizer_set_param(s, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    assert_status(spt_optimizer_set_param(s, SPT_OPT_NESTEROV, 1), SPT_OK);
    assert_status(spt_optimizer_save_state(s, again, sizeof again, NULL), SPT_OK);
    assert_int_equal(again[12], 1);
    assert_status(spt_optimizer_load_state(b, again, sizeof again), SPT_OK);
    double v;
    assert_status(spt_optimizer_get_param(b, SPT_OPT_NESTEROV, &v), SPT_OK);
    assert_true(v == 1.0);
    assert_status(spt_optimizer_get_param(b, SPT_OPT_MOMENTUM, &v), SPT_OK);
    assert_true(v == 0.9);
    spt_optimizer_destroy(s);
    spt_optimizer_destroy(a);
    spt_optimizer_destroy(b);
}

static void put_f64(uint8_t *b, double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(u >> (8 * i));
}

static void test_state_corrupt(void **state) {
    (void)state;
    spt_optimizer *a = configured_adam();
    a->step = 5;
    uint8_t good[72], buf[72], before[72], after[72];
    assert_status(spt_optimizer_save_state(a, good, sizeof good, NULL), SPT_OK);
    assert_status(spt_optimizer_save_state(a, buf, 71, NULL), SPT_ERR_SIZE);
    assert_status(spt_optimizer_save_state(NULL, buf, 72, NULL), SPT_ERR_NULL);
    assert_status(spt_optimizer_save_state(a, NULL, 72, NULL), SPT_ERR_NULL);
    assert_status(spt_optimizer_load_state(NULL, good, 72), SPT_ERR_NULL);
    assert_status(spt_optimizer_load_state(a, NULL, 72), SPT_ERR_NULL);
    assert_status(spt_optimizer_load_state(a, good, 71), SPT_ERR_FORMAT);
    assert_status(spt_optimizer_load_state(a, good, -1), SPT_ERR_FORMAT);

    struct {
        int offset;
        double f64; /* NAN: patch one byte instead */
        uint8_t byte;
        int status;
    } cases[] = {
        {0, NAN, 'X', SPT_ERR_FORMAT},      /* magic */
        {4, NAN, 2, SPT_ERR_VERSION},       /* newer format */
        {4, NAN, 0, SPT_ERR_FORMAT},        /* version 0 */
        {8, NAN, 2, SPT_ERR_FORMAT},        /* kind */
        {12, NAN, 4, SPT_ERR_FORMAT},       /* unknown flag */
        {16, -1.0, 0, SPT_ERR_FORMAT},      /* lr */
        {16, INFINITY, 0, SPT_ERR_FORMAT},  /* lr */
        {24, 1.0, 0, SPT_ERR_FORMAT},       /* momentum */
        {32, -0.5, 0, SPT_ERR_FORMAT},      /* weight decay */
        {40, 1.5, 0, SPT_ERR_FORMAT},       /* beta1 */
        {48, NAN, 0xFF, SPT_ERR_FORMAT},    /* beta2 top byte 0xFF: a huge negative */
        {56, 0.0, 0, SPT_ERR_FORMAT},       /* eps */
        {71, NAN, 0x80, SPT_ERR_FORMAT},    /* negative step */
    };
    assert_status(spt_optimizer_save_state(a, before, sizeof before, NULL), SPT_OK);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memcpy(buf, good, 72);
        if (isnan(cases[c].f64)) {
            int off = cases[c].offset == 48 ? 55 : cases[c].offset;
            buf[off] = cases[c].byte;
        } else {
            put_f64(buf + cases[c].offset, cases[c].f64);
        }
        assert_status(spt_optimizer_load_state(a, buf, 72), cases[c].status);
        assert_status(spt_optimizer_save_state(a, after, sizeof after, NULL), SPT_OK);
        assert_memory_equal(before, after, 72); /* unchanged */
    }
    spt_optimizer_destroy(a);
}

/* Saving the scalar state (and the parameter's values and slots) mid-run and
 * restoring it into fresh objects continues the run bit for bit. */
static void test_state_resume(void **state) {
    (void)state;
    const int64_t shape[2] = {4, 5};
    spti_param *p;
    assert_status(spti_param_create("w", 2, shape, true, &p), SPT_OK);
    for (int64_t i = 0; i < p->n; i++) p->value[i] = (float)sin((double)i);
    spt_optimizer *a = configured_adam();
    for (int t = 0; t < 3; t++) {
        for (int64_t i = 0; i < p->n; i++) p->grad[i] = (float)cos(0.3 * (double)(i + 7 * t));
        assert_status(spti_optimizer_step(a, &p, 1, 0.01), SPT_OK);
    }
    uint8_t rec[72];
    assert_status(spt_optimizer_save_state(a, rec, sizeof rec, NULL), SPT_OK);
    spti_param *q;
    assert_status(spti_param_create("w", 2, shape, true, &q), SPT_OK);
    memcpy(q->value, p->value, 20 * sizeof(float));
    assert_status(spti_param_ensure_slots(q, 2), SPT_OK);
    for (int s = 0; s < 2; s++) memcpy(q->opt.slot[s], p->opt.slot[s], 20 * sizeof(float));
    spt_optimizer *b;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &b), SPT_OK);
    assert_status(spt_optimizer_load_state(b, rec, sizeof rec), SPT_OK);
    for (int t = 3; t < 6; t++) {
        for (int64_t i = 0; i < 20; i++) p->grad[i] = q->grad[i] = (float)cos(0.3 * (double)(i + 7 * t));
        assert_status(spti_optimizer_step(a, &p, 1, 0.01), SPT_OK);
        assert_status(spti_optimizer_step(b, &q, 1, 0.01), SPT_OK);
    }
    assert_memory_equal(p->value, q->value, 20 * sizeof(float));
    for (int s = 0; s < 2; s++) assert_memory_equal(p->opt.slot[s], q->opt.slot[s], 20 * sizeof(float));
    assert_true(a->step == 6 && b->step == 6);
    spt_optimizer_destroy(a);
    spt_optimizer_destroy(b);
    spti_param_destroy(p);
    spti_param_destroy(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned_values),    cmocka_unit_test(test_create),
        cmocka_unit_test(test_set_get_domains),  cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_corrupt),    cmocka_unit_test(test_state_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
