/* sparsetrain/data.h - see sparsetrain.h. */
#ifndef SPARSETRAIN_DATA_H
#define SPARSETRAIN_DATA_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
