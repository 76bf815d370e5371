/* Hookable, 64-byte aligned allocation. Alignment is done here rather than
 * asked of the hook, so a user allocator only needs malloc semantics. */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "internal.h"

enum { ALIGN = 64 };

/* A large buffer from spti_alloc is written whole before it is read
 * (gradients, activations, column buffers), often right after it was
 * allocated, so its first touch costs one page fault per 4 KiB. With the
 * default allocator such a buffer asks Linux for transparent huge pages
 * (its aligned 2 MiB stretches; granted when the system's THP setting is
 * "madvise" or "always"): on the development VM the first write of a
 * 49 MB buffer took 132 ms in 4 KiB pages and 12 ms in huge pages
 * (docs/performance.md, "Page faults"). Advice only: refused, nothing
 * changes. Not for zeroed buffers (spti_calloc), which may stay mostly
 * untouched, nor for a user's allocator. */
#define HUGE_MIN ((size_t)8 << 20)
static void advise_huge(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t page = (uintptr_t)2 << 20;
    const uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + bytes) & ~(page - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

static void *default_alloc(size_t size, void *user) {
    (void)user;
    return malloc(size);
}
static void default_free(void *ptr, void *user) {
    (void)user;
    free(ptr);
}

static spt_alloc_fn g_alloc = default_alloc;
static spt_free_fn g_free = default_free;
static void *g_user = NULL;

int spt_set_allocator(spt_alloc_fn alloc_fn, spt_free_fn free_fn, void *user) {
    if ((alloc_fn == NULL) != (free_fn == NULL))
        return spti_fail(SPT_ERR_INVALID, "spt_set_allocator: give both functions or neither");
    g_alloc = alloc_fn ? alloc_fn : default_alloc;
    g_free = free_fn ? free_fn : default_free;
    g_user = alloc_fn ? user : NULL;
    return SPT_OK;
}

/* Layout: [raw ... pad][void* raw][aligned payload ...]; align is a power
 * of two >= ALIGN. */
static void *alloc_aligned(int64_t n, size_t elem, bool zero, size_t align) {
    int64_t bytes;
    if (n < 0 || elem > (size_t)INT64_MAX || !spti_mul_i64(n, (int64_t)elem, &bytes)) return NULL;
    if ((uint64_t)bytes > (uint64_t)PTRDIFF_MAX - 2 * align) return NULL;
    size_t total = (size_t)bytes + align + sizeof(void *);
    /* With the default allocator, zeroed memory comes from calloc: large
     * blocks are fresh zero pages that take no memory until written, so a
     * dense buffer that is only ever partly touched (a weight that becomes
     * sparse before training) does not count in the peak RSS. */
    unsigned char *raw = zero && g_alloc == default_alloc ? calloc(1, total) : g_alloc(total, g_user);
    if (raw == NULL) return NULL;
    uintptr_t p = ((uintptr_t)raw + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
    ((void **)p)[-1] = raw;
    if (zero && g_alloc != default_alloc) memset((void *)p, 0, (size_t)bytes);
    if (!zero && g_alloc == default_alloc && (size_t)bytes >= HUGE_MIN) advise_huge((void *)p, (size_t)bytes);
    return (void *)p;
}

void *spti_alloc(int64_t n, size_t elem) { return alloc_aligned(n, elem, false, ALIGN); }

void *spti_calloc(int64_t n, size_t elem) { return alloc_aligned(n, elem, true, ALIGN); }

void spti_free(void *p) {
    if (p == NULL) return;
    g_free(((void **)p)[-1], g_user);
}

void *spti_alloc_or_fail(int64_t n, size_t elem, const char *what) {
    void *p = spti_alloc(n, elem);
    if (p == NULL) spti_fail(SPT_ERR_NOMEM, "out of memory allocating %s (%lld x %zu bytes)", what, (long long)n, elem);
    return p;
}

int spti_buf_grow(void **buf, int64_t *cap, int64_t n, size_t elem, const char *what) {
    if (n <= *cap && *buf) return SPT_OK;
    void *nb = spti_alloc(n, elem);
    if (!nb) return spti_fail(SPT_ERR_NOMEM, "out of memory for %s (%lld elements)", what, (long long)n);
    spti_free(*buf);
    *buf = nb;
    *cap = n;
    return SPT_OK;
}

/* A scratch is written whole again and again: from 2 MiB on it is made of
 * whole, aligned 2 MiB pages (its size rounded up, its start aligned; the
 * rounding is never touched unless used) and asks for huge pages whatever
 * its size, so that its first use faults a few huge pages, not hundreds
 * of small ones (a 4 MB block of the growth stream: about 1,000 faults,
 * 11 ms on the development VM). */
int spti_scratch_reserve(spti_scratch *s, int64_t bytes, const char *what) {
    if (bytes < 0) return spti_fail(SPT_ERR_SIZE, "%s: %lld bytes", what, (long long)bytes);
    if (bytes <= s->cap && s->p) return SPT_OK;
    const int64_t page = (int64_t)2 << 20;
    const bool huge = bytes >= page && bytes <= INT64_MAX - page && g_alloc == default_alloc;
    const int64_t n = huge ? (bytes + page - 1) / page * page : bytes;
    void *nb = alloc_aligned(n, 1, false, huge ? (size_t)page : ALIGN);
    if (!nb) return spti_fail(SPT_ERR_NOMEM, "out of memory for %s (%lld bytes)", what, (long long)bytes);
    if (huge && (size_t)n < HUGE_MIN) advise_huge(nb, (size_t)n); /* from HUGE_MIN on alloc_aligned did */
    spti_free(s->p);
    s->p = nb;
    s->cap = n;
    return SPT_OK;
}

void *spti_calloc_or_fail(int64_t n, size_t elem, const char *what) {
    void *p = spti_calloc(n, elem);
    if (p == NULL) spti_fail(SPT_ERR_NOMEM, "out of memory allocating %s (%lld x %zu bytes)", what, (long long)n, elem);
    return p;
}
