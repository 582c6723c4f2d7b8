#include "fastgw_native.h"

int fastgw_init_sse(PyObject *module) {
    (void)module;
    return 0;
}
