/* Model files (net_file.h): every refusal names the line and keeps
 * nothing, the text round-trips (format -> parse, write -> read), and the
 * built-in ResNet-20 written and read back builds the same model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/model.h"
#include "test_support.h"

/* Parse `text`; expect SPT_ERR_FORMAT, no description, and a message
 * holding `where` ("(text):LINE:") and `what`. */
static void expect_error(const char *text, int64_t len, const char *where, const char *what) {
    spt_net *net = (spt_net *)&net; /* not NULL: the call must clear it */
    int rc = spt_net_parse(text, len, &net);
    if (rc != SPT_ERR_FORMAT || net != NULL || !strstr(spt_last_error(), where) || !strstr(spt_last_error(), what))
        fail_msg("text \"%.*s\": status %d, message \"%s\"; expected %s ... %s", (int)(len > 200 ? 200 : len), text,
                 rc, spt_last_error(), where, what);
}

#define ERR(text, where, what) expect_error(text, (int64_t)strlen(text), where, what)

static void test_refusals(void **state) {
    (void)state;
    ERR("input 1 28 28\nlinearr out=3\n", "(text):2:", "unknown layer kind \"linearr\"");
    ERR("input 1 28 28\nlinear out=3 kernal=3\n", "(text):2:", "unknown key \"kernal\"");
    ERR("input 1 28 28\nlinear out=3 kernel=3\n", "(text):2:", "has no parameter \"kernel\"");
    ERR("input 1 28 28\nlinear out=abc\n", "(text):2:", "out=abc: not a decimal number");
    ERR("input 1 28 28\nlinear out=nan\n", "(text):2:", "not a decimal number");
    ERR("input 1 28 28\nlinear out=0x10\n", "(text):2:", "not a decimal number");
    ERR("input 1 28 28\nlinear out=1e999\n", "(text):2:", "not a decimal number");
    ERR("input 1 28 28\nlinear out=2.5\n", "(text):2:", "out=2.5: outside");
    ERR("input 1 28 28\nlinear out=0\n", "(text):2:", "out=0: outside");
    ERR("input 1 28 28\nlinear out=3 bias=2\n", "(text):2:", "bias=2: outside");
    ERR("input 1 28 28\ndropout rate=1\nlinear out=3\n", "(text):2:", "rate=1: outside");
    ERR("input 1 28 28\nlinear out=3 density=0\n", "(text):2:", "density=0: outside");
    ERR("input 1 28 28\nlinear out=3 out=4\n", "(text):2:", "out= given twice");
    ERR("input 1 28 28\nlinear out\n", "(text):2:", "expected key=value");
    ERR("input 1 28 28\nlinear out=\n", "(text):2:", "out= has no value");
    ERR("input 1 28 28\nlinear =3\n", "(text):2:", "has no key");
    ERR("input 1 28 28\nlinear\n", "(text):2:", "linear needs out=");
    ERR("input 1 28 28\nrelu\nadd\n", "(text):3:", "add needs input=");
    /* names */
    ERR("input 1 28 28\nrelu name=a\nrelu name=a\n", "(text):3:", "name \"a\" is already used on line 2");
    ERR("input 1 28 28\nrelu name=relu1\nrelu\n", "(text):3:", "default name \"relu1\" is already used on line 2");
    ERR("input 1 28 28\nrelu name=input\n", "(text):2:", "reserved");
    ERR("input 1 28 28\nrelu name=a/b\n", "(text):2:", "name=a/b");
    ERR("input 1 28 28\nrelu name=abcdefghijabcdefghijabcdefghijabcdefghij\n", "(text):2:", "1 to 39 bytes");
    /* nodes */
    ERR("input 1 28 28\nrelu name=a\nrelu from=b\n", "(text):3:", "from=b: no earlier layer is named \"b\"");
    ERR("input 1 28 28\nrelu name=a\nadd input=c\n", "(text):3:", "input=c: no earlier layer");
    ERR("input 1 28 28\nrelu name=a from=a\n", "(text):2:", "from=a: no earlier layer");
    ERR("input 1 28 28\nadd name=a input=a\n", "(text):2:", "input=a: no earlier layer");
    ERR("input 1 4 4\nlinear name=f out=3\nadd input=input\n", "(text):3:", "differ in shape");
    /* the input line */
    ERR("linear out=3\n", "(text):1:", "the first line must be \"input C H W\"");
    ERR("# nothing\n\n", "(text):", "no \"input C H W\" line");
    ERR("", "(text):", "no \"input C H W\" line");
    ERR("input 1 28 28\n# only a comment\n", "(text):", "no layers");
    ERR("input 1 28 28\ninput 1 28 28\nrelu\n", "(text):2:", "a second \"input\" line");
    ERR("input 1 28\nrelu\n", "(text):1:", "expected \"input C H W\"");
    ERR("input 1 -28 28\nrelu\n", "(text):1:", "is not a whole number");
    ERR("input 0 28 28\nrelu\n", "(text):1:", "input 0 28 28");
    ERR("input 1 28 28 from=x\nrelu\n", "(text):1:", "expected \"input C H W\"");
    /* shapes: the line of the node that does not fit */
    ERR("input 1 8 8\nrelu\nconv2d name=c out=4 kernel=9\nrelu\n", "(text):3:", "kernel 9 is larger");
    ERR("input 3 8 8\nconv2d out=4 groups=2\n", "(text):2:", "groups do not divide");
    /* bytes */
    ERR("input 1 28 28\nre\tlu\n", "(text):2:", "unknown layer kind \"re\"");
    ERR("input 1 28 28\nrelu\x01\n", "(text):2:", "control character 0x01");
    ERR("input 1 28 28\nrelu\rrelu\n", "(text):2:", "control character 0x0d");
    expect_error("input 1 28 28\nre\0lu\n", 20, "(text):2:", "NUL byte at column 3");
    expect_error("input 1 28 28\nrelu # a \0 in a comment\n", 38, "(text):2:", "NUL byte");
    char line[SPT_NET_FILE_MAX_LINE + 64];
    snprintf(line, sizeof line, "input 1 28 28\nrelu #");
    size_t n = strlen(line);
    memset(line + n, 'x', SPT_NET_FILE_MAX_LINE);
    line[n + SPT_NET_FILE_MAX_LINE] = '\0';
    ERR(line, "(text):2:", "longer than 1024 bytes");
    line[14 + SPT_NET_FILE_MAX_LINE] = '\0'; /* exactly the limit: accepted */
    spt_net *net = NULL;
    assert_status(spt_net_parse(line, (int64_t)strlen(line), &net), SPT_OK);
    spt_net_destroy(net);
    expect_error("input 1 28 28\nrelu\n", SPT_NET_FILE_MAX_BYTES + 1, "(text)", "bytes");
    expect_error("input 1 28 28\nrelu\n", -1, "(text)", "bytes");
    /* NULL */
    assert_status(spt_net_parse(NULL, 0, &net), SPT_ERR_NULL);
    assert_status(spt_net_parse("", 0, NULL), SPT_ERR_NULL);
    assert_status(spt_net_read(NULL, &net), SPT_ERR_NULL);
    assert_status(spt_net_format(NULL, NULL, 0, NULL), SPT_ERR_NULL);
    assert_status(spt_net_write(NULL, "x"), SPT_ERR_NULL);
}

static const char GOOD[] = "# a branchy network\r\n"
                           "input 3 8 8   # C H W\n"
                           "\n"
                           "conv2d name=stem out=8 padding=1 bias=1\n"
                           "\tbatchnorm\n"
                           "leaky_relu name=act slope=-0.25\n"
                           "conv2d name=dw out=8 groups=8 padding=1 density=1\n"
                           "gelu\n"
                           "conv2d name=side from=act out=8 kernel=1 density=0.3\n"
                           "add name=sum from=gelu4 input=side\n"
                           "tanh\n"
                           "maxpool kernel=3 stride=1 padding=1\n"
                           "avgpool\n"
                           "dropout rate=0.1\n"
                           "global_avgpool name=pool\n"
                           "flatten\n"
                           "linear name=fc out=5 bias=0";

/* Every prefix of a valid text parses or is refused as FORMAT (a cut
 * word, a missing line), and nothing leaks. */
static void test_truncated(void **state) {
    (void)state;
    const int64_t len = (int64_t)strlen(GOOD);
    spt_test_alloc_install();
    for (int64_t cut = 0; cut <= len; cut++) {
        spt_net *net = NULL;
        int rc = spt_net_parse(GOOD, cut, &net);
        if (rc != SPT_OK && rc != SPT_ERR_FORMAT) fail_msg("cut at %lld: status %d", (long long)cut, rc);
        assert_true((rc == SPT_OK) == (net != NULL));
        spt_net_destroy(net);
    }
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
    ERR("input 3 8 8\nconv2d name=stem out=8 padd", "(text):2:", "expected key=value");
    ERR("input 3 8 8\nconv2d name=stem out=", "(text):2:", "out= has no value");
    ERR("input 3 8 8\nconv2d name=stem", "(text):2:", "conv2d needs out=");
    ERR("input 3 8", "(text):1:", "expected \"input C H W\"");
}

/* Out of memory at every allocation: SPT_ERR_NOMEM, nothing kept. */
static void test_nomem(void **state) {
    (void)state;
    spt_test_alloc_install();
    for (long k = 0;; k++) {
        spt_test_alloc_fail_at(k);
        spt_net *net = NULL;
        int rc = spt_net_parse(GOOD, (int64_t)strlen(GOOD), &net);
        spt_test_alloc_fail_at(-1);
        if (rc == SPT_OK) {
            spt_net_destroy(net);
            break;
        }
        assert_int_equal(rc, SPT_ERR_NOMEM);
        assert_null(net);
        assert_int_equal(spt_test_alloc_live(), 0);
    }
    spt_test_alloc_uninstall();
}

static void assert_same_net(const spt_net *a, const spt_net *b) {
    int64_t na, nb;
    spt_net_num_nodes(a, &na);
    spt_net_num_nodes(b, &nb);
    assert_int_equal(na, nb);
    assert_int_equal(a->in.c, b->in.c);
    assert_int_equal(a->in.h, b->in.h);
    assert_int_equal(a->in.w, b->in.w);
    for (int64_t i = 0; i < na; i++) {
        assert_int_equal(a->nodes[i].kind, b->nodes[i].kind);
        assert_string_equal(a->nodes[i].name, b->nodes[i].name);
        assert_int_equal(a->nodes[i].input, b->nodes[i].input);
        for (int k = 0; k < SPT_LP_COUNT_; k++)
            if (a->nodes[i].p[k] != b->nodes[i].p[k])
                fail_msg("node %s: %s %.17g != %.17g", a->nodes[i].name, spt_layer_param_name(k), a->nodes[i].p[k],
                         b->nodes[i].p[k]);
    }
}

static char *format(const spt_net *net) {
    int64_t len = -1;
    assert_status(spt_net_format(net, NULL, 0, &len), SPT_ERR_SIZE);
    assert_true(len > 0);
    char *buf = test_malloc((size_t)len + 1);
    assert_status(spt_net_format(net, buf, len, NULL), SPT_ERR_SIZE); /* no room for the NUL */
    assert_status(spt_net_format(net, buf, len + 1, &len), SPT_OK);
    assert_int_equal(strlen(buf), (size_t)len);
    return buf;
}

/* format -> parse gives the same description; formatting it again gives
 * the same text; write -> read through a file too. */
static void test_round_trip(void **state) {
    (void)state;
    spt_net *a = NULL, *b = NULL, *c = NULL;
    assert_status(spt_net_parse(GOOD, (int64_t)strlen(GOOD), &a), SPT_OK);
    int64_t n = 0;
    spt_net_num_nodes(a, &n);
    assert_int_equal(n, 14);
    int kind;
    const char *name;
    int64_t input;
    assert_status(spt_net_node(a, 5, &kind, &name, &input), SPT_OK);
    assert_int_equal(kind, SPT_LAYER_CONV2D);
    assert_string_equal(name, "side");
    assert_int_equal(input, 2); /* from=act */
    double v;
    assert_status(spt_net_get(a, 6, SPT_LP_INPUT, &v), SPT_OK);
    assert_true(v == 5.0);
    assert_status(spt_net_get(a, 2, SPT_LP_SLOPE, &v), SPT_OK);
    assert_true(v == -0.25);
    assert_status(spt_net_get(a, 10, SPT_LP_RATE, &v), SPT_OK);
    assert_true(v == 0.1);
    /* values that need 17 digits survive */
    assert_status(spt_net_set(a, 5, SPT_LP_DENSITY, 1.0 / 3.0), SPT_OK);
    char *text = format(a);
    assert_status(spt_net_parse(text, (int64_t)strlen(text), &b), SPT_OK);
    assert_same_net(a, b);
    char *again = format(b);
    assert_string_equal(text, again);
    /* the network's input as a branch and as an addition */
    spt_net_destroy(c);
    const char *skip = "input 4\nlinear name=f out=4\nadd input=input\nlinear from=input out=4\nadd input=add1\n"
                       "linear out=2\n";
    assert_status(spt_net_parse(skip, (int64_t)strlen(skip), &c), SPT_OK);
    assert_status(spt_net_node(c, 2, NULL, NULL, &input), SPT_OK);
    assert_int_equal(input, -1);
    char *t2 = format(c);
    assert_non_null(strstr(t2, "linear from=input out=4\n"));
    assert_non_null(strstr(t2, "add input=input\n"));
    spt_net *d = NULL;
    assert_status(spt_net_parse(t2, (int64_t)strlen(t2), &d), SPT_OK);
    assert_same_net(c, d);
    spt_net_destroy(d);

    /* files */
    char path[] = "/tmp/spt_test_net_file_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    spt_net *e = NULL;
    assert_status(spt_net_write(a, path), SPT_OK);
    assert_status(spt_net_read(path, &e), SPT_OK);
    assert_same_net(a, e);
    spt_net_destroy(e);
    /* a refusal names the file */
    FILE *f = fopen(path, "w");
    fputs("input 1 2 2\n\nrelu oops\n", f);
    fclose(f);
    e = (spt_net *)&e;
    assert_status(spt_net_read(path, &e), SPT_ERR_FORMAT);
    assert_null(e);
    char where[64];
    snprintf(where, sizeof where, "%s:3:", path);
    assert_non_null(strstr(spt_last_error(), where));
    /* too large a file */
    f = fopen(path, "w");
    for (int i = 0; i < SPT_NET_FILE_MAX_BYTES / 8 + 1; i++) fputs("# ......", f);
    fclose(f);
    assert_status(spt_net_read(path, &e), SPT_ERR_FORMAT);
    assert_non_null(strstr(spt_last_error(), "SPT_NET_FILE_MAX_BYTES"));
    remove(path);
    assert_status(spt_net_read(path, &e), SPT_ERR_IO);
    assert_status(spt_net_read("/tmp", &e), SPT_ERR_IO);
    assert_status(spt_net_write(a, "/nonexistent-dir/x.model"), SPT_ERR_IO);

    /* incomplete descriptions and a node named "input" are not written */
    spt_net *g = NULL;
    int64_t node;
    assert_status(spt_net_create(2, 1, 1, &g), SPT_OK);
    assert_status(spt_net_format(g, NULL, 0, NULL), SPT_ERR_INVALID); /* no layers */
    assert_status(spt_net_add_layer(g, SPT_LAYER_LINEAR, "input", &node), SPT_OK);
    assert_status(spt_net_format(g, NULL, 0, NULL), SPT_ERR_INVALID); /* out unset */
    assert_status(spt_net_set(g, node, SPT_LP_OUT, 2), SPT_OK);
    assert_status(spt_net_format(g, NULL, 0, NULL), SPT_ERR_INVALID);
    assert_non_null(strstr(spt_last_error(), "reserves"));
    spt_net_destroy(g);

    test_free(text);
    test_free(again);
    test_free(t2);
    spt_net_destroy(a);
    spt_net_destroy(b);
    spt_net_destroy(c);
}

/* The built-in ResNet-20's description, written and read back, builds a
 * model with the same parameters (names, shapes, initial values). */
static void test_resnet20_file(void **state) {
    (void)state;
    spt_model *a = NULL, *b = NULL;
    assert_status(spt_model_create_resnet(3, 32, 32, 3, 1, 10, 11, &a), SPT_OK);
    spt_net *net = NULL, *back = NULL;
    assert_status(spt_model_net(a, &net), SPT_OK);
    char path[] = "/tmp/spt_test_resnet20_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_status(spt_net_write(net, path), SPT_OK);
    assert_status(spt_net_read(path, &back), SPT_OK);
    remove(path);
    assert_same_net(net, back);
    assert_status(spt_model_create(back, 11, &b), SPT_OK);
    int64_t da, db;
    spt_model_num_params(a, &da, NULL);
    spt_model_num_params(b, &db, NULL);
    assert_int_equal(da, db);
    assert_int_equal(a->n_params, b->n_params);
    for (int64_t i = 0; i < a->n_params; i++) {
        assert_string_equal(a->params[i]->name, b->params[i]->name);
        assert_int_equal(a->params[i]->n, b->params[i]->n);
        spti_param_materialize(a->params[i]);
        spti_param_materialize(b->params[i]);
        assert_memory_equal(a->params[i]->value, b->params[i]->value, (size_t)a->params[i]->n * sizeof(float));
    }
    /* and the shipped file is the same description */
    spt_net *shipped = NULL;
    assert_status(spt_net_read(SPT_MODELS_DIR "/resnet-20.model", &shipped), SPT_OK);
    assert_same_net(net, shipped);
    spt_net_destroy(shipped);
    spt_net_destroy(net);
    spt_net_destroy(back);
    spt_model_destroy(a);
    spt_model_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),   cmocka_unit_test(test_truncated),     cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_resnet20_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
