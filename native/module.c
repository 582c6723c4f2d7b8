/* fastgw._native: module init only. Each concern lives in its own file and registers its
 * types/functions through an init hook declared in fastgw_native.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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
