/* libFuzzer target: the IDX reader (images + labels, each plain or gzip)
 * through spti_load_idx, the code behind spt_dataset_load_idx and
 * spt_dataset_load_mnist. A crash, a sanitizer report, a leak or a huge
 * allocation is a bug; anything else must load or fail with a status.
 *
 * Input: [mode][L hi][L lo][labels file: L bytes][images file: the rest]
 * (L clamped to what is there). mode bits 0..6 give the example limit
 * (0 = all), bit 7 demands 28 x 28 images as spt_dataset_load_mnist does.
 * Seed with small valid pairs, e.g. from tests/test_data_corrupt.c's
 * inputs: 2-byte length of the label file, then both files. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "fuzz_memfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    int mode = data[0];
    size_t lab_len = ((size_t)data[1] << 8) | data[2];
    data += 3, size -= 3;
    if (lab_len > size) lab_len = size;
    char lab_path[64], img_path[64];
    int lab_fd = fuzz_memfile(data, lab_len, lab_path, sizeof lab_path);
    int img_fd = fuzz_memfile(data + lab_len, size - lab_len, img_path, sizeof img_path);
    if (lab_fd >= 0 && img_fd >= 0) {
        int64_t side = (mode & 0x80) ? 28 : 0;
        spt_dataset *ds = NULL;
        int rc = spti_load_idx(img_path, lab_path, mode & 0x7f, side, side, "fuzz_idx", &ds);
        if (rc == SPT_OK) spt_dataset_destroy(ds);
    }
    if (lab_fd >= 0) close(lab_fd);
    if (img_fd >= 0) close(img_fd);
    return 0;
}
