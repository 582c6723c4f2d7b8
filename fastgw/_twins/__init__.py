"""Pure-Python twins of fastgw._native, selected by FASTGW_NO_NATIVE=1 (see fastgw/native.py).

This package mirrors the extension's namespace (same names, same behaviour; for buckets the same
memory layout) so fastgw.native can pick either as a whole. The test suite runs every native test
against both and checks they agree.
"""

from fastgw._twins.buckets import BucketHandle, BucketTable
from fastgw._twins.http import (
    access_line,
    field_lines,
    head_fields,
    log_fields,
    proxy_request_head,
    request_fields,
    request_head,
)
from fastgw._twins.json import body_usage, delta_chunks, json_get, text_message
from fastgw._twins.sse import SSEEvent, SSEScanner

__all__ = [
    "BucketHandle",
    "BucketTable",
    "SSEEvent",
    "SSEScanner",
    "access_line",
    "body_usage",
    "delta_chunks",
    "field_lines",
    "head_fields",
    "json_get",
    "log_fields",
    "proxy_request_head",
    "request_fields",
    "request_head",
    "text_message",
]
