/* Pre-tokenization: the cl100k_base and o200k_base split patterns as code. Included once, by tokens.c. */
#ifndef FASTGW_TOKENS_SPLIT_H
#define FASTGW_TOKENS_SPLIT_H
#include <Python.h>
#include <stdint.h>

#include "tokens_unicode.h"

#define TK_END 100  /* past the end of a text that is complete */
#define TK_MORE 101 /* past the end of a buffer that may still grow */
#define NEED_MORE ((Py_ssize_t)-1)

/* ---------------------------------------------------------------- pre-tokenization */

typedef struct {
    const uint8_t *s;
    Py_ssize_t n;
    int eof;
} Span;

/* Class of the code point at i (UTF-8, known valid); *next receives the following position. */
static inline int cls_at(const Span *t, Py_ssize_t i, Py_ssize_t *next) {
    if (i >= t->n) {
        *next = i;
        return t->eof ? TK_END : TK_MORE;
    }
    const uint8_t *s = t->s + i;
    uint32_t cp = s[0];
    if (cp < 0x80) {
        *next = i + 1;
        return tk_stage2[cp];
    }
    if (cp < 0xE0) {
        cp = ((cp & 0x1F) << 6) | (s[1] & 0x3F);
        *next = i + 2;
    } else if (cp < 0xF0) {
        cp = ((cp & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        *next = i + 3;
    } else {
        cp = ((cp & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        *next = i + 4;
    }
    return tk_stage2[((uint32_t)tk_stage1[cp >> TK_BLOCK_SHIFT] << TK_BLOCK_SHIFT) | (cp & TK_BLOCK_MASK)];
}

static inline int is_letter(int c) { return c == TK_UPPER || c == TK_LOWER || c == TK_MODIFIER_OTHER; }
static inline int is_punct(int c) { return c == TK_OTHER || c == TK_MARK; }
/* o200k's [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and [\p{Ll}\p{Lm}\p{Lo}\p{M}] */
static inline int is_upperish(int c) { return c == TK_UPPER || c == TK_MODIFIER_OTHER || c == TK_MARK; }
static inline int is_lowerish(int c) { return c == TK_LOWER || c == TK_MODIFIER_OTHER || c == TK_MARK; }

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) at i: its end, 0 if none, NEED_MORE. Case-insensitive matching
 * also lets U+017F LATIN SMALL LETTER LONG S stand for 's' (simple case folding). */
static Py_ssize_t contraction(const Span *t, Py_ssize_t i) {
    if (i >= t->n) return t->eof ? 0 : NEED_MORE;
    if (t->s[i] != '\'') return 0;
    if (i + 1 >= t->n) return t->eof ? 0 : NEED_MORE;
    uint8_t b1 = t->s[i + 1];
    uint8_t l1 = b1 | 0x20;
    if (b1 < 0x80 && (l1 == 's' || l1 == 'd' || l1 == 'm' || l1 == 't')) return i + 2;
    if (b1 == 0xC5 && t->s[i + 2] == 0xBF) return i + 3;
    if (b1 < 0x80 && (l1 == 'l' || l1 == 'v' || l1 == 'r')) {
        if (i + 2 >= t->n) return t->eof ? 0 : NEED_MORE;
        uint8_t l2 = t->s[i + 2] | 0x20;
        if (t->s[i + 2] < 0x80 && ((l1 == 'l' && l2 == 'l') || (l1 != 'l' && l2 == 'e'))) return i + 3;
    }
    return 0;
}

static Py_ssize_t run_of_letters(const Span *t, Py_ssize_t i) {
    for (;;) {
        Py_ssize_t nx;
        int c = cls_at(t, i, &nx);
        if (c == TK_MORE) return NEED_MORE;
        if (!is_letter(c)) return i;
        i = nx;
    }
}

static Py_ssize_t digits_1_to_3(const Span *t, Py_ssize_t i) {
    for (int k = 0; k < 3; k++) {
        Py_ssize_t nx;
        int c = cls_at(t, i, &nx);
        if (c == TK_MORE) return NEED_MORE;
        if (c != TK_NUMBER) return i;
        i = nx;
    }
    return i;
}

/* [^\s\p{L}\p{N}]+ then [\r\n]* (or [\r\n/]* when slash), from i which is known punctuation. */
static Py_ssize_t punct_run(const Span *t, Py_ssize_t i, int slash) {
    for (;;) {
        Py_ssize_t nx;
        int c = cls_at(t, i, &nx);
        if (c == TK_MORE) return NEED_MORE;
        if (!is_punct(c)) break;
        i = nx;
    }
    for (;;) {
        if (i >= t->n) return t->eof ? i : NEED_MORE;
        uint8_t b = t->s[i];
        if (b != '\r' && b != '\n' && !(slash && b == '/')) return i;
        i++;
    }
}

/* Scans the whitespace run starting at i. *reached_end: the run runs to the end of the text.
 * *nl_end: just past its last \r or \n (0 if none). *last_start: where its last char starts.
 * Returns the run's length in code points, or -1 for NEED_MORE. */
static Py_ssize_t space_run(const Span *t, Py_ssize_t i, Py_ssize_t *end, int *reached_end, Py_ssize_t *nl_end,
                            Py_ssize_t *last_start) {
    Py_ssize_t chars = 0;
    *nl_end = 0;
    *last_start = i;
    for (;;) {
        Py_ssize_t nx;
        int c = cls_at(t, i, &nx);
        if (c == TK_MORE) return -1;
        if (c != TK_SPACE) {
            *reached_end = c == TK_END;
            *end = i;
            return chars;
        }
        if (t->s[i] == '\r' || t->s[i] == '\n') *nl_end = nx;
        *last_start = i;
        chars++;
        i = nx;
    }
}

/* '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s */
static Py_ssize_t cl100k_piece(const Span *t, Py_ssize_t i) {
    Py_ssize_t j, k, e;
    int c0 = cls_at(t, i, &j), c1 = TK_END;
    uint8_t b = t->s[i];
    if (b == '\'' && (e = contraction(t, i)) != 0) return e;
    if (is_letter(c0)) return run_of_letters(t, j);
    if (c0 != TK_NUMBER && b != '\r' && b != '\n') {
        c1 = cls_at(t, j, &k);
        if (c1 == TK_MORE) return NEED_MORE;
        if (is_letter(c1)) return run_of_letters(t, k);
    }
    if (c0 == TK_NUMBER) return digits_1_to_3(t, i);
    if (b == ' ' && is_punct(c1)) return punct_run(t, j, 0);
    if (is_punct(c0)) return punct_run(t, i, 0);
    Py_ssize_t end, nl_end, last;
    int reached_end;
    Py_ssize_t chars = space_run(t, i, &end, &reached_end, &nl_end, &last);
    if (chars < 0) return NEED_MORE;
    if (reached_end) return end;
    if (nl_end) return nl_end;
    if (chars >= 2) return last;
    return j;
}

/* One try of o200k's first two alternatives from p (the optional prefix already decided).
 * lower_first: [upper]*[lower]+ (first alternative), else [upper]+[lower]* (second). */
static Py_ssize_t o200k_word(const Span *t, Py_ssize_t p, int lower_first) {
    Py_ssize_t i = p, nx, last_lowerish = -1;
    int c;
    for (;;) {
        c = cls_at(t, i, &nx);
        if (c == TK_MORE) return NEED_MORE;
        if (!is_upperish(c)) break;
        if (is_lowerish(c)) last_lowerish = i;
        i = nx;
    }
    Py_ssize_t w;
    if (lower_first) {
        /* Backtracking [upper]* gives back chars until [lower]+ can start. */
        if (is_lowerish(c)) w = i;
        else if (last_lowerish >= 0) w = last_lowerish;
        else return 0;
    } else {
        if (i == p) return 0;
        w = i;
    }
    for (;;) {
        c = cls_at(t, w, &nx);
        if (c == TK_MORE) return NEED_MORE;
        if (!is_lowerish(c)) break;
        w = nx;
    }
    if (lower_first && w == p) return 0;
    Py_ssize_t e = contraction(t, w);
    if (e == NEED_MORE) return NEED_MORE;
    return e ? e : w;
}

static Py_ssize_t o200k_piece(const Span *t, Py_ssize_t i) {
    Py_ssize_t j, k, e;
    int c0 = cls_at(t, i, &j), c1;
    uint8_t b = t->s[i];
    int prefix = !is_letter(c0) && c0 != TK_NUMBER && b != '\r' && b != '\n';
    for (int alt = 1; alt >= 0; alt--) {
        if (prefix && (e = o200k_word(t, j, alt)) != 0) return e;
        if ((e = o200k_word(t, i, alt)) != 0) return e;
    }
    if (c0 == TK_NUMBER) return digits_1_to_3(t, i);
    if (b == ' ') {
        c1 = cls_at(t, j, &k);
        if (c1 == TK_MORE) return NEED_MORE;
        if (is_punct(c1)) return punct_run(t, j, 1);
    }
    if (is_punct(c0)) return punct_run(t, i, 1);
    Py_ssize_t end, nl_end, last;
    int reached_end;
    Py_ssize_t chars = space_run(t, i, &end, &reached_end, &nl_end, &last);
    if (chars < 0) return NEED_MORE;
    if (nl_end) return nl_end;
    if (reached_end || chars < 2) return end;
    return last;
}

static inline Py_ssize_t next_piece(int pattern, const Span *t, Py_ssize_t i) {
    return pattern == PATTERN_O200K ? o200k_piece(t, i) : cl100k_piece(t, i);
}

#endif
