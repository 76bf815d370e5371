/* sparsetrain/ops.h - see sparsetrain.h. */
#ifndef SPARSETRAIN_OPS_H
#define SPARSETRAIN_OPS_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
