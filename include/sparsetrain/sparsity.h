/* sparsetrain/sparsity.h - see sparsetrain.h. */
#ifndef SPARSETRAIN_SPARSITY_H
#define SPARSETRAIN_SPARSITY_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
