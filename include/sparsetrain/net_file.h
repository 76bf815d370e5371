/** @file
 * Model files: a network description (net.h) as text, one layer per line,
 * so that C programs, the Python binding and the example programs
 * (`--model FILE`) read the same files. The format is documented in
 * docs/models.md; in short:
 * @code
 *   # LeNet-300-100 for 1 x 28 x 28 inputs
 *   input 1 28 28
 *   linear name=fc1 out=300
 *   relu
 *   linear name=fc2 out=100
 *   relu
 *   linear name=fc3 out=10
 * @endcode
 *
 * - `#` starts a comment (to the end of the line); blank lines are ignored;
 *   words are separated by spaces or tabs; lines end with LF or CR LF.
 * - The first line that is not blank is `input C H W` (or `input F` for
 *   flat features: F x 1 x 1), the shape of one example.
 * - Every other line is a layer: its kind (spt_layer_kind_name()), then
 *   `key=value` words in any order: the kind's parameters under their
 *   spt_layer_param_name() names (numbers; `bias` is 0 or 1), `name=NAME`
 *   (default "<kind><index>", the index counting layers from 0) and
 *   `from=NODE`: the layer reads node NODE (a name of an earlier line, or
 *   `input` for the network's input) instead of the previous line's layer;
 *   this starts a branch.
 * - `add input=NODE` adds the previous line's output (or its `from=`) and
 *   NODE's (a residual addition); `input` is reserved for the network's
 *   input and is not a valid layer name in a file.
 * - The last line's layer is the network's output (its size is the number
 *   of classes).
 *
 * Every word is checked through the public calls of net.h (a key the kind
 * does not read, a value outside its domain, a repeated name are refused),
 * and the finished description is checked as spt_model_create() checks it
 * (required parameters, shapes). A refusal is #SPT_ERR_FORMAT with a
 * message "FILE:LINE: problem" (spt_last_error()); nothing is kept.
 *
 * Thread-safety: the functions may run concurrently on distinct
 * descriptions; the messages are per thread.
 */
#ifndef SPARSETRAIN_NET_FILE_H
#define SPARSETRAIN_NET_FILE_H

#include "core.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest model file read or written, in bytes (1 MiB). */
#define SPT_NET_FILE_MAX_BYTES 1048576
/** Longest line of a model file, in bytes, without its line end. */
#define SPT_NET_FILE_MAX_LINE 1024
/** Most layers (lines after `input`) a model file may hold. */
#define SPT_NET_FILE_MAX_LAYERS 16384

/**
 * Parse model-file text into a new description.
 * @param text the text (need not end with a NUL; a NUL byte inside it is refused).
 * @param len  its length in bytes, [0, #SPT_NET_FILE_MAX_BYTES].
 * @param[out] out receives the description (NULL on failure); free it with spt_net_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (text or out); #SPT_ERR_FORMAT (anything
 *         the format refuses, len out of range included; the message is
 *         "(text):LINE: problem"); #SPT_ERR_NOMEM.
 */
SPT_API int spt_net_parse(const char *text, int64_t len, spt_net **out);

/**
 * Read a model file into a new description.
 * @param path the file.
 * @param[out] out receives the description (NULL on failure); free it with spt_net_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (path or out); #SPT_ERR_IO (cannot open
 *         or read it, not a regular file); #SPT_ERR_FORMAT (larger than
 *         #SPT_NET_FILE_MAX_BYTES, or anything the format refuses; the
 *         message is "PATH:LINE: problem"); #SPT_ERR_NOMEM.
 */
SPT_API int spt_net_read(const char *path, spt_net **out);

/**
 * Write a description as model-file text into a buffer, NUL-terminated:
 * a comment line, `input C H W`, then one line per node with its name,
 * `from=` where it does not read the previous node, and the parameters
 * that differ from their defaults. spt_net_parse() of the text gives the
 * same description (nodes, names, inputs and every parameter).
 * @param net the description (complete: every required parameter set,
 *            shapes that fit, as spt_model_create() checks).
 * @param[out] buf receives the text; may be NULL when cap is 0 (to ask the length).
 * @param cap  size of buf in bytes.
 * @param[out] len receives the text's length without the NUL (also when
 *             cap is too small); may be NULL.
 * @return #SPT_OK; #SPT_ERR_NULL (net, or buf with cap > 0);
 *         #SPT_ERR_SIZE (cap <= the length: nothing written; or a text over
 *         #SPT_NET_FILE_MAX_BYTES, more than #SPT_NET_FILE_MAX_LAYERS
 *         nodes); #SPT_ERR_INVALID (an incomplete description, a node named
 *         "input"); #SPT_ERR_NOMEM.
 */
SPT_API int spt_net_format(const spt_net *net, char *buf, int64_t cap, int64_t *len);

/**
 * Write a description to a model file (spt_net_format()'s text). The file
 * is replaced whole: written to "PATH.tmp", then renamed over PATH.
 * @param net  the description (as spt_net_format()).
 * @param path the file.
 * @return #SPT_OK; #SPT_ERR_NULL (net or path); #SPT_ERR_INVALID,
 *         #SPT_ERR_SIZE (as spt_net_format()); #SPT_ERR_IO (cannot write or
 *         rename); #SPT_ERR_NOMEM.
 */
SPT_API int spt_net_write(const spt_net *net, const char *path);

#ifdef __cplusplus
}
#endif
#endif
