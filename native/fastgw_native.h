#ifndef FASTGW_NATIVE_H
#define FASTGW_NATIVE_H
#include <Python.h>

/* Each returns 0 on success, -1 with a Python exception set. */
int fastgw_init_buckets(PyObject *module); /* buckets.c: shared-memory token buckets */
int fastgw_init_sse(PyObject *module);     /* sse.c: incremental SSE scanner */
int fastgw_init_tokens(PyObject *module);  /* tokens.c: BPE token counting */

#endif
