"""Labels whose values come from clients or providers are capped per worker (telemetry/metrics.py)."""

import tracemalloc

from fastgw.telemetry.metrics import OTHER, CappedLabel, LabelLimits


def test_first_values_are_kept_later_ones_become_other_and_are_counted() -> None:
    label = CappedLabel("gen_ai_request_model", LabelLimits(max_values=3, max_bytes=64))
    assert [label.value(m) for m in ("a", "b", "a", "c", "d", "e", "b")] == ["a", "b", "a", "c", OTHER, OTHER, "b"]
    assert (len(label), label.overflow) == (3, 2)
    label.overflow = 0  # what a flush does: the kept values stay for the worker's life
    assert [label.value(m) for m in ("f", "c")] == [OTHER, "c"]
    assert (len(label), label.overflow) == (3, 1)


def test_absent_models_are_unknown_and_take_no_place() -> None:
    label = CappedLabel("gen_ai_response_model", LabelLimits(max_values=1, max_bytes=64))
    assert [label.value(None), label.value(""), label.value("x"), label.value("y")] == [
        "unknown",
        "unknown",
        "x",
        OTHER,
    ]


def test_long_values_are_cut_to_whole_utf8_characters_within_the_byte_limit() -> None:
    label = CappedLabel("gen_ai_request_model", LabelLimits(max_values=10, max_bytes=8))
    assert label.value("abcdefghijkl") == "abcdefgh"
    assert label.value("abcdefghXYZ") == "abcdefgh"  # the same label value: no second place taken
    assert len(label) == 1
    cut = label.value("ééééé")  # 10 bytes: four whole characters fit
    assert cut == "éééé" and len(cut.encode()) == 8
    assert label.value("日本語です") == "日本"  # 3 bytes each


def test_many_values_cutting_to_one_label_keep_memory_bounded() -> None:
    label = CappedLabel("gen_ai_request_model", LabelLimits(max_values=2, max_bytes=4))
    tracemalloc.start()
    try:
        label.value("warm")
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            assert label.value(f"same{i}") == "same"
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(label) == 2 and label.overflow == 0
    assert grown < 10_000  # the values-as-given cache stays small (20,000 entries would be ~2 MB)
