/* safetensors export and import (sparsetrain/safetensors.h): round trips
 * of every weight form (dense, masked, sparse) and of batch norms, the
 * file layout and size, a sparse method keeping a loaded topology, the
 * dtypes the loader converts, and malformed files: every truncation,
 * every single-byte change and hand-made files breaking each rule, each
 * refused with SPT_ERR_FORMAT and the model left as it was. */
#include <math.h>

#include "core/le_io.h"
#include "io/safetensors.h"
#include "test_checkpoint_util.h"

static char dir[64];

static int setup(void **state) {
    (void)state;
    ck_tmpdir(dir, sizeof dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", dir, name); }

/* Every parameter's values and form, and the batch norms' statistics. */
static void assert_same_weights_as(const spti_model *a, const spti_model *b, bool same_active) {
    assert_int_equal(a->n_params, b->n_params);
    for (int64_t i = 0; i < a->n_params; i++) {
        const spti_param *p = a->params[i], *q = b->params[i];
        assert_string_equal(p->name, q->name);
        float *da = malloc((size_t)(p->rows * p->cols) * sizeof(float));
        float *db = malloc((size_t)(p->rows * p->cols) * sizeof(float));
        spti_param_to_dense(p, da);
        spti_param_to_dense(q, db);
        assert_memory_equal(da, db, (size_t)(p->rows * p->cols) * sizeof(float));
        free(da);
        free(db);
        if (same_active)
            assert_int_equal(spti_param_active_positions(p, NULL), spti_param_active_positions(q, NULL));
    }
    for (int i = 0; i < a->n_leaves; i++) {
        if (!spti_layer_is_batchnorm(a->leaves[i])) continue;
        float *ma, *va, *mb, *vb;
        int64_t ca, cb;
        spti_batchnorm_running(a->leaves[i], &ma, &va, &ca);
        spti_batchnorm_running(b->leaves[i], &mb, &vb, &cb);
        assert_int_equal(ca, cb);
        assert_memory_equal(ma, mb, (size_t)ca * sizeof(float));
        assert_memory_equal(va, vb, (size_t)ca * sizeof(float));
    }
}

static void assert_same_weights(const spti_model *a, const spti_model *b) { assert_same_weights_as(a, b, true); }

/* A model rebuilt from an export alone: its description, then its weights. */
static spt_model *rebuild(const char *path) {
    spt_net *net = NULL;
    assert_status(spt_safetensors_read_net(path, &net), SPT_OK);
    spt_model *m = NULL;
    assert_status(spt_model_create(net, 1234, &m), SPT_OK);
    spt_net_destroy(net);
    assert_status(spt_model_load_safetensors(m, path), SPT_OK);
    return m;
}

/* Bit for bit when both hold their weights in the same forms; to rounding
 * (another kernel, another order of the sums) otherwise. */
static void assert_same_logits(spt_model *a, spt_model *b, const float *x, int64_t n, bool exact) {
    int64_t k;
    assert_status(spt_model_num_classes(a, &k), SPT_OK);
    float *la = malloc((size_t)(k * n) * sizeof(float)), *lb = malloc((size_t)(k * n) * sizeof(float));
    assert_status(spt_model_forward(a, x, n, la), SPT_OK);
    assert_status(spt_model_forward(b, x, n, lb), SPT_OK);
    if (exact) assert_memory_equal(la, lb, (size_t)(k * n) * sizeof(float));
    else assert_true(spt_test_max_rel_err(la, lb, k * n) < 1e-5);
    free(la);
    free(lb);
}

/* Train a run of `kind`, export it, rebuild it from the file: the same
 * weights in the same forms (a masked weight comes back sparse, with the
 * same active entries), the same statistics, the same logits. */
static void roundtrip(int kind, int flags) {
    ck_run r;
    ck_run_init(&r, kind);
    ck_train(r.t, r.b, r.x, r.y, r.feat, 12, NULL);
    char path[128];
    path_of(path, sizeof path, "rt.safetensors");
    assert_status(spt_model_save_safetensors(r.m, path, flags), SPT_OK);
    spt_model *m = rebuild(path);
    assert_same_weights_as(r.m, m, !(flags & SPT_SAFETENSORS_DENSE));
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *p = r.m->params[i], *q = m->params[i];
        if (flags & SPT_SAFETENSORS_DENSE) assert_int_equal(q->kind, SPTI_PARAM_DENSE);
        else assert_int_equal(q->kind, p->kind == SPTI_PARAM_DENSE ? SPTI_PARAM_DENSE : SPTI_PARAM_SPARSE);
    }
    assert_same_logits(r.m, m, r.x, CK_BATCH, !(flags & SPT_SAFETENSORS_DENSE));
    spt_model_destroy(m);
    ck_run_free(&r);
}

static void test_roundtrip_dense_mlp(void **s) { (void)s; roundtrip(RUN_DENSE_MLP, 0); }
static void test_roundtrip_rigl_mlp(void **s) { (void)s; roundtrip(RUN_RIGL_MLP, 0); }
static void test_roundtrip_gmp_mlp(void **s) { (void)s; roundtrip(RUN_GMP_MLP, 0); }
static void test_roundtrip_resnet(void **s) { (void)s; roundtrip(RUN_RESNET, 0); }
static void test_roundtrip_set_resnet(void **s) { (void)s; roundtrip(RUN_SET_RESNET, 0); }
static void test_roundtrip_dense_flag(void **s) { (void)s; roundtrip(RUN_RIGL_MLP, SPT_SAFETENSORS_DENSE); }

/* A sparse method created on a model loaded sparse keeps its topology (and
 * trains it); a dense import is sparsified with the loaded values kept at
 * the positions drawn. */
static void test_method_keeps_loaded_topology(void **s) {
    (void)s;
    ck_run r;
    ck_run_init(&r, RUN_RIGL_MLP);
    ck_train(r.t, r.b, r.x, r.y, r.feat, 5, NULL);
    char path[128];
    path_of(path, sizeof path, "topo.safetensors");
    assert_status(spt_model_save_safetensors(r.m, path, 0), SPT_OK);
    spt_model *m = rebuild(path);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.5), SPT_OK); /* not the file's */
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, r.o, NULL, cfg, 10, 3, &t), SPT_OK);
    assert_same_weights(r.m, m);
    double sparsity;
    int64_t nnz, dense, nnz0;
    assert_status(spt_trainer_sparsity(t, &sparsity, &nnz, &dense), SPT_OK);
    assert_status(spt_trainer_sparsity(r.t, NULL, &nnz0, NULL), SPT_OK);
    assert_int_equal(nnz, nnz0);
    assert_status(spt_model_load_safetensors(m, path), SPT_ERR_STATE); /* a trainer is attached */
    ck_train(t, r.b, r.x, r.y, r.feat, 6, NULL); /* RigL updates at step 3 and 6 keep the count */
    assert_status(spt_trainer_sparsity(t, NULL, &nnz, NULL), SPT_OK);
    assert_int_equal(nnz, nnz0);
    spt_trainer_destroy(t);
    spt_method_config_destroy(cfg);
    spt_model_destroy(m);
    ck_run_free(&r);

    /* dense in, static sparsity on top: kept entries keep their loaded values */
    ck_run_init(&r, RUN_DENSE_MLP);
    ck_train(r.t, r.b, r.x, r.y, r.feat, 5, NULL);
    assert_status(spt_model_save_safetensors(r.m, path, 0), SPT_OK);
    m = rebuild(path);
    assert_status(spt_method_config_create(SPT_METHOD_STATIC, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.6), SPT_OK);
    assert_status(spt_trainer_create(m, r.o, NULL, cfg, 10, 3, &t), SPT_OK);
    const spti_param *p = m->params[0], *q = r.m->params[0];
    assert_int_equal(p->kind, SPTI_PARAM_SPARSE);
    for (int64_t row = 0; row < p->rows; row++)
        for (int64_t k = p->csr->row_ptr[row]; k < p->csr->row_ptr[row + 1]; k++)
            assert_true(p->csr->values[k] == q->value[row * p->cols + p->csr->col_idx[k]]);
    spt_trainer_destroy(t);
    spt_method_config_destroy(cfg);
    spt_model_destroy(m);
    ck_run_free(&r);
}

static long file_size(const char *path) {
    long len = 0;
    free(ck_read(path, &len));
    return len;
}

/* The bound: a 95%-sparse MLP's export is at most 12% of its dense
 * export (8 bytes per nonzero against 4 per weight). */
static void test_size_of_sparse_export(void **s) {
    (void)s;
    const int64_t widths[4] = {784, 300, 100, 10};
    spt_model *m = NULL;
    assert_status(spt_model_create_mlp(widths, 4, 3, &m), SPT_OK);
    spt_optimizer *o = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_STATIC, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.95), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DISTRIBUTION, SPT_DISTRIBUTION_UNIFORM), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, cfg, 1, 3, &t), SPT_OK);
    char sparse[128], dense[128];
    path_of(sparse, sizeof sparse, "s95.safetensors");
    path_of(dense, sizeof dense, "d95.safetensors");
    assert_status(spt_model_save_safetensors(m, sparse, 0), SPT_OK);
    assert_status(spt_model_save_safetensors(m, dense, SPT_SAFETENSORS_DENSE), SPT_OK);
    const long a = file_size(sparse), b = file_size(dense);
    print_message("95%%-sparse MLP 784-300-100-10: export %ld bytes, dense export %ld bytes (%.1f%%)\n", a, b,
                  100.0 * (double)a / (double)b);
    assert_true(a <= 0.12 * (double)b);
    assert_true(b >= 266610 * 4);
    spt_trainer_destroy(t);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

/* Every truncation and every single-byte change of a small sparse export:
 * loading gives SPT_OK or SPT_ERR_FORMAT, and on failure the model is as
 * it was. */
static void test_corrupt_files(void **s) {
    (void)s;
    ck_run r;
    ck_run_init(&r, RUN_RIGL_MLP);
    ck_train(r.t, r.b, r.x, r.y, r.feat, 4, NULL);
    char path[128], bad[128];
    path_of(path, sizeof path, "good.safetensors");
    path_of(bad, sizeof bad, "bad.safetensors");
    assert_status(spt_model_save_safetensors(r.m, path, 0), SPT_OK);
    long len = 0;
    uint8_t *img = ck_read(path, &len);
    assert_non_null(img);
    spt_model *ref = rebuild(path), *m = rebuild(path);
    int refused = 0, accepted = 0;
    for (long cut = 0; cut < len; cut++) {
        FILE *f = fopen(bad, "wb");
        fwrite(img, 1, (size_t)cut, f);
        fclose(f);
        assert_status(spt_model_load_safetensors(m, bad), SPT_ERR_FORMAT);
    }
    assert_same_weights(ref, m);
    for (long at = 0; at < len; at++) {
        img[at] ^= 0x5a;
        FILE *f = fopen(bad, "wb");
        fwrite(img, 1, (size_t)len, f);
        fclose(f);
        img[at] ^= 0x5a;
        int rc = spt_model_load_safetensors(m, bad);
        assert_true(rc == SPT_OK || rc == SPT_ERR_FORMAT);
        if (rc == SPT_OK) {
            accepted++;
            assert_status(spt_model_load_safetensors(m, path), SPT_OK); /* back to the reference */
        } else {
            refused++;
            assert_non_null(strstr(spt_last_error(), bad));
            assert_same_weights(ref, m);
        }
    }
    print_message("%ld bytes: %d changes refused, %d accepted (values)\n", len, refused, accepted);
    assert_true(refused > 0 && accepted > 0);
    free(img);
    spt_model_destroy(m);
    spt_model_destroy(ref);
    ck_run_free(&r);
}

/* ---- hand-made files over a linear classifier 2 -> 2 (fc1.weight 2 x 2, fc1.bias 2) ---- */

static void craft(const char *path, const char *json, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t len[8];
    spti_store_u64(len, (uint64_t)strlen(json));
    fwrite(len, 1, 8, f);
    fwrite(json, 1, strlen(json), f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static spt_model *classifier(void) {
    const int64_t widths[2] = {2, 2};
    spt_model *m = NULL;
    assert_status(spt_model_create_mlp(widths, 2, 1, &m), SPT_OK);
    assert_string_equal(((spti_model *)m)->params[0]->name, "fc1.weight");
    assert_string_equal(((spti_model *)m)->params[1]->name, "fc1.bias");
    return m;
}

#define W_F32 "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}"
#define B_F32 "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}"

static void expect(spt_model *m, const char *json, const void *data, size_t n, int want, const char *why) {
    char path[128];
    path_of(path, sizeof path, "craft.safetensors");
    craft(path, json, data, n);
    float before[4], after[4];
    assert_status(spt_model_layer_weight_dense(m, 0, before, 4), SPT_OK);
    int rc = spt_model_load_safetensors(m, path);
    if (rc != want) print_message("%s: got %d (%s), want %d\n", why, rc, spt_last_error(), want);
    assert_int_equal(rc, want);
    if (rc != SPT_OK) {
        assert_status(spt_model_layer_weight_dense(m, 0, after, 4), SPT_OK);
        assert_memory_equal(before, after, sizeof before);
    }
}

static void test_crafted_files(void **s) {
    (void)s;
    spt_model *m = classifier();
    const float v[6] = {1.5f, -2.0f, 0.25f, 3.0f, 0.5f, -0.5f};
    float w[4];
    expect(m, "{" W_F32 "," B_F32 "}", v, 24, SPT_OK, "valid");
    assert_status(spt_model_layer_weight_dense(m, 0, w, 4), SPT_OK);
    assert_memory_equal(w, v, 16);
    /* padded header, metadata, PyTorch's batch counter */
    expect(m, "{\"__metadata__\":{\"format\":\"pt\"}," W_F32 "," B_F32 ",\"x.num_batches_tracked\":{\"dtype\":\"I64\","
              "\"shape\":[],\"data_offsets\":[24,32]}}   ", (const float[8]){1.5f, -2, .25f, 3, .5f, -.5f, 0, 0}, 32,
           SPT_OK, "metadata, counter, padding");

    /* other dtypes, converted exactly */
    const double d[6] = {1.5, -2.0, 0.25, 3.0, 0.5, -0.5};
    expect(m, "{\"fc1.weight\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,32]},\"fc1.bias\":{\"dtype\":"
              "\"F64\",\"shape\":[2],\"data_offsets\":[32,48]}}", d, 48, SPT_OK, "F64");
    assert_status(spt_model_layer_weight_dense(m, 0, w, 4), SPT_OK);
    assert_memory_equal(w, v, 16);
    const uint16_t h[6] = {0x3e00, 0xc000, 0x3400, 0x4200, 0x3800, 0xb800}; /* F16 of v */
    expect(m, "{\"fc1.weight\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},\"fc1.bias\":{\"dtype\":"
              "\"F16\",\"shape\":[2],\"data_offsets\":[8,12]}}", h, 12, SPT_OK, "F16");
    assert_status(spt_model_layer_weight_dense(m, 0, w, 4), SPT_OK);
    assert_memory_equal(w, v, 16);
    const uint16_t bf[6] = {0x3fc0, 0xc000, 0x3e80, 0x4040, 0x3f00, 0xbf00}; /* BF16 of v */
    expect(m, "{\"fc1.weight\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},\"fc1.bias\":{\"dtype\":"
              "\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]}}", bf, 12, SPT_OK, "BF16");
    assert_status(spt_model_layer_weight_dense(m, 0, w, 4), SPT_OK);
    assert_memory_equal(w, v, 16);

    /* a sparse weight: row 0 has column 1, row 1 column 0 */
    struct {
        int64_t crow[3];
        int32_t col[2];
        float val[2], bias[2];
    } sp = {{0, 1, 2}, {1, 0}, {7.0f, -7.0f}, {0, 0}};
    const char *sparse_json =
        "{\"__metadata__\":{\"fc1.weight.format\":\"csr\",\"fc1.weight.shape\":\"[2, 2]\"},"
        "\"fc1.weight.crow_indices\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
        "\"fc1.weight.col_indices\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[24,32]},"
        "\"fc1.weight.values\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]},"
        "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[40,48]}}";
    expect(m, sparse_json, &sp, 48, SPT_OK, "sparse");
    assert_status(spt_model_layer_weight_dense(m, 0, w, 4), SPT_OK);
    assert_memory_equal(w, ((const float[4]){0, 7, -7, 0}), 16);
    assert_int_equal(((spti_model *)m)->params[0]->kind, SPTI_PARAM_SPARSE);
    sp.col[0] = 2; /* outside the matrix */
    expect(m, sparse_json, &sp, 48, SPT_ERR_FORMAT, "column out of range");
    sp.col[0] = 1, sp.crow[1] = 3; /* offsets pass nnz */
    expect(m, sparse_json, &sp, 48, SPT_ERR_FORMAT, "offsets beyond nnz");
    sp.crow[1] = 2, sp.col[0] = 1, sp.col[1] = 1; /* row 0 holds columns 1, 1 */
    expect(m, sparse_json, &sp, 48, SPT_ERR_FORMAT, "repeated column");
    sp.crow[1] = 1, sp.col[1] = 0;
    expect(m, "{\"__metadata__\":{\"fc1.weight.shape\":\"[2, 3]\"},"
              "\"fc1.weight.crow_indices\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
              "\"fc1.weight.col_indices\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[24,32]},"
              "\"fc1.weight.values\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]},"
              "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[40,48]}}",
           &sp, 48, SPT_ERR_FORMAT, "metadata shape");
    expect(m, "{\"fc1.weight.crow_indices\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
              "\"fc1.weight.col_indices\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[24,32]},"
              "\"fc1.weight.values\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]},"
              "\"fc1.bias.values\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[40,48]}}",
           &sp, 48, SPT_ERR_FORMAT, "a sparse bias");

    /* the format's rules */
    const float nan6[6] = {1, NAN, 0, 0, 0, 0};
    expect(m, "{" W_F32 "," B_F32 "}", nan6, 24, SPT_ERR_FORMAT, "NaN");
    const float inf6[6] = {1, 0, 0, 0, 0, INFINITY};
    expect(m, "{" W_F32 "," B_F32 "}", inf6, 24, SPT_ERR_FORMAT, "Inf");
    expect(m, "{" W_F32 "," W_F32 "," B_F32 "}", v, 24, SPT_ERR_FORMAT, "duplicate key");
    expect(m, "{" W_F32 "}", v, 16, SPT_ERR_FORMAT, "missing bias");
    expect(m, "{" W_F32 "," B_F32 ",\"extra\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[24,24]}}", v, 24,
           SPT_ERR_FORMAT, "a tensor the model lacks");
    expect(m, "{" W_F32 "," B_F32 "}", v, 20, SPT_ERR_FORMAT, "data shorter");
    expect(m, "{" W_F32 "," B_F32 "}", (const float[7]){0}, 28, SPT_ERR_FORMAT, "data longer (a hole at the end)");
    expect(m, "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]},"
              "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", v, 24, SPT_OK,
           "data in another order");
    expect(m, "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
              "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", v, 16, SPT_ERR_FORMAT,
           "overlap");
    expect(m, "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}," B_F32 "}", v, 24,
           SPT_ERR_FORMAT, "wrong shape");
    expect(m, "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}," B_F32 "}", v, 24,
           SPT_ERR_FORMAT, "offsets do not match the shape");
    expect(m, "{\"fc1.weight\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}," B_F32 "}", v, 24,
           SPT_ERR_FORMAT, "integer weights");
    expect(m, "{\"fc1.weight\":{\"dtype\":\"F128\",\"shape\":[2,2],\"data_offsets\":[0,16]}," B_F32 "}", v, 24,
           SPT_ERR_FORMAT, "unknown dtype");
    expect(m, "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}," B_F32 "}", v, 24,
           SPT_ERR_FORMAT, "negative dimension");
    expect(m, "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":"
              "[0,16]}," B_F32 "}", v, 24, SPT_ERR_FORMAT, "overflowing shape");
    expect(m, "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],\"x\":1}," B_F32 "}", v,
           24, SPT_ERR_FORMAT, "extra field");
    expect(m, "{\"__metadata__\":{\"a\":1}," W_F32 "," B_F32 "}", v, 24, SPT_ERR_FORMAT, "metadata not a string");
    expect(m, "[1, 2]", NULL, 0, SPT_ERR_FORMAT, "not an object");
    expect(m, "{\"fc1.weight\":", NULL, 0, SPT_ERR_FORMAT, "truncated JSON");
    expect(m, "  {}", NULL, 0, SPT_ERR_FORMAT, "not starting with '{'");

    char path[128];
    path_of(path, sizeof path, "len.safetensors");
    FILE *f = fopen(path, "wb");
    const uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    fwrite(huge, 1, 16, f);
    fclose(f);
    assert_status(spt_model_load_safetensors(m, path), SPT_ERR_FORMAT);
    assert_status(spt_safetensors_read_net(path, &(spt_net *){NULL}), SPT_ERR_FORMAT);
    spt_model_destroy(m);
}

static void test_errors(void **s) {
    (void)s;
    spt_model *m = classifier();
    char path[128];
    path_of(path, sizeof path, "e.safetensors");
    assert_status(spt_model_save_safetensors(NULL, path, 0), SPT_ERR_NULL);
    assert_status(spt_model_save_safetensors(m, NULL, 0), SPT_ERR_NULL);
    assert_status(spt_model_save_safetensors(m, "", 0), SPT_ERR_INVALID);
    assert_status(spt_model_save_safetensors(m, path, 2), SPT_ERR_INVALID);
    assert_status(spt_model_load_safetensors(NULL, path), SPT_ERR_NULL);
    assert_status(spt_model_load_safetensors(m, NULL), SPT_ERR_NULL);
    assert_status(spt_model_load_safetensors(m, path), SPT_ERR_IO); /* not written yet */
    assert_status(spt_model_load_safetensors(m, dir), SPT_ERR_IO);  /* a directory */
    spt_net *net = (spt_net *)&net;
    assert_status(spt_safetensors_read_net(NULL, &net), SPT_ERR_NULL);
    assert_null(net);
    assert_status(spt_safetensors_read_net(path, NULL), SPT_ERR_NULL);
    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir.safetensors", dir);
    assert_status(spt_model_save_safetensors(m, nodir, 0), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), nodir));
    /* a written file replaces the old one atomically; no temporary left */
    assert_status(spt_model_save_safetensors(m, path, 0), SPT_OK);
    assert_status(spt_model_save_safetensors(m, path, SPT_SAFETENSORS_DENSE), SPT_OK);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    /* a file written elsewhere has no description */
    const float v[6] = {0};
    craft(path, "{" W_F32 "," B_F32 "}", v, 24);
    assert_status(spt_safetensors_read_net(path, &net), SPT_ERR_FORMAT);
    assert_non_null(strstr(spt_last_error(), "spt.net"));
    spt_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_dense_mlp),
        cmocka_unit_test(test_roundtrip_rigl_mlp),
        cmocka_unit_test(test_roundtrip_gmp_mlp),
        cmocka_unit_test(test_roundtrip_resnet),
        cmocka_unit_test(test_roundtrip_set_resnet),
        cmocka_unit_test(test_roundtrip_dense_flag),
        cmocka_unit_test(test_method_keeps_loaded_topology),
        cmocka_unit_test(test_size_of_sparse_export),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_crafted_files),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
