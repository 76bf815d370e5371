/* sparsetrain/train.h - see sparsetrain.h. */
#ifndef SPARSETRAIN_TRAIN_H
#define SPARSETRAIN_TRAIN_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
