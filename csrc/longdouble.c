/* INCRBYFLOAT in Redis adds in C `long double` (80-bit on x86-64) and prints with
 * "%.17Lf" then trims trailing zeros (ld2string, LD_STR_HUMAN). Rust has no such
 * type, so the few lines that must match Redis byte for byte live here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <ctype.h>

/* Parses like Redis's string2ld: no spaces, whole string, no NaN. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[5 * 1024]; /* MAX_LONG_DOUBLE_CHARS: Redis refuses 5120 bytes and more */
    char *end;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return 0;
    errno = 0;
    long double v = strtold(buf, &end);
    if ((size_t)(end - buf) != len || (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) || isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Returns 1 ok, -1 if the current value is not a float, -2 if the increment is not
 * a float, -3 on NaN or infinity, writing the result text into out (NUL-terminated). */
int corekv_incrbyfloat(const char *cur, size_t cur_len, int has_cur, const char *incr,
                       size_t incr_len, char *out, size_t out_cap, size_t *out_len) {
    long double a = 0, b;
    if (has_cur && !parse_ld(cur, cur_len, &a)) return -1;
    if (!parse_ld(incr, incr_len, &b)) return -2;
    long double r = a + b;
    if (isnan(r) || isinf(r)) return -3;
    int n = snprintf(out, out_cap, "%.17Lf", r);
    if (n <= 0 || (size_t)n >= out_cap) return -3;
    if (strchr(out, '.') != NULL) {
        char *p = out + n - 1;
        while (*p == '0') { p--; n--; }
        if (*p == '.') n--;
    }
    if (n == 2 && out[0] == '-' && out[1] == '0') { out[0] = '0'; n = 1; }
    out[n] = '\0';
    *out_len = (size_t)n;
    return 1;
}
