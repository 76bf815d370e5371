/* The per-epoch CSV log (see example.h). */
#include <sys/stat.h>

#include "example.h"

FILE *ex_csv_open(const char *path, bool append) {
    struct stat st;
    bool fresh = !append || stat(path, &st) != 0 || st.st_size == 0;
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f) return NULL;
    if (fresh && fprintf(f, "epoch,step,loss,train_acc,test_acc,lr,sparsity,seconds\n") < 0) {
        fclose(f);
        return NULL;
    }
    fflush(f);
    return f;
}

int ex_csv_row(FILE *f, const ex_epoch_row *r) {
    /* %.9g keeps every float digit of the library's values. */
    if (fprintf(f, "%lld,%lld,%.9g,%.9g,%.9g,%.9g,%.9g,%.3f\n", (long long)r->epoch, (long long)r->step, r->loss,
                r->train_acc, r->test_acc, r->lr, r->sparsity, r->seconds) < 0)
        return -1;
    return fflush(f) == 0 ? 0 : -1;
}
