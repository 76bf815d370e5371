/* libFuzzer target: the whole checkpoint read path (parse, validate,
 * rebuild the model and the trainer) over an image in memory. Anything the
 * input makes must be refused with a status or loaded and freed: a crash,
 * a sanitizer report or a leak is a bug.
 *
 * In the fuzz build (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) the parser
 * does not enforce the checksum, so the fuzzer reaches the sections; seed
 * the corpus with any file spt_trainer_save wrote. */
#include <stddef.h>
#include <stdint.h>

#include "io/checkpoint_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t empty[1] = {0};
    spti_model *m = NULL;
    spti_trainer *t = NULL;
    int rc = spti_checkpoint_load_buffer(data ? data : empty, (int64_t)size, "fuzz input", &m, &t, NULL);
    if (rc == SPT_OK) {
        spt_trainer_destroy(t);
        spti_model_destroy(m);
    }
    return 0;
}
