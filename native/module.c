/* fastgw._native: module init only. Each concern lives in its own file and registers its
 * types/functions through an init hook declared in fastgw_native.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdarg.h>

#include "fastgw_native.h"

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    "fastgw._native",
    "fastgw hot-path helpers (see native/README.md).",
    -1,
    NULL,
};

PyObject *fastgw_native_error(const char *name) {
    PyObject *mod = PyImport_ImportModule("fastgw.native_errors");
    if (mod == NULL) return NULL;
    PyObject *cls = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return cls;
}

PyObject *fastgw_tuple_of(Py_ssize_t n, ...) {
    PyObject *items[8];
    int missing = n > 8;
    va_list ap;
    va_start(ap, n);
    for (Py_ssize_t i = 0; i < n && i < 8; i++) {
        items[i] = va_arg(ap, PyObject *);
        missing |= items[i] == NULL;
    }
    va_end(ap);
    PyObject *tuple = missing ? NULL : PyTuple_New(n);
    if (tuple == NULL) {
        for (Py_ssize_t i = 0; i < n && i < 8; i++) Py_XDECREF(items[i]);
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_SystemError, "fastgw_tuple_of: more than 8 items");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(tuple, i, items[i]);
    return tuple;
}

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m = PyModule_Create(&native_module);
    if (m == NULL) return NULL;
    if (fastgw_init_buckets(m) < 0 || fastgw_init_sse(m) < 0 || fastgw_init_tokens(m) < 0 ||
        fastgw_init_http(m) < 0 || fastgw_init_json(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
