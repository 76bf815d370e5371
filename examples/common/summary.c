/* End-of-run summary: a table on stdout, then one JSON line (see example.h). */
#include <math.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "example.h"

/* JSON has no NaN/Inf: print null for them. */
static void json_num(const char *key, double v, const char *fmt) {
    printf(",\"%s\":", key);
    if (isfinite(v))
        printf(fmt, v);
    else
        fputs("null", stdout);
}

/* Strings here are names of the library and the program (no quotes or
 * control characters), escaped anyway. */
static void json_str(const char *key, const char *s, bool first) {
    printf("%s\"%s\":\"", first ? "" : ",", key);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned)(unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

/* Output neurons (filters) of the weight layers, and how many of them hold
 * no active weight (a channel pruned away, a neuron ablated): *empty = -1
 * when a layer cannot be read (a row-pointer array that cannot be had). */
static void count_empty_rows(const spt_model *model, int64_t *rows_all, int64_t *empty) {
    int64_t n = 0;
    *rows_all = 0;
    *empty = 0;
    if (spt_model_num_layers(model, &n) != SPT_OK) n = 0;
    for (int64_t i = 0; i < n && *empty >= 0; i++) {
        int64_t rows = 0, cols = 0, nnz = 0;
        if (spt_model_layer_weight(model, i, &rows, &cols, &nnz, NULL) != SPT_OK || rows < 1) continue;
        *rows_all += rows;
        int64_t *rp = malloc((size_t)(rows + 1) * sizeof *rp);
        if (!rp || spt_model_layer_weight_csr(model, i, rp, rows + 1, NULL, NULL, 0) != SPT_OK) {
            *empty = -1;
        } else {
            for (int64_t r = 0; r < rows; r++) *empty += rp[r + 1] == rp[r];
        }
        free(rp);
    }
}

int ex_print_summary(const ex_opts *o, const spt_trainer *tr, const spt_model *model, const ex_result *r) {
    double sparsity = 0, f_dense = 0, f_sparse = 0, f_train = 0, f_measured = 0;
    int64_t nnz = 0, dense = 0, layers = 0, params_dense = 0, params_nnz = 0, updates = 0;
    int rc = spt_trainer_sparsity(tr, &sparsity, &nnz, &dense);
    if (rc == SPT_OK) rc = spt_trainer_flops(tr, &f_dense, &f_sparse, &f_train, &f_measured);
    /* This invocation's figures (a resumed run counts from the resume, as
     * `seconds` does): the method's initialisation (initial topology, or
     * scoring on data), outside the steps; the steps; the method's per-step
     * hooks, part of the steps; end-of-round work, outside them. */
    double init_s = 0, step_s = 0, hook_s = 0, round_s = 0;
    if (rc == SPT_OK) rc = spt_trainer_session_times(tr, &init_s, &step_s, &hook_s, &round_s);
    double upd_s = 0;
    int64_t upd_n = 0, timed_n = 0;
    if (rc == SPT_OK) rc = spt_trainer_update_times(tr, &upd_s, &upd_n, &timed_n);
    if (rc == SPT_OK) rc = spt_trainer_last_update(tr, NULL, &updates);
    if (rc == SPT_OK) rc = spt_trainer_num_weight_layers(tr, &layers);
    if (rc == SPT_OK) rc = spt_model_num_params(model, &params_dense, &params_nnz);
    if (rc != SPT_OK) return ex_fail(o, "cannot report on the run: %s", spt_last_error());

    printf("\n%-28s %12s %12s %9s\n", "layer", "nnz", "size", "density");
    for (int64_t l = 0; l < layers; l++) {
        const char *name = NULL;
        int64_t lnnz = 0, size = 0;
        double density = 0;
        if (spt_trainer_layer_density(tr, l, &name, &lnnz, &size, &density) != SPT_OK) continue;
        printf("%-28s %12lld %12lld %9.4f\n", name ? name : "?", (long long)lnnz, (long long)size, density);
    }
    printf("%-28s %12lld %12lld %9.4f\n\n", "all weight layers", (long long)nnz, (long long)dense,
           dense > 0 ? (double)nnz / (double)dense : 0.0);

    const char *method = spt_method_name(r->method);
    const double hook_share = step_s > 0 ? hook_s / step_s : 0;
    /* What the update steps cost beyond an ordinary step (this invocation),
     * as a share of the training loop's time (steps, data, evaluation). */
    const double ordinary = timed_n > upd_n ? (step_s - upd_s) / (double)(timed_n - upd_n) : 0.0;
    double extra = upd_s - (double)upd_n * ordinary;
    extra = extra > 0 ? extra : 0.0;
    const double extra_share = r->seconds > 0 ? extra / r->seconds : 0.0;
    printf("%-24s %s\n", "model", r->model);
    printf("%-24s %s\n", "method", method);
    printf("%-24s %.4f\n", "sparsity", sparsity);
    printf("%-24s %.4f (loss %.4f)\n", "test accuracy", r->test_acc, r->test_loss);
    printf("%-24s %.4f (loss %.4f, last epoch)\n", "train accuracy", r->train_acc, r->train_loss);
    printf("%-24s %lld active of %lld (all parameters: %lld of %lld)\n", "weights", (long long)nnz,
           (long long)dense, (long long)params_nnz, (long long)params_dense);
    int64_t rows_all = 0, empty_rows = 0;
    count_empty_rows(model, &rows_all, &empty_rows);
    if (empty_rows >= 0)
        printf("%-24s %lld of the weight layers' %lld output neurons / filters hold no active weight\n", "empty rows",
               (long long)empty_rows, (long long)rows_all);
    printf("%-24s %.4g (dense %.4g, %.3fx)\n", "inference FLOPs/example", f_sparse, f_dense,
           f_dense > 0 ? f_sparse / f_dense : 0.0);
    printf("%-24s %.4g (%.3fx dense; measured %.4g)\n", "training FLOPs/example", f_train,
           f_dense > 0 ? f_train / (3 * f_dense) : 0.0, f_measured);
    printf("%-24s %lld epoch%s, %lld steps, %lld round%s, %lld topology updates\n", "run", (long long)r->epochs,
           r->epochs == 1 ? "" : "s", (long long)r->steps, (long long)r->rounds, r->rounds == 1 ? "" : "s",
           (long long)updates);
    printf("%-24s %.2f s training loop (steps %.2f s), %.0f examples/s\n", "time", r->seconds, step_s,
           r->examples_per_second);
    printf("%-24s initialisation %.3f s (not in the steps); per-step hooks %.3f s = %.1f%% of the steps",
           "method time", init_s, hook_s, 100 * hook_share);
    if (round_s > 0) printf("; end of rounds %.3f s", round_s);
    putchar('\n');
    printf("%-24s %lld update steps, %.3f s beyond ordinary steps = %.2f%% of the training loop\n",
           "topology updates", (long long)upd_n, extra, 100 * extra_share);

    /* The last stdout line: one JSON object. */
    putchar('{');
    json_str("program", o->prog, true);
    json_str("model", r->model, false);
    json_str("method", method, false);
    json_num("sparsity", sparsity, "%.6f");
    const char *structure = spt_method_param_choice_name(SPT_MP_STRUCTURE, o->structure);
    json_str("structure", structure ? structure : "?", false);
    if (o->structure == SPT_STRUCTURE_NM)
        printf(",\"structure_n\":%lld,\"structure_m\":%lld", (long long)o->structure_n, (long long)o->structure_m);
    if (o->ablation > 0) json_num("ablation", o->ablation, "%g");
    json_num("test_acc", r->test_acc, "%.6f");
    json_num("test_loss", r->test_loss, "%.6f");
    json_num("train_acc", r->train_acc, "%.6f");
    json_num("train_loss", r->train_loss, "%.6f");
    printf(",\"nnz\":%lld,\"params_dense\":%lld", (long long)nnz, (long long)dense);
    printf(",\"params_all_nonzero\":%lld,\"params_all_dense\":%lld", (long long)params_nnz, (long long)params_dense);
    if (empty_rows >= 0) printf(",\"rows\":%lld,\"empty_rows\":%lld", (long long)rows_all, (long long)empty_rows);
    json_num("train_flops_per_example", f_train, "%.6g");
    json_num("train_flops_measured", f_measured, "%.6g");
    json_num("infer_flops", f_sparse, "%.6g");
    json_num("infer_flops_dense", f_dense, "%.6g");
    printf(",\"epochs\":%lld,\"steps\":%lld,\"rounds\":%lld,\"batch\":%lld,\"topology_updates\":%lld",
           (long long)r->epochs, (long long)r->steps, (long long)r->rounds, (long long)r->batch, (long long)updates);
    json_num("seconds", r->seconds, "%.3f");
    json_num("step_seconds", step_s, "%.3f");
    json_num("method_init_seconds", init_s, "%.4f");
    json_num("method_hook_seconds", hook_s, "%.4f");
    json_num("method_hook_share", hook_share, "%.5f");
    json_num("method_round_seconds", round_s, "%.4f");
    printf(",\"update_steps\":%lld", (long long)upd_n);
    json_num("update_step_seconds", upd_s, "%.4f");
    json_num("update_extra_seconds", extra, "%.4f");
    json_num("update_extra_share", extra_share, "%.5f");
    json_num("examples_per_second", r->examples_per_second, "%.1f");
    printf(",\"threads\":%d,\"ranks\":%d,\"seed\":%lld", spt_get_num_threads(), o->mpi_size > 0 ? o->mpi_size : 1,
           (long long)o->seed);
    /* Data-parallel: what this rank handed to the collectives (docs/distributed.md). */
    spt_comm *comm = NULL;
    spt_comm_stats cs;
    if (spt_trainer_get_comm(tr, &comm) == SPT_OK && comm && spt_comm_get_stats(comm, &cs) == SPT_OK)
        printf(",\"comm_calls\":%lld,\"comm_f32_bytes\":%lld,\"comm_u64_bytes\":%lld,\"comm_bcast_bytes\":%lld",
               (long long)cs.calls, (long long)cs.f32_bytes, (long long)cs.u64_bytes, (long long)cs.bcast_bytes);
    json_str("simd", spt_simd_name(), false);
    /* Peak resident memory of the whole process (kB on Linux). */
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) printf(",\"max_rss_kb\":%ld", (long)ru.ru_maxrss);
    if (r->rss_before_model_kb >= 0) printf(",\"rss_before_model_kb\":%ld", r->rss_before_model_kb);
    printf("}\n");
    fflush(stdout);
    return -1;
}
