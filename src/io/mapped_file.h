/*
 * Files written and read through a memory mapping, shared by the
 * checkpoints and the safetensors export:
 *
 * Writing is atomic: spti_out_file_open names "<path>.tmp" in the same
 * directory; spti_out_file_map (the sink: its signature is
 * spti_ckpt_sink's) creates it at its final size, reserves its blocks
 * (posix_fallocate: a full disk is an error here, not a fault while
 * writing through the mapping) and maps it for writing, so the writer
 * encodes straight into the file and holds no copy of it in memory;
 * spti_out_file_close flushes and fsyncs it, renames it over <path> and
 * fsyncs the directory, or on failure removes it, so that <path> is
 * either the previous file or the new one, never a mixture.
 *
 * Reading maps the whole file read-only (spti_map_file): parsers read it
 * in place, the pages are the page cache's. A file replaced by rename
 * leaves an existing mapping of the old one intact.
 */
#ifndef SPTI_MAPPED_FILE_H
#define SPTI_MAPPED_FILE_H

#include <stdint.h>

#include "../core/internal.h"

typedef struct spti_out_file {
    char *path, *tmp, *dir;
    int fd;
    uint8_t *map;
    int64_t size;
} spti_out_file;

/* Make the names; nothing is touched on disk yet. SPT_ERR_NOMEM. */
int spti_out_file_open(spti_out_file *f, const char *path);
/* The sink: create "<path>.tmp" of `size` bytes, mapped at *buf. The
 * message names the temporary file. */
int spti_out_file_map(void *f, int64_t size, uint8_t **buf);
/* Finish: with rc == SPT_OK, flush, rename and sync; otherwise (or if
 * that fails) remove the temporary file. Returns the final status, its
 * message restated as "<func>: <path>: <problem>". Frees the names. */
int spti_out_file_close(spti_out_file *f, const char *func, int rc);

/* Map `path` read-only: *buf (a static empty buffer for an empty file) and
 * *len. Messages "<func>: <path>: <problem>": SPT_ERR_IO (cannot open or
 * map, not a regular file), SPT_ERR_SIZE, SPT_ERR_NOMEM. */
int spti_map_file(const char *func, const char *path, const uint8_t **buf, int64_t *len);
void spti_unmap_file(const uint8_t *buf, int64_t len);

#endif
