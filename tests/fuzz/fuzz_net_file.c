/* libFuzzer target: the model-file parser (spt_net_parse, the code behind
 * spt_net_read). A crash, a sanitizer report, a leak or a huge allocation
 * is a bug; anything else must parse or fail with SPT_ERR_FORMAT. A parsed
 * description must also survive spt_net_format -> spt_net_parse -> format
 * with the same text (the writer's round trip), else the target aborts.
 *
 * Input: the file's bytes. Seed with the model files of examples/models
 * (cut to -max_len) and small hand-written files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sparsetrain.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *format(const spt_net *net, int64_t *len) {
    if (spt_net_format(net, NULL, 0, len) != SPT_ERR_SIZE) abort();
    char *buf = malloc((size_t)*len + 1);
    if (!buf || spt_net_format(net, buf, *len + 1, len) != SPT_OK) abort();
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spt_net *net = NULL;
    int rc = spt_net_parse((const char *)data, (int64_t)size, &net);
    if (rc != SPT_OK) {
        if ((rc != SPT_ERR_FORMAT && rc != SPT_ERR_NOMEM) || net) abort();
        return 0;
    }
    int64_t len1, len2;
    char *t1 = format(net, &len1);
    spt_net *back = NULL;
    if (spt_net_parse(t1, len1, &back) != SPT_OK) abort();
    char *t2 = format(back, &len2);
    if (len1 != len2 || memcmp(t1, t2, (size_t)len1) != 0) abort();
    free(t1);
    free(t2);
    spt_net_destroy(back);
    spt_net_destroy(net);
    return 0;
}
