/* Decimal digits written by hand (no snprintf on the per-request path). */
#ifndef FASTGW_DIGITS_H
#define FASTGW_DIGITS_H

/* the decimal digits of v at w; returns the end */
static inline char *put_u64(char *w, unsigned long long v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *w++ = tmp[--n];
    return w;
}

static inline char *put_i64(char *w, long long v) {
    if (v < 0) {
        *w++ = '-';
        return put_u64(w, 0ULL - (unsigned long long)v);
    }
    return put_u64(w, (unsigned long long)v);
}

#endif
