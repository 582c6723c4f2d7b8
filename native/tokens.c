/* BPE token counting: tiktoken-compatible pre-tokenization and byte-pair merging, counts only.
 * This file holds the Python types; the parts are headers included once, here (the extension's
 * source list is fixed in pyproject.toml):
 *
 * tokens_vocab.h  the token byte strings of a `.tiktoken` rank file in one arena, found through an
 *                 open-addressing hash table (slot = 32-bit hash tag | entry index + 1) behind a
 *                 one-bit-per-hash filter, plus direct tables for 2-byte strings and 3-byte UTF-8
 *                 characters. Immutable once built, so streams share it by holding a reference.
 * tokens_split.h  the cl100k_base and o200k_base split patterns written out as code over UTF-8,
 *                 with code point classes from tokens_unicode.h (gen_unicode_tables.py). Every look
 *                 at the text goes through cls_at(); past the end of a buffer that may still grow
 *                 it answers TK_MORE and the piece is reported incomplete. A piece whose decision
 *                 never looked past the buffer is final whatever text follows, which is what makes
 *                 TokenStream exact at any chunk boundary.
 * tokens_bpe.h    lowest-rank-pair-first merging, leftmost on ties (rescanning for short pieces, a
 *                 heap for long ones); only the number of parts is kept, and a direct-mapped cache
 *                 remembers piece -> count for short pieces.
 * tokens_estimate.h  the vocabulary-free estimate.
 *
 * Memory: everything is PyMem_* owned by one object (Vocabulary: ~5 MB for cl100k_base; TokenStream:
 * its held-back tail). Nothing is shared between objects but the Vocabulary reference a stream holds.
 * The GIL is held throughout, which also guards the piece cache.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "fastgw_native.h"

/* The pieces, each included once, in dependency order. */
#include "tokens_vocab.h"
#include "tokens_bpe.h"
#include "tokens_split.h"

/* Tokens in the complete pieces of t; *consumed receives where the first incomplete piece starts.
 * -1 with MemoryError set. */
static long long count_span(const VocabObject *v, const Span *t, Py_ssize_t *consumed) {
    Py_ssize_t i = 0;
    long long total = 0;
    while (i < t->n) {
        Py_ssize_t e = next_piece(v->pattern, t, i);
        if (e < 0) break;
        Py_ssize_t c = bpe_count(v, t->s + i, e - i);
        if (c < 0) {
            PyErr_NoMemory();
            return -1;
        }
        total += c;
        i = e;
    }
    *consumed = i;
    return total;
}

/* UTF-8 of a str. Lone surrogates cannot be encoded: like tiktoken, round-trip through UTF-16 with
 * "replace" first (pairs join, the rest become U+FFFD); *owned then holds the replacement str. */
static const uint8_t *utf8_of(PyObject *text, Py_ssize_t *n, PyObject **owned) {
    *owned = NULL;
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "expected str, got %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    const char *s = PyUnicode_AsUTF8AndSize(text, n);
    if (s != NULL) return (const uint8_t *)s;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
    PyErr_Clear();
    PyObject *raw = PyUnicode_AsEncodedString(text, "utf-16", "surrogatepass");
    if (raw == NULL) return NULL;
    *owned = PyUnicode_Decode(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), "utf-16", "replace");
    Py_DECREF(raw);
    if (*owned == NULL) return NULL;
    s = PyUnicode_AsUTF8AndSize(*owned, n);
    if (s == NULL) Py_CLEAR(*owned);
    return (const uint8_t *)s;
}

/* ---------------------------------------------------------------- Vocabulary type */

static PyTypeObject VocabType;
static PyTypeObject StreamType;

static void vocab_dealloc(VocabObject *self) {
    PyMem_Free(self->bytes);
    PyMem_Free(self->entries);
    PyMem_Free(self->slots);
    PyMem_Free(self->cache);
    PyMem_Free(self->pair_ranks);
    PyMem_Free(self->char3_ranks);
    PyMem_Free(self->filter);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *vocab_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"data", "pattern", NULL};
    Py_buffer data;
    const char *pattern = "cl100k_base";
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*|s", kwlist, &data, &pattern)) return NULL;
    int pat;
    if (strcmp(pattern, "cl100k_base") == 0) pat = PATTERN_CL100K;
    else if (strcmp(pattern, "o200k_base") == 0) pat = PATTERN_O200K;
    else {
        PyBuffer_Release(&data);
        return PyErr_Format(PyExc_ValueError, "unknown split pattern '%.100s': expected cl100k_base or o200k_base",
                            pattern);
    }
    VocabObject *self = (VocabObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    self->pattern = pat;
    self->cache = PyMem_Calloc((size_t)1 << CACHE_BITS, sizeof(CacheSlot));
    int rc = self->cache == NULL ? (PyErr_NoMemory(), -1) : vocab_parse(self, data.buf, data.len);
    PyBuffer_Release(&data);
    if (rc < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *vocab_count(VocabObject *self, PyObject *text) {
    PyObject *owned;
    Py_ssize_t n, consumed;
    const uint8_t *s = utf8_of(text, &n, &owned);
    if (s == NULL) return NULL;
    Span t = {s, n, 1};
    long long total = count_span(self, &t, &consumed);
    Py_XDECREF(owned);
    if (total < 0) return NULL;
    return PyLong_FromLongLong(total);
}

typedef struct {
    PyObject_HEAD
    VocabObject *vocab;
    uint8_t *buf; /* the held-back tail: pieces that later text could still change */
    Py_ssize_t len, cap;
    long long committed;
} StreamObject;

static PyObject *vocab_stream(VocabObject *self, PyObject *Py_UNUSED(ignored)) {
    StreamObject *st = PyObject_New(StreamObject, &StreamType);
    if (st == NULL) return NULL;
    Py_INCREF(self);
    st->vocab = self;
    st->buf = NULL;
    st->len = st->cap = 0;
    st->committed = 0;
    return (PyObject *)st;
}

static PyObject *vocab_get_pattern(VocabObject *self, void *Py_UNUSED(closure)) {
    return PyUnicode_FromString(self->pattern == PATTERN_O200K ? "o200k_base" : "cl100k_base");
}

static Py_ssize_t vocab_len(VocabObject *self) { return self->n_entries; }

static PyMethodDef vocab_methods[] = {
    {"count", (PyCFunction)vocab_count, METH_O, "count(text) -> number of tokens in text."},
    {"stream", (PyCFunction)vocab_stream, METH_NOARGS, "stream() -> a TokenStream sharing this vocabulary."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef vocab_getset[] = {
    {"pattern", (getter)vocab_get_pattern, NULL, "name of the split pattern", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods vocab_as_sequence = {.sq_length = (lenfunc)vocab_len};

static PyTypeObject VocabType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fastgw._native.Vocabulary",
    .tp_basicsize = sizeof(VocabObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Vocabulary(data: bytes, pattern='cl100k_base'): BPE ranks parsed from a .tiktoken file.",
    .tp_new = vocab_new,
    .tp_dealloc = (destructor)vocab_dealloc,
    .tp_methods = vocab_methods,
    .tp_getset = vocab_getset,
    .tp_as_sequence = &vocab_as_sequence,
};

/* ---------------------------------------------------------------- TokenStream type */

static void stream_dealloc(StreamObject *self) {
    PyMem_Free(self->buf);
    Py_XDECREF(self->vocab);
    PyObject_Free(self);
}

static PyObject *stream_feed(StreamObject *self, PyObject *text) {
    PyObject *owned;
    Py_ssize_t n;
    const uint8_t *s = utf8_of(text, &n, &owned);
    if (s == NULL) return NULL;
    if (self->len + n > self->cap) {
        Py_ssize_t cap = self->cap ? self->cap : 256;
        while (cap < self->len + n) cap *= 2;
        uint8_t *nb = PyMem_Realloc(self->buf, (size_t)cap);
        if (nb == NULL) {
            Py_XDECREF(owned);
            return PyErr_NoMemory();
        }
        self->buf = nb;
        self->cap = cap;
    }
    memcpy(self->buf + self->len, s, (size_t)n);
    self->len += n;
    Py_XDECREF(owned);
    Py_ssize_t consumed;
    Span t = {self->buf, self->len, 0};
    long long c = count_span(self->vocab, &t, &consumed);
    if (c < 0) return NULL;
    self->committed += c;
    memmove(self->buf, self->buf + consumed, (size_t)(self->len - consumed));
    self->len -= consumed;
    Py_RETURN_NONE;
}

static PyObject *stream_total(StreamObject *self, PyObject *Py_UNUSED(ignored)) {
    Py_ssize_t consumed;
    Span t = {self->buf, self->len, 1};
    long long c = count_span(self->vocab, &t, &consumed);
    if (c < 0) return NULL;
    return PyLong_FromLongLong(self->committed + c);
}

static PyObject *stream_get_pending(StreamObject *self, void *Py_UNUSED(closure)) {
    return PyLong_FromSsize_t(self->len);
}

static PyMethodDef stream_methods[] = {
    {"feed", (PyCFunction)stream_feed, METH_O, "feed(text): add the next piece of the text."},
    {"total", (PyCFunction)stream_total, METH_NOARGS,
     "total() -> tokens in everything fed so far, as if the text ended here."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef stream_getset[] = {
    {"pending", (getter)stream_get_pending, NULL, "UTF-8 bytes held back until later text settles them", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fastgw._native.TokenStream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Incremental token count of a text fed in pieces; made by Vocabulary.stream().",
    .tp_dealloc = (destructor)stream_dealloc,
    .tp_methods = stream_methods,
    .tp_getset = stream_getset,
};

/* ---------------------------------------------------------------- estimator */

#include "tokens_estimate.h"

/* ---------------------------------------------------------------- init */

static PyMethodDef token_functions[] = {
    {"estimate_tokens", (PyCFunction)estimate_tokens, METH_O,
     "estimate_tokens(text) -> approximate cl100k_base token count, without a vocabulary."},
    {NULL, NULL, 0, NULL},
};

int fastgw_init_tokens(PyObject *module) {
    if (PyType_Ready(&VocabType) < 0 || PyType_Ready(&StreamType) < 0) return -1;
    if (PyModule_AddObjectRef(module, "Vocabulary", (PyObject *)&VocabType) < 0) return -1;
    if (PyModule_AddObjectRef(module, "TokenStream", (PyObject *)&StreamType) < 0) return -1;
    if (PyModule_AddStringConstant(module, "UNICODE_VERSION", TK_UNICODE_VERSION) < 0) return -1;
    return PyModule_AddFunctions(module, token_functions);
}
