/* The batcher: batch layout and sizes, epochs, seeded shuffling,
 * checkpoint state, crop and flip augmentation, argument checks,
 * out-of-memory paths. */
#include "data/dataset.h"
#include "test_data_util.h"

/* N examples of C x H x W (H != W catches transposes); every pixel value
 * distinct and nonzero, so a produced value names its source. */
enum { N = 10, C = 2, H = 5, W = 6, F = C * H * W };
static float val(int64_t n, int64_t c, int64_t h, int64_t w) { return (float)(1 + n * 1000 + c * 100 + h * 10 + w); }

static spt_dataset *make_ds(void) {
    float img[N * F];
    int32_t lab[N];
    for (int n = 0; n < N; n++) {
        lab[n] = n % 3;
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) img[((n * C + c) * H + h) * W + w] = val(n, c, h, w);
    }
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_float(img, lab, N, C, H, W, 3, &ds), SPT_OK);
    return ds;
}

/* Example index of column b of a batch of B (from its first pixel). */
static int64_t example_of(const float *x, int64_t b) { return (int64_t)(x[b] - 1) / 1000; }

static void test_layout_and_epochs(void **state) {
    (void)state;
    spt_dataset *ds = make_ds();
    spt_batcher *bt = NULL;
    assert_status(spt_batcher_create(ds, 4, 0, 1, &bt), SPT_OK);
    int64_t nb;
    assert_status(spt_batcher_batches_per_epoch(bt, &nb), SPT_OK);
    assert_int_equal(nb, 3);
    float x[F * 4];
    int32_t y[4];
    int64_t B, want[] = {4, 4, 2, 0}, pos = 0;
    for (int i = 0; i < 4; i++) {
        assert_status(spt_batcher_next(bt, x, F * 4, y, 4, &B), SPT_OK);
        assert_int_equal(B, want[i]);
        /* "C x H x W x B" packed with the actual B, unshuffled order. */
        for (int64_t b = 0; b < B; b++) {
            assert_int_equal(y[b], (pos + b) % 3);
            for (int c = 0; c < C; c++)
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++) assert_true(x[((c * H + h) * W + w) * B + b] == val(pos + b, c, h, w));
        }
        pos += B;
    }
    int64_t epoch, position;
    uint64_t seed;
    assert_status(spt_batcher_get_state(bt, &epoch, &position, &seed), SPT_OK);
    assert_int_equal(epoch, 1);
    assert_int_equal(position, 0);
    assert_true(seed == 1);
    assert_status(spt_batcher_next(bt, x, F * 4, y, 4, &B), SPT_OK); /* the next epoch starts over */
    assert_int_equal(B, 4);
    assert_int_equal(example_of(x, 0), 0);
    spt_batcher_destroy(bt);

    /* drop_last: no short batch, and batch_size up to N. */
    assert_status(spt_batcher_create(ds, 4, SPT_BATCH_DROP_LAST, 1, &bt), SPT_OK);
    assert_status(spt_batcher_batches_per_epoch(bt, &nb), SPT_OK);
    assert_int_equal(nb, 2);
    int64_t want_drop[] = {4, 4, 0, 4};
    for (int i = 0; i < 4; i++) {
        assert_status(spt_batcher_next(bt, x, F * 4, y, 4, &B), SPT_OK);
        assert_int_equal(B, want_drop[i]);
    }
    spt_batcher_destroy(bt);
    /* batch_size > N without drop_last: one short batch per epoch. */
    float big[F * 16];
    int32_t ybig[16];
    assert_status(spt_batcher_create(ds, 16, 0, 1, &bt), SPT_OK);
    assert_status(spt_batcher_next(bt, big, F * 16, ybig, 16, &B), SPT_OK);
    assert_int_equal(B, N);
    assert_status(spt_batcher_next(bt, big, F * 16, ybig, 16, &B), SPT_OK);
    assert_int_equal(B, 0);
    spt_batcher_destroy(bt);
    spt_dataset_destroy(ds);
}

/* One epoch's order (examples in delivery order) into order[]; returns count. */
static int64_t epoch_order(spt_batcher *bt, int64_t bs, int64_t *order) {
    float x[F * N];
    int32_t y[N];
    int64_t B, got = 0;
    while (1) {
        assert_status(spt_batcher_next(bt, x, F * bs, y, bs, &B), SPT_OK);
        if (B == 0) break;
        for (int64_t b = 0; b < B; b++) {
            order[got] = example_of(x, b);
            assert_int_equal(y[b], order[got] % 3);
            got++;
        }
    }
    return got;
}

static void test_shuffle(void **state) {
    (void)state;
    spt_dataset *ds = make_ds();
    spt_batcher *a = NULL, *b = NULL, *c = NULL;
    assert_status(spt_batcher_create(ds, 3, SPT_BATCH_SHUFFLE, 42, &a), SPT_OK);
    assert_status(spt_batcher_create(ds, 4, SPT_BATCH_SHUFFLE, 42, &b), SPT_OK); /* other batch size */
    assert_status(spt_batcher_create(ds, 3, SPT_BATCH_SHUFFLE, 43, &c), SPT_OK);
    int64_t oa[3][N], ob[3][N], oc[3][N];
    int any_shuffled = 0;
    for (int e = 0; e < 3; e++) {
        assert_int_equal(epoch_order(a, 3, oa[e]), N);
        assert_int_equal(epoch_order(b, 4, ob[e]), N);
        assert_int_equal(epoch_order(c, 3, oc[e]), N);
        /* Every example exactly once per epoch. */
        int seen[N] = {0};
        for (int i = 0; i < N; i++) seen[oa[e][i]]++;
        for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
        /* Same seed, same order, whatever the batch size. */
        assert_memory_equal(oa[e], ob[e], sizeof oa[e]);
        for (int i = 0; i < N; i++) any_shuffled |= oa[e][i] != i;
    }
    assert_true(any_shuffled);
    /* A new order each epoch, and another seed gives other orders. */
    assert_memory_not_equal(oa[0], oa[1], sizeof oa[0]);
    assert_memory_not_equal(oa[1], oa[2], sizeof oa[0]);
    for (int e = 0; e < 3; e++) assert_memory_not_equal(oa[e], oc[e], sizeof oa[e]);
    spt_batcher_destroy(a);
    spt_batcher_destroy(b);
    spt_batcher_destroy(c);

    /* drop_last with shuffling: 2 batches of 4, no example twice. */
    assert_status(spt_batcher_create(ds, 4, SPT_BATCH_SHUFFLE | SPT_BATCH_DROP_LAST, 5, &a), SPT_OK);
    int64_t o[N];
    assert_int_equal(epoch_order(a, 4, o), 8);
    int seen[N] = {0};
    for (int i = 0; i < 8; i++) assert_int_equal(seen[o[i]]++, 0);
    spt_batcher_destroy(a);
    spt_dataset_destroy(ds);
}

static void test_state_restore(void **state) {
    (void)state;
    spt_dataset *ds = make_ds();
    spt_batcher *a = NULL, *b = NULL;
    int flags = SPT_BATCH_SHUFFLE;
    assert_status(spt_batcher_create(ds, 3, flags, 2024, &a), SPT_OK);
    assert_status(spt_batcher_create(ds, 3, flags, 1, &b), SPT_OK);
    assert_status(spt_batcher_set_augment(a, 2, 1), SPT_OK);
    assert_status(spt_batcher_set_augment(b, 2, 1), SPT_OK);
    float xa[F * 3], xb[F * 3];
    int32_t ya[3], yb[3];
    int64_t B, Bb;
    for (int i = 0; i < 6; i++) assert_status(spt_batcher_next(a, xa, F * 3, ya, 3, &B), SPT_OK); /* mid epoch 1 */
    int64_t epoch, position;
    uint64_t seed;
    assert_status(spt_batcher_get_state(a, &epoch, &position, &seed), SPT_OK);
    assert_int_equal(epoch, 1);
    assert_int_equal(position, 3);
    assert_true(seed == 2024);
    assert_status(spt_batcher_set_state(b, epoch, position, seed), SPT_OK);
    for (int i = 0; i < 12; i++) {
        assert_status(spt_batcher_next(a, xa, F * 3, ya, 3, &B), SPT_OK);
        assert_status(spt_batcher_next(b, xb, F * 3, yb, 3, &Bb), SPT_OK);
        assert_int_equal(B, Bb);
        assert_memory_equal(xa, xb, sizeof(float) * (size_t)(F * B));
        assert_memory_equal(ya, yb, sizeof(int32_t) * (size_t)B);
    }
    /* Bad states are refused and change nothing. */
    int64_t e2, p2;
    assert_status(spt_batcher_get_state(b, &epoch, &position, NULL), SPT_OK);
    assert_status(spt_batcher_set_state(b, -1, 0, 1), SPT_ERR_INVALID);
    assert_status(spt_batcher_set_state(b, 0, N + 1, 1), SPT_ERR_INVALID);
    assert_status(spt_batcher_set_state(b, 0, -1, 1), SPT_ERR_INVALID);
    assert_status(spt_batcher_get_state(b, &e2, &p2, NULL), SPT_OK);
    assert_int_equal(e2, epoch);
    assert_int_equal(p2, position);
    /* position N: the next call ends the epoch. */
    assert_status(spt_batcher_set_state(b, 4, N, 9), SPT_OK);
    assert_status(spt_batcher_next(b, xb, F * 3, yb, 3, &Bb), SPT_OK);
    assert_int_equal(Bb, 0);
    assert_status(spt_batcher_get_state(b, &e2, &p2, &seed), SPT_OK);
    assert_true(e2 == 5 && p2 == 0 && seed == 9);
    assert_status(spt_batcher_get_state(NULL, &e2, &p2, &seed), SPT_ERR_NULL);
    assert_status(spt_batcher_set_state(NULL, 0, 0, 0), SPT_ERR_NULL);
    spt_batcher_destroy(a);
    spt_batcher_destroy(b);
    spt_dataset_destroy(ds);
}

/* The exact rule, on the internal gather: shift by (dy, dx), mirror, 0 fill. */
static void test_augment_rule(void **state) {
    (void)state;
    spt_dataset *ds = make_ds();
    int64_t idx[3] = {3, 7, 3};
    spti_aug aug[3] = {{1, -2, 1}, {0, 0, 1}, {-2, 3, 0}};
    float x[F * 3];
    int32_t y[3];
    spti_dataset_gather(ds, idx, 3, aug, x, y);
    for (int b = 0; b < 3; b++) {
        assert_int_equal(y[b], idx[b] % 3);
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) {
                    int sh = h + aug[b].dy, sw = (aug[b].flip ? W - 1 - w : w) + aug[b].dx;
                    float want = (sh < 0 || sh >= H || sw < 0 || sw >= W) ? 0.0f : val(idx[b], c, sh, sw);
                    assert_true(x[((c * H + h) * W + w) * 3 + b] == want);
                }
    }
    /* Spot checks of the rule itself. Example 7 mirrored: column 0 holds
     * the last column. Example 3 shifted down by 1 (dy=1, mirrored, dx=-2):
     * the last row reads past the image, so it is 0. */
    assert_true(x[((0 * H + 2) * W + 0) * 3 + 1] == val(7, 0, 2, W - 1));
    for (int w = 0; w < W; w++) assert_true(x[((1 * H + H - 1) * W + w) * 3 + 0] == 0.0f);
    /* dy=-2, dx=3: out(h=2, w=0) = in(0, 3); rows 0-1 and columns >= 3 are 0. */
    assert_true(x[((0 * H + 2) * W + 0) * 3 + 2] == val(3, 0, 0, 3));
    assert_true(x[((0 * H + 1) * W + 0) * 3 + 2] == 0.0f);
    assert_true(x[((0 * H + 2) * W + 3) * 3 + 2] == 0.0f);
    spt_dataset_destroy(ds);
}

/* Which (dy, dx, flip) with |dy|,|dx| <= pad explains column b; -1 if none. */
static int find_aug(const float *x, int64_t b, int64_t B, int64_t n, int pad, int *dy_out, int *dx_out) {
    for (int flip = 0; flip < 2; flip++)
        for (int dy = -pad; dy <= pad; dy++)
            for (int dx = -pad; dx <= pad; dx++) {
                int ok = 1;
                for (int c = 0; c < C && ok; c++)
                    for (int h = 0; h < H && ok; h++)
                        for (int w = 0; w < W && ok; w++) {
                            int sh = h + dy, sw = (flip ? W - 1 - w : w) + dx;
                            float want = (sh < 0 || sh >= H || sw < 0 || sw >= W) ? 0.0f : val(n, c, sh, sw);
                            ok = x[((c * H + h) * W + w) * B + b] == want;
                        }
                if (ok) {
                    *dy_out = dy, *dx_out = dx;
                    return flip;
                }
            }
    return -1;
}

static void test_augment_stream(void **state) {
    (void)state;
    spt_dataset *ds = make_ds();
    spt_batcher *bt = NULL;
    assert_status(spt_batcher_create(ds, 5, 0, 77, &bt), SPT_OK);
    float x[F * 5];
    int32_t y[5];
    int64_t B;
    /* Flip only: each example is itself or its mirror, both occur. */
    assert_status(spt_batcher_set_augment(bt, 0, 1), SPT_OK);
    int flips[2] = {0, 0}, dy, dx;
    for (int i = 0; i < 12; i++) {
        assert_status(spt_batcher_next(bt, x, F * 5, y, 5, &B), SPT_OK);
        int64_t p;
        spt_batcher_get_state(bt, NULL, &p, NULL);
        for (int64_t b = 0; b < B; b++) {
            int f = find_aug(x, b, B, p - B + b, 0, &dy, &dx);
            assert_true(f >= 0);
            flips[f]++;
        }
    }
    assert_true(flips[0] > 0 && flips[1] > 0);
    /* Crop 2 and flip: every example is a shift within +-2 (zero fill),
     * maybe mirrored, and the shifts vary. */
    assert_status(spt_batcher_set_augment(bt, 2, 1), SPT_OK);
    int shifts[5][5] = {{0}}, distinct = 0, zero_filled = 0;
    for (int i = 0; i < 12; i++) {
        assert_status(spt_batcher_next(bt, x, F * 5, y, 5, &B), SPT_OK);
        int64_t p;
        spt_batcher_get_state(bt, NULL, &p, NULL);
        for (int64_t b = 0; b < B; b++) {
            int f = find_aug(x, b, B, p - B + b, 2, &dy, &dx);
            assert_true(f >= 0);
            distinct += shifts[dy + 2][dx + 2]++ == 0;
            zero_filled += dy != 0 || dx != 0;
        }
    }
    assert_true(distinct >= 6);
    assert_true(zero_filled > 0);
    /* Off again: plain copies. */
    assert_status(spt_batcher_set_augment(bt, 0, 0), SPT_OK);
    assert_status(spt_batcher_set_state(bt, 0, 0, 77), SPT_OK);
    assert_status(spt_batcher_next(bt, x, F * 5, y, 5, &B), SPT_OK);
    for (int64_t b = 0; b < B; b++) {
        assert_int_equal(find_aug(x, b, B, b, 0, &dy, &dx), 0);
    }
    /* With normalisation the padding is still exactly 0. */
    float m[C] = {0.5f, 0.25f}, s[C] = {2, 3}; /* no pixel maps to 0 */
    assert_status(spt_dataset_set_normalization(ds, m, s, C), SPT_OK);
    assert_status(spt_batcher_set_augment(bt, H, 0), SPT_OK); /* largest shift: some rows all padding */
    int zeros = 0;
    for (int i = 0; i < 4; i++) {
        assert_status(spt_batcher_next(bt, x, F * 5, y, 5, &B), SPT_OK);
        for (int64_t k = 0; k < F * B; k++) zeros += x[k] == 0.0f;
    }
    assert_true(zeros > 0);
    spt_batcher_destroy(bt);
    spt_dataset_destroy(ds);
}

static void test_errors(void **state) {
    (void)state;
    spt_dataset *ds = make_ds();
    spt_batcher *bt = (spt_batcher *)&bt;
    assert_status(spt_batcher_create(ds, 0, 0, 1, &bt), SPT_ERR_SIZE);
    assert_null(bt);
    assert_status(spt_batcher_create(ds, -4, 0, 1, &bt), SPT_ERR_SIZE);
    assert_status(spt_batcher_create(ds, INT64_MAX / 2, 0, 1, &bt), SPT_ERR_SIZE);
    assert_status(spt_batcher_create(ds, 4, 4, 1, &bt), SPT_ERR_INVALID);
    assert_status(spt_batcher_create(ds, N + 1, SPT_BATCH_DROP_LAST, 1, &bt), SPT_ERR_SIZE);
    assert_status(spt_batcher_create(ds, 4, 0, 1, NULL), SPT_ERR_NULL);
    assert_status(spt_batcher_create(NULL, 4, 0, 1, &bt), SPT_ERR_NULL);
    assert_null(bt);
    assert_status(spt_batcher_create(ds, 4, 0, 1, &bt), SPT_OK);
    float x[F * 4];
    int32_t y[4];
    int64_t B = -7, p;
    assert_status(spt_batcher_next(bt, x, F * 4 - 1, y, 4, &B), SPT_ERR_SIZE);
    assert_status(spt_batcher_next(bt, x, F * 4, y, 3, &B), SPT_ERR_SIZE);
    assert_status(spt_batcher_next(NULL, x, F * 4, y, 4, &B), SPT_ERR_NULL);
    assert_status(spt_batcher_next(bt, NULL, F * 4, y, 4, &B), SPT_ERR_NULL);
    assert_status(spt_batcher_next(bt, x, F * 4, NULL, 4, &B), SPT_ERR_NULL);
    assert_status(spt_batcher_next(bt, x, F * 4, y, 4, NULL), SPT_ERR_NULL);
    assert_status(spt_batcher_get_state(bt, NULL, &p, NULL), SPT_OK);
    assert_int_equal(p, 0); /* failed calls did not advance */
    assert_status(spt_batcher_set_augment(bt, -1, 0), SPT_ERR_INVALID);
    assert_status(spt_batcher_set_augment(bt, H + 1, 0), SPT_ERR_INVALID); /* H < W */
    assert_status(spt_batcher_set_augment(NULL, 1, 0), SPT_ERR_NULL);
    assert_status(spt_batcher_batches_per_epoch(bt, NULL), SPT_ERR_NULL);
    assert_status(spt_batcher_batches_per_epoch(NULL, &p), SPT_ERR_NULL);
    spt_batcher_destroy(bt);
    spt_batcher_destroy(NULL);
    spt_dataset_destroy(ds);
}

static void test_nomem(void **state) {
    (void)state;
    spt_dataset *ds = make_ds();
    spt_batcher *bt = NULL;
    TDU_NOMEM_LOOP(spt_batcher_create(ds, 4, SPT_BATCH_SHUFFLE, 3, &bt), spt_batcher_destroy(bt));
    spt_dataset_destroy(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_epochs), cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_state_restore),     cmocka_unit_test(test_augment_rule),
        cmocka_unit_test(test_augment_stream),    cmocka_unit_test(test_errors),
        cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
