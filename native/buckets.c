/* fastgw._native.BucketTable: the Python face of bucket_core.h. The object holds a writable buffer
 * export of the region (usually an anonymous MAP_SHARED mmap made before fork), which keeps the
 * mapping alive and stops mmap.close() from unmapping it under us. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <sys/random.h>

#include "bucket_core.h"
#include "fastgw_native.h"

static PyObject *table_full_error; /* fastgw.native_errors.BucketTableFull, owned */

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    char *base;
    uint64_t nslots;
} BucketTableObject;

/* A bucket's identity (key, spec) and where it was last found. Each process keeps its own handles;
 * a table operation finds the bucket again whenever its slot was reclaimed, so callers never see
 * a stale handle. */
typedef struct {
    PyObject_HEAD
    fgw_bkt_ref ref;
} BucketHandleObject;

static PyTypeObject BucketHandleType;

/* ---- argument helpers: each returns -1 (or NULL) with an exception set ---- */

static int as_int64(PyObject *o, const char *what, int64_t lo, int64_t hi, int64_t *out) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow || v < lo || v > hi) {
        PyErr_Format(PyExc_ValueError, "%s must be in [%lld, %lld]", what, (long long)lo, (long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int as_ns(PyObject *o, const char *what, double lo_ns, int64_t *out) {
    double s = PyFloat_AsDouble(o);
    if (s == -1.0 && PyErr_Occurred()) return -1;
    double ns = floor(s * 1e9 + 0.5);
    if (!(ns >= lo_ns && ns <= 4e18)) {
        PyErr_Format(PyExc_ValueError, "%s must be between %s and ~126 years", what, lo_ns > 0 ? "1ns" : "0");
        return -1;
    }
    *out = (int64_t)ns;
    return 0;
}

static BucketHandleObject *as_handle(PyObject *o) {
    if (!Py_IS_TYPE(o, &BucketHandleType)) {
        PyErr_Format(PyExc_TypeError, "expected a BucketHandle, not %.100s", Py_TYPE(o)->tp_name);
        return NULL;
    }
    return (BucketHandleObject *)o;
}

static int as_now(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t at, int64_t *now) {
    if (nargs <= at || args[at] == Py_None) {
        *now = fgw_monotonic_ns();
        return 0;
    }
    return as_int64(args[at], "now_ns", 0, FGW_BKT_CLOCK_MAX, now);
}

static int check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t lo, Py_ssize_t hi) {
    if (nargs < lo || nargs > hi) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", name, lo, hi, nargs);
        return -1;
    }
    return 0;
}

static void *table_full(BucketTableObject *self) {
    PyErr_Format(table_full_error, "all %llu bucket slots are taken", (unsigned long long)self->nslots);
    return NULL;
}

/* The handle's bucket, held for a change (fgw_bkt_leave when done). NULL with *absent set when
 * `create` is 0 and the key has no bucket; NULL with BucketTableFull when no slot is left. */
static fgw_bkt_slot *hold(BucketTableObject *self, BucketHandleObject *h, int create, int64_t now, int *absent) {
    *absent = 0;
    fgw_bkt_slot *s = fgw_bkt_enter(self->base, &h->ref);
    if (s != NULL) return s;
    int result;
    s = fgw_bkt_find(self->base, &h->ref, create, 1, now, &result);
    if (s == NULL) {
        if (result == FGW_FIND_FULL) return table_full(self);
        *absent = 1;
    }
    return s;
}

/* The shape and vclock of the handle's bucket for a read. A key without a bucket reads as a new
 * one (full, its fills counted from now): that is what its next use would create. */
static void peek(BucketTableObject *self, BucketHandleObject *h, int64_t now, fgw_bkt_shape *b, int64_t *vclock) {
    int64_t base_ns = now;
    *vclock = -h->ref.spec.max_tokens;
    if (!fgw_bkt_peek(self->base, &h->ref, &base_ns, vclock)) {
        int result;
        fgw_bkt_slot *s = fgw_bkt_find(self->base, &h->ref, 0, 0, now, &result);
        if (s != NULL && !fgw_bkt_peek(self->base, &h->ref, &base_ns, vclock)) {
            /* reclaimed again since the find: read it where no sweep can interfere */
            fgw_bkt_header *hdr = (fgw_bkt_header *)self->base;
            fgw_bkt_lock(hdr);
            if (fgw_bkt_place_locked(self->base, &h->ref, 0, now) != FGW_FIND_HIT ||
                !fgw_bkt_peek(self->base, &h->ref, &base_ns, vclock)) {
                base_ns = now;
                *vclock = -h->ref.spec.max_tokens;
            }
            fgw_bkt_unlock(hdr);
        }
    }
    *b = fgw_bkt_shape_of(&h->ref.spec, base_ns);
}

static fgw_bkt_shape held_shape(const BucketHandleObject *h, const fgw_bkt_slot *s) {
    return fgw_bkt_shape_of(&h->ref.spec, s->base_ns);
}

/* ---- BucketHandle ---- */

static PyObject *handle_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"key", "max_tokens", "tokens_per_fill", "fill_interval_s", NULL};
    PyObject *key, *max_tokens, *tokens_per_fill, *interval;
    fgw_bkt_spec spec;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO:BucketHandle", kwlist, &key, &max_tokens, &tokens_per_fill,
                                     &interval))
        return NULL;
    if (!PyBytes_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "bucket key must be bytes");
        return NULL;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(key);
    if (len > FGW_BKT_KEY_MAX) {
        PyErr_Format(PyExc_ValueError, "bucket key is %zd bytes, the limit is %d (digest longer keys)", len,
                     FGW_BKT_KEY_MAX);
        return NULL;
    }
    if (as_int64(max_tokens, "max_tokens", 1, FGW_BKT_AMOUNT_MAX, &spec.max_tokens) < 0 ||
        as_int64(tokens_per_fill, "tokens_per_fill", 1, FGW_BKT_AMOUNT_MAX, &spec.tokens_per_fill) < 0)
        return NULL;
    if (as_ns(interval, "fill_interval_s", 1.0, &spec.interval_ns) < 0) return NULL;
    if (spec.tokens_per_fill > spec.interval_ns) {
        PyErr_SetString(PyExc_ValueError, "tokens_per_fill must not exceed one token per nanosecond of fill_interval");
        return NULL;
    }
    BucketHandleObject *self = (BucketHandleObject *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    memset(&self->ref, 0, sizeof self->ref);
    self->ref.index = FGW_NO_SLOT;
    self->ref.spec = spec;
    self->ref.key_len = (uint32_t)len;
    memcpy(self->ref.key, PyBytes_AS_STRING(key), (size_t)len);
    return (PyObject *)self;
}

static PyObject *handle_get_key(BucketHandleObject *self, void *closure) {
    return PyBytes_FromStringAndSize((const char *)self->ref.key, self->ref.key_len);
}

static PyObject *handle_get_index(BucketHandleObject *self, void *closure) {
    return PyLong_FromLongLong(self->ref.index == FGW_NO_SLOT ? -1 : (long long)self->ref.index);
}

static PyObject *handle_get_generation(BucketHandleObject *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->ref.gen);
}

static PyObject *handle_repr(BucketHandleObject *self) {
    return PyUnicode_FromFormat("<BucketHandle index=%lld generation=%llu>",
                                self->ref.index == FGW_NO_SLOT ? -1LL : (long long)self->ref.index,
                                (unsigned long long)self->ref.gen);
}

static PyGetSetDef handle_getset[] = {
    {"key", (getter)handle_get_key, NULL, "the bucket's key", NULL},
    {"index", (getter)handle_get_index, NULL, "the slot where the bucket was last found (-1: not yet)", NULL},
    {"generation", (getter)handle_get_generation, NULL, "that slot's generation when it was found", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BucketHandleType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fastgw._native.BucketHandle",
    .tp_basicsize = sizeof(BucketHandleObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "BucketHandle(key, max_tokens, tokens_per_fill, fill_interval_s): a bucket's identity, found "
              "(again) by each table operation.",
    .tp_getset = handle_getset,
    .tp_repr = (reprfunc)handle_repr,
    .tp_new = handle_new,
};

/* ---- region formatting and attaching ---- */

static int attach(BucketTableObject *self, PyObject *buffer) {
    if (PyObject_GetBuffer(buffer, &self->view, PyBUF_WRITABLE) < 0) return -1;
    const fgw_bkt_header *hdr = (const fgw_bkt_header *)self->view.buf;
    if ((uintptr_t)self->view.buf % 8 != 0 || self->view.len < FGW_BKT_HEADER || hdr->magic != FGW_BKT_MAGIC ||
        hdr->version != FGW_BKT_VERSION || hdr->nslots == 0 || hdr->nslots > FGW_BKT_MAX_SLOTS ||
        (uint64_t)self->view.len < fgw_bkt_region_size(hdr->nslots)) {
        PyBuffer_Release(&self->view);
        PyErr_SetString(PyExc_ValueError, "buffer is not a formatted bucket region (see BucketTable.create)");
        return -1;
    }
    self->base = self->view.buf;
    self->nslots = hdr->nslots;
    return 0;
}

static PyObject *table_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"buffer", NULL};
    PyObject *buffer;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:BucketTable", kwlist, &buffer)) return NULL;
    BucketTableObject *self = (BucketTableObject *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    if (attach(self, buffer) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void table_dealloc(BucketTableObject *self) {
    if (self->view.obj != NULL) PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *table_create(PyObject *cls, PyObject *const *args, Py_ssize_t nargs) {
    int64_t slots;
    uint64_t seed;
    if (check_nargs("create", nargs, 1, 2) < 0) return NULL;
    if (as_int64(args[0], "slots", 1, (int64_t)FGW_BKT_MAX_SLOTS, &slots) < 0) return NULL;
    if (nargs == 2 && args[1] != Py_None) {
        seed = PyLong_AsUnsignedLongLongMask(args[1]);
        if (seed == (uint64_t)-1 && PyErr_Occurred()) return NULL;
    } else if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *mmap_mod = PyImport_ImportModule("mmap");
    if (mmap_mod == NULL) return NULL;
    /* fileno -1: anonymous; mmap.mmap's default flags are MAP_SHARED, so forks share the pages */
    PyObject *mm = PyObject_CallMethod(mmap_mod, "mmap", "iK", -1, (unsigned long long)fgw_bkt_region_size(slots));
    Py_DECREF(mmap_mod);
    if (mm == NULL) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(mm, &view, PyBUF_WRITABLE) < 0) {
        Py_DECREF(mm);
        return NULL;
    }
    fgw_bkt_header *hdr = view.buf; /* fresh anonymous pages are zero: every slot EMPTY */
    hdr->nslots = (uint64_t)slots;
    hdr->seed = seed;
    hdr->version = FGW_BKT_VERSION;
    __atomic_store_n(&hdr->magic, FGW_BKT_MAGIC, __ATOMIC_RELEASE);
    PyBuffer_Release(&view);
    PyObject *table = PyObject_CallOneArg(cls, mm);
    Py_DECREF(mm);
    return table;
}

/* ---- operations ---- */

static PyObject *table_bucket(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t now;
    if (check_nargs("bucket", nargs, 4, 5) < 0 || as_now(args, nargs, 4, &now) < 0) return NULL;
    PyObject *h = PyObject_Vectorcall((PyObject *)&BucketHandleType, args, 4, NULL);
    if (h == NULL) return NULL;
    int result;
    if (fgw_bkt_find(self->base, &((BucketHandleObject *)h)->ref, 1, 0, now, &result) == NULL) {
        Py_DECREF(h);
        return table_full(self);
    }
    return h;
}

static PyObject *table_try_take(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t n = 1, now;
    int absent;
    if (check_nargs("try_take", nargs, 1, 3) < 0) return NULL;
    BucketHandleObject *h = as_handle(args[0]);
    if (h == NULL || (nargs > 1 && as_int64(args[1], "n", 0, FGW_BKT_AMOUNT_MAX, &n) < 0) ||
        as_now(args, nargs, 2, &now) < 0)
        return NULL;
    if (n == 0) { /* takes nothing, so makes no bucket: fits unless the bucket is in debt */
        int64_t v;
        fgw_bkt_shape b;
        peek(self, h, now, &b, &v);
        return PyBool_FromLong(fgw_bkt_tokens(&b, fgw_bkt_filled(&b, now, NULL), v) >= 0);
    }
    fgw_bkt_slot *s = hold(self, h, 1, now, &absent);
    if (s == NULL) return NULL;
    fgw_bkt_shape b = held_shape(h, s);
    int ok = fgw_bkt_try_take(&b, &s->vclock, n, now);
    fgw_bkt_leave(s);
    return PyBool_FromLong(ok);
}

static PyObject *table_give_back(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t n, now;
    int absent;
    if (check_nargs("give_back", nargs, 2, 3) < 0) return NULL;
    BucketHandleObject *h = as_handle(args[0]);
    if (h == NULL || as_int64(args[1], "n", 0, FGW_BKT_AMOUNT_MAX, &n) < 0 || as_now(args, nargs, 2, &now) < 0)
        return NULL;
    fgw_bkt_slot *s = hold(self, h, 0, now, &absent); /* a key without a bucket is full already */
    if (s != NULL) {
        fgw_bkt_shape b = held_shape(h, s);
        fgw_bkt_give_back(&b, &s->vclock, n, now);
        fgw_bkt_leave(s);
    }
    Py_RETURN_NONE;
}

static PyObject *table_charge(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t n, floor_, now;
    int absent;
    if (check_nargs("charge", nargs, 3, 4) < 0) return NULL;
    BucketHandleObject *h = as_handle(args[0]);
    if (h == NULL || as_int64(args[1], "n", 0, FGW_BKT_AMOUNT_MAX, &n) < 0 ||
        as_int64(args[2], "floor", -FGW_BKT_AMOUNT_MAX, 0, &floor_) < 0 || as_now(args, nargs, 3, &now) < 0)
        return NULL;
    fgw_bkt_slot *s = hold(self, h, n > 0, now, &absent);
    if (s == NULL) return absent ? PyLong_FromLongLong(h->ref.spec.max_tokens) : NULL;
    fgw_bkt_shape b = held_shape(h, s);
    int64_t left = fgw_bkt_charge(&b, &s->vclock, n, floor_, now);
    fgw_bkt_leave(s);
    return PyLong_FromLongLong(left);
}

static PyObject *table_remaining(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t now, v;
    fgw_bkt_shape b;
    if (check_nargs("remaining", nargs, 1, 2) < 0) return NULL;
    BucketHandleObject *h = as_handle(args[0]);
    if (h == NULL || as_now(args, nargs, 1, &now) < 0) return NULL;
    peek(self, h, now, &b, &v);
    return PyLong_FromLongLong(fgw_bkt_tokens(&b, fgw_bkt_filled(&b, now, NULL), v));
}

static PyObject *table_time_to_refill(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t now, v;
    fgw_bkt_shape b;
    if (check_nargs("time_to_refill", nargs, 1, 2) < 0) return NULL;
    BucketHandleObject *h = as_handle(args[0]);
    if (h == NULL || as_now(args, nargs, 1, &now) < 0) return NULL;
    peek(self, h, now, &b, &v);
    return PyFloat_FromDouble(fgw_bkt_next_fill_s(&b, now));
}

static PyObject *table_time_until(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t n, now, v;
    fgw_bkt_shape b;
    if (check_nargs("time_until", nargs, 2, 3) < 0) return NULL;
    BucketHandleObject *h = as_handle(args[0]);
    if (h == NULL || as_int64(args[1], "n", 0, FGW_BKT_AMOUNT_MAX, &n) < 0 || as_now(args, nargs, 2, &now) < 0)
        return NULL;
    peek(self, h, now, &b, &v);
    double wait = fgw_bkt_wait_s(&b, v, n, now);
    return PyFloat_FromDouble(wait < 0 ? Py_HUGE_VAL : wait);
}

static PyObject *table_limits(BucketTableObject *self, PyObject *arg) {
    BucketHandleObject *h = as_handle(arg);
    if (h == NULL) return NULL;
    return Py_BuildValue("(LLd)", (long long)h->ref.spec.max_tokens, (long long)h->ref.spec.tokens_per_fill,
                         (double)h->ref.spec.interval_ns / 1e9);
}

static PyObject *table_sweep(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t count = (int64_t)self->nslots, idle = 0, now;
    if (check_nargs("sweep", nargs, 0, 3) < 0) return NULL;
    if (nargs > 0 && args[0] != Py_None && as_int64(args[0], "max_slots", 0, (int64_t)FGW_BKT_MAX_SLOTS, &count) < 0)
        return NULL;
    if (nargs > 1 && as_ns(args[1], "min_idle_s", 0.0, &idle) < 0) return NULL;
    if (as_now(args, nargs, 2, &now) < 0) return NULL;
    return PyLong_FromUnsignedLongLong(fgw_bkt_sweep(self->base, (uint64_t)count, idle, now));
}

static PyObject *table_get_slots(BucketTableObject *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->nslots);
}

static PyObject *table_get_used(BucketTableObject *self, void *closure) {
    return PyLong_FromUnsignedLongLong(__atomic_load_n(&((fgw_bkt_header *)self->base)->used, __ATOMIC_RELAXED));
}

static PyObject *table_get_reclaimed(BucketTableObject *self, void *closure) {
    return PyLong_FromUnsignedLongLong(
        __atomic_load_n(&((fgw_bkt_header *)self->base)->reclaimed, __ATOMIC_RELAXED));
}

static PyMethodDef table_methods[] = {
    {"create", (PyCFunction)(void (*)(void))table_create, METH_FASTCALL | METH_CLASS,
     "create(slots, seed=None) -> BucketTable on a new anonymous shared mapping; call before fork."},
    {"bucket", (PyCFunction)(void (*)(void))table_bucket, METH_FASTCALL,
     "bucket(key, max_tokens, tokens_per_fill, fill_interval_s, now_ns=None) -> BucketHandle (find or insert)."},
    {"try_take", (PyCFunction)(void (*)(void))table_try_take, METH_FASTCALL,
     "try_take(h, n=1, now_ns=None) -> bool"},
    {"give_back", (PyCFunction)(void (*)(void))table_give_back, METH_FASTCALL,
     "give_back(h, n, now_ns=None) -> None"},
    {"charge", (PyCFunction)(void (*)(void))table_charge, METH_FASTCALL,
     "charge(h, n, floor, now_ns=None) -> remaining after the charge (>= floor)"},
    {"remaining", (PyCFunction)(void (*)(void))table_remaining, METH_FASTCALL,
     "remaining(h, now_ns=None) -> int (negative while in debt)"},
    {"time_to_refill", (PyCFunction)(void (*)(void))table_time_to_refill, METH_FASTCALL,
     "time_to_refill(h, now_ns=None) -> seconds until the next fill (> 0)"},
    {"time_until", (PyCFunction)(void (*)(void))table_time_until, METH_FASTCALL,
     "time_until(h, n, now_ns=None) -> seconds until n tokens are available (inf if n > max)"},
    {"limits", (PyCFunction)table_limits, METH_O, "limits(h) -> (max_tokens, tokens_per_fill, fill_interval_s)"},
    {"sweep", (PyCFunction)(void (*)(void))table_sweep, METH_FASTCALL,
     "sweep(max_slots=None, min_idle_s=0.0, now_ns=None) -> buckets reclaimed among the next max_slots slots"},
    {NULL, NULL, 0, NULL},
};

static PyObject *table_get_region(BucketTableObject *self, void *closure) {
    return Py_NewRef(self->view.obj);
}

static PyGetSetDef table_getset[] = {
    {"region", (getter)table_get_region, NULL, "the buffer object holding the region", NULL},
    {"slots", (getter)table_get_slots, NULL, "fixed number of slots", NULL},
    {"used", (getter)table_get_used, NULL, "slots holding a bucket", NULL},
    {"reclaimed", (getter)table_get_reclaimed, NULL, "buckets reclaimed so far", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BucketTableType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fastgw._native.BucketTable",
    .tp_basicsize = sizeof(BucketTableObject),
    .tp_dealloc = (destructor)table_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Lock-free token buckets in a shared-memory region (native/README.md).",
    .tp_methods = table_methods,
    .tp_getset = table_getset,
    .tp_new = table_new,
};

int fastgw_init_buckets(PyObject *module) {
    table_full_error = fastgw_native_error("BucketTableFull");
    if (table_full_error == NULL) return -1;
    if (PyType_Ready(&BucketTableType) < 0 || PyType_Ready(&BucketHandleType) < 0) return -1;
    Py_INCREF(&BucketTableType);
    if (PyModule_AddObject(module, "BucketTable", (PyObject *)&BucketTableType) < 0) {
        Py_DECREF(&BucketTableType);
        return -1;
    }
    Py_INCREF(&BucketHandleType);
    if (PyModule_AddObject(module, "BucketHandle", (PyObject *)&BucketHandleType) < 0) {
        Py_DECREF(&BucketHandleType);
        return -1;
    }
    return 0;
}
