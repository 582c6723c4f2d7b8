/* HTTP/1.1 head helpers for the per-request path (twin: fastgw/_twins/http.py).
 *
 *   head_fields(buf, start) -> (fields, end, length, connection, content_type)
 *       The header fields of the message head that starts at buf[start] (a status or request
 *       line, then fields, then an empty line), as a list of (lowercase name, value) with the
 *       value's surrounding blanks removed; obs-fold continuation lines are joined to the previous
 *       value with one space (RFC 9112 §5.2). `end` is the offset just past the empty line.
 *       `length` is the framing: -2 with a transfer-encoding field, else the content-length value
 *       (the last one; -1 when absent or not a number). `connection` is the value of the (last)
 *       connection field, or None; `content_type` that of the (last) content-type field, or b"".
 *       The head must already have been accepted by the HTTP parser
 *       (httptools): this only splits it. Lines may end in CRLF or a bare LF. ValueError if the
 *       head is incomplete.
 *
 *   request_fields(fields, max_bytes, max_count)
 *           -> (problem, host, length, te, connection, expect, forwarded)
 *       Normalizes a request's fields as httptools reported them, in place: names lowercased,
 *       blanks (SP, HTAB) after a value removed (RFC 9110 §5.5). `problem` is 0, or 1 when the
 *       fields' size (sum of len(name) + len(raw value) + 4) exceeds max_bytes, 2 when there are
 *       more than max_count of them (the first of the two met, in order; the list is then left
 *       partly normalized), 3 when Host appears twice, or 4 when the Host value is not
 *       `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a bracketed IPv6 literal (hex
 *       digits, ':' and '.', at least one ':'), or a non-empty reg-name / IPv4 address
 *       (unreserved, sub-delims, "%" HEXDIG HEXDIG); the port all digits, at most 65535 (it may
 *       be empty). `host` is the Host value or None; `length` the Content-Length value (-1 when
 *       absent; httptools already refused bad or repeated ones); `te`, `connection` and `expect`
 *       the values of those fields, several field lines joined with ", ", or None. `forwarded`
 *       is True when a field named `forwarded` or starting with `x-forwarded-` is present.
 *
 *   request_head(method, target, fields, skip) -> bytes
 *       "METHOD target HTTP/1.1\r\n" + "name: value\r\n" for each field whose name is not in
 *       `skip` (a set or frozenset of bytes, or None) + "\r\n".
 *
 *   proxy_request_head(method, target, host, fields, skip, skip_prefix, extra, length, defaults) -> bytes
 *       The same with "host: <host>" as the first field; fields whose name starts with
 *       `skip_prefix` (unless it is empty) are skipped too; then the `extra` fields, unfiltered;
 *       then each of the `defaults` whose name is not already written (a kept field, an extra
 *       or an earlier default); last "content-length: <length>" (length >= 0),
 *       "transfer-encoding: chunked" (length == -2) or nothing (-1).
 *
 *   field_lines(fields, skip) -> bytes
 *       Just the "name: value\r\n" lines of `fields` not in `skip`.
 *
 *   access_line(now, prefix, endpoint, client, method, host, path, http11, status, tail,
 *               duration_ms) -> bytes
 *       One text access-log line (see fastgw/telemetry/access_log.py for the format). `now` is
 *       a UNIX time in seconds; host and path are quoted when empty or when they hold blanks,
 *       '"' or '='. `endpoint` may be empty (then the key is left out); `tail` is inserted as is
 *       before " duration=".
 *
 *   log_fields(fields) -> bytes
 *       " key=value" for each item of the dict `fields`, in its order: an int (exactly) in
 *       decimal; a str quoted when empty or when it holds whitespace (str.isspace), '"' or '='
 *       (then backslash, quote and newline are escaped), else as is; any other value as str()
 *       gives it, unquoted. Text is written as UTF-8.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <time.h>

#include "bytebuf.h"
#include "digits.h"
#include "fastgw_native.h"

#define PUT(lit)                              \
    do {                                      \
        memcpy(w, lit, sizeof(lit) - 1);      \
        w += sizeof(lit) - 1;                 \
    } while (0)
#define PUTN(ptr, n)                          \
    do {                                      \
        memcpy(w, ptr, (size_t)(n));          \
        w += (n);                             \
    } while (0)


static inline char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

static inline int is_blank(char c) { return c == ' ' || c == '\t'; }

/* -- arguments and numbers (the per-request functions take positional arguments, METH_FASTCALL:
 * PyArg_ParseTuple's format parsing cost more than the work itself) --------------------------- */

static int check_nargs(const char *fn, Py_ssize_t nargs, Py_ssize_t want) {
    if (nargs == want) return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", fn, want, nargs);
    return -1;
}

/* a bytes argument: its data and size, or -1 with TypeError */
static inline int bytes_arg(const char *fn, PyObject *const *args, int i, const char **p, Py_ssize_t *n) {
    PyObject *o = args[i];
    if (PyBytes_Check(o)) {
        *p = PyBytes_AS_STRING(o);
        *n = PyBytes_GET_SIZE(o);
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "%s() argument %d must be bytes, not %.50s", fn, i + 1, Py_TYPE(o)->tp_name);
    return -1;
}

static inline int list_arg(const char *fn, PyObject *const *args, int i) {
    if (PyList_Check(args[i])) return 0;
    PyErr_Format(PyExc_TypeError, "%s() argument %d must be list, not %.50s", fn, i + 1, Py_TYPE(args[i])->tp_name);
    return -1;
}


/* v (0 <= v < 10^width) zero-padded to `width` digits */
static inline char *put_padded(char *w, unsigned v, int width) {
    for (int i = width - 1; i >= 0; i--) {
        w[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return w + width;
}


/* the end of the line starting at p (the '\n', or NULL) */
static const char *line_end(const char *p, const char *lim) {
    return memchr(p, '\n', (size_t)(lim - p));
}

static PyObject *head_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer buf;
    if (check_nargs("head_fields", nargs, 2) < 0) return NULL;
    Py_ssize_t start = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (start == -1 && PyErr_Occurred()) return NULL;
    if (PyObject_GetBuffer(args[0], &buf, PyBUF_SIMPLE) < 0) return NULL;
    const char *base = buf.buf;
    const char *lim = base + buf.len;
    PyObject *fields = NULL, *name = NULL, *value = NULL, *pair = NULL, *connection = NULL, *ctype = NULL;
    long long length = -1;
    int chunked = 0;
    if (start < 0 || start > buf.len) {
        PyErr_SetString(PyExc_ValueError, "start out of range");
        goto fail;
    }
    fields = PyList_New(0);
    if (fields == NULL) goto fail;
    const char *p = base + start;
    const char *nl = line_end(p, lim); /* the start line */
    if (nl == NULL) goto incomplete;
    p = nl + 1;
    for (;;) {
        nl = line_end(p, lim);
        if (nl == NULL) goto incomplete;
        const char *e = nl;
        if (e > p && e[-1] == '\r') e--;
        if (e == p) { /* the empty line */
            p = nl + 1;
            break;
        }
        if (is_blank(*p)) {
            /* obs-fold: continue the previous value */
            Py_ssize_t n = PyList_GET_SIZE(fields);
            const char *s = p;
            while (s < e && is_blank(*s)) s++;
            const char *t = e;
            while (t > s && is_blank(t[-1])) t--;
            if (n > 0 && t > s) {
                PyObject *last = PyList_GET_ITEM(fields, n - 1);
                PyObject *old = PyTuple_GET_ITEM(last, 1);
                Py_ssize_t olen = PyBytes_GET_SIZE(old);
                value = PyBytes_FromStringAndSize(NULL, olen + (olen ? 1 : 0) + (t - s));
                if (value == NULL) goto fail;
                char *w = PyBytes_AS_STRING(value);
                memcpy(w, PyBytes_AS_STRING(old), (size_t)olen);
                if (olen) w[olen++] = ' ';
                memcpy(w + olen, s, (size_t)(t - s));
                PyObject *nm = PyTuple_GET_ITEM(last, 0);
                Py_INCREF(nm);
                pair = PyTuple_New(2);
                if (pair == NULL) {
                    Py_DECREF(nm);
                    goto fail;
                }
                PyTuple_SET_ITEM(pair, 0, nm);
                PyTuple_SET_ITEM(pair, 1, value);
                value = NULL;
                if (PyList_SetItem(fields, n - 1, pair) < 0) { /* steals pair */
                    pair = NULL;
                    goto fail;
                }
                pair = NULL;
            }
            p = nl + 1;
            continue;
        }
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (colon == NULL) { /* the parser accepted it, so it is not a field: skip */
            p = nl + 1;
            continue;
        }
        const char *ne = colon;
        while (ne > p && is_blank(ne[-1])) ne--;
        name = PyBytes_FromStringAndSize(NULL, ne - p);
        if (name == NULL) goto fail;
        char *w = PyBytes_AS_STRING(name);
        for (const char *q = p; q < ne; q++) *w++ = lower_ascii(*q);
        Py_ssize_t nlen = ne - p;
        const char *nb = PyBytes_AS_STRING(name);
        const char *s = colon + 1;
        while (s < e && is_blank(*s)) s++;
        const char *t = e;
        while (t > s && is_blank(t[-1])) t--;
        value = PyBytes_FromStringAndSize(s, t - s);
        if (value == NULL) goto fail;
        if (nlen == 14 && memcmp(nb, "content-length", 14) == 0) {
            length = -1;
            if (t > s && t - s <= 18) {
                length = 0;
                for (const char *q = s; q < t; q++) {
                    if (*q < '0' || *q > '9') {
                        length = -1;
                        break;
                    }
                    length = length * 10 + (*q - '0');
                }
            }
        } else if (nlen == 17 && memcmp(nb, "transfer-encoding", 17) == 0) {
            chunked = 1;
        } else if (nlen == 10 && memcmp(nb, "connection", 10) == 0) {
            Py_INCREF(value);
            Py_XSETREF(connection, value);
        } else if (nlen == 12 && memcmp(nb, "content-type", 12) == 0) {
            Py_INCREF(value);
            Py_XSETREF(ctype, value);
        }
        pair = PyTuple_Pack(2, name, value);
        if (pair == NULL) goto fail;
        Py_CLEAR(name);
        Py_CLEAR(value);
        if (PyList_Append(fields, pair) < 0) goto fail;
        Py_CLEAR(pair);
        p = nl + 1;
    }
    Py_ssize_t end = p - base;
    PyBuffer_Release(&buf);
    if (connection == NULL) connection = Py_NewRef(Py_None);
    if (ctype == NULL) ctype = PyBytes_FromStringAndSize("", 0);
    return fastgw_tuple_of(5, fields, PyLong_FromSsize_t(end), PyLong_FromLongLong(chunked ? -2LL : length),
                           connection, ctype);
incomplete:
    PyErr_SetString(PyExc_ValueError, "incomplete message head");
fail:
    Py_XDECREF(fields);
    Py_XDECREF(name);
    Py_XDECREF(value);
    Py_XDECREF(pair);
    Py_XDECREF(connection);
    Py_XDECREF(ctype);
    PyBuffer_Release(&buf);
    return NULL;
}

/* -- writing heads ------------------------------------------------------------------------------ */

/* 1 if `name` is in `skip` (None: never) or starts with the prefix (of length plen > 0), 0 if
 * not, -1 on error */
static inline int skipped(PyObject *skip, PyObject *name, const char *prefix, Py_ssize_t plen) {
    if (plen > 0 && PyBytes_GET_SIZE(name) >= plen && memcmp(PyBytes_AS_STRING(name), prefix, (size_t)plen) == 0)
        return 1;
    if (skip == Py_None) return 0;
    return PySet_Contains(skip, name);
}

/* 1 if `pair` is a (bytes, bytes) tuple, else 0 with TypeError set */
static inline int check_field(PyObject *pair) {
    if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2 && PyBytes_Check(PyTuple_GET_ITEM(pair, 0)) &&
        PyBytes_Check(PyTuple_GET_ITEM(pair, 1)))
        return 1;
    PyErr_SetString(PyExc_TypeError, "fields must be (bytes, bytes) tuples");
    return 0;
}

/* Validates `fields` (a list of 2-tuples of bytes) and returns the size of its kept lines, or -1. */
static Py_ssize_t lines_size(PyObject *fields, PyObject *skip, const char *prefix, Py_ssize_t plen) {
    Py_ssize_t size = 0;
    Py_ssize_t n = PyList_GET_SIZE(fields);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(fields, i);
        if (!check_field(pair)) return -1;
        int s = skipped(skip, PyTuple_GET_ITEM(pair, 0), prefix, plen);
        if (s < 0) return -1;
        if (s) continue;
        size += PyBytes_GET_SIZE(PyTuple_GET_ITEM(pair, 0)) + PyBytes_GET_SIZE(PyTuple_GET_ITEM(pair, 1)) + 4;
    }
    return size;
}

/* Writes the kept lines (sizes already checked by lines_size, and the list cannot change in
 * between: no Python code runs). */
static char *write_lines(char *w, PyObject *fields, PyObject *skip, const char *prefix, Py_ssize_t plen) {
    Py_ssize_t n = PyList_GET_SIZE(fields);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(fields, i);
        PyObject *name = PyTuple_GET_ITEM(pair, 0);
        if (skipped(skip, name, prefix, plen) == 1) continue;
        PyObject *value = PyTuple_GET_ITEM(pair, 1);
        Py_ssize_t nl = PyBytes_GET_SIZE(name), vl = PyBytes_GET_SIZE(value);
        memcpy(w, PyBytes_AS_STRING(name), (size_t)nl);
        w += nl;
        *w++ = ':';
        *w++ = ' ';
        memcpy(w, PyBytes_AS_STRING(value), (size_t)vl);
        w += vl;
        *w++ = '\r';
        *w++ = '\n';
    }
    return w;
}

static int check_skip(PyObject *skip) {
    if (skip != Py_None && !PyAnySet_Check(skip)) {
        PyErr_SetString(PyExc_TypeError, "skip must be a set, a frozenset or None");
        return -1;
    }
    return 0;
}

static PyObject *request_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char fn[] = "request_head";
    const char *method, *target;
    Py_ssize_t mlen, tlen;
    if (check_nargs(fn, nargs, 4) < 0 || bytes_arg(fn, args, 0, &method, &mlen) < 0 ||
        bytes_arg(fn, args, 1, &target, &tlen) < 0 || list_arg(fn, args, 2) < 0)
        return NULL;
    PyObject *fields = args[2], *skip = args[3];
    if (check_skip(skip) < 0) return NULL;
    Py_ssize_t size = lines_size(fields, skip, NULL, 0);
    if (size < 0) return NULL;
    static const char version[] = " HTTP/1.1\r\n";
    Py_ssize_t total = mlen + 1 + tlen + (Py_ssize_t)(sizeof(version) - 1) + size + 2;
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) return NULL;
    char *w = PyBytes_AS_STRING(out);
    memcpy(w, method, (size_t)mlen);
    w += mlen;
    *w++ = ' ';
    memcpy(w, target, (size_t)tlen);
    w += tlen;
    memcpy(w, version, sizeof(version) - 1);
    w += sizeof(version) - 1;
    w = write_lines(w, fields, skip, NULL, 0);
    *w++ = '\r';
    *w++ = '\n';
    return out;
}

/* 1 if the default field defaults[i] is written: no kept field, extra field or earlier
 * written default has its name */
static int default_wanted(PyObject *defaults, Py_ssize_t i, PyObject *fields, PyObject *skip, const char *prefix,
                          Py_ssize_t plen, PyObject *extra) {
    PyObject *name = PyTuple_GET_ITEM(PyList_GET_ITEM(defaults, i), 0);
    const char *nb = PyBytes_AS_STRING(name);
    Py_ssize_t nl = PyBytes_GET_SIZE(name);
#define SAME_NAME(other) \
    (PyBytes_GET_SIZE(other) == nl && memcmp(PyBytes_AS_STRING(other), nb, (size_t)nl) == 0)
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(extra); k++)
        if (SAME_NAME(PyTuple_GET_ITEM(PyList_GET_ITEM(extra, k), 0))) return 0;
    for (Py_ssize_t k = 0; k < i; k++)
        if (SAME_NAME(PyTuple_GET_ITEM(PyList_GET_ITEM(defaults, k), 0)) &&
            default_wanted(defaults, k, fields, skip, prefix, plen, extra))
            return 0;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(fields); k++) {
        PyObject *other = PyTuple_GET_ITEM(PyList_GET_ITEM(fields, k), 0);
        if (SAME_NAME(other) && skipped(skip, other, prefix, plen) == 0) return 0;
    }
#undef SAME_NAME
    return 1;
}

static PyObject *proxy_request_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char fn[] = "proxy_request_head";
    const char *method, *target, *host, *prefix;
    Py_ssize_t mlen, tlen, hlen, plen;
    if (check_nargs(fn, nargs, 9) < 0 || bytes_arg(fn, args, 0, &method, &mlen) < 0 ||
        bytes_arg(fn, args, 1, &target, &tlen) < 0 || bytes_arg(fn, args, 2, &host, &hlen) < 0 ||
        list_arg(fn, args, 3) < 0 || bytes_arg(fn, args, 5, &prefix, &plen) < 0 || list_arg(fn, args, 6) < 0 ||
        list_arg(fn, args, 8) < 0)
        return NULL;
    PyObject *fields = args[3], *skip = args[4], *extra = args[6], *defaults = args[8];
    long long length = PyLong_AsLongLong(args[7]);
    if (length == -1 && PyErr_Occurred()) return NULL;
    if (check_skip(skip) < 0) return NULL;
    Py_ssize_t size = lines_size(fields, skip, prefix, plen);
    if (size < 0) return NULL;
    Py_ssize_t extra_size = lines_size(extra, Py_None, NULL, 0);
    if (extra_size < 0) return NULL;
    if (lines_size(defaults, Py_None, NULL, 0) < 0) return NULL; /* (checks their types) */
    Py_ssize_t ndefaults = PyList_GET_SIZE(defaults);
    for (Py_ssize_t i = 0; i < ndefaults; i++) {
        if (!default_wanted(defaults, i, fields, skip, prefix, plen, extra)) continue;
        PyObject *pair = PyList_GET_ITEM(defaults, i);
        extra_size += PyBytes_GET_SIZE(PyTuple_GET_ITEM(pair, 0)) + PyBytes_GET_SIZE(PyTuple_GET_ITEM(pair, 1)) + 4;
    }
    char tail[64];
    int tail_len = 0;
    if (length >= 0) {
        static const char cl[] = "content-length: ";
        memcpy(tail, cl, sizeof(cl) - 1);
        char *t = put_u64(tail + sizeof(cl) - 1, (unsigned long long)length);
        *t++ = '\r';
        *t++ = '\n';
        tail_len = (int)(t - tail);
    } else if (length == -2) {
        static const char te[] = "transfer-encoding: chunked\r\n";
        memcpy(tail, te, sizeof(te) - 1);
        tail_len = (int)(sizeof(te) - 1);
    }
    static const char version[] = " HTTP/1.1\r\nhost: ";
    Py_ssize_t total =
        mlen + 1 + tlen + (Py_ssize_t)(sizeof(version) - 1) + hlen + 2 + size + extra_size + tail_len + 2;
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) return NULL;
    char *w = PyBytes_AS_STRING(out);
    PUTN(method, mlen);
    *w++ = ' ';
    PUTN(target, tlen);
    PUT(version);
    PUTN(host, hlen);
    PUT("\r\n");
    w = write_lines(w, fields, skip, prefix, plen);
    w = write_lines(w, extra, Py_None, NULL, 0);
    for (Py_ssize_t i = 0; i < ndefaults; i++) {
        if (!default_wanted(defaults, i, fields, skip, prefix, plen, extra)) continue;
        PyObject *pair = PyList_GET_ITEM(defaults, i);
        PyObject *name = PyTuple_GET_ITEM(pair, 0), *value = PyTuple_GET_ITEM(pair, 1);
        PUTN(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name));
        PUT(": ");
        PUTN(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
        PUT("\r\n");
    }
    PUTN(tail, tail_len);
    PUT("\r\n");
    return out;
}

static PyObject *field_lines(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (check_nargs("field_lines", nargs, 2) < 0 || list_arg("field_lines", args, 0) < 0) return NULL;
    PyObject *fields = args[0], *skip = args[1];
    if (check_skip(skip) < 0) return NULL;
    Py_ssize_t size = lines_size(fields, skip, NULL, 0);
    if (size < 0) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) return NULL;
    write_lines(PyBytes_AS_STRING(out), fields, skip, NULL, 0);
    return out;
}

/* -- request fields ------------------------------------------------------------------------------ */

static inline int name_is(const char *p, Py_ssize_t n, const char *lit, Py_ssize_t ln) {
    if (n != ln) return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (lower_ascii(p[i]) != lit[i]) return 0;
    return 1;
}

/* *slot = value, or *slot + ", " + value when a value is already there; -1 on error */
static int join_value(PyObject **slot, PyObject *value) {
    if (*slot == NULL) {
        Py_INCREF(value);
        *slot = value;
        return 0;
    }
    Py_ssize_t a = PyBytes_GET_SIZE(*slot), b = PyBytes_GET_SIZE(value);
    PyObject *out = PyBytes_FromStringAndSize(NULL, a + 2 + b);
    if (out == NULL) return -1;
    char *w = PyBytes_AS_STRING(out);
    memcpy(w, PyBytes_AS_STRING(*slot), (size_t)a);
    memcpy(w + a, ", ", 2);
    memcpy(w + a + 2, PyBytes_AS_STRING(value), (size_t)b);
    Py_SETREF(*slot, out);
    return 0;
}

/* RFC 3986 §2.3 unreserved and §2.2 sub-delims: the characters of a reg-name besides "%" HH */
static const unsigned char REG_NAME[256] = {
    ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['0' ... '9'] = 1, ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1,
    ['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1,
    [';'] = 1, ['='] = 1,
};

static inline int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* whether a Host value is uri-host [":" port] (see request_fields above) */
static int valid_host(const char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    if (n > 0 && s[0] == '[') {
        int colons = 0;
        for (i = 1; i < n && s[i] != ']'; i++) {
            if (s[i] == ':') colons++;
            else if (!is_hex(s[i]) && s[i] != '.') return 0;
        }
        if (i >= n || colons == 0) return 0;
        i++; /* past ']' */
    } else {
        for (; i < n && s[i] != ':'; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '%') {
                if (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return 0;
                i += 2;
            } else if (!REG_NAME[c]) {
                return 0;
            }
        }
        if (i == 0) return 0; /* an empty host (RFC 9110 §4.2.1) */
    }
    if (i == n) return 1;
    if (s[i] != ':' || n - i - 1 > 5) return 0;
    long port = 0;
    for (i++; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        port = port * 10 + (s[i] - '0');
    }
    return port <= 65535;
}

static PyObject *request_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char fn[] = "request_fields";
    if (check_nargs(fn, nargs, 3) < 0 || list_arg(fn, args, 0) < 0) return NULL;
    PyObject *fields = args[0];
    Py_ssize_t max_bytes = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (max_bytes == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t max_count = PyNumber_AsSsize_t(args[2], PyExc_OverflowError);
    if (max_count == -1 && PyErr_Occurred()) return NULL;
    PyObject *host = NULL, *te = NULL, *connection = NULL, *expect = NULL;
    long long length = -1;
    int problem = 0, hosts = 0, forwarded = 0;
    Py_ssize_t size = 0;
    Py_ssize_t n = PyList_GET_SIZE(fields);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(fields, i);
        if (!check_field(pair)) goto fail;
        PyObject *name = PyTuple_GET_ITEM(pair, 0), *value = PyTuple_GET_ITEM(pair, 1);
        const char *nb = PyBytes_AS_STRING(name), *vb = PyBytes_AS_STRING(value);
        Py_ssize_t nlen = PyBytes_GET_SIZE(name), vlen = PyBytes_GET_SIZE(value);
        size += nlen + vlen + 4;
        if (size > max_bytes) {
            problem = 1;
            break;
        }
        if (i >= max_count) {
            problem = 2;
            break;
        }
        int upper = 0;
        for (Py_ssize_t k = 0; k < nlen; k++)
            if (nb[k] >= 'A' && nb[k] <= 'Z') {
                upper = 1;
                break;
            }
        Py_ssize_t vkeep = vlen;
        while (vkeep > 0 && is_blank(vb[vkeep - 1])) vkeep--;
        if (upper || vkeep != vlen) {
            PyObject *new_name, *new_value;
            if (upper) {
                new_name = PyBytes_FromStringAndSize(NULL, nlen);
                if (new_name == NULL) goto fail;
                char *w = PyBytes_AS_STRING(new_name);
                for (Py_ssize_t k = 0; k < nlen; k++) w[k] = lower_ascii(nb[k]);
            } else {
                new_name = Py_NewRef(name);
            }
            new_value = vkeep != vlen ? PyBytes_FromStringAndSize(vb, vkeep) : Py_NewRef(value);
            if (new_value == NULL) {
                Py_DECREF(new_name);
                goto fail;
            }
            PyObject *np = PyTuple_New(2);
            if (np == NULL) {
                Py_DECREF(new_name);
                Py_DECREF(new_value);
                goto fail;
            }
            PyTuple_SET_ITEM(np, 0, new_name);
            PyTuple_SET_ITEM(np, 1, new_value);
            PyList_SetItem(fields, i, np); /* steals np; drops the old pair */
            pair = np;
            name = new_name;
            value = new_value;
            nb = PyBytes_AS_STRING(name);
            vb = PyBytes_AS_STRING(value);
            vlen = vkeep;
        }
        switch (nlen) {
        case 4:
            if (name_is(nb, nlen, "host", 4)) {
                if (hosts++ == 0) host = Py_NewRef(value);
            }
            break;
        case 6:
            if (name_is(nb, nlen, "expect", 6) && join_value(&expect, value) < 0) goto fail;
            break;
        case 10:
            if (name_is(nb, nlen, "connection", 10) && join_value(&connection, value) < 0) goto fail;
            break;
        case 14:
            if (name_is(nb, nlen, "content-length", 14)) {
                long long v = 0;
                int ok = vlen > 0 && vlen <= 18;
                for (Py_ssize_t k = 0; ok && k < vlen; k++) {
                    if (vb[k] < '0' || vb[k] > '9') ok = 0;
                    else v = v * 10 + (vb[k] - '0');
                }
                if (!ok) {
                    PyErr_SetString(PyExc_ValueError, "invalid content-length");
                    goto fail;
                }
                length = v;
            }
            break;
        case 17:
            if (name_is(nb, nlen, "transfer-encoding", 17) && join_value(&te, value) < 0) goto fail;
            break;
        case 9:
            if (memcmp(nb, "forwarded", 9) == 0) forwarded = 1;
            break;
        }
        if (nlen >= 12 && nb[0] == 'x' && memcmp(nb, "x-forwarded-", 12) == 0) forwarded = 1;
    }
    if (problem == 0 && hosts > 1) problem = 3;
    if (problem == 0 && host != NULL && !valid_host(PyBytes_AS_STRING(host), PyBytes_GET_SIZE(host))) problem = 4;
    /* (the references of host, te, connection and expect move into the tuple) */
    return fastgw_tuple_of(7, PyLong_FromLong(problem), host ? host : Py_NewRef(Py_None), PyLong_FromLongLong(length),
                           te ? te : Py_NewRef(Py_None), connection ? connection : Py_NewRef(Py_None),
                           expect ? expect : Py_NewRef(Py_None), PyBool_FromLong(forwarded));
fail:
    Py_XDECREF(host);
    Py_XDECREF(te);
    Py_XDECREF(connection);
    Py_XDECREF(expect);
    return NULL;
}

/* -- access log ------------------------------------------------------------------------------------ */

static inline int needs_quotes(const char *s, Py_ssize_t n) {
    if (n == 0) return 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* str.isspace() of the latin-1 character, plus '"' and '=' */
        if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0 ||
            c == '"' || c == '=')
            return 1;
    }
    return 0;
}

/* bytes needed for the (maybe quoted) value */
static Py_ssize_t value_size(const char *s, Py_ssize_t n) {
    if (!needs_quotes(s, n)) return n;
    Py_ssize_t size = 2;
    for (Py_ssize_t i = 0; i < n; i++) size += (s[i] == '\\' || s[i] == '"' || s[i] == '\n') ? 2 : 1;
    return size;
}

static char *write_value(char *w, const char *s, Py_ssize_t n) {
    if (!needs_quotes(s, n)) {
        memcpy(w, s, (size_t)n);
        return w + n;
    }
    *w++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '"') {
            *w++ = '\\';
            *w++ = c;
        } else if (c == '\n') {
            *w++ = '\\';
            *w++ = 'n';
        } else {
            *w++ = c;
        }
    }
    *w++ = '"';
    return w;
}

/* y-m-d of a day count since 1970-01-01 (the proleptic Gregorian calendar; H. Hinnant's
 * days_from_civil inverse) */
static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d) {
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (long long)yoe + era * 400 + (*m <= 2);
}

/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ\tinfo\trequest " for `now`; its length, or -1 with ValueError */
static int log_stamp(char *stamp, size_t cap, double now) {
    if (!(now > -62135596800.0 && now < 253402300800.0)) { /* years 1..9999 (and not NaN) */
        PyErr_SetString(PyExc_ValueError, "time out of range");
        return -1;
    }
    long long sec = (long long)now;
    if ((double)sec > now) sec--; /* floor for negative times */
    int usec = (int)((now - (double)sec) * 1000000.0);
    if (usec > 999999) usec = 999999;
    if (usec < 0) usec = 0;
    long long days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
    long long rem = sec - days * 86400;
    long long year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    static const char tail[] = "Z\tinfo\trequest ";
    if (cap < 27 + sizeof(tail)) return -1;
    char *w = stamp;
    w = put_padded(w, (unsigned)year, 4);
    *w++ = '-';
    w = put_padded(w, month, 2);
    *w++ = '-';
    w = put_padded(w, day, 2);
    *w++ = 'T';
    w = put_padded(w, (unsigned)(rem / 3600), 2);
    *w++ = ':';
    w = put_padded(w, (unsigned)(rem / 60 % 60), 2);
    *w++ = ':';
    w = put_padded(w, (unsigned)(rem % 60), 2);
    *w++ = '.';
    w = put_padded(w, (unsigned)usec, 6);
    memcpy(w, tail, sizeof(tail) - 1);
    w += sizeof(tail) - 1;
    return (int)(w - stamp);
}

static PyObject *access_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char fn[] = "access_line";
    const char *prefix, *endpoint, *client, *method, *host, *path, *tail;
    Py_ssize_t plen, elen, clen, mlen, hlen, pthlen, tlen;
    if (check_nargs(fn, nargs, 11) < 0) return NULL;
    double now = PyFloat_AsDouble(args[0]);
    if (now == -1.0 && PyErr_Occurred()) return NULL;
    if (bytes_arg(fn, args, 1, &prefix, &plen) < 0 || bytes_arg(fn, args, 2, &endpoint, &elen) < 0 ||
        bytes_arg(fn, args, 3, &client, &clen) < 0 || bytes_arg(fn, args, 4, &method, &mlen) < 0 ||
        bytes_arg(fn, args, 5, &host, &hlen) < 0 || bytes_arg(fn, args, 6, &path, &pthlen) < 0 ||
        bytes_arg(fn, args, 9, &tail, &tlen) < 0)
        return NULL;
    int http11 = PyObject_IsTrue(args[7]);
    if (http11 < 0) return NULL;
    long long status = PyLong_AsLongLong(args[8]);
    if (status == -1 && PyErr_Occurred()) return NULL;
    long long duration = PyLong_AsLongLong(args[10]);
    if (duration == -1 && PyErr_Occurred()) return NULL;
    char stamp[64];
    int slen = log_stamp(stamp, sizeof stamp, now);
    if (slen < 0) return NULL;
    char nums[24];
    int nlen = (int)(put_i64(nums, status) - nums);
    char dur[48];
    char *d = dur;
    memcpy(d, " duration=", 10);
    d = put_i64(d + 10, duration);
    memcpy(d, "ms\n", 3);
    int dlen = (int)(d + 3 - dur);
    Py_ssize_t total = slen + plen + (elen ? 10 + elen : 0) + 10 + clen + 13 + mlen + 11 + value_size(host, hlen) +
                       11 + value_size(path, pthlen) + 35 + nlen + tlen + dlen;
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) return NULL;
    char *start = PyBytes_AS_STRING(out);
    char *w = start;
    PUTN(stamp, slen);
    PUTN(prefix, plen);
    if (elen) {
        PUT(" endpoint=");
        PUTN(endpoint, elen);
    }
    PUT(" src.addr=");
    PUTN(client, clen);
    PUT(" http.method=");
    PUTN(method, mlen);
    PUT(" http.host=");
    w = write_value(w, host, hlen);
    PUT(" http.path=");
    w = write_value(w, path, pthlen);
    if (http11)
        PUT(" http.version=HTTP/1.1 http.status=");
    else
        PUT(" http.version=HTTP/1.0 http.status=");
    PUTN(nums, nlen);
    PUTN(tail, tlen);
    PUTN(dur, dlen);
    Py_ssize_t used = w - start;
    if (used != total && _PyBytes_Resize(&out, used) < 0) return NULL;
    return out;
}

/* appends `text` (a str) quoted and escaped when the log rules ask for it */
static int append_text(fgw_buf *b, PyObject *text) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    int quote = n == 0;
    for (Py_ssize_t i = 0; i < n && !quote; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '"' || c == '=' || Py_UNICODE_ISSPACE(c)) quote = 1;
    }
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    if (utf8 == NULL) return -1;
    if (!quote) return fgw_buf_append(b, utf8, size);
    if (fgw_buf_reserve(b, 2 * size + 2) < 0) return -1;
    char *w = b->p + b->len;
    *w++ = '"';
    for (Py_ssize_t i = 0; i < size; i++) {
        char c = utf8[i];
        if (c == '\\' || c == '"') {
            *w++ = '\\';
            *w++ = c;
        } else if (c == '\n') {
            *w++ = '\\';
            *w++ = 'n';
        } else {
            *w++ = c;
        }
    }
    *w++ = '"';
    b->len = w - b->p;
    return 0;
}

static PyObject *log_fields(PyObject *self, PyObject *fields) {
    if (!PyDict_Check(fields)) {
        PyErr_SetString(PyExc_TypeError, "fields must be a dict");
        return NULL;
    }
    fgw_buf b = {NULL, 0, 0};
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(fields, &pos, &key, &value)) {
        Py_ssize_t klen;
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8AndSize(key, &klen) : NULL;
        if (k == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "field names must be str");
            goto fail;
        }
        if (fgw_buf_append(&b, " ", 1) < 0 || fgw_buf_append(&b, k, klen) < 0 || fgw_buf_append(&b, "=", 1) < 0)
            goto fail;
        if (PyLong_CheckExact(value)) {
            long long v = PyLong_AsLongLong(value);
            if (v == -1 && PyErr_Occurred()) {
                PyErr_Clear();
                goto as_str; /* beyond 64 bits */
            }
            char num[24];
            if (fgw_buf_append(&b, num, put_i64(num, v) - num) < 0) goto fail;
            continue;
        }
        if (PyUnicode_Check(value)) {
            if (append_text(&b, value) < 0) goto fail;
            continue;
        }
    as_str: {
        PyObject *text = PyObject_Str(value);
        if (text == NULL) goto fail;
        Py_ssize_t tl;
        const char *t = PyUnicode_AsUTF8AndSize(text, &tl);
        int rc = t == NULL ? -1 : fgw_buf_append(&b, t, tl);
        Py_DECREF(text);
        if (rc < 0) goto fail;
    }
    }
    PyObject *out = PyBytes_FromStringAndSize(b.p ? b.p : "", b.len);
    fgw_buf_free(&b);
    return out;
fail:
    fgw_buf_free(&b);
    return NULL;
}

static PyMethodDef http_methods[] = {
    {"head_fields", (PyCFunction)(void (*)(void))head_fields, METH_FASTCALL, "(fields, end, length, connection, content_type) of the message head at buf[start]."},
    {"request_fields", (PyCFunction)(void (*)(void))request_fields, METH_FASTCALL, "Normalize a request's fields in place; (problem, host, length, te, connection, expect, forwarded)."},
    {"request_head", (PyCFunction)(void (*)(void))request_head, METH_FASTCALL, "A request head: start line, kept fields, empty line."},
    {"proxy_request_head", (PyCFunction)(void (*)(void))proxy_request_head, METH_FASTCALL, "A proxied request head: host first, framing last."},
    {"field_lines", (PyCFunction)(void (*)(void))field_lines, METH_FASTCALL, "The 'name: value\\r\\n' lines of the kept fields."},
    {"access_line", (PyCFunction)(void (*)(void))access_line, METH_FASTCALL, "One text access-log line."},
    {"log_fields", log_fields, METH_O, "The ' key=value' text of a dict of log fields."},
    {NULL, NULL, 0, NULL},
};

int fastgw_init_http(PyObject *module) { return PyModule_AddFunctions(module, http_methods); }
