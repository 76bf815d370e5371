/* Writes the seeds of fuzz_safetensors (tests/fuzz/seeds/safetensors): the
 * two models of the target, exported dense and sparse (static at 50%).
 *   cc -Iinclude tests/fuzz/seeds/make_seeds.c -Lbuild -lsparsetrain -o /tmp/make_seeds
 *   /tmp/make_seeds tests/fuzz/seeds/safetensors */
#include <stdio.h>

#include <sparsetrain.h>

/* fuzz_safetensors.c's convnet: two 3x3 convolutions with batch norms and a
 * residual addition, pooling, a linear read-out. */
#define CONVNET                                                                                      \
    "input 1 4 4\nconv2d name=c1 out=3 kernel=3 padding=1\nbatchnorm name=bn1\nrelu name=r1\n"  \
    "conv2d name=c2 out=3 kernel=3 padding=1\nbatchnorm name=bn2\nadd input=r1\n"                   \
    "global_avgpool\nlinear name=fc out=2\n"

static int save(spt_model *m, const char *dir, const char *name, double sparsity) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s-dense.safetensors", dir, name);
    if (spt_model_save_safetensors(m, path, 0) != SPT_OK) return 1;
    spt_optimizer *o = NULL;
    spt_method_config *cfg = NULL;
    spt_trainer *t = NULL;
    int rc = spt_optimizer_create(SPT_OPTIMIZER_SGD, &o) || spt_method_config_create(SPT_METHOD_STATIC, &cfg) ||
             spt_method_config_set(cfg, SPT_MP_SPARSITY, sparsity) ||
             spt_trainer_create(m, o, NULL, cfg, 1, 1, &t);
    snprintf(path, sizeof path, "%s/%s-sparse.safetensors", dir, name);
    if (!rc) rc = spt_model_save_safetensors(m, path, 0);
    spt_trainer_destroy(t);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(o);
    return rc != SPT_OK;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const int64_t widths[3] = {4, 3, 2};
    spt_model *mlp = NULL, *resnet = NULL;
    spt_net *net = NULL;
    if (spt_model_create_mlp(widths, 3, 1, &mlp) || spt_net_parse(CONVNET, sizeof CONVNET - 1, &net) ||
        spt_model_create(net, 1, &resnet))
        return 1;
    spt_net_destroy(net);
    int rc = save(mlp, argv[1], "mlp", 0.5) || save(resnet, argv[1], "convnet", 0.5);
    if (rc) fprintf(stderr, "%s\n", spt_last_error());
    spt_model_destroy(mlp);
    spt_model_destroy(resnet);
    return rc;
}
