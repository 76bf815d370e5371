/* Run-time choice of the SIMD path: the widest the processor and the OS
 * (saved register state) support, capped by spt_set_simd_level; and the
 * vendor, for kernels whose best variant differs between Intel and AMD. */
#include <string.h>

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

int64_t spti_cpu_l2_bytes(void) {
    static int64_t bytes = -1;
    if (bytes >= 0) return bytes;
    int64_t b = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    unsigned a, bx, c, d;
    /* extended leaf 0x80000006: ECX[31:16] = L2 per core in KiB (AMD and Intel) */
    if (__get_cpuid(0x80000000, &a, &bx, &c, &d) && a >= 0x80000006 && __get_cpuid(0x80000006, &a, &bx, &c, &d))
        b = (int64_t)(c >> 16) * 1024;
#endif
    bytes = b > 0 ? b : (int64_t)1 << 20;
    return bytes;
}

const char *spti_cpu_name(void) {
    static char name[49];
    if (name[0]) return name;
#if defined(__x86_64__) && defined(__GNUC__)
    unsigned r[12] = {0}, top = 0, x, y, z;
    if (__get_cpuid(0x80000000, &top, &x, &y, &z) && top >= 0x80000004) {
        for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        memcpy(name, r, 48);
        name[48] = '\0';
        for (size_t n = strlen(name); n > 0 && name[n - 1] == ' '; n--) name[n - 1] = '\0';
    }
#endif
    if (!name[0]) strcpy(name, "unknown CPU");
    return name;
}

const char *spt_simd_name(void) {
    static const char *names[] = {"generic", "avx2", "avx512"};
    return names[spti_simd_level()];
}
