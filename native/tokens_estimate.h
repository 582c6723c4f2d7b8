/* Vocabulary-free token estimate, included once by tokens.c (it uses the cl100k_base splitter).
 *
 * Each cl100k_base piece costs a number of milli-tokens looked up by its kind: ASCII words by shape
 * and letter count, punctuation runs by length, numbers and whitespace 1 token, and pieces with
 * non-ASCII characters by per-character weights, CJK characters through tokens_cjk.h. The tables
 * come from bench/tokens_calibrate.py; fastgw/_twins/tokens.py holds the same numbers (tests check
 * the two agree). Integer arithmetic so that both round identically. */
#ifndef FASTGW_TOKENS_ESTIMATE_H
#define FASTGW_TOKENS_ESTIMATE_H

#include "tokens_cjk.h"

#define WORD_COLS 17
static const int32_t word_milli[3][WORD_COLS] = {
    /* " word": space prefix, no upper case after the first letter; by letter count */
    {1000, 1000, 1000, 1018, 1021, 1049, 1051, 1117, 1149, 1192, 1229, 1273, 1420, 1450, 1500, 1800, 2100},
    /* other prefix (or none), same case shape */
    {1000, 1011, 1061, 1128, 1084, 1156, 1205, 1374, 1519, 1711, 1850, 1900, 2250, 2450, 2600, 2800, 3000},
    /* upper case after the first letter (camelCase, ALL CAPS) */
    {1000, 1100, 1182, 1338, 1493, 1650, 1750, 1900, 2000, 2050, 2100, 2300, 2425, 2600, 2700, 2800, 2950},
};
#define PUNCT_COLS 13
static const int32_t punct_milli[PUNCT_COLS] = {1000, 1000, 1001, 1022, 1231, 1418, 1949,
                                                2685, 3203, 3875, 4367, 5307, 5810};
/* per est_group(): ASCII letter, 2-byte letter, CJK cost 1, 2, 3, 4-byte, 2-byte other, 3-byte other,
 * other 3-byte letter, ASCII other */
static const int32_t group_milli[10] = {226, 1267, 861, 2063, 2933, 2500, 1039, 1200, 2000, 449};
#define WORD_EXTRA_MILLI 250
#define PUNCT_EXTRA_MILLI 500

static inline int32_t table_milli(const int32_t *table, int cols, Py_ssize_t n, int32_t extra) {
    return n < cols ? table[n] : table[cols - 1] + (int32_t)(n - cols + 1) * extra;
}

static int cjk_cost(uint32_t cp) {
    for (size_t r = 0; r < sizeof tk_cjk_ranges / sizeof tk_cjk_ranges[0]; r++) {
        if (cp >= tk_cjk_ranges[r][0] && cp < tk_cjk_ranges[r][1]) {
            uint32_t i = tk_cjk_ranges[r][2] + cp - tk_cjk_ranges[r][0];
            return (tk_cjk_costs[i >> 2] >> ((i & 3) * 2)) & 3;
        }
    }
    return 0;
}

static int est_group(const uint8_t *s, Py_ssize_t i, Py_ssize_t *next) {
    Span one = {s, i + 4, 1}; /* cls_at never reads past the character itself */
    int letter = is_letter(cls_at(&one, i, next));
    Py_ssize_t w = *next - i;
    if (w == 1) return letter ? 0 : 9;
    if (w == 2) return letter ? 1 : 6;
    if (w == 4) return 5;
    uint32_t cp = ((uint32_t)(s[i] & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
    int cost = cjk_cost(cp);
    if (cost) return 1 + cost;
    return letter ? 8 : 7;
}

static long long estimate_piece(const uint8_t *p, Py_ssize_t n) {
    Py_ssize_t letters = 0, digits = 0, spaces = 0;
    int upper_after_first = 0, ascii = 1;
    for (Py_ssize_t k = 0; k < n; k++) {
        uint8_t b = p[k];
        if (b >= 0x80) {
            ascii = 0;
            break;
        }
        int c = tk_stage2[b];
        if (is_letter(c)) {
            if (letters && c == TK_UPPER) upper_after_first = 1;
            letters++;
        } else if (c == TK_NUMBER) {
            digits++;
        } else if (c == TK_SPACE) {
            spaces++;
        }
    }
    if (ascii) {
        if (letters) {
            int shape = upper_after_first ? 2 : p[0] != ' ';
            return table_milli(word_milli[shape], WORD_COLS, letters, WORD_EXTRA_MILLI);
        }
        if (digits == n || spaces == n) return 1000;
        return table_milli(punct_milli, PUNCT_COLS, n, PUNCT_EXTRA_MILLI);
    }
    long long milli = 0;
    for (Py_ssize_t k = 0, nx; k < n; k = nx) milli += group_milli[est_group(p, k, &nx)];
    return milli;
}

static PyObject *estimate_tokens(PyObject *Py_UNUSED(module), PyObject *text) {
    PyObject *owned;
    Py_ssize_t n;
    const uint8_t *s = utf8_of(text, &n, &owned);
    if (s == NULL) return NULL;
    Span t = {s, n, 1};
    long long milli = 0;
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t e = cl100k_piece(&t, i);
        milli += estimate_piece(s + i, e - i);
        i = e;
    }
    Py_XDECREF(owned);
    return PyLong_FromLongLong((milli + 500) / 1000);
}
#endif
