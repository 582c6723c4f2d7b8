"""Pure-Python twin of the token counter in native/tokens.c: same pre-tokenizer, same merge, same
estimator, over str instead of UTF-8. Slow; it exists so the C code has an independent reference and
so fastgw runs without a compiler (FASTGW_NO_NATIVE=1). Keep the two in step: tests run both.
"""

from __future__ import annotations

import base64
import bisect

from fastgw._twins import tokens_cjk
from fastgw._twins import tokens_unicode as uc

END = 100  # past the end of a text that is complete
MORE = 101  # past the end of a buffer that may still grow
NO_RANK = 1 << 62
PATTERNS = ("cl100k_base", "o200k_base")

_LETTER = frozenset((uc.UPPER, uc.LOWER, uc.MODIFIER_OTHER))
_PUNCT = frozenset((uc.OTHER, uc.MARK))
_UPPERISH = frozenset((uc.UPPER, uc.MODIFIER_OTHER, uc.MARK))
_LOWERISH = frozenset((uc.LOWER, uc.MODIFIER_OTHER, uc.MARK))
_ASCII = bytes(uc.RANGE_CLASSES[bisect.bisect_right(uc.RANGE_STARTS, cp) - 1] for cp in range(128))


def parse_ranks(data: bytes) -> dict[bytes, int]:
    """Parses a `.tiktoken` rank file: one `<base64 token> <rank>` per line."""
    ranks: dict[bytes, int] = {}
    for line_no, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            token_b64, rank_text = line.split()
            token = base64.b64decode(token_b64, validate=True)
            rank = int(rank_text)
        except ValueError as exc:
            raise ValueError(f"vocabulary line {line_no}: expected '<base64> <rank>'") from exc
        if not token or rank < 0 or token in ranks:
            raise ValueError(f"vocabulary line {line_no}: empty, negative or repeated token")
        ranks[token] = rank
    missing = [b for b in range(256) if bytes((b,)) not in ranks]
    if missing:
        raise ValueError(f"vocabulary lacks the single byte 0x{missing[0]:02x}")
    return ranks


def char_class(ch: str) -> int:
    cp = ord(ch)
    if cp < 128:
        return _ASCII[cp]
    return uc.RANGE_CLASSES[bisect.bisect_right(uc.RANGE_STARTS, cp) - 1]


class Splitter:
    """Finds the next pre-tokenization piece of s (eof: nothing more will be appended)."""

    __slots__ = ("eof", "n", "o200k", "s")

    def __init__(self, s: str, eof: bool, o200k: bool) -> None:
        self.s, self.n, self.eof, self.o200k = s, len(s), eof, o200k

    def cls(self, i: int) -> int:
        if i >= self.n:
            return END if self.eof else MORE
        return char_class(self.s[i])

    def piece(self, i: int) -> int | None:
        """End of the piece starting at i, or None when later text could still change it."""
        return self._o200k(i) if self.o200k else self._cl100k(i)

    def _contraction(self, i: int) -> int | None:
        """(?i:'s|'t|'re|'ve|'m|'ll|'d) at i: its end, 0 if none, None for more. U+017F folds to s."""
        s, n = self.s, self.n
        if i >= n or (s[i] == "'" and i + 1 >= n):
            return 0 if self.eof else None
        if s[i] != "'":
            return 0
        c1 = s[i + 1]
        if c1 in "sdmtSDMT\u017f":
            return i + 2
        if c1 in "lvrLVR":
            if i + 2 >= n:
                return 0 if self.eof else None
            if s[i + 2] in ("lL" if c1 in "lL" else "eE"):
                return i + 3
        return 0

    def _run(self, i: int, members: frozenset[int]) -> int | None:
        while True:
            c = self.cls(i)
            if c == MORE:
                return None
            if c not in members:
                return i
            i += 1

    def _digits(self, i: int) -> int | None:
        for _ in range(3):
            c = self.cls(i)
            if c == MORE:
                return None
            if c != uc.NUMBER:
                return i
            i += 1
        return i

    def _punct(self, i: int, tail: str) -> int | None:
        i2 = self._run(i, _PUNCT)
        if i2 is None:
            return None
        while True:
            if i2 >= self.n:
                return i2 if self.eof else None
            if self.s[i2] not in tail:
                return i2
            i2 += 1

    def _spaces(self, i: int) -> tuple[int, bool, int, int, int] | None:
        """(end, reached_end, just past the last CR/LF or 0, start of last char, chars)."""
        nl_end, last, chars = 0, i, 0
        while True:
            c = self.cls(i)
            if c == MORE:
                return None
            if c != uc.SPACE:
                return i, c == END, nl_end, last, chars
            if self.s[i] in "\r\n":
                nl_end = i + 1
            last, chars, i = i, chars + 1, i + 1

    def _cl100k(self, i: int) -> int | None:
        ch, c0 = self.s[i], self.cls(i)
        c1 = END
        if ch == "'":
            e = self._contraction(i)
            if e != 0:
                return e
        if c0 in _LETTER:
            return self._run(i + 1, _LETTER)
        if c0 != uc.NUMBER and ch not in "\r\n":
            c1 = self.cls(i + 1)
            if c1 == MORE:
                return None
            if c1 in _LETTER:
                return self._run(i + 2, _LETTER)
        if c0 == uc.NUMBER:
            return self._digits(i)
        if ch == " " and c1 in _PUNCT:
            return self._punct(i + 1, "\r\n")
        if c0 in _PUNCT:
            return self._punct(i, "\r\n")
        run = self._spaces(i)
        if run is None:
            return None
        end, reached_end, nl_end, last, chars = run
        if reached_end:
            return end
        if nl_end:
            return nl_end
        return last if chars >= 2 else i + 1

    def _word(self, p: int, lower_first: bool) -> int | None:
        i, last_lowerish = p, -1
        while True:
            c = self.cls(i)
            if c == MORE:
                return None
            if c not in _UPPERISH:
                break
            if c in _LOWERISH:
                last_lowerish = i
            i += 1
        if lower_first:
            if c in _LOWERISH:
                w = i
            elif last_lowerish >= 0:
                w = last_lowerish
            else:
                return 0
        elif i == p:
            return 0
        else:
            w = i
        w2 = self._run(w, _LOWERISH)
        if w2 is None:
            return None
        e = self._contraction(w2)
        if e is None:
            return None
        return e or w2

    def _o200k(self, i: int) -> int | None:
        ch, c0 = self.s[i], self.cls(i)
        prefix = c0 not in _LETTER and c0 != uc.NUMBER and ch not in "\r\n"
        for lower_first in (True, False):
            if prefix:
                e = self._word(i + 1, lower_first)
                if e != 0:
                    return e
            e = self._word(i, lower_first)
            if e != 0:
                return e
        if c0 == uc.NUMBER:
            return self._digits(i)
        if ch == " ":
            c1 = self.cls(i + 1)
            if c1 == MORE:
                return None
            if c1 in _PUNCT:
                return self._punct(i + 1, "\r\n/")
        if c0 in _PUNCT:
            return self._punct(i, "\r\n/")
        run = self._spaces(i)
        if run is None:
            return None
        end, reached_end, nl_end, last, chars = run
        if nl_end:
            return nl_end
        return end if reached_end or chars < 2 else last


def pieces(text: str, pattern: str = "cl100k_base", eof: bool = True) -> tuple[list[str], int]:
    """The complete pieces of text and where the first incomplete one starts."""
    sp = Splitter(text, eof, pattern == "o200k_base")
    out: list[str] = []
    i = 0
    while i < sp.n:
        e = sp.piece(i)
        if e is None:
            break
        out.append(text[i:e])
        i = e
    return out, i


def merge_count(ranks: dict[bytes, int], piece: bytes) -> int:
    """Tokens byte-pair merging leaves of piece: lowest-rank adjacent pair first, leftmost on ties."""
    if len(piece) == 1 or piece in ranks:
        return 1
    parts = [piece[i : i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        best, at = NO_RANK, -1
        for k in range(len(parts) - 1):
            r = ranks.get(parts[k] + parts[k + 1], NO_RANK)
            if r < best:
                best, at = r, k
        if at < 0:
            break
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    return len(parts)


class TwinVocabulary:
    __slots__ = ("pattern", "ranks")

    def __init__(self, data: bytes, pattern: str = "cl100k_base") -> None:
        if pattern not in PATTERNS:
            raise ValueError(f"unknown split pattern {pattern!r}: expected cl100k_base or o200k_base")
        self.ranks = parse_ranks(data)
        self.pattern = pattern

    def __len__(self) -> int:
        return len(self.ranks)

    def count(self, text: str) -> int:
        return self._count(_replace_surrogates(text), True)[0]

    def _count(self, text: str, eof: bool) -> tuple[int, int]:
        found, consumed = pieces(text, self.pattern, eof)
        return sum(merge_count(self.ranks, p.encode()) for p in found), consumed

    def stream(self) -> TwinTokenStream:
        return TwinTokenStream(self)


class TwinTokenStream:
    __slots__ = ("_committed", "_tail", "_vocab")

    def __init__(self, vocab: TwinVocabulary) -> None:
        self._vocab, self._tail, self._committed = vocab, "", 0

    @property
    def pending(self) -> int:
        return len(self._tail.encode())

    def feed(self, text: str) -> None:
        self._tail += _replace_surrogates(text)
        count, consumed = self._vocab._count(self._tail, False)
        self._committed += count
        self._tail = self._tail[consumed:]

    def total(self) -> int:
        return self._committed + self._vocab._count(self._tail, True)[0]


def _replace_surrogates(text: str) -> str:
    """What tiktoken does with unencodable text: surrogate pairs join, lone ones become U+FFFD."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


# ---------------------------------------------------------------- vocabulary-free estimate
# Milli-tokens per cl100k_base piece, by kind, derived by bench/tokens_calibrate.py from a corpus
# counted exactly (not the test samples). Mirrored in native/tokens_estimate.h.
WORD_MILLI = (
    # " word": space prefix, no upper case after the first letter; by letter count
    (1000, 1000, 1000, 1018, 1021, 1049, 1051, 1117, 1149, 1192, 1229, 1273, 1420, 1450, 1500, 1800, 2100),
    # other prefix (or none), same case shape
    (1000, 1011, 1061, 1128, 1084, 1156, 1205, 1374, 1519, 1711, 1850, 1900, 2250, 2450, 2600, 2800, 3000),
    # upper case after the first letter (camelCase, ALL CAPS)
    (1000, 1100, 1182, 1338, 1493, 1650, 1750, 1900, 2000, 2050, 2100, 2300, 2425, 2600, 2700, 2800, 2950),
)
PUNCT_MILLI = (1000, 1000, 1001, 1022, 1231, 1418, 1949, 2685, 3203, 3875, 4367, 5307, 5810)
# per _group(): ASCII letter, 2-byte letter, CJK table cost 1, cost 2, cost 3, 4-byte, 2-byte other,
# 3-byte other, other 3-byte letter, ASCII other. No per-piece intercept: a lone CJK comma is one token.
# Fitted, except 4-byte, 3-byte other and other 3-byte letters (too few samples: set by hand).
GROUP_MILLI = (226, 1267, 861, 2063, 2933, 2500, 1039, 1200, 2000, 449)
WORD_EXTRA_MILLI = 250
PUNCT_EXTRA_MILLI = 500


def cjk_cost(cp: int) -> int:
    """Tokens cl100k_base spends on this CJK character alone (1-3), 0 outside the table."""
    for lo, hi, base in tokens_cjk.RANGES:
        if lo <= cp < hi:
            i = base + cp - lo
            return (tokens_cjk.COSTS[i >> 2] >> ((i & 3) * 2)) & 3
    return 0


def _group(ch: str) -> int:
    """Weight group of a character inside a piece that has non-ASCII characters."""
    cp = ord(ch)
    letter = char_class(ch) in _LETTER
    if cp < 0x80:
        return 0 if letter else 9
    if cp < 0x800:
        return 1 if letter else 6
    if cp >= 0x10000:
        return 5
    cost = cjk_cost(cp)
    if cost:
        return 1 + cost
    return 8 if letter else 7


def estimate_features(piece: str) -> tuple[str, tuple[int, int], list[int]]:
    """(kind, table key, group counts) of one piece: what the estimate of a piece depends on."""
    if not piece.isascii():
        groups = [0] * 10
        for ch in piece:
            groups[_group(ch)] += 1
        return "mixed", (0, 0), groups
    letters = [ch for ch in piece if ch.isalpha()]
    if letters:
        # Space-prefixed words are prose and mostly one token; code's identifiers split more.
        shape = 2 if any(ch.isupper() for ch in letters[1:]) else int(piece[0] != " ")
        return "word", (shape, len(letters)), []
    if piece.isdigit():
        return "number", (0, 0), []
    if all(char_class(ch) == uc.SPACE for ch in piece):
        return "space", (len(piece), 0), []
    return "punct", (len(piece), 0), []


def _table(table: tuple[int, ...], n: int, extra: int) -> int:
    last = len(table) - 1
    return table[n] if n <= last else table[last] + (n - last) * extra


def estimate(text: str) -> int:
    """Twin of _native.estimate_tokens."""
    milli = 0
    for piece in pieces(_replace_surrogates(text))[0]:
        kind, key, groups = estimate_features(piece)
        if kind == "word":
            milli += _table(WORD_MILLI[key[0]], key[1], WORD_EXTRA_MILLI)
        elif kind == "punct":
            milli += _table(PUNCT_MILLI, key[0], PUNCT_EXTRA_MILLI)
        elif kind in ("space", "number"):
            milli += 1000
        else:
            milli += sum(w * c for w, c in zip(GROUP_MILLI, groups, strict=True))
    return (milli + 500) // 1000
