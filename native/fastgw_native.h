#ifndef FASTGW_NATIVE_H
#define FASTGW_NATIVE_H
#include <Python.h>

/* Each returns 0 on success, -1 with a Python exception set. */
int fastgw_init_buckets(PyObject *module); /* buckets.c: shared-memory token buckets */
int fastgw_init_sse(PyObject *module);     /* sse.c: incremental SSE scanner */
int fastgw_init_tokens(PyObject *module);  /* tokens.c: BPE token counting */
int fastgw_init_http(PyObject *module);    /* http.c: message-head and access-line helpers */
int fastgw_init_json(PyObject *module);    /* json.c: members of a small JSON object, unparsed */

/* New reference to the exception class `name` of fastgw.native_errors (the classes both the C
 * code and the pure-Python twins raise, so callers catch one class whichever is active). */
PyObject *fastgw_native_error(const char *name);

/* A tuple of the n (at most 8) new references given, which it takes over: NULL when any of them is
 * NULL (an error already set) or the tuple cannot be made, every given reference then released. */
PyObject *fastgw_tuple_of(Py_ssize_t n, ...);

#endif
