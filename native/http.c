/* HTTP/1.1 head helpers for the per-request path (twin: fastgw/_twins/http.py).
 *
 *   head_fields(buf, start) -> (fields, end, length, connection)
 *       The header fields of the message head that starts at buf[start] (a status or request
 *       line, then fields, then an empty line), as a list of (lowercase name, value) with the
 *       value's surrounding blanks removed; obs-fold continuation lines are joined to the previous
 *       value with one space (RFC 9112 §5.2). `end` is the offset just past the empty line.
 *       `length` is the framing: -2 with a transfer-encoding field, else the content-length value
 *       (the last one; -1 when absent or not a number). `connection` is the value of the (last)
 *       connection field, or None. The head must already have been accepted by the HTTP parser
 *       (httptools): this only splits it. Lines may end in CRLF or a bare LF. ValueError if the
 *       head is incomplete.
 *
 *   request_head(method, target, fields, skip) -> bytes
 *       "METHOD target HTTP/1.1\r\n" + "name: value\r\n" for each field whose name is not in
 *       `skip` (a set or frozenset of bytes, or None) + "\r\n".
 *
 *   proxy_request_head(method, target, host, fields, skip, skip_prefix, extra, length) -> bytes
 *       The same with "host: <host>" as the first field; fields whose name starts with
 *       `skip_prefix` (unless it is empty) are skipped too; then the `extra` fields, unfiltered;
 *       last "content-length: <length>" (length >= 0), "transfer-encoding: chunked" (length == -2)
 *       or nothing (-1).
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

/* the end of the line starting at p (the '\n', or NULL) */
static const char *line_end(const char *p, const char *lim) {
    return memchr(p, '\n', (size_t)(lim - p));
}

static PyObject *head_fields(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "y*n", &buf, &start)) return NULL;
    const char *base = buf.buf;
    const char *lim = base + buf.len;
    PyObject *fields = NULL, *name = NULL, *value = NULL, *pair = NULL, *connection = NULL;
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
    return Py_BuildValue("(NnLN)", fields, end, chunked ? -2LL : length, connection);
incomplete:
    PyErr_SetString(PyExc_ValueError, "incomplete message head");
fail:
    Py_XDECREF(fields);
    Py_XDECREF(name);
    Py_XDECREF(value);
    Py_XDECREF(pair);
    Py_XDECREF(connection);
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

/* Validates `fields` (a list of 2-tuples of bytes) and returns the size of its kept lines, or -1. */
static Py_ssize_t lines_size(PyObject *fields, PyObject *skip, const char *prefix, Py_ssize_t plen) {
    Py_ssize_t size = 0;
    Py_ssize_t n = PyList_GET_SIZE(fields);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(fields, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(pair, 0)) ||
            !PyBytes_Check(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError, "fields must be (bytes, bytes) tuples");
            return -1;
        }
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

static PyObject *request_head(PyObject *self, PyObject *args) {
    const char *method, *target;
    Py_ssize_t mlen, tlen;
    PyObject *fields, *skip;
    if (!PyArg_ParseTuple(args, "y#y#O!O", &method, &mlen, &target, &tlen, &PyList_Type, &fields, &skip))
        return NULL;
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

static PyObject *proxy_request_head(PyObject *self, PyObject *args) {
    const char *method, *target, *host, *prefix;
    Py_ssize_t mlen, tlen, hlen, plen;
    PyObject *fields, *skip, *extra;
    long long length;
    if (!PyArg_ParseTuple(args, "y#y#y#O!Oy#O!L", &method, &mlen, &target, &tlen, &host, &hlen, &PyList_Type, &fields,
                          &skip, &prefix, &plen, &PyList_Type, &extra, &length))
        return NULL;
    if (check_skip(skip) < 0) return NULL;
    Py_ssize_t size = lines_size(fields, skip, prefix, plen);
    if (size < 0) return NULL;
    Py_ssize_t extra_size = lines_size(extra, Py_None, NULL, 0);
    if (extra_size < 0) return NULL;
    char tail[64];
    int tail_len = 0;
    if (length >= 0)
        tail_len = snprintf(tail, sizeof tail, "content-length: %lld\r\n", length);
    else if (length == -2)
        tail_len = snprintf(tail, sizeof tail, "transfer-encoding: chunked\r\n");
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
    PUTN(tail, tail_len);
    PUT("\r\n");
    return out;
}

static PyObject *field_lines(PyObject *self, PyObject *args) {
    PyObject *fields, *skip;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &fields, &skip)) return NULL;
    if (check_skip(skip) < 0) return NULL;
    Py_ssize_t size = lines_size(fields, skip, NULL, 0);
    if (size < 0) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) return NULL;
    write_lines(PyBytes_AS_STRING(out), fields, skip, NULL, 0);
    return out;
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

static PyObject *access_line(PyObject *self, PyObject *args) {
    double now;
    const char *prefix, *endpoint, *client, *method, *host, *path, *tail;
    Py_ssize_t plen, elen, clen, mlen, hlen, pthlen, tlen;
    int http11;
    long status;
    long long duration;
    if (!PyArg_ParseTuple(args, "dy#y#y#y#y#y#ply#L", &now, &prefix, &plen, &endpoint, &elen, &client, &clen, &method,
                          &mlen, &host, &hlen, &path, &pthlen, &http11, &status, &tail, &tlen, &duration))
        return NULL;
    time_t sec = (time_t)now;
    if ((double)sec > now) sec--; /* floor for negative times */
    int usec = (int)((now - (double)sec) * 1000000.0);
    if (usec > 999999) usec = 999999;
    if (usec < 0) usec = 0;
    struct tm tm;
    if (gmtime_r(&sec, &tm) == NULL) {
        PyErr_SetString(PyExc_ValueError, "time out of range");
        return NULL;
    }
    char stamp[64];
    int slen = snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\tinfo\trequest ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
    if (slen < 0 || slen >= (int)sizeof stamp) {
        PyErr_SetString(PyExc_ValueError, "time out of range");
        return NULL;
    }
    char nums[48];
    int nlen = snprintf(nums, sizeof nums, "%ld", status);
    char dur[40];
    int dlen = snprintf(dur, sizeof dur, " duration=%lldms\n", duration);
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
            char num[32];
            int n = snprintf(num, sizeof num, "%lld", v);
            if (fgw_buf_append(&b, num, n) < 0) goto fail;
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
    {"head_fields", head_fields, METH_VARARGS, "(fields, end, length, connection) of the message head at buf[start]."},
    {"request_head", request_head, METH_VARARGS, "A request head: start line, kept fields, empty line."},
    {"proxy_request_head", proxy_request_head, METH_VARARGS, "A proxied request head: host first, framing last."},
    {"field_lines", field_lines, METH_VARARGS, "The 'name: value\\r\\n' lines of the kept fields."},
    {"access_line", access_line, METH_VARARGS, "One text access-log line."},
    {"log_fields", log_fields, METH_O, "The ' key=value' text of a dict of log fields."},
    {NULL, NULL, 0, NULL},
};

int fastgw_init_http(PyObject *module) { return PyModule_AddFunctions(module, http_methods); }
