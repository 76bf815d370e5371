/* Thread count for the library's OpenMP kernels and OpenBLAS's pool. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "internal.h"

/* Declared here rather than through cblas.h: Debian can point cblas.h at
 * another BLAS's header, but we always link OpenBLAS. */
void openblas_set_num_threads(int num_threads);
int openblas_get_parallel(void); /* 0 sequential, 1 pthreads, 2 OpenMP */

static int g_threads = 0; /* 0: not set yet -> all cores */

static int cores(void) {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

int spt_set_num_threads(int n) {
    if (n < 0 || n > SPT_MAX_THREADS)
        return spti_fail(SPT_ERR_INVALID,
                         "spt_set_num_threads: n (%d) must be in [0, %d] (0 = all cores, SPT_MAX_THREADS = %d)", n,
                         SPT_MAX_THREADS, SPT_MAX_THREADS);
    g_threads = n == 0 ? cores() : n;
    openblas_set_num_threads(g_threads);
    return SPT_OK;
}

int spt_get_num_threads(void) { return spti_num_threads(); }

int spti_num_threads(void) {
    if (g_threads <= 0) g_threads = cores();
    return g_threads;
}

void spti_blas_use_threads(void) {
#ifdef _OPENMP
    const int n = spti_num_threads();
    if (!omp_in_parallel() && omp_get_max_threads() != n) omp_set_num_threads(n);
#endif
}

bool spti_blas_nests_in_openmp(void) {
#ifdef _OPENMP
    return openblas_get_parallel() == 2;
#else
    return false;
#endif
}
