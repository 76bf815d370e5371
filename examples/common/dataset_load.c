/* Loading the data the flags name (see example.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "example.h"

static int load_split(const ex_opts *o, const char *dir, int format, int split, int64_t limit, spt_dataset **out) {
    int rc = format == EX_FORMAT_CIFAR10 ? spt_dataset_load_cifar10(dir, split, limit, out)
                                         : spt_dataset_load_mnist(dir, split, limit, out);
    if (rc == SPT_OK) return -1;
    return ex_fail(o, "cannot load the %s set (%s): %s", split == SPT_SPLIT_TRAIN ? "training" : "test",
                   spt_status_string(rc), spt_last_error());
}

int ex_load_data(const ex_opts *o, spt_dataset **train, spt_dataset **test, bool *is_cifar) {
    *train = *test = NULL;
    const char *dir = o->data ? o->data : SPT_FASHION_MNIST_DIR;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (o->data) return ex_fail(o, "data directory %s: not found (or not a directory)", dir);
        return ex_fail(o, "data directory %s: not found; install Fashion-MNIST (apt-get install "
                          "dataset-fashion-mnist) or give --data DIR",
                       dir);
    }
    const int format = ex_data_format(o);
    *is_cifar = format == EX_FORMAT_CIFAR10;
    int rc = load_split(o, dir, format, SPT_SPLIT_TRAIN, o->limit, train);
    if (rc < 0) rc = load_split(o, dir, format, SPT_SPLIT_TEST, o->test_limit, test);
    if (rc >= 0) {
        spt_dataset_destroy(*train);
        spt_dataset_destroy(*test);
        *train = *test = NULL;
        return rc;
    }
    /* Normalise both sets with the training set's per-channel statistics. */
    int64_t channels = 0;
    float mean[16], std[16];
    int src = spt_dataset_info(*train, NULL, &channels, NULL, NULL, NULL);
    if (src == SPT_OK && channels <= 16) {
        src = spt_dataset_compute_mean_std(*train, mean, std, channels);
        if (src == SPT_OK) src = spt_dataset_set_normalization(*train, mean, std, channels);
        if (src == SPT_OK) src = spt_dataset_set_normalization(*test, mean, std, channels);
    }
    if (src != SPT_OK) {
        spt_dataset_destroy(*train);
        spt_dataset_destroy(*test);
        *train = *test = NULL;
        return ex_fail(o, "cannot normalise the data: %s", spt_last_error());
    }
    return -1;
}
