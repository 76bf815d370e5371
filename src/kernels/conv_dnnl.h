/*
 * Dense convolution through oneDNN (optional: built when CMake finds
 * libdnnl, SPT_WITH_DNNL; conv_dnnl.c). Same contract and layout as the
 * im2col + OpenBLAS path (conv.h): x[C_in x H x W x N], y[C_out x H_out x
 * W_out x N], the weight C_out x (C_in*kh*kw) (oihw), one group.
 *
 * oneDNN runs the convolution in its own blocked layout (nChw16c on AVX-512);
 * the activations are reordered into it and back on every call (the cost is
 * measured in docs/performance.md), the weight likewise. A handle keeps the
 * primitives and the blocked buffers of one layer for one batch size and
 * thread count, rebuilt when either changes. The primitives run on the
 * library's thread count (spti_num_threads(), OpenMP, as OpenBLAS does);
 * oneDNN's results are the same bytes for the same CPU ISA and thread count.
 */
#ifndef SPTI_CONV_DNNL_H
#define SPTI_CONV_DNNL_H

#include "conv.h"

typedef struct spti_conv_dnnl spti_conv_dnnl;

/* Whether this build has oneDNN (on OpenMP) and the geometry is one it runs
 * here: one group, a kernel larger than 1x1 (a 1x1 convolution is a product
 * over x, or over its strided cells, where the reorders cost more than
 * oneDNN saves). */
bool spti_conv_dnnl_supports(const spti_conv_geom *g);

/* y = conv(w, x) (+ bias when bias != NULL); y overwritten. *h is the
 * layer's handle (NULL at first: created here). SPT_ERR_UNSUPPORTED when
 * oneDNN declines (nothing written: the caller falls back), SPT_ERR_NOMEM. */
int spti_conv_dnnl_fwd(spti_conv_dnnl **h, const spti_conv_geom *g, const float *w, const float *x, int64_t N,
                       const float *bias, float *y);
/* dw += dL/dw (when dw != NULL) and dx = dL/dx (when dx != NULL) for dy. On
 * failure nothing is written. */
int spti_conv_dnnl_bwd(spti_conv_dnnl **h, const spti_conv_geom *g, const float *w, const float *x, const float *dy,
                       int64_t N, float *dw, float *dx);
void spti_conv_dnnl_free(spti_conv_dnnl *h);

#endif
