/* spt_trainer_save: encode the trainer into a new file and replace the old
 * one atomically: write "<path>.tmp" in the same directory (mapped: no copy
 * of the image in memory), flush and fsync it, rename it
 * over <path>, fsync the directory. A crash at any point leaves either the
 * previous checkpoint or the new one at <path>, never a mixture. */
#include <stdint.h>

#include "../data/dataset.h"
#include "checkpoint_format.h"
#include "mapped_file.h"

/* Encode into "<path>.tmp" (mapped_file.h: no copy of the image in
 * memory; a 3 x 600,000 MLP's image is about 1 GB), then flush it and
 * rename it over <path>. On failure <path> is as it was. */
static int write_atomic(const char *func, const spt_trainer *t, const spt_batcher *batcher, const void *note,
                        int64_t note_len, const char *path) {
    spti_out_file f;
    SPTI_TRY(spti_out_file_open(&f, path));
    int64_t len = 0;
    int rc = spti_checkpoint_encode_to(t, batcher, note, note_len, spti_out_file_map, &f, &len);
    return spti_out_file_close(&f, func, rc);
}

static int save(const char *func, const spt_trainer *t, const spt_batcher *batcher, const void *note,
                int64_t note_len, const char *path) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(path);
    if (path[0] == '\0') return spti_fail(SPT_ERR_INVALID, "%s: path is empty", func);
    if (note_len < 0 || note_len > SPT_CHECKPOINT_NOTE_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: note_len (%lld) must be in [0, %d] (SPT_CHECKPOINT_NOTE_MAX)", func,
                         (long long)note_len, SPT_CHECKPOINT_NOTE_MAX);
    if (note_len > 0 && note == NULL) return spti_fail(SPT_ERR_NULL, "%s: note is NULL", func);
    return write_atomic(func, t, batcher, note, note_len, path);
}

int spt_trainer_save(const spt_trainer *t, const spt_batcher *batcher, const char *path) {
    return save(__func__, t, batcher, NULL, 0, path);
}

int spt_trainer_save_note(const spt_trainer *t, const spt_batcher *batcher, const void *note, int64_t note_len,
                          const char *path) {
    return save(__func__, t, batcher, note, note_len, path);
}
