/** @file
 * Models in and out as safetensors files, the format PyTorch, NumPy and
 * Hugging Face users read without this library (docs/safetensors.md).
 *
 * Layout of an export (every tensor little-endian, named after the
 * model's parameters, spt_model_layer_info()):
 * - a dense weight, a bias, a batch norm's "weight" (gamma) and "bias"
 *   (beta): one F32 tensor of the parameter's shape ("fc1.weight" is
 *   out x in; a convolution's is out x in/groups x kh x kw);
 * - a batch norm's running statistics: "<layer>.running_mean" and
 *   "<layer>.running_var" (F32, one per channel);
 * - a sparse weight (stored sparse, or masked by a pruning method) as CSR
 *   over its 2-D view rows x cols (rows = out, cols = the rest of the
 *   shape): "<name>.crow_indices" (I64, rows + 1 offsets from 0 to nnz),
 *   "<name>.col_indices" (I32, nnz, increasing within each row) and
 *   "<name>.values" (F32, nnz), with "<name>.format" = "csr" and
 *   "<name>.shape" = its dense shape as JSON text (e.g. "[300, 784]") in
 *   the `__metadata__` map;
 * - metadata "spt.format" = "libsparsetrain-1" and "spt.net" = the model's
 *   description as model-file text (sparsetrain/net_file.h), from which
 *   spt_safetensors_read_net() rebuilds the network.
 * A CSR triple rebuilds as scipy.sparse.csr_matrix((values, col_indices,
 * crow_indices), shape=(rows, cols)) or torch.sparse_csr_tensor(crow,
 * col.long(), values, (rows, cols)); an exported file is about 8 bytes per
 * nonzero.
 *
 * Thread-safety: as for the model: do not use the model from another
 * thread during a call. Distinct models and files are independent.
 */
#ifndef SPARSETRAIN_SAFETENSORS_H
#define SPARSETRAIN_SAFETENSORS_H

#include "core.h"
#include "model.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Flag of spt_model_save_safetensors(): write every weight as a dense
 * tensor (zeros where no weight is active), i.e. a plain PyTorch
 * state_dict of the same network. */
#define SPT_SAFETENSORS_DENSE 1

/**
 * Export a model's parameters and batch-norm statistics to a safetensors
 * file, atomically: the file is written in full to "<path>.tmp" (mapped,
 * so no copy of the model is made in memory), synced and renamed over
 * `path`; on failure or a crash `path` is the previous file or absent,
 * never a part. Optimizer state and the training run are not exported
 * (spt_trainer_save() keeps them). The model may have a trainer attached
 * (the export is its current state) but must not be training meanwhile.
 * @param m      the model. A weight whose initialisation is still pending
 *               (a model never used) is given its dense storage first.
 * @param path   the file to write (replaced if it exists).
 * @param flags  0, or #SPT_SAFETENSORS_DENSE.
 * @return #SPT_OK; #SPT_ERR_NULL (m or path); #SPT_ERR_INVALID (empty
 *         path, unknown flags); #SPT_ERR_SIZE (a sparse weight with more
 *         than INT32_MAX columns); #SPT_ERR_IO (the file cannot be created,
 *         written, synced or renamed: the message names it and the
 *         system's reason); #SPT_ERR_NOMEM. On failure `path` is unchanged.
 */
SPT_API int spt_model_save_safetensors(spt_model *m, const char *path, int flags);

/**
 * Load a model's parameters and batch-norm statistics from a safetensors
 * file: an export of this library, or a PyTorch state_dict saved with
 * safetensors' save_file() for the same network (same names and shapes).
 *
 * Every parameter of the model must be in the file, dense (its shape) or
 * sparse (the CSR triple above; the dense shape in the metadata is checked
 * when present), and every batch norm's running_mean and running_var;
 * values may be F32, F64, F16 or BF16 and must be finite; indices I32 or
 * I64, and valid (offsets from 0 to nnz, non-decreasing; columns inside
 * the matrix, increasing within a row). A tensor the model does not have
 * is refused, except PyTorch's "<layer>.num_batches_tracked". A weight
 * loaded sparse is stored sparse (only its nonzeros), and a sparse
 * training method created on the model afterwards keeps its topology (its
 * nonzeros and their positions) instead of drawing one; a weight loaded
 * dense is dense, ready for a pruning method (GMP, lottery tickets,
 * SNIP...) or for a sparse method, which keeps the loaded values at the
 * positions it draws. The model is built first (spt_model_create(), or
 * from the file's own description: spt_safetensors_read_net()).
 *
 * Everything is checked before anything changes: on failure the model is
 * as it was.
 * @param m     the model, with no trainer attached.
 * @param path  the safetensors file (mapped read-only, not copied).
 * @return #SPT_OK; #SPT_ERR_NULL (m or path); #SPT_ERR_STATE (a trainer is
 *         attached to m); #SPT_ERR_IO (cannot open or map the file, not a
 *         regular file); #SPT_ERR_FORMAT (not a valid safetensors file, a
 *         parameter missing or of the wrong shape or dtype, invalid indices,
 *         a NaN or Inf, a tensor the model does not have: the message names
 *         the file and the tensor); #SPT_ERR_NOMEM.
 */
SPT_API int spt_model_load_safetensors(spt_model *m, const char *path);

/**
 * The network description an export carries (its "spt.net" metadata), so
 * that a program can rebuild the model from the file alone:
 * spt_safetensors_read_net(), spt_model_create(), spt_model_load_safetensors().
 * @param path  the safetensors file.
 * @param[out] out receives the description (NULL on failure); free it with
 *             spt_net_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (path or out); #SPT_ERR_IO; #SPT_ERR_FORMAT
 *         (not a valid safetensors file, no "spt.net" metadata (a file not
 *         written by this library), or a description the model-file parser
 *         refuses); #SPT_ERR_NOMEM.
 */
SPT_API int spt_safetensors_read_net(const char *path, spt_net **out);

#ifdef __cplusplus
}
#endif
#endif
