/* End of a training round (lottery tickets): the method's hook, then a
 * fresh optimizer state and a restarted learning-rate schedule. */
#include <string.h>

#include "trainer.h"

int spt_trainer_end_round(spt_trainer *t) {
    SPTI_CHECK_NULL(t);
    spti_method *m = t->method;
    if (m && m->ops->end_round) {
        double t0 = spti_now_seconds();
        int rc = m->ops->end_round(m, t->step);
        t->s_round_seconds += spti_now_seconds() - t0;
        if (rc != SPT_OK) return rc;
    }
    /* Slots start at zero, as on a fresh optimizer; they stay allocated. */
    for (int64_t i = 0; i < t->model->n_params; i++) {
        spti_param *p = t->model->params[i];
        for (int s = 0; s < SPTI_MAX_SLOTS; s++)
            if (p->opt.slot[s]) memset(p->opt.slot[s], 0, (size_t)p->n * sizeof(float));
    }
    t->opt.step = 0;
    t->round++;
    t->round_start = t->step;
    return SPT_OK;
}
