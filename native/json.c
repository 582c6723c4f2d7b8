/* Members of a small JSON object read without decoding it (twin: fastgw/_twins/json.py).
 *
 *   json_get(data, outer, names) -> tuple[bytes | None, ...] | None
 *       When `data` is one JSON object that a strict decoder (orjson) would decode to the same
 *       values this reads: for each name in `names` (a tuple of bytes, at most 8), the raw bytes of
 *       the member `outer` -> name (outer == b"": a top-level member; else `outer` must be an
 *       object member of the top level), the last one when a name repeats, or None when absent.
 *       None instead of the tuple when it cannot vouch for that: the text is not valid UTF-8, is
 *       not such an object, nests deeper than 64 levels, holds an escape other than \" \\ \n \r
 *       \t \b \f (so a string member is byte for byte what orjson.dumps writes for its value), a
 *       number that is not a plain integer of at most 15 characters, or `outer` is absent or not
 *       an object. The caller then decodes the data the slow way, which also reports errors.
 *
 * The streaming translation reads one delta's text per SSE event this way and writes it into the
 * translated chunk as is: the text is never decoded and re-encoded.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "fastgw_native.h"

#define JSON_MAX_DEPTH 64
#define JSON_MAX_NAMES 8

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} jscan;

static inline void skip_ws(jscan *s) {
    const unsigned char *p = s->p, *end = s->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    s->p = p;
}

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* 1 if [p, end) is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF) */
static int valid_utf8(const unsigned char *p, const unsigned char *end) {
    while (p < end) {
        while (end - p >= 8) { /* ASCII runs 8 bytes at a time */
            unsigned long long w;
            memcpy(&w, p, 8);
            if (w & 0x8080808080808080ULL) break;
            p += 8;
        }
        if (p >= end) break;
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        int n;
        unsigned int cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (end - p <= n) return 0;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* At the opening quote: moves past the closing one; 0, or -1 (invalid or an escape it does not
 * vouch for). */
static int skip_string(jscan *s) {
    const unsigned char *p = s->p + 1, *end = s->end;
    for (;;) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                       _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)); /* v <= 0x1f */
            int mask = _mm_movemask_epi8(hit);
            if (mask) {
                p += __builtin_ctz((unsigned)mask);
                goto special;
            }
            p += 16;
        }
#endif
        while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) p++;
        if (p >= end) return -1;
#if defined(__SSE2__)
    special:
#endif
        if (*p == '"') {
            s->p = p + 1;
            return 0;
        }
        if (*p < 0x20 || end - p < 2) return -1;
        unsigned char e = p[1]; /* after a backslash */
        if (e != '"' && e != '\\' && e != 'n' && e != 'r' && e != 't' && e != 'b' && e != 'f') return -1;
        p += 2;
    }
}

static int skip_integer(jscan *s) {
    const unsigned char *p = s->p, *start = p, *end = s->end;
    if (p < end && *p == '-') p++;
    if (p >= end) return -1;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && is_digit(*p)) p++;
    } else {
        return -1;
    }
    if (p - start > 15 || (p < end && (*p == '.' || *p == 'e' || *p == 'E'))) return -1;
    s->p = p;
    return 0;
}

static int skip_literal(jscan *s, const char *lit, Py_ssize_t n) {
    if (s->end - s->p < n || memcmp(s->p, lit, (size_t)n) != 0) return -1;
    s->p += n;
    return 0;
}

/* An object's members, at the '{'. When `names` is given, found[i] gets the span of the value
 * of the last member named names[i]. */
static int scan_object(jscan *s, int depth, PyObject *names, const unsigned char **starts, const unsigned char **ends);

static int skip_value(jscan *s, int depth) {
    if (s->p >= s->end) return -1;
    switch (*s->p) {
    case '"':
        return skip_string(s);
    case '{':
        return scan_object(s, depth, NULL, NULL, NULL);
    case '[':
        if (depth >= JSON_MAX_DEPTH) return -1;
        s->p++;
        skip_ws(s);
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return 0;
        }
        for (;;) {
            if (skip_value(s, depth + 1) < 0) return -1;
            skip_ws(s);
            if (s->p >= s->end) return -1;
            if (*s->p == ']') {
                s->p++;
                return 0;
            }
            if (*s->p != ',') return -1;
            s->p++;
            skip_ws(s);
        }
    case 't':
        return skip_literal(s, "true", 4);
    case 'f':
        return skip_literal(s, "false", 5);
    case 'n':
        return skip_literal(s, "null", 4);
    default:
        return skip_integer(s);
    }
}

static int scan_object(jscan *s, int depth, PyObject *names, const unsigned char **starts, const unsigned char **ends) {
    if (depth >= JSON_MAX_DEPTH || s->p >= s->end || *s->p != '{') return -1;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        if (s->p >= s->end || *s->p != '"') return -1;
        const unsigned char *key = s->p + 1;
        if (skip_string(s) < 0) return -1;
        Py_ssize_t klen = s->p - 1 - key;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':') return -1;
        s->p++;
        skip_ws(s);
        const unsigned char *value = s->p;
        if (skip_value(s, depth + 1) < 0) return -1;
        if (names != NULL) {
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
                PyObject *name = PyTuple_GET_ITEM(names, i);
                if (PyBytes_GET_SIZE(name) == klen && memcmp(PyBytes_AS_STRING(name), key, (size_t)klen) == 0) {
                    starts[i] = value;
                    ends[i] = s->p;
                }
            }
        }
        skip_ws(s);
        if (s->p >= s->end) return -1;
        if (*s->p == '}') {
            s->p++;
            return 0;
        }
        if (*s->p != ',') return -1;
        s->p++;
        skip_ws(s);
    }
}

static PyObject *json_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1]) || !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "json_get(data: bytes, outer: bytes, names: tuple[bytes, ...])");
        return NULL;
    }
    PyObject *data = args[0], *outer = args[1], *names = args[2];
    Py_ssize_t nnames = PyTuple_GET_SIZE(names);
    if (nnames > JSON_MAX_NAMES) {
        PyErr_SetString(PyExc_ValueError, "json_get: at most 8 names");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nnames; i++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(names, i))) {
            PyErr_SetString(PyExc_TypeError, "json_get: names must be bytes");
            return NULL;
        }
    }
    const unsigned char *base = (const unsigned char *)PyBytes_AS_STRING(data);
    const unsigned char *end = base + PyBytes_GET_SIZE(data);
    if (!valid_utf8(base, end)) Py_RETURN_NONE;
    jscan s = {base, end};
    const unsigned char *starts[JSON_MAX_NAMES] = {NULL}, *ends[JSON_MAX_NAMES] = {NULL};
    const unsigned char *ostart = NULL, *oend = NULL;
    int nested = PyBytes_GET_SIZE(outer) > 0;
    PyObject *outer_names = NULL;
    if (nested) {
        outer_names = PyTuple_Pack(1, outer);
        if (outer_names == NULL) return NULL;
    }
    skip_ws(&s);
    int rc = nested ? scan_object(&s, 0, outer_names, &ostart, &oend) : scan_object(&s, 0, names, starts, ends);
    Py_XDECREF(outer_names);
    if (rc < 0) Py_RETURN_NONE;
    skip_ws(&s);
    if (s.p != s.end) Py_RETURN_NONE;
    if (nested) {
        /* the outer member again, now reading its own members (it was validated above) */
        if (ostart == NULL || *ostart != '{') Py_RETURN_NONE;
        jscan inner = {ostart, oend};
        if (scan_object(&inner, 1, names, starts, ends) < 0) Py_RETURN_NONE;
    }
    PyObject *out = PyTuple_New(nnames);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < nnames; i++) {
        PyObject *item = starts[i] == NULL ? Py_NewRef(Py_None)
                                           : PyBytes_FromStringAndSize((const char *)starts[i], ends[i] - starts[i]);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, item);
    }
    return out;
}

static PyMethodDef json_methods[] = {
    {"json_get", (PyCFunction)(void (*)(void))json_get, METH_FASTCALL,
     "Raw values of some members of a small JSON object, or None (see native/json.c)."},
    {NULL, NULL, 0, NULL},
};

int fastgw_init_json(PyObject *module) { return PyModule_AddFunctions(module, json_methods); }
