/* Run-time choice of the SIMD path: the widest the processor and the OS
 * (saved register state) support, capped by spt_set_simd_level; and the
 * vendor, for kernels whose best variant differs between Intel and AMD. */
#include "internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

static int g_cap = 2;

static int detect(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int spti_simd_level(void) {
    static int level = -1;
    if (level < 0) level = detect();
    return level < g_cap ? level : g_cap;
}

int spt_set_simd_level(int level) {
    if (level < 0 || level > 2) return spti_fail(SPT_ERR_INVALID, "spt_set_simd_level: level (%d) must be 0, 1 or 2", level);
    g_cap = level;
    return SPT_OK;
}

bool spti_cpu_fast_gathers(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_is("intel");
#else
    return false;
#endif
}

const char *spt_simd_name(void) {
    static const char *names[] = {"generic", "avx2", "avx512"};
    return names[spti_simd_level()];
}
