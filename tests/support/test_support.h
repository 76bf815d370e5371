/* Helpers shared by the test suites. */
#ifndef SPT_TEST_SUPPORT_H
#define SPT_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the three headers above first. */
#include <cmocka.h>

#include "sparsetrain.h"

/* Allocator that counts live blocks and can fail the n-th allocation, to
 * test that every failure path reports SPT_ERR_NOMEM and leaks nothing.
 * spt_test_alloc_install() installs it and resets the counters. */
void spt_test_alloc_install(void);
void spt_test_alloc_uninstall(void);
/* Fail the allocation numbered `n` from now (0 = the next one); -1 = never. */
void spt_test_alloc_fail_at(long n);
/* Blocks allocated and not yet freed since install. */
long spt_test_alloc_live(void);
/* Allocations made since install. */
long spt_test_alloc_count(void);

/* Max |a-b| / (1 + |b|) over n elements. */
double spt_test_max_rel_err(const float *a, const float *b, int64_t n);

/* Assert that `expr` returns `status` and that the last-error text is non-empty. */
#define assert_status(expr, status)                          \
    do {                                                     \
        int rc_ = (expr);                                    \
        assert_int_equal(rc_, (status));                     \
        if ((status) != SPT_OK) assert_true(spt_last_error()[0] != '\0'); \
    } while (0)

#endif
