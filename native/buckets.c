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

/* ---- argument helpers: each returns -1 with an exception set ---- */

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

static fgw_bkt_slot *as_slot(BucketTableObject *self, PyObject *h) {
    Py_ssize_t i = PyLong_AsSsize_t(h);
    if (i == -1 && PyErr_Occurred()) return NULL;
    if (i < 0 || (uint64_t)i >= self->nslots) {
        PyErr_SetString(PyExc_ValueError, "bucket handle out of range");
        return NULL;
    }
    fgw_bkt_slot *s = fgw_bkt_slot_at(self->base, (uint64_t)i);
    /* acquire pairs with the claimer's release: the immutable fields are visible after this */
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != FGW_SLOT_READY) {
        PyErr_SetString(PyExc_ValueError, "bucket handle does not name a bucket");
        return NULL;
    }
    return s;
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
    fgw_bkt_spec spec;
    int64_t now;
    if (check_nargs("bucket", nargs, 4, 5) < 0 || as_now(args, nargs, 4, &now) < 0) return NULL;
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "bucket key must be bytes");
        return NULL;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]);
    if (len > FGW_BKT_KEY_MAX) {
        PyErr_Format(PyExc_ValueError, "bucket key is %zd bytes, the limit is %d (digest longer keys)", len,
                     FGW_BKT_KEY_MAX);
        return NULL;
    }
    if (as_int64(args[1], "max_tokens", 1, FGW_BKT_AMOUNT_MAX, &spec.max_tokens) < 0 ||
        as_int64(args[2], "tokens_per_fill", 1, FGW_BKT_AMOUNT_MAX, &spec.tokens_per_fill) < 0)
        return NULL;
    double interval_s = PyFloat_AsDouble(args[3]);
    if (interval_s == -1.0 && PyErr_Occurred()) return NULL;
    double ns = floor(interval_s * 1e9 + 0.5);
    if (!(ns >= 1.0 && ns <= 4e18)) {
        PyErr_SetString(PyExc_ValueError, "fill_interval_s must be between 1ns and ~126 years");
        return NULL;
    }
    spec.interval_ns = (int64_t)ns;
    if (spec.tokens_per_fill > spec.interval_ns) {
        PyErr_SetString(PyExc_ValueError, "tokens_per_fill must not exceed one token per nanosecond of fill_interval");
        return NULL;
    }
    int64_t i = fgw_bkt_find_or_insert(self->base, (const unsigned char *)PyBytes_AS_STRING(args[0]),
                                       (uint32_t)len, &spec, now);
    if (i == FGW_BKT_FULL) {
        PyErr_Format(table_full_error, "all %llu bucket slots are taken", (unsigned long long)self->nslots);
        return NULL;
    }
    return PyLong_FromLongLong(i);
}

static PyObject *table_try_take(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t n = 1, now;
    if (check_nargs("try_take", nargs, 1, 3) < 0) return NULL;
    fgw_bkt_slot *s = as_slot(self, args[0]);
    if (s == NULL) return NULL;
    if (nargs > 1 && as_int64(args[1], "n", 0, FGW_BKT_AMOUNT_MAX, &n) < 0) return NULL;
    if (as_now(args, nargs, 2, &now) < 0) return NULL;
    return PyBool_FromLong(fgw_bkt_try_take(s, n, now));
}

static PyObject *table_give_back(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t n, now;
    if (check_nargs("give_back", nargs, 2, 3) < 0) return NULL;
    fgw_bkt_slot *s = as_slot(self, args[0]);
    if (s == NULL || as_int64(args[1], "n", 0, FGW_BKT_AMOUNT_MAX, &n) < 0 || as_now(args, nargs, 2, &now) < 0)
        return NULL;
    fgw_bkt_give_back(s, n, now);
    Py_RETURN_NONE;
}

static PyObject *table_charge(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t n, floor_, now;
    if (check_nargs("charge", nargs, 3, 4) < 0) return NULL;
    fgw_bkt_slot *s = as_slot(self, args[0]);
    if (s == NULL || as_int64(args[1], "n", 0, FGW_BKT_AMOUNT_MAX, &n) < 0 ||
        as_int64(args[2], "floor", -FGW_BKT_AMOUNT_MAX, 0, &floor_) < 0 || as_now(args, nargs, 3, &now) < 0)
        return NULL;
    return PyLong_FromLongLong(fgw_bkt_charge(s, n, floor_, now));
}

static PyObject *table_remaining(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t now;
    if (check_nargs("remaining", nargs, 1, 2) < 0) return NULL;
    fgw_bkt_slot *s = as_slot(self, args[0]);
    if (s == NULL || as_now(args, nargs, 1, &now) < 0) return NULL;
    return PyLong_FromLongLong(fgw_bkt_remaining(s, now));
}

static PyObject *table_time_to_refill(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t now;
    if (check_nargs("time_to_refill", nargs, 1, 2) < 0) return NULL;
    fgw_bkt_slot *s = as_slot(self, args[0]);
    if (s == NULL || as_now(args, nargs, 1, &now) < 0) return NULL;
    return PyFloat_FromDouble(fgw_bkt_next_fill_s(s, now));
}

static PyObject *table_time_until(BucketTableObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t n, now;
    if (check_nargs("time_until", nargs, 2, 3) < 0) return NULL;
    fgw_bkt_slot *s = as_slot(self, args[0]);
    if (s == NULL || as_int64(args[1], "n", 0, FGW_BKT_AMOUNT_MAX, &n) < 0 || as_now(args, nargs, 2, &now) < 0)
        return NULL;
    double wait = fgw_bkt_wait_s(s, n, now);
    return PyFloat_FromDouble(wait < 0 ? Py_HUGE_VAL : wait);
}

static PyObject *table_limits(BucketTableObject *self, PyObject *h) {
    fgw_bkt_slot *s = as_slot(self, h);
    if (s == NULL) return NULL;
    return Py_BuildValue("(LLd)", (long long)s->max_tokens, (long long)s->tokens_per_fill,
                         (double)s->interval_ns / 1e9);
}

static PyObject *table_get_slots(BucketTableObject *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->nslots);
}

static PyObject *table_get_used(BucketTableObject *self, void *closure) {
    return PyLong_FromUnsignedLongLong(__atomic_load_n(&((fgw_bkt_header *)self->base)->used, __ATOMIC_RELAXED));
}

static PyMethodDef table_methods[] = {
    {"create", (PyCFunction)(void (*)(void))table_create, METH_FASTCALL | METH_CLASS,
     "create(slots, seed=None) -> BucketTable on a new anonymous shared mapping; call before fork."},
    {"bucket", (PyCFunction)(void (*)(void))table_bucket, METH_FASTCALL,
     "bucket(key, max_tokens, tokens_per_fill, fill_interval_s, now_ns=None) -> handle (find or insert)."},
    {"try_take", (PyCFunction)(void (*)(void))table_try_take, METH_FASTCALL,
     "try_take(h, n=1, now_ns=None) -> bool"},
    {"give_back", (PyCFunction)(void (*)(void))table_give_back, METH_FASTCALL,
     "give_back(h, n, now_ns=None) -> None"},
    {"charge", (PyCFunction)(void (*)(void))table_charge, METH_FASTCALL,
     "charge(h, n, floor, now_ns=None) -> remaining after the charge (>= floor)"},
    {"remaining", (PyCFunction)(void (*)(void))table_remaining, METH_FASTCALL,
     "remaining(h, now_ns=None) -> int (negative while in debt)"},
    {"time_to_refill", (PyCFunction)(void (*)(void))table_time_to_refill, METH_FASTCALL,
     "time_to_refill(h, now_ns=None) -> seconds until the next fill (0.0 when full)"},
    {"time_until", (PyCFunction)(void (*)(void))table_time_until, METH_FASTCALL,
     "time_until(h, n, now_ns=None) -> seconds until n tokens are available (inf if n > max)"},
    {"limits", (PyCFunction)table_limits, METH_O, "limits(h) -> (max_tokens, tokens_per_fill, fill_interval_s)"},
    {NULL, NULL, 0, NULL},
};

static PyObject *table_get_region(BucketTableObject *self, void *closure) {
    return Py_NewRef(self->view.obj);
}

static PyGetSetDef table_getset[] = {
    {"region", (getter)table_get_region, NULL, "the buffer object holding the region", NULL},
    {"slots", (getter)table_get_slots, NULL, "fixed number of slots", NULL},
    {"used", (getter)table_get_used, NULL, "slots taken so far (they are never freed)", NULL},
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
    if (PyType_Ready(&BucketTableType) < 0) return -1;
    Py_INCREF(&BucketTableType);
    if (PyModule_AddObject(module, "BucketTable", (PyObject *)&BucketTableType) < 0) {
        Py_DECREF(&BucketTableType);
        return -1;
    }
    return 0;
}
