/* Overflow-checked size arithmetic. Every size product in the library goes
 * through these, so a hostile shape reports SPT_ERR_SIZE instead of wrapping. */
#include <stdint.h>

#include "internal.h"

bool spti_mul_i64(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return false;
    if (a != 0 && b > INT64_MAX / a) return false;
    *out = a * b;
    return true;
}

bool spti_add_i64(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return false;
    if (a > INT64_MAX - b) return false;
    *out = a + b;
    return true;
}

bool spti_count_elems(const int64_t *dims, int n, size_t elem, int64_t *count) {
    int64_t c = 1;
    for (int i = 0; i < n; i++)
        if (!spti_mul_i64(c, dims[i], &c)) return false;
    int64_t bytes;
    if (elem > (size_t)INT64_MAX || !spti_mul_i64(c, (int64_t)elem, &bytes)) return false;
    if ((uint64_t)bytes > (uint64_t)PTRDIFF_MAX - 128) return false;
    *count = c;
    return true;
}
