/* MNIST / Fashion-MNIST directories: find the four IDX files under the names
 * they are found with in practice (the distributed .gz, unpacked, or with a
 * dot before "idx"), then load them as 28 x 28 images. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "dataset.h"

enum { MAX_PATH = 4096 };

/* First existing file among the name patterns for prefix/kind into buf. */
static int find_file(const char *dir, const char *prefix, const char *kind, const char *idx, char *buf, size_t cap,
                     const char *fn) {
    /* e.g. t10k-images-idx3-ubyte.gz, t10k-images-idx3-ubyte, t10k-images.idx3-ubyte */
    static const char *const patterns[] = {"%s-%s-%s.gz", "%s-%s-%s", "%s-%s.%s"};
    char name[64], first[MAX_PATH];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, patterns[i], prefix, kind, idx);
        SPTI_TRY(spti_path_join(dir, name, buf, cap, fn));
        if (i == 0) snprintf(first, sizeof first, "%s", buf);
        if (access(buf, F_OK) == 0) return SPT_OK;
        /* Missing: try the next name. Anything else (a loop of symbolic
         * links, no permission to search) is about this path. */
        int err = errno;
        if (err != ENOENT) {
            char why[128];
            return spti_fail(SPT_ERR_IO, "%s: cannot open %s: %s%s", fn, buf, spti_errno_text(err, why, sizeof why),
                             err == ELOOP ? " (a symbolic link that loops)" : "");
        }
    }
    return spti_fail(SPT_ERR_IO, "%s: no %s %s file in %s (tried %s and 2 other names)", fn, prefix, kind, dir, first);
}

int spt_dataset_load_mnist(const char *dir, int split, int64_t limit, spt_dataset **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    if (split != SPT_SPLIT_TRAIN && split != SPT_SPLIT_TEST)
        return spti_fail(SPT_ERR_INVALID, "%s: split (%d) must be SPT_SPLIT_TRAIN or SPT_SPLIT_TEST", __func__, split);
    if (limit < 0) return spti_fail(SPT_ERR_SIZE, "%s: limit (%lld) must be >= 0", __func__, (long long)limit);
    if (dir == NULL) dir = SPT_FASHION_MNIST_DIR;
    const char *prefix = split == SPT_SPLIT_TRAIN ? "train" : "t10k";
    char images[MAX_PATH], labels[MAX_PATH];
    SPTI_TRY(find_file(dir, prefix, "images", "idx3-ubyte", images, sizeof images, __func__));
    SPTI_TRY(find_file(dir, prefix, "labels", "idx1-ubyte", labels, sizeof labels, __func__));
    return spti_load_idx(images, labels, limit, 28, 28, __func__, out);
}
