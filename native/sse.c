/* fastgw._native.SSEScanner: incremental text/event-stream parsing per the WHATWG HTML standard,
 * section 9.2.6 "Interpreting an event stream". Runs for every chunk of every streamed LLM response,
 * so lines are found with memchr and parsed in place; the only Python objects made are the events
 * (an SSEEvent and its data bytes; event names and ids are decoded once and reused while unchanged).
 * fastgw/_twins/sse.py is the executable specification; keep both in step. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "bytebuf.h"
#include "fastgw_native.h"

static PyObject *too_large_error; /* fastgw.native_errors.SSEEventTooLarge, owned */
static PyObject *message_str;     /* "message", the type of events without an event field */
static PyTypeObject *event_type;  /* SSEEvent struct sequence */

static PyStructSequence_Field event_fields[] = {
    {"event", "the event field; \"message\" when the event has none"},
    {"data", "the data lines joined with \\n (raw bytes, not decoded)"},
    {"id", "the last event ID at dispatch (it persists across events), None when empty"},
    {"retry", "the retry field of this event's block, None when absent"},
    {NULL, NULL},
};

static PyStructSequence_Desc event_desc = {
    "fastgw._native.SSEEvent",
    "One dispatched server-sent event.",
    event_fields,
    4,
};

typedef struct {
    PyObject_HEAD
    Py_ssize_t max_event_size;
    fgw_buf line;         /* the unfinished last line of the previous chunks (never a comment) */
    fgw_buf data;         /* data buffer: each data line's value followed by \n */
    fgw_buf event;        /* event type buffer */
    fgw_buf id;           /* last event ID buffer: persists across events */
    fgw_buf name_key;     /* bytes behind name_str */
    PyObject *name_str;   /* decoded event name of the last dispatch, reused while equal */
    PyObject *id_str;     /* decoded id buffer, NULL until needed after a change */
    PyObject *committed_id; /* the source's "last event ID string": the id buffer at the last blank line */
    PyObject *retry;      /* the stream's latest reconnection time, NULL if never given */
    PyObject *block_retry; /* retry given in the current block */
    Py_ssize_t block_size; /* bytes of the current block's finished non-comment lines */
    Py_ssize_t empty_blocks;
    int in_comment;  /* the unfinished line is a comment: its bytes are dropped, not held */
    int skip_lf;     /* the previous chunk ended in CR: a leading LF completes that CRLF */
    int bom_seen;    /* bytes of a leading UTF-8 BOM matched so far; -1 once past the start */
    int block_lines; /* the current block has a non-blank line (for empty_blocks) */
    int failed;      /* an event outgrew max_event_size: the stream cannot be resynchronised */
    int busy;        /* inside feed(): an allocation may run a finaliser that feeds us again */
} ScannerObject;

static const char BOM[3] = {'\xef', '\xbb', '\xbf'};

static int too_large(ScannerObject *self) {
    self->failed = 1;
    PyErr_Format(too_large_error, "SSE event larger than max_event_size (%zd bytes)", self->max_event_size);
    return -1;
}

#define KEEP_BUF (64 * 1024)

static void reset_block(ScannerObject *self) {
    fgw_buf_clear(&self->data, KEEP_BUF);
    fgw_buf_clear(&self->event, KEEP_BUF);
    self->block_size = 0;
    self->block_lines = 0;
    Py_CLEAR(self->block_retry);
}

static PyObject *decode(const char *s, Py_ssize_t n) {
    return PyUnicode_DecodeUTF8(s, n, "replace");
}

static int dispatch(ScannerObject *self, PyObject *out) {
    /* spec, dispatch step 1: every blank line commits the last event ID buffer, data or not */
    if (self->id.len == 0) {
        Py_CLEAR(self->committed_id);
    } else if (self->committed_id == NULL || self->committed_id != self->id_str) {
        if (self->id_str == NULL && (self->id_str = decode(self->id.p, self->id.len)) == NULL) return -1;
        Py_XSETREF(self->committed_id, Py_NewRef(self->id_str));
    }
    if (self->data.len == 0) { /* spec: a block without data lines fires nothing */
        if (self->block_lines) self->empty_blocks++;
        reset_block(self);
        return 0;
    }
    PyObject *name;
    if (self->event.len == 0) {
        name = Py_NewRef(message_str);
    } else {
        if (self->name_str == NULL || !fgw_buf_equals(&self->name_key, self->event.p, self->event.len)) {
            PyObject *s = decode(self->event.p, self->event.len);
            if (s == NULL || fgw_buf_set(&self->name_key, self->event.p, self->event.len) < 0) {
                Py_XDECREF(s);
                Py_CLEAR(self->name_str);
                return -1;
            }
            Py_XSETREF(self->name_str, s);
        }
        name = Py_NewRef(self->name_str);
    }
    PyObject *id = Py_NewRef(self->committed_id ? self->committed_id : Py_None);
    PyObject *data = PyBytes_FromStringAndSize(self->data.p, self->data.len - 1); /* drop the last \n */
    PyObject *ev = data ? PyStructSequence_New(event_type) : NULL;
    if (ev == NULL) {
        Py_DECREF(name);
        Py_DECREF(id);
        Py_XDECREF(data);
        return -1;
    }
    PyStructSequence_SET_ITEM(ev, 0, name);
    PyStructSequence_SET_ITEM(ev, 1, data);
    PyStructSequence_SET_ITEM(ev, 2, id);
    PyStructSequence_SET_ITEM(ev, 3, self->block_retry ? Py_NewRef(self->block_retry) : Py_NewRef(Py_None));
    reset_block(self);
    int rc = PyList_Append(out, ev);
    Py_DECREF(ev);
    return rc;
}

static int set_retry(ScannerObject *self, const char *v, Py_ssize_t n) {
    if (n == 0) return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9') return 0; /* spec: not only ASCII digits -> ignore */
    PyObject *value;
    if (n <= 18) {
        long long x = 0;
        for (Py_ssize_t i = 0; i < n; i++) x = x * 10 + (v[i] - '0');
        value = PyLong_FromLongLong(x);
    } else {
        char *z = PyMem_Malloc((size_t)n + 1);
        if (z == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(z, v, (size_t)n);
        z[n] = '\0';
        value = PyLong_FromString(z, NULL, 10);
        PyMem_Free(z);
    }
    if (value == NULL) return -1;
    Py_XSETREF(self->retry, Py_NewRef(value));
    Py_XSETREF(self->block_retry, value);
    return 0;
}

/* One complete line, without its terminator. */
static int process_line(ScannerObject *self, const char *s, Py_ssize_t n, PyObject *out) {
    if (n == 0) return dispatch(self, out);
    self->block_lines = 1;
    if (s[0] == ':') return 0; /* comment */
    if (n > self->max_event_size - self->block_size) return too_large(self); /* no overflow: both <= max */
    self->block_size += n;
    const char *colon = memchr(s, ':', (size_t)n);
    Py_ssize_t flen = colon ? colon - s : n;
    const char *v = colon ? colon + 1 : s + n;
    Py_ssize_t vlen = s + n - v;
    if (vlen > 0 && *v == ' ') {
        v++;
        vlen--;
    }
    switch (flen) {
    case 4:
        if (memcmp(s, "data", 4) == 0) {
            if (fgw_buf_reserve(&self->data, vlen + 1) < 0) return -1;
            memcpy(self->data.p + self->data.len, v, (size_t)vlen);
            self->data.len += vlen;
            self->data.p[self->data.len++] = '\n';
        }
        return 0;
    case 5:
        if (memcmp(s, "event", 5) == 0) return fgw_buf_set(&self->event, v, vlen);
        if (memcmp(s, "retry", 5) == 0) return set_retry(self, v, vlen);
        return 0;
    case 2:
        if (s[0] == 'i' && s[1] == 'd' && memchr(v, '\0', (size_t)vlen) == NULL) {
            if (fgw_buf_equals(&self->id, v, vlen)) return 0;
            Py_CLEAR(self->id_str);
            return fgw_buf_set(&self->id, v, vlen);
        }
        return 0;
    default:
        return 0; /* unknown fields are ignored */
    }
}

/* Bytes of an unfinished line: held until its terminator arrives, except comments. */
static int hold(ScannerObject *self, const char *s, Py_ssize_t n) {
    if (n == 0 || self->in_comment) return 0;
    if (self->line.len == 0 && s[0] == ':') {
        self->in_comment = 1;
        self->block_lines = 1;
        return 0;
    }
    if (n > self->max_event_size - self->block_size - self->line.len) return too_large(self);
    return fgw_buf_append(&self->line, s, n);
}

static int scan(ScannerObject *self, const char *p, Py_ssize_t size, PyObject *out) {
    const char *end = p + size;
    if (self->bom_seen >= 0) {
        while (p < end && self->bom_seen < 3 && *p == BOM[self->bom_seen]) {
            p++;
            self->bom_seen++;
        }
        if (self->bom_seen == 3) {
            self->bom_seen = -1;
        } else if (p < end) { /* not a BOM after all: the matched bytes start the first line */
            int seen = self->bom_seen;
            self->bom_seen = -1;
            if (hold(self, BOM, seen) < 0) return -1;
        }
    }
    if (self->skip_lf && p < end) {
        self->skip_lf = 0;
        if (*p == '\n') p++;
    }
    /* The next CR and LF are searched once each and reused until passed: O(n) overall. Each is
     * `end` when the chunk has no more of it, NULL before the first search. */
    const char *cr = NULL, *lf = NULL;
    while (p < end) {
        if (cr == NULL || cr < p) {
            cr = memchr(p, '\r', (size_t)(end - p));
            if (cr == NULL) cr = end;
        }
        if (lf == NULL || lf < p) {
            lf = memchr(p, '\n', (size_t)(end - p));
            if (lf == NULL) lf = end;
        }
        const char *eol = cr < lf ? cr : lf;
        if (eol == end) return hold(self, p, end - p);
        if (self->line.len || self->in_comment) {
            int rc;
            if (self->in_comment) {
                self->in_comment = 0;
                rc = 0;
            } else {
                rc = fgw_buf_append(&self->line, p, eol - p);
                if (rc == 0) rc = process_line(self, self->line.p, self->line.len, out);
                fgw_buf_clear(&self->line, KEEP_BUF);
            }
            if (rc < 0) return -1;
        } else if (process_line(self, p, eol - p, out) < 0) {
            return -1;
        }
        p = eol + 1;
        if (*eol == '\r') {
            if (p == end)
                self->skip_lf = 1;
            else if (*p == '\n')
                p++;
        }
    }
    return 0;
}

/* The SSEEventTooLarge being raised carries the events this feed() finished before the oversized
 * one (`events`): they were complete, so they are still the caller's to deliver. */
static void attach_events(PyObject *out) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && PyObject_SetAttrString(value, "events", out) < 0) PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

static PyObject *scanner_feed(ScannerObject *self, PyObject *chunk) {
    if (self->failed) {
        PyErr_Format(too_large_error, "SSE event larger than max_event_size (%zd bytes)", self->max_event_size);
        return NULL;
    }
    if (self->busy) { /* scan() holds pointers into our buffers; a nested feed could move them */
        PyErr_SetString(PyExc_RuntimeError, "SSEScanner.feed() re-entered");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(chunk, &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = PyList_New(0);
    self->busy = 1;
    if (out != NULL && scan(self, view.buf, view.len, out) < 0) {
        if (self->failed) attach_events(out);
        Py_CLEAR(out);
    }
    self->busy = 0;
    PyBuffer_Release(&view);
    return out;
}

static PyObject *scanner_close(ScannerObject *self, PyObject *unused) {
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "SSEScanner.close() called inside feed()");
        return NULL;
    }
    /* spec: "Once the end of the file is reached, any pending data must be discarded." */
    reset_block(self);
    fgw_buf_clear(&self->line, KEEP_BUF);
    self->in_comment = 0;
    self->skip_lf = 0;
    return PyList_New(0);
}

static PyObject *scanner_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"max_event_size", NULL};
    Py_ssize_t max_event_size = 1 << 20;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|n:SSEScanner", kwlist, &max_event_size)) return NULL;
    if (max_event_size < 1) {
        PyErr_SetString(PyExc_ValueError, "max_event_size must be positive");
        return NULL;
    }
    ScannerObject *self = (ScannerObject *)type->tp_alloc(type, 0); /* zeroed */
    if (self == NULL) return NULL;
    self->max_event_size = max_event_size;
    return (PyObject *)self;
}

static void scanner_dealloc(ScannerObject *self) {
    fgw_buf_free(&self->line);
    fgw_buf_free(&self->data);
    fgw_buf_free(&self->event);
    fgw_buf_free(&self->id);
    fgw_buf_free(&self->name_key);
    Py_XDECREF(self->name_str);
    Py_XDECREF(self->id_str);
    Py_XDECREF(self->committed_id);
    Py_XDECREF(self->retry);
    Py_XDECREF(self->block_retry);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *scanner_get_last_event_id(ScannerObject *self, void *closure) {
    return Py_NewRef(self->committed_id ? self->committed_id : Py_None);
}

static PyObject *scanner_get_retry(ScannerObject *self, void *closure) {
    return Py_NewRef(self->retry ? self->retry : Py_None);
}

static PyObject *scanner_get_empty_blocks(ScannerObject *self, void *closure) {
    return PyLong_FromSsize_t(self->empty_blocks);
}

static PyObject *scanner_get_pending(ScannerObject *self, void *closure) {
    return PyLong_FromSsize_t(self->block_size + self->line.len);
}

static PyObject *scanner_get_max_event_size(ScannerObject *self, void *closure) {
    return PyLong_FromSsize_t(self->max_event_size);
}

static PyMethodDef scanner_methods[] = {
    {"feed", (PyCFunction)scanner_feed, METH_O, "feed(chunk) -> list of the events the chunk completes"},
    {"close", (PyCFunction)scanner_close, METH_NOARGS,
     "close() -> []: end of stream; an unfinished event is discarded, as the spec requires"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef scanner_getset[] = {
    {"last_event_id", (getter)scanner_get_last_event_id, NULL, "the id to resume from (Last-Event-ID): the id buffer as of the last blank line, None when empty", NULL},
    {"retry", (getter)scanner_get_retry, NULL, "the latest valid retry field of the stream, or None", NULL},
    {"empty_blocks", (getter)scanner_get_empty_blocks, NULL,
     "blocks ended by a blank line that had lines but no data line, so fired no event", NULL},
    {"pending", (getter)scanner_get_pending, NULL, "bytes held for the unfinished event", NULL},
    {"max_event_size", (getter)scanner_get_max_event_size, NULL, "the per-event size limit", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fastgw._native.SSEScanner",
    .tp_basicsize = sizeof(ScannerObject),
    .tp_dealloc = (destructor)scanner_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Incremental server-sent events scanner (WHATWG event-stream rules).",
    .tp_methods = scanner_methods,
    .tp_getset = scanner_getset,
    .tp_new = scanner_new,
};

int fastgw_init_sse(PyObject *module) {
    if ((too_large_error = fastgw_native_error("SSEEventTooLarge")) == NULL) return -1;
    if ((message_str = PyUnicode_InternFromString("message")) == NULL) return -1;
    if ((event_type = PyStructSequence_NewType(&event_desc)) == NULL) return -1;
    if (PyType_Ready(&ScannerType) < 0) return -1;
    if (PyModule_AddObjectRef(module, "SSEEvent", (PyObject *)event_type) < 0) return -1;
    if (PyModule_AddObjectRef(module, "SSEScanner", (PyObject *)&ScannerType) < 0) return -1;
    return 0;
}
