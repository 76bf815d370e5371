/*
 * sparsetrain/tensor.h - dense tensors, masked tensors and CSR matrices.
 *
 * Layouts: every buffer is float32, row-major (C order). A matrix "R x C" is
 * R rows of C contiguous floats. Activations are feature-major with the
 * batch contiguous: a layer input of F features for B examples is "F x B".
 * A convolution weight out x in x kh x kw is handled as the matrix
 * out x (in*kh*kw).
 */
#ifndef SPARSETRAIN_TENSOR_H
#define SPARSETRAIN_TENSOR_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Dense float32 tensor of 1 to 4 dimensions, row-major. */
typedef struct spt_tensor spt_tensor;

/* Masked tensor: a dense R x C matrix of values with a 0/1 mask and an exact
 * count of active (mask = 1) entries. Inactive values are kept at 0. */
typedef struct spt_masked spt_masked;

/* Compressed sparse row matrix with a transposed (CSC) index kept in step. */
typedef struct spt_csr spt_csr;

/* Free a CSR matrix and everything it owns. Accepts NULL. */
SPT_API void spt_csr_destroy(spt_csr *m);

#ifdef __cplusplus
}
#endif
#endif
