/* Internal layout of a masked matrix (the public handle spt_masked is opaque). */
#ifndef SPTI_MASKED_H
#define SPTI_MASKED_H

#include <stdint.h>

#include "../core/internal.h"

struct spt_masked {
    int64_t rows, cols;
    int64_t nnz;     /* exact count of mask[i] == 1 */
    float *values;   /* rows*cols, 0 wherever mask is 0 */
    uint8_t *mask;   /* rows*cols, each 0 or 1 */
};

/* A masked rows x cols matrix with every value 0 and every mask byte 0
 * (rows, cols >= 0, product checked). Sets the error message on failure. */
int spti_masked_alloc(int64_t rows, int64_t cols, spt_masked **out);

/* SPT_OK when a dense buffer of n floats holds a rows x cols matrix, else
 * SPT_ERR_SIZE with the message prefixed by func (the to_dense converters). */
int spti_dense_fits(const char *func, int64_t rows, int64_t cols, int64_t n);

#endif
