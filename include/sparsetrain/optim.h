/* sparsetrain/optim.h - see sparsetrain.h. */
#ifndef SPARSETRAIN_OPTIM_H
#define SPARSETRAIN_OPTIM_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
