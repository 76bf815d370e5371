/* libFuzzer target: the CIFAR-10 binary reader through the public
 * spt_dataset_load_cifar10_files. A crash, a sanitizer report or a leak is a
 * bug; anything else must load or fail with a status.
 *
 * Input: [mode][the file]. mode bits 0..1 give the number of paths - 1 (all
 * naming the same file, so that the multi-file loop and the limit across
 * files are reached), bits 2..7 the example limit (0 = all). Records are
 * 3073 bytes: run with -max_len of at least 3 * 3073 + 1. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>

#include "fuzz_memfile.h"
#include "sparsetrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0];
    char path[64];
    int fd = fuzz_memfile(data + 1, size - 1, path, sizeof path);
    if (fd < 0) return 0;
    const char *paths[4] = {path, path, path, path};
    spt_dataset *ds = NULL;
    int rc = spt_dataset_load_cifar10_files(paths, 1 + (mode & 3), mode >> 2, &ds);
    if (rc == SPT_OK) spt_dataset_destroy(ds);
    close(fd);
    return 0;
}
