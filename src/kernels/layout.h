/* Activation layouts: the library's batch-contiguous C x H x W x N (conv.h)
 * and oneDNN's blocked nChw16c, N x (C/16) x H x W x 16 (16 channels of one
 * cell contiguous), for C a multiple of 16. Used by the oneDNN convolution
 * (conv_dnnl.c) in place of oneDNN's own reorder, which moves these
 * transposes at about 5 GB/s on one core here (a dense ResNet-20 step went
 * from 343 to 300 ms with these; docs/performance.md). Call only when
 * spti_simd_level() >= 2. */
#ifndef SPTI_LAYOUT_H
#define SPTI_LAYOUT_H

#include <stdint.h>

#include "../core/internal.h"

/* Below this many floats a transpose stays on one thread. */
#define SPTI_LAYOUT_PAR_MIN ((int64_t)1 << 16)

/* dst[nChw16c] = src[C x HW x N] (C % 16 == 0). */
void spti_chwn_to_nchw16c_avx512(const float *src, int64_t C, int64_t HW, int64_t N, float *dst);
/* dst[C x HW x N] = src[nChw16c] (C % 16 == 0). */
void spti_nchw16c_to_chwn_avx512(const float *src, int64_t C, int64_t HW, int64_t N, float *dst);

#endif
