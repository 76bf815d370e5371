/** @file
 * The one header C users include.
 *
 * libsparsetrain trains neural networks that stay sparse from start to end
 * (RigL and the methods it is compared with). The per-module headers below
 * are the manual: each function states its parameters, ownership, NULL
 * handling and thread-safety. Start with sparsetrain/core.h for the
 * conventions every function follows.
 */
#ifndef SPARSETRAIN_H
#define SPARSETRAIN_H

#include "sparsetrain/core.h"
#include "sparsetrain/tensor.h"
#include "sparsetrain/ops.h"
#include "sparsetrain/data.h"
#include "sparsetrain/model.h"
#include "sparsetrain/optim.h"
#include "sparsetrain/sparsity.h"
#include "sparsetrain/method.h"
#include "sparsetrain/train.h"
#include "sparsetrain/checkpoint.h"
#include "sparsetrain/user_method.h"
#include "sparsetrain/net.h"
#include "sparsetrain/net_file.h"
#include "sparsetrain/safetensors.h"
#include "sparsetrain/comm.h"

#endif
