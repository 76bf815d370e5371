/* sparsetrain/model.h - see sparsetrain.h. */
#ifndef SPARSETRAIN_MODEL_H
#define SPARSETRAIN_MODEL_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
