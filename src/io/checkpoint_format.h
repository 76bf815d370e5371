/*
 * The checkpoint format (docs/checkpoint-format.md is its full description)
 * and the internal entry points shared by the writer, the parser and the
 * loader.
 *
 *   file    = header (32 bytes) | sections (payload_len bytes) | CRC-32 (4)
 *   header  = "SPTCKPT\0" | u32 version | u32 flags (0) | u64 payload_len |
 *             u32 n_sections | u32 reserved (0)
 *   section = u32 tag | u32 section flags (0) | u64 length | length bytes
 *   CRC-32  = zlib's crc32 (IEEE 802.3 polynomial) of header + sections
 *
 * All integers and floats little-endian, floats as their IEEE-754 bits.
 */
#ifndef SPTI_CHECKPOINT_FORMAT_H
#define SPTI_CHECKPOINT_FORMAT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../core/internal.h"
#include "../nn/model.h"
#include "../train/trainer.h"

enum {
    SPTI_CKPT_VERSION = 2, /* 2: the ARCH section may hold a network description (kind NET) */
    SPTI_CKPT_HEADER_BYTES = 32,
    SPTI_CKPT_TRAILER_BYTES = 4,
    SPTI_CKPT_SECTION_HEADER_BYTES = 16,
    SPTI_CKPT_NAME_BYTES = 48 /* a parameter's name field, NUL padded */
};

extern const uint8_t spti_ckpt_magic[8];

/* Section tags: four ASCII characters read as a little-endian u32. */
#define SPTI_CKPT_TAG(a, b, c, d) \
    ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define SPTI_TAG_ARCH SPTI_CKPT_TAG('A', 'R', 'C', 'H')
#define SPTI_TAG_PARM SPTI_CKPT_TAG('P', 'A', 'R', 'M')
#define SPTI_TAG_LAYR SPTI_CKPT_TAG('L', 'A', 'Y', 'R')
#define SPTI_TAG_OPTM SPTI_CKPT_TAG('O', 'P', 'T', 'M')
#define SPTI_TAG_LRSC SPTI_CKPT_TAG('L', 'R', 'S', 'C')
#define SPTI_TAG_METH SPTI_CKPT_TAG('M', 'E', 'T', 'H')
#define SPTI_TAG_TRNR SPTI_CKPT_TAG('T', 'R', 'N', 'R')
#define SPTI_TAG_BTCH SPTI_CKPT_TAG('B', 'T', 'C', 'H')
#define SPTI_TAG_NOTE SPTI_CKPT_TAG('N', 'O', 'T', 'E')

/* Section flag: a reader that does not know the tag skips the section. */
enum { SPTI_CKPT_SECTION_OPTIONAL = 1u };

/* Layer-state entries of the LAYR section. */
enum { SPTI_CKPT_LAYER_BATCHNORM = 1, SPTI_CKPT_LAYER_DROPOUT = 2 };

/* Whether a leaf is a batch norm (its running statistics are saved). */
static inline bool spti_ckpt_is_batchnorm(const spti_layer *L) { return strcmp(L->ops->kind, "batchnorm") == 0; }

/* Method kind in METH when the trainer trains densely (no configuration). */
enum { SPTI_CKPT_NO_METHOD = -1 };

/* ---- architecture (checkpoint_arch.c) ---------------------------------------- */

/* Architecture kinds of the ARCH section. Version 1 files hold the
 * built-in builders' arguments (MLP, RESNET); version 2 writes the model's
 * description (NET), and still reads the other two. */
enum { SPTI_ARCH_MLP = 1, SPTI_ARCH_RESNET = 2, SPTI_ARCH_NET = 3 };
/* One node of a NET record: u32 kind, u32 0, name[40], i64 input, f64 x 8. */
enum { SPTI_CKPT_NODE_BYTES = 4 + 4 + SPTI_NET_NAME + 8 + 8 * SPT_LP_COUNT_ };

/* What builds a model again: a builder's arguments, or a description. */
typedef struct spti_ckpt_arch {
    uint32_t kind; /* SPTI_ARCH_* */
    uint64_t seed;
    int64_t n_widths;
    int64_t *widths; /* MLP: n_widths, owned (spti_free) */
    int64_t in_c, in_h, in_w, blocks, width_mult, classes; /* RESNET */
    spti_net *net; /* NET: owned (spt_net_destroy) */
} spti_ckpt_arch;

/* Free what an arch owns. */
void spti_ckpt_arch_free(spti_ckpt_arch *a);

/* The architecture a model is saved with: its description (kind NET).
 * SPT_ERR_NOMEM. */
int spti_ckpt_arch_of(const spti_model *m, spti_ckpt_arch *a);
/* Number of parameters and dense size (sum of rows*cols) the builder makes
 * for these arguments, without building anything: SPT_ERR_FORMAT (naming
 * the field) for arguments the builder refuses or sizes that overflow. */
int spti_ckpt_arch_size(const spti_ckpt_arch *a, int64_t *n_params, int64_t *dense);
/* Build the model (freshly initialised from its seed). */
int spti_ckpt_arch_build(const spti_ckpt_arch *a, spti_model **out);

/* ---- parsed view -------------------------------------------------------------
 * Parsing validates every count against the bytes that remain and keeps
 * pointers into the caller's buffer (the `const uint8_t *` fields are
 * little-endian arrays, not host arrays); it allocates only the record
 * arrays, whose lengths are bounded by the buffer's size. */

typedef struct spti_ckpt_param {
    char name[SPTI_CKPT_NAME_BYTES]; /* NUL terminated */
    int kind;                        /* spti_param_kind */
    int ndim, n_slots;
    int64_t shape[4];
    int64_t rows, cols, n; /* n: stored entries (rows*cols, or nnz) */
    const uint8_t *mask;   /* MASKED: rows*cols bytes, each 0 or 1 */
    const uint8_t *row_ptr; /* SPARSE: rows+1 i64 */
    const uint8_t *col_idx; /* SPARSE: n i32 */
    const uint8_t *values;  /* n f32 */
    const uint8_t *slots[SPTI_MAX_SLOTS]; /* n f32 each, n_slots of them */
} spti_ckpt_param;

typedef struct spti_ckpt_layer {
    int64_t leaf;  /* index in the model's leaves */
    uint32_t type; /* SPTI_CKPT_LAYER_* */
    int64_t c;     /* BATCHNORM: channels */
    const uint8_t *mean, *var; /* BATCHNORM: c f32 each */
    float rate;    /* DROPOUT */
} spti_ckpt_layer;

typedef struct spti_ckpt_view {
    uint32_t version;
    /* ARCH */
    uint32_t arch; /* SPTI_ARCH_* */
    uint64_t model_seed;
    uint64_t model_rng[4];
    int64_t n_widths;
    const uint8_t *widths; /* MLP: n_widths i64 */
    int64_t in_c, in_h, in_w, blocks, width_mult, classes; /* RESNET; NET: in_c, in_h, in_w */
    int64_t n_nodes;
    const uint8_t *nodes; /* NET: n_nodes records of SPTI_CKPT_NODE_BYTES */
    /* PARM, LAYR */
    int64_t n_params;
    spti_ckpt_param *params; /* owned */
    int64_t n_layers;
    spti_ckpt_layer *layers; /* owned */
    /* OPTM */
    const uint8_t *opt; /* SPTI_OPTIMIZER_STATE_BYTES */
    /* LRSC (optional) */
    bool has_sched;
    spti_lr_schedule sched;    /* milestones NULL here: see below */
    const uint8_t *milestones; /* n_milestones i64 */
    /* METH */
    int32_t method;     /* spt_method value, or SPTI_CKPT_NO_METHOD */
    int64_t n_keys;
    const uint8_t *key_values; /* n_keys f64 */
    const uint8_t *key_set;    /* n_keys bytes, 0 or 1 */
    int64_t n_densities;
    const uint8_t *densities;  /* n_densities f64 */
    int64_t state_len;
    const uint8_t *state;      /* the method's save-hook bytes */
    /* TRNR */
    int64_t total_steps, step, round, round_start, update_steps;
    uint64_t seed;
    uint64_t rng[4];
    bool init_pending, last_update;
    double step_seconds, method_seconds, train_flops_sum;
    /* BTCH (optional) */
    bool has_batcher;
    int64_t epoch, position;
    uint64_t batcher_seed;
    /* NOTE (optional): the application's bytes */
    int64_t note_len;
    const uint8_t *note;
} spti_ckpt_view;

/* Encode the trainer (and the batcher's position, if b) into a new buffer
 * (spti_alloc; the caller frees it with spti_free). SPT_ERR_UNSUPPORTED for
 * a model built layer by layer or a trainer around a caller's method
 * object; SPT_ERR_SIZE if the image would not fit in memory; SPT_ERR_NOMEM. */
int spti_checkpoint_encode(const spti_trainer *t, const spt_batcher *b, uint8_t **out, int64_t *len);
/* The same with an application's note (NOTE section when note_len > 0;
 * the caller has checked note_len <= SPT_CHECKPOINT_NOTE_MAX). */
int spti_checkpoint_encode_note(const spti_trainer *t, const spt_batcher *b, const void *note, int64_t note_len,
                                uint8_t **out, int64_t *len);

/* Where spti_checkpoint_encode_to writes the image: given its exact size
 * (bytes), a writable buffer of that size in *buf, or a failure status
 * with the message set. The sink owns the buffer (and frees or unmaps it
 * whether the encoding succeeds or not). */
typedef int (*spti_ckpt_sink)(void *ctx, int64_t size, uint8_t **buf);
/* Count the image, ask the sink for its bytes, encode into them: the
 * writer's path (a file mapped for writing, no copy in memory). *len is
 * the size written (0 on failure). */
int spti_checkpoint_encode_to(const spti_trainer *t, const spt_batcher *b, const void *note, int64_t note_len,
                              spti_ckpt_sink sink, void *ctx, int64_t *len);

/* Parse and validate a whole image (header, checksum, every section) into
 * *v. On failure *v owns nothing. Messages do not name the file: the
 * caller prefixes them. */
int spti_checkpoint_parse(const uint8_t *buf, int64_t len, spti_ckpt_view *v);
void spti_checkpoint_view_free(spti_ckpt_view *v);

/* Build a model and a trainer from a parsed view and move the batcher (if
 * given) to the saved position. `user`: the criteria of a run that trains
 * a user method (NULL otherwise; SPT_ERR_STATE when it does not fit the
 * file). `max_span` bounds the sum of rows + cols over the parameters
 * (what a model builds beyond the values its records hold) before
 * anything is built. On failure nothing is returned and the batcher is
 * unchanged. */
int spti_checkpoint_restore(const spti_ckpt_view *v, const spt_user_method *user, int64_t max_span,
                            spti_model **model_out, spti_trainer **trainer_out, spt_batcher *b);

/* The whole read path over an image in memory: parse, restore, and on
 * failure a message naming `name` ("<what>: <name>: <problem>"). The
 * parameters' rows + cols may be at most 2^24 + 1024 x len. The fuzz
 * target and the loader share it. */
int spti_checkpoint_load_buffer(const uint8_t *buf, int64_t len, const char *name, spti_model **model_out,
                                spti_trainer **trainer_out, spt_batcher *b);

/* The rows + cols bound spti_checkpoint_load_buffer applies for an image of len bytes. */
int64_t spti_checkpoint_span_limit(int64_t len);

#endif
