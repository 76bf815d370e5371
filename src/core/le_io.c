/* Little-endian fixed-width writer and bounds-checked reader (le_io.h). */
#include <string.h>

#include "le_io.h"

void spti_store_u32(uint8_t *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}
void spti_store_u64(uint8_t *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}
uint32_t spti_load_u32(const uint8_t *b) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)b[i] << (8 * i);
    return v;
}
uint64_t spti_load_u64(const uint8_t *b) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}
uint32_t spti_load_u32_be(const uint8_t *b) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = v << 8 | b[i];
    return v;
}

/* ---- writer ------------------------------------------------------------- */

void spti_put_u8(spti_wcur *w, uint8_t v) {
    if (w->buf) w->buf[w->len] = v;
    w->len += 1;
}
void spti_put_u32(spti_wcur *w, uint32_t v) {
    if (w->buf) spti_store_u32(w->buf + w->len, v);
    w->len += 4;
}
void spti_put_u64(spti_wcur *w, uint64_t v) {
    if (w->buf) spti_store_u64(w->buf + w->len, v);
    w->len += 8;
}
void spti_put_i64(spti_wcur *w, int64_t v) { spti_put_u64(w, (uint64_t)v); }
void spti_put_f64(spti_wcur *w, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    spti_put_u64(w, u);
}
void spti_put_bytes(spti_wcur *w, const void *src, int64_t n) {
    if (w->buf && n > 0) memcpy(w->buf + w->len, src, (size_t)n);
    w->len += n;
}
void spti_put_f32s(spti_wcur *w, const float *src, int64_t n) {
    if (w->buf)
        for (int64_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &src[i], 4);
            spti_store_u32(w->buf + w->len + 4 * i, u);
        }
    w->len += 4 * n;
}
void spti_put_i32s(spti_wcur *w, const int32_t *src, int64_t n) {
    if (w->buf)
        for (int64_t i = 0; i < n; i++) spti_store_u32(w->buf + w->len + 4 * i, (uint32_t)src[i]);
    w->len += 4 * n;
}
void spti_put_i64s(spti_wcur *w, const int64_t *src, int64_t n) {
    if (w->buf)
        for (int64_t i = 0; i < n; i++) spti_store_u64(w->buf + w->len + 8 * i, (uint64_t)src[i]);
    w->len += 8 * n;
}

/* ---- reader ------------------------------------------------------------- */

static const uint8_t *take(spti_rcur *r, int64_t n) {
    if (r->bad || n < 0 || n > r->len - r->pos) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

bool spti_get_u8(spti_rcur *r, uint8_t *v) {
    const uint8_t *p = take(r, 1);
    if (p) *v = *p;
    return p != NULL;
}
bool spti_get_u32(spti_rcur *r, uint32_t *v) {
    const uint8_t *p = take(r, 4);
    if (p) *v = spti_load_u32(p);
    return p != NULL;
}
bool spti_get_u64(spti_rcur *r, uint64_t *v) {
    const uint8_t *p = take(r, 8);
    if (p) *v = spti_load_u64(p);
    return p != NULL;
}
bool spti_get_i64(spti_rcur *r, int64_t *v) {
    uint64_t u;
    if (!spti_get_u64(r, &u)) return false;
    *v = (int64_t)u;
    return true;
}
bool spti_get_f64(spti_rcur *r, double *v) {
    uint64_t u;
    if (!spti_get_u64(r, &u)) return false;
    memcpy(v, &u, sizeof u);
    return true;
}
bool spti_get_f32(spti_rcur *r, float *v) {
    uint32_t u;
    if (!spti_get_u32(r, &u)) return false;
    memcpy(v, &u, sizeof u);
    return true;
}
const uint8_t *spti_get_view(spti_rcur *r, int64_t count, int64_t elem) {
    /* count * elem <= left, without forming a product that could overflow. */
    if (r->bad || count < 0 || elem <= 0 || count > (r->len - r->pos) / elem) {
        r->bad = true;
        return NULL;
    }
    return take(r, count * elem);
}

void spti_decode_f32s(const uint8_t *src, int64_t n, float *dst) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = spti_load_u32(src + 4 * i);
        memcpy(&dst[i], &u, 4);
    }
}
void spti_decode_i32s(const uint8_t *src, int64_t n, int32_t *dst) {
    for (int64_t i = 0; i < n; i++) dst[i] = (int32_t)spti_load_u32(src + 4 * i);
}
void spti_decode_i64s(const uint8_t *src, int64_t n, int64_t *dst) {
    for (int64_t i = 0; i < n; i++) dst[i] = (int64_t)spti_load_u64(src + 8 * i);
}
float spti_decode_f32(const uint8_t *src) {
    float f;
    spti_decode_f32s(src, 1, &f);
    return f;
}
int64_t spti_decode_i64(const uint8_t *src) { return (int64_t)spti_load_u64(src); }
