#include "fastgw_native.h"

int fastgw_init_buckets(PyObject *module) {
    (void)module;
    return 0;
}
