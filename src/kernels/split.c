/* Balanced static partition of rows (or columns) by nonzero count. */
#include "kernels.h"

/* Smallest i in [0, n] with ptr[i] + i >= part * (ptr[n] + n) / parts.
 * ptr is a CSR/CSC offset array (non-decreasing), so the cost is monotone
 * and a binary search finds the split. */
int64_t spti_split_point(const int64_t *ptr, int64_t n, int parts, int part) {
    if (part <= 0) return 0;
    if (part >= parts) return n;
    const int64_t total = ptr[n] + n;
    /* total < 2^33 (nnz, rows < 2^31), so the product cannot overflow. */
    const int64_t goal = (int64_t)(((__int128)total * part) / parts);
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ptr[mid] + mid >= goal)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}
