/* The common last step of the model builders (model_mlp.c, model_resnet.c). */
#include "model.h"

int spti_model_build_finish(spti_model *m, int rc, spti_model **out) {
    if (rc == SPT_OK) rc = spti_model_finalize(m);
    if (rc == SPT_OK) rc = spti_model_init_params(m);
    if (rc != SPT_OK) {
        spti_model_destroy(m);
        return rc;
    }
    *out = m;
    return SPT_OK;
}
