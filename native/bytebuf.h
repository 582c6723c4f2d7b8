/* A growable byte buffer on the Python allocator, for state the SSE scanner keeps between chunks. */
#ifndef FASTGW_BYTEBUF_H
#define FASTGW_BYTEBUF_H

#include <Python.h>
#include <string.h>

typedef struct {
    char *p;
    Py_ssize_t len;
    Py_ssize_t cap;
} fgw_buf;

static inline int fgw_buf_reserve(fgw_buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra) cap *= 2;
    char *p = PyMem_Realloc(b->p, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int fgw_buf_append(fgw_buf *b, const char *s, Py_ssize_t n) {
    if (fgw_buf_reserve(b, n) < 0) return -1;
    if (n) memcpy(b->p + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

static inline int fgw_buf_set(fgw_buf *b, const char *s, Py_ssize_t n) {
    b->len = 0;
    return fgw_buf_append(b, s, n);
}

static inline int fgw_buf_equals(const fgw_buf *b, const char *s, Py_ssize_t n) {
    return b->len == n && (n == 0 || memcmp(b->p, s, (size_t)n) == 0);
}

/* Empties the buffer; one that grew past `keep` (a rare huge event) gives its memory back, so an
 * idle stream holds little whatever it carried before. */
static inline void fgw_buf_clear(fgw_buf *b, Py_ssize_t keep) {
    b->len = 0;
    if (b->cap > keep) {
        PyMem_Free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

static inline void fgw_buf_free(fgw_buf *b) {
    PyMem_Free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

#endif
