"""Types of the C extension fastgw._native (native/*.c). Import it only through fastgw.native."""

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any, Final, TypeVar, final

from _typeshed import ReadableBuffer, WriteableBuffer

_T = TypeVar("_T")

# ---- shared-memory token buckets (native/buckets.c, native/bucket_core.h) ----

@final
class BucketTable:
    def __new__(cls, buffer: WriteableBuffer) -> BucketTable: ...
    @classmethod
    def create(cls, slots: int, seed: int | None = None, /) -> BucketTable: ...
    @property
    def region(self) -> WriteableBuffer: ...
    @property
    def slots(self) -> int: ...
    @property
    def used(self) -> int: ...
    def bucket(
        self,
        key: bytes,
        max_tokens: int,
        tokens_per_fill: int,
        fill_interval_s: float,
        now_ns: int | None = None,
        /,
    ) -> int: ...
    def try_take(self, h: int, n: int = 1, now_ns: int | None = None, /) -> bool: ...
    def give_back(self, h: int, n: int, now_ns: int | None = None, /) -> None: ...
    def charge(self, h: int, n: int, floor: int, now_ns: int | None = None, /) -> int: ...
    def remaining(self, h: int, now_ns: int | None = None, /) -> int: ...
    def time_to_refill(self, h: int, now_ns: int | None = None, /) -> float: ...
    def time_until(self, h: int, n: int, now_ns: int | None = None, /) -> float: ...
    def limits(self, h: int, /) -> tuple[int, int, float]: ...

# ---- incremental SSE scanner (native/sse.c) ----

@final
class SSEEvent(tuple[str, bytes, str | None, int | None]):
    __match_args__: Final = ("event", "data", "id", "retry")
    n_fields: Final[int]
    n_sequence_fields: Final[int]
    n_unnamed_fields: Final[int]
    @property
    def event(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def id(self) -> str | None: ...
    @property
    def retry(self) -> int | None: ...

@final
class SSEScanner:
    def __new__(cls, max_event_size: int = 1048576) -> SSEScanner: ...
    def feed(self, chunk: ReadableBuffer, /) -> list[SSEEvent]: ...
    def close(self) -> list[SSEEvent]: ...
    @property
    def last_event_id(self) -> str | None: ...
    @property
    def retry(self) -> int | None: ...
    @property
    def empty_blocks(self) -> int: ...
    @property
    def pending(self) -> int: ...
    @property
    def max_event_size(self) -> int: ...

# -- token counting (native/tokens.c) ----------------------------------------------------------------
UNICODE_VERSION: str

@final
class Vocabulary:
    def __new__(cls, data: bytes, pattern: str = "cl100k_base") -> Vocabulary: ...
    @property
    def pattern(self) -> str: ...
    def __len__(self) -> int: ...
    def count(self, text: str, /) -> int: ...
    def stream(self) -> TokenStream: ...

@final
class TokenStream:
    @property
    def pending(self) -> int: ...
    def feed(self, text: str, /) -> None: ...
    def total(self) -> int: ...

def estimate_tokens(text: str, /) -> int: ...

# -- HTTP heads and the access-log line (native/http.c) ------------------------------------------------
def head_fields(buf: bytes, start: int, /) -> tuple[list[tuple[bytes, bytes]], int, int, bytes | None, bytes]: ...
def request_fields(
    fields: list[tuple[bytes, bytes]], max_bytes: int, max_count: int, /
) -> tuple[int, bytes | None, int, bytes | None, bytes | None, bytes | None, bool]: ...
def request_head(
    method: bytes, target: bytes, fields: list[tuple[bytes, bytes]], skip: AbstractSet[bytes] | None, /
) -> bytes: ...
def proxy_request_head(
    method: bytes,
    target: bytes,
    host: bytes,
    fields: list[tuple[bytes, bytes]],
    skip: AbstractSet[bytes] | None,
    skip_prefix: bytes,
    extra: list[tuple[bytes, bytes]],
    length: int,
    defaults: list[tuple[bytes, bytes]],
    /,
) -> bytes: ...
def field_lines(fields: list[tuple[bytes, bytes]], skip: AbstractSet[bytes] | None, /) -> bytes: ...
def access_line(
    now: float,
    prefix: bytes,
    endpoint: bytes,
    client: bytes,
    method: bytes,
    host: bytes,
    path: bytes,
    http11: bool,
    status: int,
    tail: bytes,
    duration_ms: int,
    /,
) -> bytes: ...
def log_fields(fields: dict[str, object], /) -> bytes: ...

# -- members of a small JSON object (native/json.c) ---------------------------------------------------
def json_get(data: bytes, outer: bytes, names: tuple[bytes, ...], /) -> tuple[bytes | None, ...] | None: ...
def body_usage(
    data: bytes, anthropic: bool, make: Callable[[int, int, int, int, int], _T], /
) -> tuple[_T | None, str | None] | None: ...
def text_message(
    data: bytes, created: int, finish: dict[bytes | None, bytes], make: Callable[[int, int, int, int, int], _T], /
) -> tuple[bytes, _T, str | None] | None: ...
def delta_chunks(
    events: list[Any],
    start: int,
    name: str,
    outer: bytes,
    kind: bytes,
    member: bytes,
    prefix: bytes,
    head: bytes,
    tail: bytes,
    /,
) -> tuple[bytes, int]: ...
