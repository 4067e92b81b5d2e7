/* Check a C AdamW (torch conventions) against one adamw-oracle test-vector file.
 *
 *   gcc -O2 -ffp-contract=off -o vectors_check examples/vectors_check.c -lm
 *   ./vectors_check vectors/torch.AdamW.float32.json            # prints "N passed, M failed"
 *   ./vectors_check vectors/torch.AdamW.float32.json --wrong    # a deliberate bug: no bias correction of v
 *
 * The optimizer is torch.optim.Adam/AdamW's algorithm: coupled L2 or decoupled decay p *= 1 - lr*wd,
 * eps after sqrt(v)/sqrt(1 - beta2^t), AMSGrad over raw v, maximize. float64 files are computed in
 * double, float32 files in float (scalar coefficients formed in double and rounded once, as torch
 * does). Groups with other conventions are skipped and counted. Only the file is read: a small JSON
 * parser is included below. Exit status: 0 all passed, 1 some failed, 2 bad input.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a minimal JSON reader: objects, arrays, strings, numbers, true/false/null ---- */
enum kind { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
typedef struct node {
    enum kind kind;
    double num;
    char *str;
    size_t n;
    char **keys;
    struct node **items;
} node;

static void fail(const char *what) {
    fprintf(stderr, "vectors_check: %s\n", what);
    exit(2);
}

static void skip_space(const char **s) {
    while (**s == ' ' || **s == '\n' || **s == '\r' || **s == '\t') (*s)++;
}

static char *parse_string(const char **s) {
    size_t cap = 16, len = 0;
    char *out = malloc(cap);
    ++*s;
    while (**s && **s != '"') {
        char c = *(*s)++;
        if (c == '\\') {
            c = *(*s)++;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c == 'u') { *s += 4; c = '?'; }  /* the files are ASCII but for prose; keep it simple */
        }
        if (len + 2 > cap) out = realloc(out, cap *= 2);
        out[len++] = c;
    }
    if (**s != '"') fail("unterminated string");
    (*s)++;
    out[len] = '\0';
    return out;
}

static node *parse_value(const char **s);

static void push(node *x, char *key, node *item) {
    x->items = realloc(x->items, (x->n + 1) * sizeof *x->items);
    x->keys = realloc(x->keys, (x->n + 1) * sizeof *x->keys);
    x->items[x->n] = item;
    x->keys[x->n] = key;
    x->n++;
}

static node *parse_value(const char **s) {
    node *x = calloc(1, sizeof *x);
    skip_space(s);
    if (**s == '{' || **s == '[') {
        char close = **s == '{' ? '}' : ']';
        x->kind = close == '}' ? J_OBJ : J_ARR;
        (*s)++;
        skip_space(s);
        while (**s && **s != close) {
            char *key = NULL;
            if (x->kind == J_OBJ) {
                if (**s != '"') fail("expected a key");
                key = parse_string(s);
                skip_space(s);
                if (**s != ':') fail("expected ':'");
                (*s)++;
            }
            push(x, key, parse_value(s));
            skip_space(s);
            if (**s == ',') (*s)++, skip_space(s);
        }
        if (**s != close) fail("unterminated array or object");
        (*s)++;
    } else if (**s == '"') {
        x->kind = J_STR;
        x->str = parse_string(s);
    } else if (strncmp(*s, "true", 4) == 0 || strncmp(*s, "false", 5) == 0) {
        x->kind = J_BOOL;
        x->num = **s == 't';
        *s += **s == 't' ? 4 : 5;
    } else if (strncmp(*s, "null", 4) == 0) {
        x->kind = J_NULL;
        *s += 4;
    } else {
        char *end;
        x->kind = J_NUM;
        x->num = strtod(*s, &end);
        if (end == *s) fail("unexpected character");
        *s = end;
    }
    return x;
}

static node *get(const node *x, const char *key) {
    for (size_t i = 0; x && x->kind == J_OBJ && i < x->n; i++)
        if (strcmp(x->keys[i], key) == 0) return x->items[i];
    return NULL;
}

static const char *text(const node *x, const char *key) {
    node *v = get(x, key);
    if (!v || v->kind != J_STR) { fprintf(stderr, "missing string %s\n", key); exit(2); }
    return v->str;
}

/* ---- values and bit patterns ---- */
static int single;  /* 1: float32 file, 0: float64 file */

static double from_bits(const char *hex) {
    uint64_t bits = strtoull(hex, NULL, 16);
    if (single) {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        return f;
    }
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* position of a value among the dtype's values in numeric order (+0 and -0 both 0) */
static int64_t ordinal(double x) {
    if (single) {
        float f = (float)x;
        uint32_t b;
        memcpy(&b, &f, sizeof b);
        return (b & 0x80000000u) ? -(int64_t)(b & 0x7fffffffu) : (int64_t)b;
    }
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return (b & 0x8000000000000000ull) ? -(int64_t)(b & 0x7fffffffffffffffull) : (int64_t)b;
}

static double decimal(const node *hyper, const char *name) {
    const char *s = text(get(hyper, name), "decimal");
    const char *slash = strchr(s, '/');
    return slash ? strtod(s, NULL) / strtod(slash + 1, NULL) : strtod(s, NULL);
}

static void values(const node *array, double *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = array ? from_bits(array->items[i]->str) : 0.0;
}

/* 1 when `x` passes the expected quantity's element i (valid: within ulps; acceptable: finite or the
 * expected infinity itself) */
static int passes(const node *quantity, size_t i, double x) {
    double want = from_bits(get(quantity, "bits")->items[i]->str);
    node *ulps = get(quantity, "ulps")->items[i];
    if (ulps->kind == J_NULL) return isfinite(x) || (isinf(x) && x == want);
    if (isnan(x)) return 0;
    int64_t d = ordinal(x) - ordinal(want);
    return (d < 0 ? -d : d) <= (int64_t)ulps->num;
}

/* ---- the optimizer under test: torch.optim.Adam / AdamW ---- */
static int wrong;

static int run_vector(const node *conv, const node *hyper, const node *vector) {
    const node *init = get(vector, "initial"), *steps = get(vector, "steps");
    size_t n = get(init, "params")->n;
    double *p = malloc(n * sizeof *p), *m = malloc(n * sizeof *m), *v = malloc(n * sizeof *v);
    double *vmax = malloc(n * sizeof *vmax), *g = malloc(n * sizeof *g);
    values(get(init, "params"), p, n);
    values(get(init, "m"), m, n);
    values(get(init, "v"), v, n);
    values(get(init, "vmax"), vmax, n);
    double lr = decimal(hyper, "lr") * decimal(hyper, "schedule_multiplier");
    double b1 = decimal(hyper, "beta1"), b2 = decimal(hyper, "beta2"), eps = decimal(hyper, "eps");
    double wd = decimal(hyper, "weight_decay");
    int coupled = strcmp(text(conv, "weight_decay"), "coupled_l2") == 0;
    int decoupled = strcmp(text(conv, "weight_decay"), "decoupled_lr") == 0;
    int amsgrad = strcmp(text(conv, "amsgrad"), "max_raw_v") == 0;
    int maximize = get(conv, "maximize")->num != 0;
    int ok = 1;
    for (size_t k = 0; k < steps->n; k++) {
        const node *step = steps->items[k];
        int t = (int)get(init, "step")->num + (int)k + 1;
        values(get(step, "grads"), g, n);
        double shrink = decoupled ? 1.0 - lr * wd : 1.0, c1 = 1.0 - b1, c2 = 1.0 - b2;
        double size = lr / (1.0 - pow(b1, t)), root_bc2 = wrong ? 1.0 : sqrt(1.0 - pow(b2, t));
        for (size_t i = 0; i < n; i++) {
            double gi = maximize ? -g[i] : g[i];
            if (single) {
                float gf = (float)gi;
                if (coupled) gf = gf + (float)wd * (float)p[i];
                float pf = (float)p[i] * (float)shrink;
                float mf = (float)b1 * (float)m[i] + (float)c1 * gf;
                float vf = (float)b2 * (float)v[i] + (float)c2 * (gf * gf);
                float vmf = amsgrad ? fmaxf((float)vmax[i], vf) : vf;
                float denom = sqrtf(vmf) / (float)root_bc2 + (float)eps;
                p[i] = pf - (float)size * (mf / denom), m[i] = mf, v[i] = vf, vmax[i] = vmf;
            } else {
                if (coupled) gi = gi + wd * p[i];
                p[i] *= shrink;
                m[i] = b1 * m[i] + c1 * gi;
                v[i] = b2 * v[i] + c2 * (gi * gi);
                vmax[i] = amsgrad ? fmax(vmax[i], v[i]) : v[i];
                p[i] -= size * (m[i] / (sqrt(vmax[i]) / root_bc2 + eps));
            }
            ok &= passes(get(step, "p"), i, p[i]) && passes(get(step, "m"), i, m[i]) && passes(get(step, "v"), i, v[i]);
        }
    }
    free(p), free(m), free(v), free(vmax), free(g);
    return ok;
}

/* the conventions this program implements (torch.Adam / torch.AdamW, with AMSGrad and maximize) */
static int supported(const node *conv) {
    const char *wd = text(conv, "weight_decay");
    return strcmp(text(conv, "family"), "adam") == 0 && strcmp(text(conv, "eps_placement"), "after_root") == 0 &&
           strcmp(text(conv, "bias_correction"), "on") == 0 && strcmp(text(conv, "decay_target"), "previous_param") == 0 &&
           strcmp(text(conv, "amsgrad"), "max_v_hat") != 0 &&
           (strcmp(wd, "coupled_l2") == 0 || strcmp(wd, "decoupled_lr") == 0 || strcmp(wd, "none") == 0);
}

int main(int argc, char **argv) {
    if (argc < 2) fail("usage: vectors_check FILE.json [--wrong]");
    wrong = argc > 2 && strcmp(argv[2], "--wrong") == 0;
    FILE *f = fopen(argv[1], "rb");
    if (!f) fail("cannot open the file");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) fail("cannot read the file");
    buf[size] = '\0';
    fclose(f);
    const char *cursor = buf;
    node *doc = parse_value(&cursor);
    const char *dtype = text(doc, "dtype");
    single = strcmp(dtype, "float32") == 0;
    if (!single && strcmp(dtype, "float64") != 0) fail("only float64 and float32 files are supported");
    int passed = 0, failed = 0, skipped = 0;
    node *groups = get(doc, "groups");
    for (size_t gi = 0; gi < groups->n; gi++) {
        node *group = groups->items[gi], *vectors = get(group, "vectors");
        if (!supported(get(group, "conventions"))) { skipped += (int)vectors->n; continue; }
        for (size_t k = 0; k < vectors->n; k++) {
            if (run_vector(get(group, "conventions"), get(group, "hyperparameters"), vectors->items[k])) passed++;
            else {
                if (failed < 5) printf("  vector %d failed\n", (int)get(vectors->items[k], "id")->num);
                failed++;
            }
        }
    }
    printf("%d passed, %d failed", passed, failed);
    if (skipped) printf(" (%d skipped: conventions this program does not implement)", skipped);
    printf("\n");
    return failed ? 1 : 0;
}
