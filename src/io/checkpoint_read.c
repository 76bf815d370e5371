/* spt_trainer_load: map a checkpoint file (no copy in memory), parse it,
 * rebuild the model and the trainer. The in-memory path (spti_checkpoint_load_buffer)
 * is shared with the fuzz target. */
#include <stdio.h>
#include <string.h>
#include <stdint.h>

#include "../data/dataset.h"
#include "checkpoint_format.h"
#include "mapped_file.h"

/* Re-state the failure as "<func>: <name>: <problem>". */
static int name_fail(const char *func, const char *name, int rc) {
    char msg[384];
    snprintf(msg, sizeof msg, "%s", spt_last_error());
    return spti_fail(rc, "%s: %s: %s", func, name, msg);
}

int64_t spti_checkpoint_span_limit(int64_t len) {
    /* 2^24 rows and columns for any file, plus 1024 per byte
     * (checkpoint_restore.c, check_sizes): the values themselves are in
     * the file, so a hostile file of B bytes cannot make the loader build
     * more than ~8 KiB of structure per byte. */
    int64_t extra;
    if (len < 0 || !spti_mul_i64(len, 1024, &extra) || !spti_add_i64(extra, (int64_t)1 << 24, &extra))
        return INT64_MAX;
    return extra;
}

static int load_image(const char *func, const uint8_t *buf, int64_t len, const char *name,
                      const spt_user_method *user, spti_model **mo, spti_trainer **to, spt_batcher *b) {
    spti_ckpt_view v;
    int rc = spti_checkpoint_parse(buf, len, &v);
    if (rc == SPT_OK) rc = spti_checkpoint_restore(&v, user, spti_checkpoint_span_limit(len), mo, to, b);
    spti_checkpoint_view_free(&v);
    return rc == SPT_OK ? SPT_OK : name_fail(func, name, rc);
}

int spti_checkpoint_load_buffer(const uint8_t *buf, int64_t len, const char *name, spti_model **model_out,
                                spti_trainer **trainer_out, spt_batcher *b) {
    SPTI_CHECK_NULL(model_out);
    SPTI_CHECK_NULL(trainer_out);
    *model_out = NULL;
    *trainer_out = NULL;
    SPTI_CHECK_NULL(buf);
    if (len < 0) return spti_fail(SPT_ERR_SIZE, "%s: len (%lld) must be >= 0", __func__, (long long)len);
    return load_image(__func__, buf, len, name ? name : "(memory)", NULL, model_out, trainer_out, b);
}

static int load_file(const char *func, const char *path, const spt_user_method *user, spt_model **model_out,
                     spt_trainer **trainer_out, spt_batcher *batcher) {
    if (model_out) *model_out = NULL;
    if (trainer_out) *trainer_out = NULL;
    SPTI_CHECK_NULL(path);
    SPTI_CHECK_NULL(model_out);
    SPTI_CHECK_NULL(trainer_out);
    const uint8_t *buf;
    int64_t len;
    SPTI_TRY(spti_map_file(func, path, &buf, &len));
    int rc = load_image(func, buf, len, path, user, model_out, trainer_out, batcher);
    spti_unmap_file(buf, len);
    return rc;
}

int spt_trainer_load(const char *path, spt_model **model_out, spt_trainer **trainer_out, spt_batcher *batcher) {
    return load_file(__func__, path, NULL, model_out, trainer_out, batcher);
}

int spt_trainer_load_user(const char *path, const spt_user_method *u, spt_model **model_out,
                          spt_trainer **trainer_out, spt_batcher *batcher) {
    if (model_out) *model_out = NULL;
    if (trainer_out) *trainer_out = NULL;
    SPTI_CHECK_NULL(u);
    return load_file(__func__, path, u, model_out, trainer_out, batcher);
}

int spt_checkpoint_read_note(const char *path, void *buf, int64_t cap, int64_t *len) {
    SPTI_CHECK_NULL(path);
    SPTI_CHECK_NULL(len);
    *len = 0;
    if (cap < 0) return spti_fail(SPT_ERR_SIZE, "%s: cap (%lld) must be >= 0", __func__, (long long)cap);
    if (cap > 0 && buf == NULL) return spti_fail(SPT_ERR_NULL, "%s: buf is NULL with cap %lld", __func__, (long long)cap);
    const uint8_t *img;
    int64_t n;
    SPTI_TRY(spti_map_file(__func__, path, &img, &n));
    spti_ckpt_view v;
    int rc = spti_checkpoint_parse(img, n, &v);
    if (rc != SPT_OK) {
        spti_unmap_file(img, n);
        return name_fail(__func__, path, rc);
    }
    *len = v.note_len;
    if (v.note_len > cap)
        rc = spti_fail(SPT_ERR_SIZE, "%s: %s: the note has %lld bytes, more than cap (%lld)", __func__, path,
                       (long long)v.note_len, (long long)cap);
    else if (v.note_len > 0)
        memcpy(buf, v.note, (size_t)v.note_len);
    spti_checkpoint_view_free(&v);
    spti_unmap_file(img, n);
    return rc;
}
