/* Datasets from caller arrays: copying, layout of gathered batches,
 * normalisation, subsets and random splits, argument checks, out-of-memory
 * paths. */
#include <math.h>

#include "test_data_util.h"

/* n examples of 2 x 3 x 4 floats: value = n*100 + c*10 + h + w/8. */
enum { N = 6, C = 2, H = 3, W = 4, F = C * H * W };
static float val(int64_t n, int64_t c, int64_t h, int64_t w) { return (float)(n * 100 + c * 10 + h) + (float)w / 8; }

static void make_arrays(float *img, int32_t *lab) {
    for (int n = 0; n < N; n++) {
        lab[n] = (n * 2) % 5;
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) img[((n * C + c) * H + h) * W + w] = val(n, c, h, w);
    }
}

static void test_from_float_layout(void **state) {
    (void)state;
    float img[N * F];
    int32_t lab[N];
    make_arrays(img, lab);
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 5, &ds), SPT_OK);
    img[0] = -1, lab[0] = 4; /* the dataset holds a copy */
    int64_t n, c, h, w, k;
    assert_status(spt_dataset_info(ds, &n, &c, &h, &w, &k), SPT_OK);
    assert_true(n == N && c == C && h == H && w == W && k == 5);
    /* Example-major in, feature-major out, in the order asked, repeats ok. */
    int64_t idx[4] = {5, 0, 3, 0};
    float x[F * 4];
    int32_t y[4];
    assert_status(spt_dataset_gather(ds, idx, 4, x, F * 4, y), SPT_OK);
    for (int b = 0; b < 4; b++) {
        assert_int_equal(y[b], (idx[b] * 2) % 5);
        for (int cc = 0; cc < C; cc++)
            for (int hh = 0; hh < H; hh++)
                for (int ww = 0; ww < W; ww++)
                    assert_true(x[((cc * H + hh) * W + ww) * 4 + b] == val(idx[b], cc, hh, ww));
    }
    assert_status(spt_dataset_gather(ds, idx, 4, x, F * 4 - 1, y), SPT_ERR_SIZE);
    assert_status(spt_dataset_gather(ds, idx, 0, x, F * 4, y), SPT_ERR_SIZE);
    int64_t bad[2] = {1, N};
    assert_status(spt_dataset_gather(ds, bad, 2, x, F * 4, y), SPT_ERR_INVALID);
    bad[1] = -1;
    assert_status(spt_dataset_gather(ds, bad, 2, x, F * 4, y), SPT_ERR_INVALID);
    assert_status(spt_dataset_gather(ds, idx, 4, x, F * 4, NULL), SPT_OK);
    assert_status(spt_dataset_gather(NULL, idx, 4, x, F * 4, y), SPT_ERR_NULL);
    assert_status(spt_dataset_gather(ds, NULL, 4, x, F * 4, y), SPT_ERR_NULL);
    assert_status(spt_dataset_gather(ds, idx, 4, NULL, F * 4, y), SPT_ERR_NULL);
    spt_dataset_destroy(ds);
}

static void test_from_u8(void **state) {
    (void)state;
    uint8_t img[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++) img[i] = (uint8_t)(i * 11);
    int32_t lab[2] = {0, 1};
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_u8(img, lab, 2, 3, 2, 2, 2, &ds), SPT_OK);
    int64_t idx[2] = {0, 1};
    float x[24];
    assert_status(spt_dataset_gather(ds, idx, 2, x, 24, NULL), SPT_OK);
    for (int b = 0; b < 2; b++)
        for (int f = 0; f < 12; f++) assert_float_equal(x[f * 2 + b], img[b * 12 + f] / 255.0f, 1e-6);
    spt_dataset_destroy(ds);
}

static void test_array_errors(void **state) {
    (void)state;
    float img[N * F];
    int32_t lab[N];
    make_arrays(img, lab);
    spt_dataset *ds = (spt_dataset *)&ds;
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 4, &ds), SPT_ERR_INVALID); /* label 4 */
    assert_null(ds);
    assert_non_null(strstr(spt_last_error(), "labels[2]"));
    lab[1] = -1;
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 5, &ds), SPT_ERR_INVALID);
    lab[1] = 2;
    img[7] = NAN;
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 5, &ds), SPT_ERR_NONFINITE);
    img[7] = INFINITY;
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 5, &ds), SPT_ERR_NONFINITE);
    img[7] = 0;
    assert_status(spt_dataset_from_float(img, lab, 0, C, H, W, 5, &ds), SPT_ERR_SIZE);
    assert_status(spt_dataset_from_float(img, lab, N, -1, H, W, 5, &ds), SPT_ERR_SIZE);
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 0, &ds), SPT_ERR_SIZE);
    assert_status(spt_dataset_from_float(img, lab, INT64_MAX / 2, C, H, W, 5, &ds), SPT_ERR_SIZE);
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 5, NULL), SPT_ERR_NULL);
    assert_status(spt_dataset_from_float(NULL, lab, N, C, H, W, 5, &ds), SPT_ERR_NULL);
    assert_status(spt_dataset_from_float(img, NULL, N, C, H, W, 5, &ds), SPT_ERR_NULL);
    assert_status(spt_dataset_from_u8(NULL, lab, N, C, H, W, 5, &ds), SPT_ERR_NULL);
    assert_null(ds);
}

static void test_normalization(void **state) {
    (void)state;
    float img[N * F];
    int32_t lab[N];
    make_arrays(img, lab);
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 5, &ds), SPT_OK);
    /* Reference statistics per channel over all examples and positions. */
    float mean[C], std[C];
    assert_status(spt_dataset_compute_mean_std(ds, mean, std, C), SPT_OK);
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++) s += img[(n * C + c) * H * W + i];
        double m = s / (N * H * W);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++) q += pow(img[(n * C + c) * H * W + i] - m, 2);
        assert_float_equal(mean[c], m, 1e-4);
        assert_float_equal(std[c], sqrt(q / (N * H * W)), 1e-4);
    }
    assert_status(spt_dataset_set_normalization(ds, mean, std, C), SPT_OK);
    float got_m[C], got_s[C];
    assert_status(spt_dataset_get_normalization(ds, got_m, got_s, C), SPT_OK);
    assert_memory_equal(got_m, mean, sizeof mean);
    assert_memory_equal(got_s, std, sizeof std);
    /* Every later batch is normalised: each channel has mean 0, std 1. */
    int64_t idx[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    float x[F * N];
    assert_status(spt_dataset_gather(ds, idx, N, x, F * N, NULL), SPT_OK);
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (int i = 0; i < H * W * N; i++) s += x[c * H * W * N + i];
        for (int i = 0; i < H * W * N; i++) q += pow(x[c * H * W * N + i], 2);
        assert_float_equal(s / (H * W * N), 0.0, 1e-5);
        assert_float_equal(q / (H * W * N), 1.0, 1e-4);
    }
    assert_float_equal(x[0], (val(0, 0, 0, 0) - mean[0]) / std[0], 1e-5);
    /* Bad values leave the normalisation as it was. */
    float bad_s[C] = {1, 0};
    assert_status(spt_dataset_set_normalization(ds, mean, bad_s, C), SPT_ERR_INVALID);
    bad_s[1] = -2;
    assert_status(spt_dataset_set_normalization(ds, mean, bad_s, C), SPT_ERR_INVALID);
    bad_s[1] = 1e-39f; /* positive, but 1/std overflows */
    assert_status(spt_dataset_set_normalization(ds, mean, bad_s, C), SPT_ERR_INVALID);
    float bad_m[C] = {0, NAN}, ones[C] = {1, 1};
    assert_status(spt_dataset_set_normalization(ds, bad_m, ones, C), SPT_ERR_INVALID);
    assert_status(spt_dataset_set_normalization(ds, mean, NULL, C), SPT_ERR_NULL);
    assert_status(spt_dataset_set_normalization(ds, mean, std, C + 1), SPT_ERR_SIZE);
    assert_status(spt_dataset_get_normalization(ds, got_m, got_s, C), SPT_OK);
    assert_memory_equal(got_s, std, sizeof std);
    /* Both NULL removes it. */
    assert_status(spt_dataset_set_normalization(ds, NULL, NULL, C), SPT_OK);
    assert_status(spt_dataset_gather(ds, idx, 1, x, F, NULL), SPT_OK);
    assert_true(x[F - 1] == val(0, C - 1, H - 1, W - 1));
    assert_status(spt_dataset_compute_mean_std(ds, mean, std, 1), SPT_ERR_SIZE);
    assert_status(spt_dataset_compute_mean_std(NULL, mean, std, C), SPT_ERR_NULL);
    assert_status(spt_dataset_get_normalization(ds, NULL, NULL, 3), SPT_ERR_SIZE);
    spt_dataset_destroy(ds);
}

static void test_normalization_u8(void **state) {
    (void)state;
    /* Channel 0 takes 0 and 255 equally: mean 0.5, std 0.5 in scaled units;
     * channel 1 is constant, so std is reported as 1. */
    uint8_t img[4 * 2];
    for (int n = 0; n < 4; n++) img[n * 2] = (uint8_t)(n % 2 ? 255 : 0), img[n * 2 + 1] = 51;
    int32_t lab[4] = {0, 0, 0, 0};
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_u8(img, lab, 4, 2, 1, 1, 1, &ds), SPT_OK);
    float mean[2], std[2];
    assert_status(spt_dataset_compute_mean_std(ds, mean, std, 2), SPT_OK);
    assert_float_equal(mean[0], 0.5, 1e-6);
    assert_float_equal(std[0], 0.5, 1e-6);
    assert_float_equal(mean[1], 0.2, 1e-6);
    assert_float_equal(std[1], 1.0, 0);
    assert_status(spt_dataset_set_normalization(ds, mean, std, 2), SPT_OK);
    int64_t idx[2] = {0, 1};
    float x[4];
    assert_status(spt_dataset_gather(ds, idx, 2, x, 4, NULL), SPT_OK);
    assert_float_equal(x[0], -1.0, 1e-6); /* channel 0, example 0 */
    assert_float_equal(x[1], 1.0, 1e-6);  /* channel 0, example 1 */
    assert_float_equal(x[2], 0.0, 1e-6);  /* channel 1 */
    spt_dataset_destroy(ds);
}

static void test_subset_and_split(void **state) {
    (void)state;
    float img[N * F];
    int32_t lab[N];
    make_arrays(img, lab);
    spt_dataset *ds = NULL, *sub = NULL, *rest = NULL, *hold = NULL;
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 5, &ds), SPT_OK);
    float m[C] = {1, 2}, s[C] = {3, 4};
    assert_status(spt_dataset_set_normalization(ds, m, s, C), SPT_OK);
    assert_status(spt_dataset_subset(ds, 2, 3, &sub), SPT_OK);
    int64_t n;
    assert_status(spt_dataset_info(sub, &n, NULL, NULL, NULL, NULL), SPT_OK);
    assert_int_equal(n, 3);
    float a[F], b[F];
    int32_t ya, yb;
    int64_t i0 = 0, i2 = 2;
    assert_status(spt_dataset_gather(sub, &i0, 1, a, F, &ya), SPT_OK);
    assert_status(spt_dataset_gather(ds, &i2, 1, b, F, &yb), SPT_OK);
    assert_memory_equal(a, b, sizeof a); /* same pixels, same normalisation */
    assert_int_equal(ya, yb);
    spt_dataset_destroy(sub);
    assert_status(spt_dataset_subset(ds, 4, 3, &sub), SPT_ERR_SIZE);
    assert_status(spt_dataset_subset(ds, -1, 2, &sub), SPT_ERR_SIZE);
    assert_status(spt_dataset_subset(ds, 0, 0, &sub), SPT_ERR_SIZE);
    assert_null(sub);

    /* Random split: disjoint, covering, order kept, reproducible. */
    int32_t seen_rest[N], seen_hold[N];
    for (int trial = 0; trial < 2; trial++) {
        assert_status(spt_dataset_split_random(ds, 2, 99, &rest, &hold), SPT_OK);
        int64_t nr, nh;
        assert_status(spt_dataset_info(rest, &nr, NULL, NULL, NULL, NULL), SPT_OK);
        assert_status(spt_dataset_info(hold, &nh, NULL, NULL, NULL, NULL), SPT_OK);
        assert_int_equal(nr, 4);
        assert_int_equal(nh, 2);
        /* Identify each example by its first pixel (n*100 + 0, normalised). */
        int used[N] = {0};
        int32_t *seen[2] = {seen_rest, seen_hold};
        spt_dataset *parts[2] = {rest, hold};
        for (int p = 0; p < 2; p++) {
            int64_t cnt = p ? nh : nr, prev = -1;
            for (int64_t i = 0; i < cnt; i++) {
                float x[F];
                assert_status(spt_dataset_gather(parts[p], &i, 1, x, F, NULL), SPT_OK);
                int64_t orig = (int64_t)lroundf((x[0] * s[0] + m[0]) / 100.0f);
                assert_true(orig >= 0 && orig < N && orig > prev);
                prev = orig;
                used[orig]++;
                if (trial == 0) seen[p][i] = (int32_t)orig;
                else assert_int_equal(seen[p][i], orig);
            }
        }
        for (int i = 0; i < N; i++) assert_int_equal(used[i], 1);
        spt_dataset_destroy(rest);
        spt_dataset_destroy(hold);
    }
    /* Another seed picks another holdout (checked over several seeds). */
    int differs = 0;
    for (uint64_t seed = 1; seed < 6 && !differs; seed++) {
        assert_status(spt_dataset_split_random(ds, 2, seed, &rest, &hold), SPT_OK);
        float x[F];
        int64_t z = 0;
        assert_status(spt_dataset_gather(hold, &z, 1, x, F, NULL), SPT_OK);
        differs = lroundf((x[0] * s[0] + m[0]) / 100.0f) != seen_hold[0];
        spt_dataset_destroy(rest);
        spt_dataset_destroy(hold);
    }
    assert_true(differs);
    assert_status(spt_dataset_split_random(ds, 0, 1, &rest, &hold), SPT_ERR_SIZE);
    assert_status(spt_dataset_split_random(ds, N, 1, &rest, &hold), SPT_ERR_SIZE);
    assert_status(spt_dataset_split_random(NULL, 1, 1, &rest, &hold), SPT_ERR_NULL);
    assert_status(spt_dataset_split_random(ds, 1, 1, NULL, &hold), SPT_ERR_NULL);
    assert_null(rest);
    assert_null(hold);
    spt_dataset_destroy(ds);
}

static void test_nomem(void **state) {
    (void)state;
    float img[N * F];
    int32_t lab[N];
    make_arrays(img, lab);
    spt_dataset *ds = NULL, *sub = NULL, *rest = NULL, *hold = NULL;
    TDU_NOMEM_LOOP(spt_dataset_from_float(img, lab, N, C, H, W, 5, &ds), spt_dataset_destroy(ds));
    uint8_t u[N * F] = {0};
    TDU_NOMEM_LOOP(spt_dataset_from_u8(u, lab, N, C, H, W, 5, &ds), spt_dataset_destroy(ds));
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 5, &ds), SPT_OK);
    TDU_NOMEM_LOOP(spt_dataset_subset(ds, 1, 3, &sub), spt_dataset_destroy(sub));
    TDU_NOMEM_LOOP(spt_dataset_split_random(ds, 2, 5, &rest, &hold),
                   (spt_dataset_destroy(rest), spt_dataset_destroy(hold)));
    spt_dataset_destroy(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_float_layout), cmocka_unit_test(test_from_u8),
        cmocka_unit_test(test_array_errors),      cmocka_unit_test(test_normalization),
        cmocka_unit_test(test_normalization_u8),  cmocka_unit_test(test_subset_and_split),
        cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
