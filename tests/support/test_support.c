#include "test_support.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Atomic: the library may allocate from its worker threads. */
static atomic_long live, count, fail_at = -1;

static void *counting_alloc(size_t size, void *user) {
    (void)user;
    /* Take one ticket: exactly the allocation that finds fail_at == 0 fails. */
    long f = atomic_load(&fail_at);
    while (f >= 0 && !atomic_compare_exchange_weak(&fail_at, &f, f - 1)) {
    }
    if (f == 0) return NULL;
    void *p = malloc(size);
    if (p) {
        live++;
        count++;
    }
    return p;
}

static void counting_free(void *p, void *user) {
    (void)user;
    if (p) live--;
    free(p);
}

void spt_test_alloc_install(void) {
    live = count = 0;
    fail_at = -1;
    spt_set_allocator(counting_alloc, counting_free, NULL);
}
void spt_test_alloc_uninstall(void) { spt_set_allocator(NULL, NULL, NULL); }
void spt_test_alloc_fail_at(long n) { fail_at = n; }
long spt_test_alloc_live(void) { return live; }
long spt_test_alloc_count(void) { return count; }

double spt_test_max_rel_err(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
        if (e > m || isnan(e)) m = isnan(e) ? INFINITY : e;
    }
    return m;
}
