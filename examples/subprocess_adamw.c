/* torch.optim.AdamW's algorithm in C, checked through the subprocess protocol (docs/checking.md).
 *
 * Reads one JSON case on stdin, writes {"params": [[...], ...]} on stdout. float64 cases compute in
 * double, float32 cases in float (scalar coefficients formed in double, rounded once, as torch does);
 * other dtypes are refused with exit status 2. amsgrad (max of raw v) and maximize are honoured.
 *
 *   gcc -O2 -o adamw_c examples/subprocess_adamw.c -lm
 *   adamw-oracle check --cmd ./adamw_c --expect torch.AdamW --dtype float64
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(void) {
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
        len += got;
        if (len + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    if (buf) buf[len] = '\0';
    return buf;
}

/* The text just after "key": at or after `from` (the JSON this program receives has no spaces in keys). */
static const char *after_key(const char *from, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(from, pattern);
    if (!at) { fprintf(stderr, "missing key %s\n", key); exit(1); }
    at += strlen(pattern);
    while (*at == ' ') at++;
    return at;
}

/* Numbers of one flat array starting at '['; returns how many were read, `end` after the ']'. */
static size_t read_array(const char *at, double *out, size_t max, const char **end) {
    size_t n = 0;
    at = strchr(at, '[') + 1;
    while (*at && *at != ']') {
        char *next;
        double x = strtod(at, &next);  /* strtod also reads NaN, Infinity, -Infinity */
        if (next == at) { at++; continue; }
        if (n < max) out[n] = x;
        n++;
        at = next;
    }
    *end = at + 1;
    return n;
}

static void print_number(double x) {
    if (isnan(x)) printf("NaN");
    else if (isinf(x)) printf(x > 0 ? "Infinity" : "-Infinity");
    else printf("%.17g", x);
}

int main(void) {
    char *json = slurp();
    if (!json) return 1;
    int single = strncmp(after_key(json, "dtype"), "\"float32\"", 9) == 0;
    if (!single && strncmp(after_key(json, "dtype"), "\"float64\"", 9) != 0) {
        fprintf(stderr, "only float64 and float32 are supported\n");
        return 2;
    }
    const char *end;
    double p[4096], row[4096], m[4096] = {0}, v[4096] = {0}, vmax[4096] = {0};
    size_t n = read_array(after_key(json, "params"), p, 4096, &end);
    if (n > 4096) { fprintf(stderr, "too many parameters\n"); return 1; }
    const char *hyper = after_key(json, "hyper");
    double lr = strtod(after_key(hyper, "lr"), NULL), b1 = strtod(after_key(hyper, "beta1"), NULL);
    double b2 = strtod(after_key(hyper, "beta2"), NULL), eps = strtod(after_key(hyper, "eps"), NULL);
    double wd = strtod(after_key(hyper, "weight_decay"), NULL);
    int amsgrad = strncmp(after_key(hyper, "amsgrad"), "true", 4) == 0;
    int maximize = strncmp(after_key(hyper, "maximize"), "true", 4) == 0;
    const char *g = strchr(after_key(json, "gradients"), '[') + 1;
    printf("{\"params\": [");
    for (int t = 1; (g = strchr(g, '[')) != NULL && g < hyper; t++) {
        read_array(g, row, 4096, &g);
        double shrink = 1.0 - lr * wd, c1 = 1.0 - b1, c2 = 1.0 - b2;
        double step = lr / (1.0 - pow(b1, t)), root_bc2 = sqrt(1.0 - pow(b2, t));
        printf(t == 1 ? "[" : ", [");
        for (size_t i = 0; i < n; i++) {
            double gi = maximize ? -row[i] : row[i];
            if (single) {
                float pf = (float)p[i] * (float)shrink;
                float mf = (float)b1 * (float)m[i] + (float)c1 * (float)gi;
                float vf = (float)b2 * (float)v[i] + (float)c2 * (float)gi * (float)gi;
                float vmf = amsgrad ? fmaxf((float)vmax[i], vf) : vf;
                float denom = sqrtf(vmf) / (float)root_bc2 + (float)eps;
                p[i] = pf - (float)step * mf / denom, m[i] = mf, v[i] = vf, vmax[i] = vmf;
            } else {
                p[i] *= shrink;
                m[i] = b1 * m[i] + c1 * gi;
                v[i] = b2 * v[i] + c2 * gi * gi;
                vmax[i] = amsgrad ? fmax(vmax[i], v[i]) : v[i];
                p[i] -= step * m[i] / (sqrt(vmax[i]) / root_bc2 + eps);
            }
            if (i) printf(", ");
            print_number(p[i]);
        }
        printf("]");
    }
    printf("]}\n");
    free(json);
    return 0;
}
