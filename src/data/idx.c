/* IDX files (MNIST, Fashion-MNIST): a big-endian header - magic 0x0000TTDD
 * (TT = 0x08 unsigned bytes, DD = number of dimensions), one u32 per
 * dimension - then the bytes. Images are N x rows x cols, labels N. Both
 * headers are checked before the dataset is allocated; both files are then
 * read to the end so that a wrong length is always reported. */
#include "../core/le_io.h"
#include "dataset.h"
#include "gzip_read.h"

enum { MAGIC_IMAGES = 0x00000803, MAGIC_LABELS = 0x00000801, CLASSES = 10 };

static int64_t be32(const unsigned char *p) { return (int64_t)spti_load_u32_be(p); }

static int read_magic(spti_gz *g, int64_t want, int ndims, int64_t *dims) {
    unsigned char head[16];
    SPTI_TRY(spti_gz_read(g, head, 4 + 4 * ndims, "the header"));
    int64_t magic = be32(head);
    if (magic != want)
        return spti_fail(SPT_ERR_FORMAT, "%s: %s: magic 0x%08llx, expected 0x%08llx (%s)", g->fn, g->path,
                         (unsigned long long)magic, (unsigned long long)want,
                         want == MAGIC_IMAGES ? "IDX images: u8, 3 dimensions" : "IDX labels: u8, 1 dimension");
    for (int i = 0; i < ndims; i++) dims[i] = be32(head + 4 + 4 * i);
    return SPT_OK;
}

static int check_headers(spti_gz *img, spti_gz *lab, int64_t rows, int64_t cols, int64_t *dims, int64_t *pixels) {
    int64_t nlab = 0;
    SPTI_TRY(read_magic(img, MAGIC_IMAGES, 3, dims));
    SPTI_TRY(read_magic(lab, MAGIC_LABELS, 1, &nlab));
    if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0)
        return spti_fail(SPT_ERR_FORMAT, "%s: %s: dimensions %lld x %lld x %lld include a zero", img->fn, img->path,
                         (long long)dims[0], (long long)dims[1], (long long)dims[2]);
    if ((rows > 0 && dims[1] != rows) || (cols > 0 && dims[2] != cols))
        return spti_fail(SPT_ERR_FORMAT, "%s: %s: images are %lld x %lld, expected %lld x %lld", img->fn, img->path,
                         (long long)dims[1], (long long)dims[2], (long long)rows, (long long)cols);
    if (nlab != dims[0])
        return spti_fail(SPT_ERR_FORMAT, "%s: %s holds %lld images but %s holds %lld labels", img->fn, img->path,
                         (long long)dims[0], lab->path, (long long)nlab);
    if (!spti_count_elems(dims, 3, 1, pixels))
        return spti_fail(SPT_ERR_FORMAT, "%s: %s: dimensions %lld x %lld x %lld overflow", img->fn, img->path,
                         (long long)dims[0], (long long)dims[1], (long long)dims[2]);
    SPTI_TRY(spti_gz_check_plain_size(img, 16 + *pixels));
    return spti_gz_check_plain_size(lab, 8 + nlab);
}

/* Every label is checked; the first `keep` are stored. */
static int read_labels(spti_gz *g, int64_t count, int64_t keep, int32_t *labels) {
    unsigned char chunk[4096];
    for (int64_t at = 0; at < count;) {
        int64_t m = count - at < (int64_t)sizeof chunk ? count - at : (int64_t)sizeof chunk;
        SPTI_TRY(spti_gz_read(g, chunk, m, "the labels"));
        for (int64_t i = 0; i < m; i++) {
            if (chunk[i] >= CLASSES)
                return spti_fail(SPT_ERR_FORMAT, "%s: %s: label %lld is %d, outside 0..9", g->fn, g->path,
                                 (long long)(at + i), (int)chunk[i]);
            if (at + i < keep) labels[at + i] = chunk[i];
        }
        at += m;
    }
    return spti_gz_expect_end(g);
}

static int read_all(spti_gz *img, spti_gz *lab, int64_t rows, int64_t cols, int64_t limit, spt_dataset **out) {
    int64_t dims[3], pixels;
    SPTI_TRY(check_headers(img, lab, rows, cols, dims, &pixels));
    int64_t n = (limit > 0 && limit < dims[0]) ? limit : dims[0];
    spt_dataset *ds;
    SPTI_TRY(spti_dataset_new(n, 1, dims[1], dims[2], CLASSES, true, img->fn, &ds));
    int rc = read_labels(lab, dims[0], n, ds->labels);
    if (rc == SPT_OK) rc = spti_gz_read(img, ds->u8, n * ds->feat, "the images");
    if (rc == SPT_OK) rc = spti_gz_read(img, NULL, pixels - n * ds->feat, "the images");
    if (rc == SPT_OK) rc = spti_gz_expect_end(img);
    if (rc != SPT_OK) {
        spt_dataset_destroy(ds);
        return rc;
    }
    *out = ds;
    return SPT_OK;
}

int spti_load_idx(const char *images_path, const char *labels_path, int64_t limit, int64_t rows, int64_t cols,
                  const char *fn, spt_dataset **out) {
    spti_gz img = {0}, lab = {0};
    int rc = spti_gz_open(&img, images_path, fn);
    if (rc == SPT_OK) rc = spti_gz_open(&lab, labels_path, fn);
    if (rc == SPT_OK) rc = read_all(&img, &lab, rows, cols, limit, out);
    spti_gz_close(&img);
    spti_gz_close(&lab);
    return rc;
}

int spt_dataset_load_idx(const char *images_path, const char *labels_path, int64_t limit, spt_dataset **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(images_path);
    SPTI_CHECK_NULL(labels_path);
    if (limit < 0) return spti_fail(SPT_ERR_SIZE, "%s: limit (%lld) must be >= 0", __func__, (long long)limit);
    return spti_load_idx(images_path, labels_path, limit, 0, 0, __func__, out);
}
