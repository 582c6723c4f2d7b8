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
 *   body_usage(data, anthropic, make) -> (usage, model) | None
 *       The token usage and the model of a whole non-streamed answer, OpenAI's (anthropic false)
 *       or Anthropic's, read the way json_get reads and vouched for the same way: None when
 *       json_get would be unsure, or when a member it reads has a type other than the one the
 *       gateway's view of an answer declares (`model` a string or null; `usage` an object or null,
 *       its counts integers or null, OpenAI's details objects or null), or when `model` holds an
 *       escape. Otherwise usage is None when the answer has none (absent or null), else
 *       make(input, output, cache_read, cache_write, reasoning) with absent and null counts as 0
 *       and Anthropic's cache reads and writes added to its input (the normalization of
 *       fastgw/backends/llm/usage.py); model is the string, or None.
 *
 *   text_message(data, created, finish, make) -> (bytes, usage, model) | None
 *       The OpenAI chat.completion of an Anthropic message of one text block, byte for byte what
 *       anthropic_from_openai.response and orjson.dumps give it, without decoding it: id, model
 *       and text are copied as the JSON strings they are (json_get vouches they are orjson's), the
 *       finish reason is finish[stop_reason as a JSON string] (finish[None] for any other string;
 *       null for an absent, null or empty one), usage is read leniently as usage_from_anthropic
 *       reads it (what is not an integer counts 0). usage is make(...) as for body_usage, model
 *       the model (None when absent). None when json_get would be unsure, or when the message
 *       has another shape: content not one block of type "text", an id, model, text or
 *       service_tier that is not a string (service_tier may also be null), a stop_reason that is
 *       not a string or null, a model with an escape.
 *
 *   delta_chunks(events, start, name, outer, kind, member, prefix, head, tail) -> (bytes, int)
 *       From events[start:] (SSE events: tuples whose items 0 and 1 are the event name, a str, and
 *       its data, bytes), for as long as an event is named `name` and json_get(data, outer,
 *       (b"type", member)) vouches for it with type == `kind` (raw, quotes included) and the member
 *       a JSON string: prefix + head + the member's raw string + tail, all such events joined; and
 *       the index of the first event it did not take (len(events) when it took them all).
 *
 * The streaming translation reads one delta's text per SSE event this way and writes it into the
 * translated chunk as is: the text is never decoded and re-encoded, and a run of text deltas (nearly
 * all of a stream) becomes its chunks in one call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bytebuf.h"
#include "digits.h"
#include "fastgw_native.h"

#define JSON_MAX_DEPTH 64
#define JSON_MAX_NAMES 8

static PyObject *type_name;   /* b"type", made once at init */
static PyObject *empty_outer; /* b"": read_members' "top level" */

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

/* The length of the UTF-8 sequence that starts at p (a byte >= 0x80), or 0 when it is not valid
 * UTF-8 (an overlong form, a surrogate, a code point above U+10FFFF, a truncated sequence). */
static int utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned char c = *p;
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
    return n + 1;
}

/* At the opening quote: moves past the closing one; 0, or -1 (invalid or an escape it does not
 * vouch for). Strings are the only place the grammar lets a byte >= 0x80 appear, so validating
 * UTF-8 here, where such a byte is met, validates the whole text. */
static int skip_string(jscan *s) {
    const unsigned char *p = s->p + 1, *end = s->end;
    for (;;) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                       _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)); /* v <= 0x1f */
            int mask = _mm_movemask_epi8(hit) | _mm_movemask_epi8(v); /* (the second: bytes >= 0x80) */
            if (mask) {
                p += __builtin_ctz((unsigned)mask);
                goto special;
            }
            p += 16;
        }
#endif
        while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80) p++;
        if (p >= end) return -1;
#if defined(__SSE2__)
    special:
#endif
        if (*p == '"') {
            s->p = p + 1;
            return 0;
        }
        if (*p >= 0x80) {
            int n = utf8_sequence(p, end);
            if (n == 0) return -1;
            p += n;
            continue;
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

/* After an array item or an object member: past the closing `close` (0), past a comma and the
 * white space after it (1: another item follows), or -1 (anything else). */
static inline int after_item(jscan *s, unsigned char close) {
    skip_ws(s);
    if (s->p >= s->end) return -1;
    if (*s->p == close) {
        s->p++;
        return 0;
    }
    if (*s->p != ',') return -1;
    s->p++;
    skip_ws(s);
    return 1;
}

/* An object's members, at the '{'. starts[i]/ends[i] get the span of the value of the last member
 * named names[i] (bytes), for i < nnames. */
static int scan_object(jscan *s, int depth, PyObject *const *names, Py_ssize_t nnames, const unsigned char **starts,
                       const unsigned char **ends);

static int skip_value(jscan *s, int depth) {
    if (s->p >= s->end) return -1;
    switch (*s->p) {
    case '"':
        return skip_string(s);
    case '{':
        return scan_object(s, depth, NULL, 0, NULL, NULL);
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
            int more = after_item(s, ']');
            if (more <= 0) return more;
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

static int scan_object(jscan *s, int depth, PyObject *const *names, Py_ssize_t nnames, const unsigned char **starts,
                       const unsigned char **ends) {
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
        for (Py_ssize_t i = 0; i < nnames; i++) {
            PyObject *name = names[i];
            if (PyBytes_GET_SIZE(name) == klen && memcmp(PyBytes_AS_STRING(name), key, (size_t)klen) == 0) {
                starts[i] = value;
                ends[i] = s->p;
            }
        }
        int more = after_item(s, '}');
        if (more <= 0) return more;
    }
}

/* The spans of data[outer][names[i]] (outer empty: top level) when the reader vouches for data:
 * 0, or -1 (not vouched for; no Python error is set). */
static int read_members(const unsigned char *base, Py_ssize_t size, PyObject *outer, PyObject *const *names,
                        Py_ssize_t nnames, const unsigned char **starts, const unsigned char **ends) {
    const unsigned char *end = base + size;
    jscan s = {base, end}; /* (UTF-8 is validated where the grammar allows bytes >= 0x80: strings) */
    int nested = PyBytes_GET_SIZE(outer) > 0;
    const unsigned char *ostart = NULL, *oend = NULL;
    skip_ws(&s);
    if (nested) {
        if (scan_object(&s, 0, &outer, 1, &ostart, &oend) < 0) return -1;
    } else if (scan_object(&s, 0, names, nnames, starts, ends) < 0) {
        return -1;
    }
    skip_ws(&s);
    if (s.p != s.end) return -1;
    if (nested) {
        /* the outer member again, now reading its own members (it was validated above) */
        if (ostart == NULL || *ostart != '{') return -1;
        jscan inner = {ostart, oend};
        if (scan_object(&inner, 1, names, nnames, starts, ends) < 0) return -1;
    }
    return 0;
}

static int check_names(PyObject *names, const char *fn) {
    if (PyTuple_GET_SIZE(names) > JSON_MAX_NAMES) {
        PyErr_Format(PyExc_ValueError, "%s: at most 8 names", fn);
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(names, i))) {
            PyErr_Format(PyExc_TypeError, "%s: names must be bytes", fn);
            return -1;
        }
    }
    return 0;
}

static PyObject *json_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1]) || !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "json_get(data: bytes, outer: bytes, names: tuple[bytes, ...])");
        return NULL;
    }
    PyObject *data = args[0], *outer = args[1], *names = args[2];
    if (check_names(names, "json_get") < 0) return NULL;
    Py_ssize_t nnames = PyTuple_GET_SIZE(names);
    const unsigned char *starts[JSON_MAX_NAMES] = {NULL}, *ends[JSON_MAX_NAMES] = {NULL};
    if (read_members((const unsigned char *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), outer,
                     &PyTuple_GET_ITEM(names, 0), nnames, starts, ends) < 0)
        Py_RETURN_NONE;
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

/* the member names body_usage reads, made once at init */
enum { N_MODEL, N_USAGE, N_PROMPT, N_COMPLETION, N_PROMPT_DETAILS, N_COMPLETION_DETAILS, N_CACHED, N_CACHE_WRITE,
       N_REASONING, N_INPUT, N_OUTPUT, N_CACHE_READ_INPUT, N_CACHE_CREATION_INPUT,
       /* text_message's: the message's members in this order, then a content block's */
       N_ID, N_MESSAGE_MODEL, N_CONTENT, N_STOP_REASON, N_MESSAGE_USAGE, N_SERVICE_TIER, N_TYPE, N_TEXT, N_NAMES };
static const char *const usage_spellings[N_NAMES] = {
    "model", "usage", "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details",
    "cached_tokens", "cache_write_tokens", "reasoning_tokens", "input_tokens", "output_tokens",
    "cache_read_input_tokens", "cache_creation_input_tokens", "id", "model", "content", "stop_reason", "usage",
    "service_tier", "type", "text"};
static PyObject *usage_names[N_NAMES];

/* The members of a value already validated by the scan: 1 and their spans when it is an object,
 * 0 (all absent) when it is absent or null, -1 when it is anything else. */
static int members_of(const unsigned char *start, const unsigned char *end, PyObject *const *names, Py_ssize_t n,
                      const unsigned char **starts, const unsigned char **ends) {
    for (Py_ssize_t i = 0; i < n; i++) starts[i] = ends[i] = NULL;
    if (start == NULL || *start == 'n') return 0;
    if (*start != '{') return -1;
    jscan s = {start, end};
    return scan_object(&s, 1, names, n, starts, ends) < 0 ? -1 : 1;
}

/* An integer member (absent and null count 0): 0, or -1 when it is another type. */
static int int_of(const unsigned char *start, const unsigned char *end, long long *out) {
    *out = 0;
    if (start == NULL || *start == 'n') return 0;
    int negative = *start == '-';
    const unsigned char *p = start + negative;
    if (p >= end || !is_digit(*p)) return -1;
    long long v = 0;
    for (; p < end; p++) v = v * 10 + (*p - '0'); /* at most 15 digits: the scan vouched for it */
    *out = negative ? -v : v;
    return 0;
}

static PyObject *body_usage(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "body_usage(data: bytes, anthropic: bool, make: Callable)");
        return NULL;
    }
    int anthropic = PyObject_IsTrue(args[1]);
    if (anthropic < 0) return NULL;
    const unsigned char *base = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    const unsigned char *top_s[2] = {NULL, NULL}, *top_e[2] = {NULL, NULL};
    if (read_members(base, PyBytes_GET_SIZE(args[0]), empty_outer,
                     &usage_names[N_MODEL], 2, top_s, top_e) < 0)
        Py_RETURN_NONE;
    /* the model: a string without escapes (its bytes are the value), or null */
    const unsigned char *ms = top_s[0], *me = top_e[0];
    if (ms != NULL && *ms != 'n' && (*ms != '"' || memchr(ms, '\\', (size_t)(me - ms)) != NULL)) Py_RETURN_NONE;
    long long counts[5] = {0, 0, 0, 0, 0}; /* input, output, cache read, cache write, reasoning */
    const unsigned char *us[4], *ue[4], *ds[2], *de[2];
    int has = members_of(top_s[1], top_e[1], &usage_names[anthropic ? N_INPUT : N_PROMPT], 4, us, ue);
    if (has < 0) Py_RETURN_NONE;
    if (anthropic) {
        /* Anthropic's input_tokens leaves cache reads and writes out: they are added back */
        long long uncached, read, write;
        if (int_of(us[0], ue[0], &uncached) < 0 || int_of(us[1], ue[1], &counts[1]) < 0 ||
            int_of(us[2], ue[2], &read) < 0 || int_of(us[3], ue[3], &write) < 0)
            Py_RETURN_NONE;
        counts[0] = uncached + read + write;
        counts[2] = read;
        counts[3] = write;
    } else {
        if (int_of(us[0], ue[0], &counts[0]) < 0 || int_of(us[1], ue[1], &counts[1]) < 0) Py_RETURN_NONE;
        if (members_of(us[2], ue[2], &usage_names[N_CACHED], 2, ds, de) < 0 || int_of(ds[0], de[0], &counts[2]) < 0 ||
            int_of(ds[1], de[1], &counts[3]) < 0)
            Py_RETURN_NONE;
        if (members_of(us[3], ue[3], &usage_names[N_REASONING], 1, ds, de) < 0 || int_of(ds[0], de[0], &counts[4]) < 0)
            Py_RETURN_NONE;
    }
    PyObject *usage;
    if (has) {
        PyObject *ints[5] = {NULL};
        for (int i = 0; i < 5; i++) {
            if ((ints[i] = PyLong_FromLongLong(counts[i])) == NULL) {
                for (int j = 0; j < i; j++) Py_DECREF(ints[j]);
                return NULL;
            }
        }
        usage = PyObject_Vectorcall(args[2], ints, 5, NULL);
        for (int i = 0; i < 5; i++) Py_DECREF(ints[i]);
        if (usage == NULL) return NULL;
    } else {
        usage = Py_NewRef(Py_None);
    }
    PyObject *model = ms == NULL || *ms == 'n' ? Py_NewRef(Py_None)
                                               : PyUnicode_DecodeUTF8((const char *)ms + 1, me - ms - 2, NULL);
    return fastgw_tuple_of(2, usage, model);
}

/* An integer count the lenient way (Python: `value if type(value) is int else 0`). */
static long long lenient_int(const unsigned char *start, const unsigned char *end) {
    long long v = 0;
    if (start != NULL && (*start == '-' || is_digit(*start))) int_of(start, end, &v);
    return v;
}

/* A string member without escapes as a str (absent: `absent`, a new reference); NULL with no
 * error set when it is not such a string. */
static PyObject *plain_string(const unsigned char *start, const unsigned char *end, PyObject *absent) {
    if (start == NULL) return Py_NewRef(absent);
    if (*start != '"' || memchr(start, '\\', (size_t)(end - start)) != NULL) return NULL;
    return PyUnicode_DecodeUTF8((const char *)start + 1, end - start - 2, NULL);
}

#define PUTS(lit) (memcpy(w, lit, sizeof(lit) - 1), w += sizeof(lit) - 1)
#define PUTSPAN(a, b) (memcpy(w, a, (size_t)((b) - (a))), w += (b) - (a))

static PyObject *text_message(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyBytes_Check(args[0]) || !PyLong_Check(args[1]) || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "text_message(data: bytes, created: int, finish: dict, make: Callable)");
        return NULL;
    }
    long long created = PyLong_AsLongLong(args[1]);
    if (created == -1 && PyErr_Occurred()) return NULL;
    PyObject *data = args[0], *finish = args[2];
    const unsigned char *ts[6] = {NULL}, *te[6] = {NULL};
    if (read_members((const unsigned char *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), empty_outer,
                     &usage_names[N_ID], 6, ts, te) < 0)
        Py_RETURN_NONE;
    /* id and model: strings (copied as they are: json_get vouches they are what orjson writes) */
    if ((ts[0] != NULL && *ts[0] != '"') || (ts[1] != NULL && *ts[1] != '"')) Py_RETURN_NONE;
    /* content: one text block, [ {"type": "text", "text": "..."} ] */
    const unsigned char *cs = ts[2], *ce = te[2];
    if (cs == NULL || *cs != '[') Py_RETURN_NONE;
    jscan c = {cs + 1, ce};
    skip_ws(&c);
    const unsigned char *bs[2], *be[2];
    if (members_of(c.p, ce, &usage_names[N_TYPE], 2, bs, be) != 1) Py_RETURN_NONE;
    if (skip_value(&c, 1) < 0) Py_RETURN_NONE; /* (validated: moves past the block) */
    skip_ws(&c);
    if (c.p + 1 != ce || *c.p != ']') Py_RETURN_NONE; /* more than one block */
    if (bs[0] == NULL || be[0] - bs[0] != 6 || memcmp(bs[0], "\"text\"", 6) != 0) Py_RETURN_NONE;
    if (bs[1] != NULL && *bs[1] != '"') Py_RETURN_NONE;
    /* stop_reason: absent, null or "" (falsy: finish_reason null), else a string looked up raw */
    const unsigned char *ss = ts[3], *se = te[3];
    PyObject *reason = NULL; /* borrowed: finish's value */
    if (ss != NULL && *ss != 'n' && !(se - ss == 2 && *ss == '"')) {
        if (*ss != '"') Py_RETURN_NONE;
        PyObject *key = PyBytes_FromStringAndSize((const char *)ss, se - ss);
        if (key == NULL) return NULL;
        reason = PyDict_GetItemWithError(finish, key);
        Py_DECREF(key);
        if (reason == NULL && PyErr_Occurred()) return NULL;
        if (reason == NULL) reason = PyDict_GetItemWithError(finish, Py_None); /* the default */
        if (reason == NULL || !PyBytes_Check(reason)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "text_message: finish needs bytes values and a None default");
            return NULL;
        }
    }
    /* service_tier: absent or null (left out), else a string */
    const unsigned char *vs = ts[5], *ve = te[5];
    if (vs != NULL && *vs == 'n') vs = NULL;
    if (vs != NULL && *vs != '"') Py_RETURN_NONE;
    /* usage, lenient as usage_from_anthropic: not an object, or a count not an int, counts 0 */
    const unsigned char *us[4] = {NULL}, *ue[4] = {NULL};
    if (ts[4] != NULL && *ts[4] == '{' && members_of(ts[4], te[4], &usage_names[N_INPUT], 4, us, ue) < 0)
        Py_RETURN_NONE;
    long long uncached = lenient_int(us[0], ue[0]), output = lenient_int(us[1], ue[1]);
    long long read = lenient_int(us[2], ue[2]), write = lenient_int(us[3], ue[3]);
    long long input = uncached + read + write;
    PyObject *model = plain_string(ts[1], te[1], Py_None);
    if (model == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    /* the chat.completion, as orjson.dumps writes the Python translator's dict */
    static const char empty[] = "\"\"";
    const unsigned char *is = ts[0] ? ts[0] : (const unsigned char *)empty, *ie = ts[0] ? te[0] : is + 2;
    const unsigned char *ms = ts[1] ? ts[1] : (const unsigned char *)empty, *me = ts[1] ? te[1] : ms + 2;
    const unsigned char *xs = bs[1] ? bs[1] : (const unsigned char *)empty, *xe = bs[1] ? be[1] : xs + 2;
    Py_ssize_t size = 512 + (ie - is) + (me - ms) + (xe - xs) + (vs ? ve - vs : 0) +
                      (reason ? PyBytes_GET_SIZE(reason) : 0);
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        Py_DECREF(model);
        return NULL;
    }
    char *start = PyBytes_AS_STRING(out), *w = start;
    PUTS("{\"id\":");
    PUTSPAN(is, ie);
    PUTS(",\"object\":\"chat.completion\",\"created\":");
    w = put_i64(w, created);
    PUTS(",\"model\":");
    PUTSPAN(ms, me);
    PUTS(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    PUTSPAN(xs, xe);
    PUTS("},\"logprobs\":null,\"finish_reason\":");
    if (reason != NULL) {
        memcpy(w, PyBytes_AS_STRING(reason), (size_t)PyBytes_GET_SIZE(reason));
        w += PyBytes_GET_SIZE(reason);
    } else {
        PUTS("null");
    }
    PUTS("}],\"usage\":{\"prompt_tokens\":");
    w = put_i64(w, input);
    PUTS(",\"completion_tokens\":");
    w = put_i64(w, output);
    PUTS(",\"total_tokens\":");
    w = put_i64(w, input + output);
    PUTS(",\"prompt_tokens_details\":{\"cached_tokens\":");
    w = put_i64(w, read);
    if (write) {
        PUTS(",\"cache_write_tokens\":");
        w = put_i64(w, write);
    }
    PUTS("}}");
    if (vs != NULL) {
        PUTS(",\"service_tier\":");
        PUTSPAN(vs, ve);
    }
    PUTS("}");
    if (_PyBytes_Resize(&out, w - start) < 0) {
        Py_DECREF(model);
        return NULL;
    }
    PyObject *counts[5] = {PyLong_FromLongLong(input), PyLong_FromLongLong(output), PyLong_FromLongLong(read),
                           PyLong_FromLongLong(write), PyLong_FromLong(0)};
    PyObject *usage = NULL;
    if (counts[0] && counts[1] && counts[2] && counts[3] && counts[4])
        usage = PyObject_Vectorcall(args[3], counts, 5, NULL);
    for (int i = 0; i < 5; i++) Py_XDECREF(counts[i]);
    if (usage == NULL) {
        Py_DECREF(out);
        Py_DECREF(model);
        return NULL;
    }
    return fastgw_tuple_of(3, out, usage, model);
}

static PyObject *delta_chunks(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char usage[] = "delta_chunks(events: list, start: int, name: str, outer: bytes, kind: bytes, "
                                "member: bytes, prefix: bytes, head: bytes, tail: bytes)";
    if (nargs != 9 || !PyList_Check(args[0]) || !PyUnicode_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    for (int i = 3; i < 9; i++) {
        if (!PyBytes_Check(args[i])) {
            PyErr_SetString(PyExc_TypeError, usage);
            return NULL;
        }
    }
    PyObject *events = args[0], *name = args[2], *outer = args[3], *kind = args[4];
    Py_ssize_t start = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (start == -1 && PyErr_Occurred()) return NULL;
    if (start < 0) start = 0;
    const char *prefix = PyBytes_AS_STRING(args[6]), *head = PyBytes_AS_STRING(args[7]), *tail = PyBytes_AS_STRING(args[8]);
    Py_ssize_t plen = PyBytes_GET_SIZE(args[6]), hlen = PyBytes_GET_SIZE(args[7]), tlen = PyBytes_GET_SIZE(args[8]);
    PyObject *names[2] = {type_name, args[5]};
    fgw_buf out = {NULL, 0, 0};
    Py_ssize_t i = start, n = PyList_GET_SIZE(events);
    for (; i < n; i++) {
        PyObject *ev = PyList_GET_ITEM(events, i);
        if (!PyTuple_Check(ev) || PyTuple_GET_SIZE(ev) < 2) break;
        PyObject *evname = PyTuple_GET_ITEM(ev, 0), *data = PyTuple_GET_ITEM(ev, 1);
        if (!PyUnicode_Check(evname) || !PyBytes_Check(data)) break;
        int same = PyUnicode_Compare(evname, name);
        if (same == -1 && PyErr_Occurred()) PyErr_Clear();
        if (same != 0) break;
        const unsigned char *starts[2] = {NULL, NULL}, *ends[2] = {NULL, NULL};
        if (read_members((const unsigned char *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), outer, names, 2,
                         starts, ends) < 0)
            break;
        if (starts[0] == NULL || ends[0] - starts[0] != PyBytes_GET_SIZE(kind) ||
            memcmp(starts[0], PyBytes_AS_STRING(kind), (size_t)PyBytes_GET_SIZE(kind)) != 0)
            break;
        if (starts[1] == NULL || *starts[1] != '"') break;
        Py_ssize_t vlen = ends[1] - starts[1];
        if (fgw_buf_reserve(&out, plen + hlen + vlen + tlen) < 0) goto fail;
        char *w = out.p + out.len;
        memcpy(w, prefix, (size_t)plen);
        memcpy(w + plen, head, (size_t)hlen);
        memcpy(w + plen + hlen, starts[1], (size_t)vlen);
        memcpy(w + plen + hlen + vlen, tail, (size_t)tlen);
        out.len += plen + hlen + vlen + tlen;
    }
    PyObject *chunks = PyBytes_FromStringAndSize(out.p ? out.p : "", out.len);
    fgw_buf_free(&out);
    return fastgw_tuple_of(2, chunks, PyLong_FromSsize_t(i));
fail:
    fgw_buf_free(&out);
    return NULL;
}

static PyMethodDef json_methods[] = {
    {"json_get", (PyCFunction)(void (*)(void))json_get, METH_FASTCALL,
     "Raw values of some members of a small JSON object, or None (see native/json.c)."},
    {"body_usage", (PyCFunction)(void (*)(void))body_usage, METH_FASTCALL,
     "(usage, model) of a whole OpenAI or Anthropic JSON answer, or None (see native/json.c)."},
    {"text_message", (PyCFunction)(void (*)(void))text_message, METH_FASTCALL,
     "The chat.completion of an Anthropic message of one text block, or None (see native/json.c)."},
    {"delta_chunks", (PyCFunction)(void (*)(void))delta_chunks, METH_FASTCALL,
     "The chunks of a run of string deltas, and where the run ends (see native/json.c)."},
    {NULL, NULL, 0, NULL},
};

int fastgw_init_json(PyObject *module) {
    if ((type_name = PyBytes_FromString("type")) == NULL) return -1;
    if ((empty_outer = PyBytes_FromString("")) == NULL) return -1;
    for (int i = 0; i < N_NAMES; i++)
        if ((usage_names[i] = PyBytes_FromString(usage_spellings[i])) == NULL) return -1;
    return PyModule_AddFunctions(module, json_methods);
}
