/*
 * Model files (include/sparsetrain/net_file.h, docs/models.md): a network
 * description as text, one layer per line, parsed through the public
 * spt_net_* calls and written back from a description.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sparsetrain/net_file.h>

#include "../core/internal.h"
#include "../data/dataset.h"
#include "../nn/net.h"

/* The network's input in from= / input= (not a valid layer name in a file). */
static const char INPUT_WORD[] = "input";

/* ---- numbers, locale-independent ------------------------------------------------ */

/* A decimal number: [+-]digits[.digits][(e|E)[+-]digits], at most 64 bytes,
 * finite. Other text (inf, nan, hex) is refused. 0 on success. */
static int parse_number(const char *s, double *out) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return -1;
    char buf[72];
    const char dp = localeconv()->decimal_point[0];
    for (size_t i = 0; i < n; i++) {
        const char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E')) return -1;
        buf[i] = c == '.' ? dp : c;
    }
    buf[n] = '\0';
    errno = 0;
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + n || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* The shortest of %.15g / %.17g that reads back as v, with '.' as the
 * decimal point; whole values as integers. */
static void format_number(double v, char *buf, size_t cap) {
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, cap, "%lld", (long long)v);
        return;
    }
    const char dp = localeconv()->decimal_point[0];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        for (char *p = buf; *p; p++)
            if (*p == dp) *p = '.';
        double back;
        if (parse_number(buf, &back) == 0 && back == v) return;
    }
}

/* ---- parsing --------------------------------------------------------------------- */

typedef struct parser {
    const char *src;  /* file name for messages */
    int64_t line;     /* current line, from 1 */
    spt_net *net;
    int64_t *lines;   /* line of each node */
    int64_t cap;
} parser;

/* SPT_ERR_FORMAT with "src:line: message". */
static int perr(const parser *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int perr(const parser *p, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->line > 0) return spti_fail(SPT_ERR_FORMAT, "%s:%lld: %s", p->src, (long long)p->line, msg);
    return spti_fail(SPT_ERR_FORMAT, "%s: %s", p->src, msg);
}

/* The library's last message without its "function: " prefix, into buf. */
static const char *lib_reason(char *buf, size_t cap) {
    const char *m = spt_last_error();
    const char *colon = strstr(m, ": ");
    if (strncmp(m, "spt", 3) == 0 && colon && !memchr(m, ' ', (size_t)(colon - m))) m = colon + 2;
    snprintf(buf, cap, "%s", m);
    return buf;
}

/* Id of the earlier node named `name` (SPTI_NET_INPUT for "input"), or -2. */
static int64_t find_node(const spt_net *net, const char *name) {
    if (strcmp(name, INPUT_WORD) == 0) return SPTI_NET_INPUT;
    for (int64_t i = net->n - 1; i >= 0; i--)
        if (strcmp(net->nodes[i].name, name) == 0) return i;
    return -2;
}

/* Split s (modified) at spaces and tabs into at most cap words. Returns the
 * count, or -1 if there are more. */
static int split_words(char *s, char **words, int cap) {
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) return n;
        if (n == cap) return -1;
        words[n++] = s;
        while (*s && *s != ' ' && *s != '\t') s++;
        if (*s) *s++ = '\0';
    }
}

static int parse_input_line(parser *p, char **w, int n) {
    if (p->net) return perr(p, "a second \"input\" line (the first is the network's input shape)");
    int64_t d[3] = {0, 1, 1};
    if (n != 2 && n != 4) return perr(p, "expected \"input C H W\" (or \"input F\" for flat features)");
    for (int i = 1; i < n; i++) {
        const char *s = w[i];
        size_t len = strlen(s);
        if (len == 0 || len > 10 || strspn(s, "0123456789") != len)
            return perr(p, "input: \"%s\" is not a whole number of at most 10 digits", s);
        d[i - 1] = strtoll(s, NULL, 10);
    }
    const int rc = spt_net_create(d[0], d[1], d[2], &p->net);
    if (rc == SPT_ERR_NOMEM) return rc;
    if (rc != SPT_OK) {
        char why[256];
        return perr(p, "input %lld %lld %lld: %s", (long long)d[0], (long long)d[1], (long long)d[2],
                    lib_reason(why, sizeof why));
    }
    return SPT_OK;
}

/* The names the kind reads, "out, kernel, ..." into buf. */
static const char *kind_keys(int kind, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < SPT_LP_COUNT_ && len + 1 < cap; k++) {
        int uses = 0;
        spt_layer_param_default(kind, k, &uses, NULL);
        if (!uses) continue;
        snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", spt_layer_param_name(k));
        len += strlen(buf + len);
    }
    if (!buf[0]) snprintf(buf, cap, "none");
    return buf;
}

static int parse_layer_line(parser *p, char **w, int n) {
    int kind;
    if (spt_layer_kind_from_name(w[0], &kind) != SPT_OK) {
        char kinds[256];
        size_t len = 0;
        kinds[0] = '\0';
        for (int k = 0; k < SPT_LAYER_KIND_COUNT_ && len + 1 < sizeof kinds; k++) {
            snprintf(kinds + len, sizeof kinds - len, "%s%s", k ? ", " : "", spt_layer_kind_name(k));
            len += strlen(kinds + len);
        }
        return perr(p, "unknown layer kind \"%s\" (expected input, %s)", w[0], kinds);
    }
    if (!p->net) return perr(p, "%s: the first line must be \"input C H W\" (the network's input shape)", w[0]);
    if (p->net->n >= SPT_NET_FILE_MAX_LAYERS)
        return perr(p, "more than %d layers (SPT_NET_FILE_MAX_LAYERS)", SPT_NET_FILE_MAX_LAYERS);

    /* Words after the kind: key=value, each key once. */
    const char *name = NULL, *from = NULL, *value[SPT_LP_COUNT_] = {0};
    for (int i = 1; i < n; i++) {
        char *eq = strchr(w[i], '=');
        if (!eq) return perr(p, "%s: expected key=value, got \"%s\"", w[0], w[i]);
        *eq = '\0';
        const char *key = w[i], *val = eq + 1;
        if (!*key) return perr(p, "%s: \"=%s\" has no key", w[0], val);
        if (!*val) return perr(p, "%s: %s= has no value", w[0], key);
        const char **slot;
        int k = -1;
        if (strcmp(key, "name") == 0) {
            slot = &name;
        } else if (strcmp(key, "from") == 0) {
            slot = &from;
        } else if (spt_layer_param_from_name(key, &k) == SPT_OK) {
            int uses = 0;
            spt_layer_param_default(kind, k, &uses, NULL);
            if (!uses) {
                char keys[256];
                return perr(p, "a %s layer has no parameter \"%s\" (it reads: name, from, %s)", w[0], key,
                            kind_keys(kind, keys, sizeof keys));
            }
            slot = &value[k];
        } else {
            char keys[256];
            return perr(p, "unknown key \"%s\" (a %s layer reads: name, from, %s)", key, w[0],
                        kind_keys(kind, keys, sizeof keys));
        }
        if (*slot) return perr(p, "%s: %s= given twice", w[0], key);
        *slot = val;
    }

    /* The node's name: given or "<kind><index>", unused so far. */
    char def[SPTI_NET_NAME + 24];
    if (!name) {
        snprintf(def, sizeof def, "%s%lld", w[0], (long long)p->net->n);
        name = def;
    }
    if (strcmp(name, INPUT_WORD) == 0)
        return perr(p, "name=input: \"input\" is reserved for the network's input in from= and input=");
    const int64_t dup = find_node(p->net, name);
    if (dup >= 0)
        return perr(p, "%sname \"%s\" is already used on line %lld%s", name == def ? "the default " : "", name,
                    (long long)p->lines[dup], name == def ? " (give this layer a name=)" : "");
    if (from) {
        const int64_t src = find_node(p->net, from);
        if (src == -2) return perr(p, "from=%s: no earlier layer is named \"%s\"", from, from);
        spt_net_set_tip(p->net, src);
    }
    if (p->net->n == p->cap) {
        int64_t cap = p->cap ? 2 * p->cap : 64;
        int64_t *l = spti_alloc_or_fail(cap, sizeof *l, "model file: line numbers");
        if (!l) return SPT_ERR_NOMEM;
        if (p->cap) memcpy(l, p->lines, (size_t)p->cap * sizeof *l);
        spti_free(p->lines);
        p->lines = l;
        p->cap = cap;
    }
    int64_t node;
    char why[256];
    int rc = spt_net_add_layer(p->net, kind, name, &node);
    if (rc == SPT_ERR_NOMEM) return rc;
    if (rc != SPT_OK) return perr(p, "name=%s: %s", name, lib_reason(why, sizeof why));
    p->lines[node] = p->line;

    for (int k = 0; k < SPT_LP_COUNT_; k++) {
        if (!value[k]) continue;
        const char *key = spt_layer_param_name(k);
        double v;
        if (k == SPT_LP_INPUT) {
            const int64_t src = find_node(p->net, value[k]);
            if (src == -2 || src == node)
                return perr(p, "input=%s: no earlier layer is named \"%s\"", value[k], value[k]);
            v = (double)src;
        } else if (parse_number(value[k], &v) != 0) {
            return perr(p, "%s=%s: not a decimal number", key, value[k]);
        }
        if (spt_net_set(p->net, node, k, v) != SPT_OK)
            return perr(p, "%s=%s: outside the values a %s layer's %s takes (docs/models.md)", key, value[k], w[0],
                        key);
    }
    if (spti_net_check_node(p->net, node) != SPT_OK) {
        if (kind == SPT_LAYER_ADD) return perr(p, "add needs input=NODE (the node added to this one's input)");
        return perr(p, "%s needs %s=", w[0], spt_layer_param_name(SPT_LP_OUT));
    }
    return SPT_OK;
}

/* One line (without its end): checked, comment cut, words parsed. */
static int parse_line(parser *p, const char *s, int64_t len) {
    if (len > SPT_NET_FILE_MAX_LINE)
        return perr(p, "longer than %d bytes (SPT_NET_FILE_MAX_LINE)", SPT_NET_FILE_MAX_LINE);
    char buf[SPT_NET_FILE_MAX_LINE + 1];
    int64_t n = 0;
    for (int64_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c == '\0') return perr(p, "a NUL byte at column %lld", (long long)i + 1);
        if (c == '#') break; /* a comment may hold any other byte */
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return perr(p, "control character 0x%02x at column %lld", c, (long long)i + 1);
        buf[n++] = (char)c;
    }
    /* A NUL inside a comment is refused too. */
    if (n < len && memchr(s + n, '\0', (size_t)(len - n)))
        return perr(p, "a NUL byte at column %lld",
                    (long long)((const char *)memchr(s + n, '\0', (size_t)(len - n)) - s) + 1);
    buf[n] = '\0';
    char *w[SPT_LP_COUNT_ + 4];
    int nw = split_words(buf, w, (int)(sizeof w / sizeof w[0]));
    if (nw < 0) return perr(p, "too many words (a layer has at most %d key=value words)", SPT_LP_COUNT_ + 2);
    if (nw == 0) return SPT_OK;
    if (strcmp(w[0], INPUT_WORD) == 0) return parse_input_line(p, w, nw);
    return parse_layer_line(p, w, nw);
}

/* The finished description builds: the first node that does not fit, by
 * its line (spti_net_size stops at the first failure, so the failing
 * prefixes are the longer ones: a binary search finds it). */
static int check_shapes(parser *p) {
    spt_net *net = p->net;
    int64_t np, nv;
    const int first = spti_net_size(net, &np, &nv);
    if (first == SPT_OK || first == SPT_ERR_NOMEM) return first;
    const int64_t n = net->n;
    int64_t lo = 1, hi = n; /* prefix hi fails */
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        net->n = mid;
        if (spti_net_size(net, &np, &nv) == SPT_OK) lo = mid + 1;
        else hi = mid;
    }
    net->n = hi;
    spti_net_size(net, &np, &nv); /* its message */
    net->n = n;
    char why[256];
    snprintf(why, sizeof why, "%s", spt_last_error());
    p->line = p->lines[hi - 1];
    return perr(p, "%s", why);
}

static int parse_text(const char *src, const char *text, int64_t len, spt_net **out) {
    *out = NULL;
    parser p = {.src = src};
    if (len < 0 || len > SPT_NET_FILE_MAX_BYTES)
        return perr(&p, "%lld bytes: a model file has 0 to %d bytes (SPT_NET_FILE_MAX_BYTES)", (long long)len,
                    SPT_NET_FILE_MAX_BYTES);
    int rc = SPT_OK;
    int64_t pos = 0;
    while (rc == SPT_OK && pos < len) {
        p.line++;
        const char *nl = memchr(text + pos, '\n', (size_t)(len - pos));
        int64_t end = nl ? (int64_t)(nl - text) : len, next = nl ? end + 1 : len;
        if (end > pos && text[end - 1] == '\r') end--;
        rc = parse_line(&p, text + pos, end - pos);
        pos = next;
    }
    if (rc == SPT_OK && !p.net) {
        p.line = 0;
        rc = perr(&p, "no \"input C H W\" line (an empty description)");
    } else if (rc == SPT_OK && p.net->n == 0) {
        rc = perr(&p, "no layers after the input line");
    }
    if (rc == SPT_OK) rc = check_shapes(&p);
    spti_free(p.lines);
    if (rc != SPT_OK) {
        spt_net_destroy(p.net);
        return rc;
    }
    *out = p.net;
    return SPT_OK;
}

int spt_net_parse(const char *text, int64_t len, spt_net **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(text);
    return parse_text("(text)", text, len, out);
}

int spt_net_read(const char *path, spt_net **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(path);
    char err[128];
    FILE *f = fopen(path, "rb");
    if (!f) return spti_fail(SPT_ERR_IO, "%s: cannot open: %s", path, spti_errno_text(errno, err, sizeof err));
    struct stat st;
    int rc = SPT_OK;
    char *buf = NULL;
    if (fstat(fileno(f), &st) != 0)
        rc = spti_fail(SPT_ERR_IO, "%s: cannot stat: %s", path, spti_errno_text(errno, err, sizeof err));
    else if (!S_ISREG(st.st_mode))
        rc = spti_fail(SPT_ERR_IO, "%s: not a regular file", path);
    else if (st.st_size > SPT_NET_FILE_MAX_BYTES)
        rc = spti_fail(SPT_ERR_FORMAT, "%s: %lld bytes, more than a model file may have (%d, SPT_NET_FILE_MAX_BYTES)",
                       path, (long long)st.st_size, SPT_NET_FILE_MAX_BYTES);
    else if (!(buf = spti_alloc_or_fail((int64_t)st.st_size + 1, 1, "model file")))
        rc = SPT_ERR_NOMEM;
    size_t got = 0;
    if (rc == SPT_OK) {
        /* Read one byte more than stat said: a file that grew is refused, not cut. */
        got = fread(buf, 1, (size_t)st.st_size + 1, f);
        if (ferror(f)) rc = spti_fail(SPT_ERR_IO, "%s: read error", path);
        else if (got > (size_t)st.st_size) rc = spti_fail(SPT_ERR_IO, "%s: changed while being read", path);
    }
    fclose(f);
    if (rc == SPT_OK) rc = parse_text(path, buf, (int64_t)got, out);
    spti_free(buf);
    return rc;
}

/* ---- writing ----------------------------------------------------------------------- */

typedef struct text {
    char *buf;
    int64_t len, cap;
    int rc;
} text;

static void put(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void put(text *t, const char *fmt, ...) {
    if (t->rc != SPT_OK) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        t->rc = spti_fail(SPT_ERR_INTERNAL, "spt_net_format: a word does not fit");
        return;
    }
    if (t->len + n + 1 > t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 4096;
        while (cap < t->len + n + 1) cap *= 2;
        char *b = spti_alloc_or_fail(cap, 1, "model file text");
        if (!b) {
            t->rc = SPT_ERR_NOMEM;
            return;
        }
        if (t->len) memcpy(b, t->buf, (size_t)t->len);
        spti_free(t->buf);
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, line, (size_t)n + 1);
    t->len += n;
}

/* The text of a description into a new buffer (NUL-terminated). */
static int format_text(const spt_net *net, text *t) {
    memset(t, 0, sizeof *t);
    if (net->n > SPT_NET_FILE_MAX_LAYERS)
        return spti_fail(SPT_ERR_SIZE, "spt_net_format: %lld nodes, more than a model file may have (%d)",
                         (long long)net->n, SPT_NET_FILE_MAX_LAYERS);
    int64_t np, nv;
    int rc = spti_net_size(net, &np, &nv);
    if (rc != SPT_OK) {
        char why[400];
        snprintf(why, sizeof why, "%s", spt_last_error());
        return spti_fail(rc == SPT_ERR_NOMEM ? rc : SPT_ERR_INVALID, "spt_net_format: incomplete description: %s",
                         why);
    }
    put(t, "# libsparsetrain model file (docs/models.md)\n");
    put(t, "input %lld %lld %lld\n", (long long)net->in.c, (long long)net->in.h, (long long)net->in.w);
    for (int64_t i = 0; i < net->n && t->rc == SPT_OK; i++) {
        const spti_net_node *nd = &net->nodes[i];
        const char *kind = spt_layer_kind_name(nd->kind);
        if (strcmp(nd->name, INPUT_WORD) == 0) {
            spti_free(t->buf);
            return spti_fail(SPT_ERR_INVALID, "spt_net_format: node %lld is named \"input\", which a model file "
                             "reserves for the network's input", (long long)i);
        }
        char def[SPTI_NET_NAME + 24];
        snprintf(def, sizeof def, "%s%lld", kind, (long long)i);
        put(t, "%s", kind);
        if (strcmp(def, nd->name) != 0) put(t, " name=%s", nd->name);
        if (nd->input != i - 1)
            put(t, " from=%s", nd->input == SPTI_NET_INPUT ? INPUT_WORD : net->nodes[nd->input].name);
        for (int k = 0; k < SPT_LP_COUNT_; k++) {
            int uses = 0;
            double def_v = 0;
            spt_layer_param_default(nd->kind, k, &uses, &def_v);
            if (!uses) continue;
            const double v = nd->p[k];
            if (k == SPT_LP_INPUT) {
                const int64_t src = (int64_t)v;
                put(t, " input=%s", src == SPTI_NET_INPUT ? INPUT_WORD : net->nodes[src].name);
            } else if (v != def_v) {
                char num[40];
                format_number(v, num, sizeof num);
                put(t, " %s=%s", spt_layer_param_name(k), num);
            }
        }
        put(t, "\n");
    }
    if (t->rc == SPT_OK && t->len > SPT_NET_FILE_MAX_BYTES)
        t->rc = spti_fail(SPT_ERR_SIZE, "spt_net_format: %lld bytes, more than a model file may have (%d)",
                          (long long)t->len, SPT_NET_FILE_MAX_BYTES);
    if (t->rc != SPT_OK) {
        spti_free(t->buf);
        t->buf = NULL;
    }
    return t->rc;
}

int spt_net_format(const spt_net *net, char *buf, int64_t cap, int64_t *len) {
    SPTI_CHECK_NULL(net);
    if (cap > 0) SPTI_CHECK_NULL(buf);
    text t;
    SPTI_TRY(format_text(net, &t));
    if (len) *len = t.len;
    int rc = SPT_OK;
    if (cap <= t.len)
        rc = spti_fail(SPT_ERR_SIZE, "spt_net_format: the text needs %lld bytes with its NUL, cap is %lld",
                       (long long)t.len + 1, (long long)cap);
    else
        memcpy(buf, t.buf, (size_t)t.len + 1);
    spti_free(t.buf);
    return rc;
}

int spt_net_write(const spt_net *net, const char *path) {
    SPTI_CHECK_NULL(net);
    SPTI_CHECK_NULL(path);
    if (!path[0]) return spti_fail(SPT_ERR_INVALID, "%s: path is empty", __func__);
    text t;
    SPTI_TRY(format_text(net, &t));
    const size_t n = strlen(path);
    char *tmp = spti_alloc_or_fail((int64_t)n + 5, 1, "model file: temporary name");
    if (!tmp) {
        spti_free(t.buf);
        return SPT_ERR_NOMEM;
    }
    snprintf(tmp, n + 5, "%s.tmp", path);
    char err[128];
    int rc = SPT_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = spti_fail(SPT_ERR_IO, "%s: %s: cannot create %s: %s", __func__, path, tmp,
                       spti_errno_text(errno, err, sizeof err));
    } else {
        if (fwrite(t.buf, 1, (size_t)t.len, f) != (size_t)t.len || fflush(f) != 0)
            rc = spti_fail(SPT_ERR_IO, "%s: %s: cannot write %s: %s", __func__, path, tmp,
                           spti_errno_text(errno, err, sizeof err));
        if (fclose(f) != 0 && rc == SPT_OK)
            rc = spti_fail(SPT_ERR_IO, "%s: %s: cannot close %s: %s", __func__, path, tmp,
                           spti_errno_text(errno, err, sizeof err));
        if (rc == SPT_OK && rename(tmp, path) != 0)
            rc = spti_fail(SPT_ERR_IO, "%s: %s: cannot rename %s over it: %s", __func__, path, tmp,
                           spti_errno_text(errno, err, sizeof err));
        if (rc != SPT_OK) remove(tmp);
    }
    spti_free(tmp);
    spti_free(t.buf);
    return rc;
}
