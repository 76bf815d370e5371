/*
 * Little-endian fixed-width encoding, independent of the host's byte order:
 * the one byte codec of the library (checkpoints, and the state records of
 * optimizers and sparsity methods they carry).
 *
 * Writer: a cursor that either only counts bytes (buf == NULL: the size pass)
 * or stores them (the write pass, into a buffer sized by the first pass), so
 * one encoder serves both passes.
 *
 * Reader: a bounds-checked cursor over a byte range. Every get checks the
 * remaining bytes first; a short read sets `bad` and returns false without
 * moving, so a parser can check once after a group of reads.
 */
#ifndef SPTI_LE_IO_H
#define SPTI_LE_IO_H

#include <stdbool.h>
#include <stdint.h>

typedef struct spti_wcur {
    uint8_t *buf; /* NULL: count only */
    int64_t len;  /* bytes written (or counted) so far */
} spti_wcur;

void spti_put_u8(spti_wcur *w, uint8_t v);
void spti_put_u32(spti_wcur *w, uint32_t v);
void spti_put_u64(spti_wcur *w, uint64_t v);
void spti_put_i64(spti_wcur *w, int64_t v);
void spti_put_f64(spti_wcur *w, double v);
void spti_put_bytes(spti_wcur *w, const void *src, int64_t n);
/* n floats / int32 / int64 as little-endian words (bit patterns kept). */
void spti_put_f32s(spti_wcur *w, const float *src, int64_t n);
void spti_put_i32s(spti_wcur *w, const int32_t *src, int64_t n);
void spti_put_i64s(spti_wcur *w, const int64_t *src, int64_t n);

/* Stand-alone stores/loads at a fixed place (headers, patched lengths). */
void spti_store_u32(uint8_t *b, uint32_t v);
void spti_store_u64(uint8_t *b, uint64_t v);
uint32_t spti_load_u32(const uint8_t *b);
uint64_t spti_load_u64(const uint8_t *b);
/* A big-endian u32 (the one foreign order we read: IDX file headers). */
uint32_t spti_load_u32_be(const uint8_t *b);

typedef struct spti_rcur {
    const uint8_t *p;
    int64_t len, pos;
    bool bad; /* a read ran past the end */
} spti_rcur;

static inline int64_t spti_rcur_left(const spti_rcur *r) { return r->len - r->pos; }

bool spti_get_u8(spti_rcur *r, uint8_t *v);
bool spti_get_u32(spti_rcur *r, uint32_t *v);
bool spti_get_u64(spti_rcur *r, uint64_t *v);
bool spti_get_i64(spti_rcur *r, int64_t *v);
bool spti_get_f64(spti_rcur *r, double *v);
bool spti_get_f32(spti_rcur *r, float *v);
/* A view of the next `count` elements of `elem` bytes (count >= 0; the
 * product is overflow-checked against the remaining bytes), or NULL. */
const uint8_t *spti_get_view(spti_rcur *r, int64_t count, int64_t elem);

/* Decode n little-endian words from a view into host arrays. */
void spti_decode_f32s(const uint8_t *src, int64_t n, float *dst);
void spti_decode_i32s(const uint8_t *src, int64_t n, int32_t *dst);
void spti_decode_i64s(const uint8_t *src, int64_t n, int64_t *dst);
float spti_decode_f32(const uint8_t *src);
int64_t spti_decode_i64(const uint8_t *src);

#endif
