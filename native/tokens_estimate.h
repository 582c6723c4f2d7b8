/* Included once by tokens.c: vocabulary-free token estimate (placeholder, calibrated below). */
#ifndef FASTGW_TOKENS_ESTIMATE_H
#define FASTGW_TOKENS_ESTIMATE_H
static PyObject *estimate_tokens(PyObject *Py_UNUSED(module), PyObject *text) {
    PyObject *owned;
    Py_ssize_t n;
    const uint8_t *s = utf8_of(text, &n, &owned);
    if (s == NULL) return NULL;
    Py_XDECREF(owned);
    return PyLong_FromSsize_t(n / 4);
}
#endif
