"""Token bucket arithmetic, table semantics and argument checks, with an explicit clock (now_ns)."""

import math
import mmap
import os
from types import ModuleType

import pytest

from fastgw import native
from fastgw.native_errors import BucketTableFull

T0 = 10**12  # an arbitrary monotonic instant; every op below passes its own now_ns
SEC = 10**9


def test_starts_full_and_denies_when_empty(impl: ModuleType) -> None:
    t = impl.BucketTable.create(16)
    h = t.bucket(b"route0/policy0", 5, 1, 1.0, T0)
    assert t.remaining(h, T0) == 5
    assert [t.try_take(h, 1, T0) for _ in range(6)] == [True] * 5 + [False]
    assert t.remaining(h, T0) == 0
    assert t.try_take(h, 0, T0) is True  # taking nothing always fits


def test_refill_is_whole_fills_capped_at_max(impl: ModuleType) -> None:
    t = impl.BucketTable.create(16)
    h = t.bucket(b"k", 10, 3, 2.0, T0)
    assert t.try_take(h, 10, T0)
    assert t.remaining(h, T0 + 2 * SEC - 1) == 0  # a fill lands only when a whole interval has passed
    assert t.remaining(h, T0 + 2 * SEC) == 3
    assert t.remaining(h, T0 + 5 * SEC) == 6  # floor(5/2) fills
    assert t.remaining(h, T0 + 100 * SEC) == 10
    assert not t.try_take(h, 7, T0 + 5 * SEC)
    assert t.try_take(h, 6, T0 + 5 * SEC)
    assert t.remaining(h, T0 + 6 * SEC) == 3  # epochs count from the bucket's creation, not the take


def test_try_take_is_all_or_nothing(impl: ModuleType) -> None:
    t = impl.BucketTable.create(4)
    h = t.bucket(b"k", 10, 1, 1.0, T0)
    assert t.try_take(h, 8, T0)
    assert not t.try_take(h, 3, T0)
    assert t.remaining(h, T0) == 2


def test_give_back_never_exceeds_max(impl: ModuleType) -> None:
    t = impl.BucketTable.create(4)
    h = t.bucket(b"k", 10, 1, 1.0, T0)
    assert t.try_take(h, 4, T0)
    t.give_back(h, 3, T0)
    assert t.remaining(h, T0) == 9
    t.give_back(h, 50, T0)
    assert t.remaining(h, T0) == 10


def test_charge_goes_into_debt_down_to_floor(impl: ModuleType) -> None:
    t = impl.BucketTable.create(4)
    h = t.bucket(b"k", 100, 10, 1.0, T0)
    assert t.charge(h, 130, -50, T0) == -30
    assert not t.try_take(h, 1, T0)
    assert t.charge(h, 1000, -50, T0) == -50
    assert t.charge(h, 5, -20, T0) == -50  # already below a higher floor: left where it is
    assert t.remaining(h, T0 + 6 * SEC) == 10  # debt is repaid by fills before anything is admitted
    assert t.charge(h, 0, 0, T0 + 6 * SEC) == 10


def test_time_to_refill_and_time_until(impl: ModuleType) -> None:
    t = impl.BucketTable.create(4)
    h = t.bucket(b"k", 10, 2, 4.0, T0)
    assert t.time_to_refill(h, T0) == 4.0  # fills land every interval from creation, full or not
    assert t.time_until(h, 10, T0) == 0.0
    assert t.try_take(h, 9, T0 + SEC)
    assert t.time_to_refill(h, T0 + SEC) == pytest.approx(3.0)
    assert t.time_until(h, 1, T0 + SEC) == 0.0
    assert t.time_until(h, 2, T0 + SEC) == pytest.approx(3.0)
    assert t.time_until(h, 4, T0 + SEC) == pytest.approx(7.0)  # two fills of 2
    assert t.time_until(h, 11, T0 + SEC) == math.inf
    assert t.charge(h, 10, -100, T0 + SEC) == -9
    assert t.time_until(h, 1, T0 + SEC) == pytest.approx(4 * 4.0 + 3.0)  # 5 fills to reach +1


def test_limits_reports_the_spec(impl: ModuleType) -> None:
    t = impl.BucketTable.create(4)
    h = t.bucket(b"k", 200000, 200000, 60.0)
    assert t.limits(h) == (200000, 200000, 60.0)


def test_identity_is_key_and_spec(impl: ModuleType) -> None:
    t = impl.BucketTable.create(32)
    a = t.bucket(b"a", 10, 1, 1.0, T0)
    assert t.try_take(a, 4, T0)
    again = t.bucket(b"a", 10, 1, 1.0)  # a reload with the same spec keeps the bucket and its level
    assert (again.index, again.generation) == (a.index, a.generation)
    assert t.remaining(again, T0) == 6
    changed = t.bucket(b"a", 10, 2, 1.0, T0)
    assert changed.index != a.index
    assert t.remaining(changed, T0) == 10  # a changed spec starts afresh...
    assert t.remaining(a, T0) == 6  # ...while holders of the old handle keep theirs
    others = [t.bucket(b"b", 10, 1, 1.0), t.bucket(b"", 10, 1, 1.0)]
    assert len({h.index for h in (a, changed, *others)}) == 4
    assert t.used == 4


def test_table_full_is_a_clear_error(impl: ModuleType) -> None:
    t = impl.BucketTable.create(3)
    handles = [t.bucket(bytes([i]), 1, 1, 3600.0) for i in range(3)]
    assert {h.index for h in handles} == {0, 1, 2}
    assert all(t.try_take(h) for h in handles)  # none full: none can be reclaimed
    assert t.bucket(b"\x01", 1, 1, 3600.0).index == handles[1].index  # existing keys are still found
    with pytest.raises(BucketTableFull, match="3 bucket slots"):
        t.bucket(b"new", 1, 1, 1.0)
    with pytest.raises(BucketTableFull):
        t.try_take(impl.BucketHandle(b"new", 1, 1, 1.0))
    assert t.remaining(impl.BucketHandle(b"new", 1, 1, 1.0)) == 1  # reading makes no bucket
    assert issubclass(BucketTableFull, RuntimeError)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((b"k" * 65, 1, 1, 1.0), ValueError),
        (("k", 1, 1, 1.0), TypeError),
        ((b"k", 0, 1, 1.0), ValueError),
        ((b"k", 1, 0, 1.0), ValueError),
        ((b"k", 2**53 + 1, 1, 1.0), ValueError),
        ((b"k", 1, 1, 0.0), ValueError),
        ((b"k", 1, 1, -1.0), ValueError),
        ((b"k", 1, 1, math.nan), ValueError),
        ((b"k", 10**9, 10**9 + 1, 1.0), ValueError),  # over one token per nanosecond
    ],
)
def test_bucket_rejects_bad_specs(impl: ModuleType, args: tuple[object, ...], error: type[Exception]) -> None:
    t = impl.BucketTable.create(4)
    with pytest.raises(error):
        t.bucket(*args)
    assert t.used == 0


def test_ops_reject_bad_handles_and_amounts(impl: ModuleType) -> None:
    t = impl.BucketTable.create(4)
    h = t.bucket(b"k", 5, 1, 1.0)
    for bad in (-1, h.index, None, b"k"):
        with pytest.raises(TypeError):
            t.try_take(bad)
        with pytest.raises(TypeError):
            t.remaining(bad)
    with pytest.raises(ValueError):
        t.try_take(h, -1)
    with pytest.raises(ValueError):
        t.charge(h, 1, 1)  # the floor is a debt limit, never positive
    with pytest.raises(TypeError):
        t.try_take(h, 1.5)
    assert t.remaining(h) == 5


def test_attach_rejects_unformatted_buffers(impl: ModuleType) -> None:
    with pytest.raises(ValueError):
        impl.BucketTable(bytearray(4096))
    with pytest.raises((TypeError, BufferError)):
        impl.BucketTable(bytes(4096))


def test_both_implementations_share_one_layout() -> None:
    """A region formatted and written by one implementation reads the same from the other."""
    c, py = native.implementation("native"), native.implementation("python")
    for maker, reader in ((c, py), (py, c)):
        t = maker.BucketTable.create(64, 12345)
        handles = [t.bucket(f"user-{i}".encode(), 100, 7, 3.0, T0) for i in range(20)]
        for i, h in enumerate(handles):
            assert t.try_take(h, i, T0)
        assert isinstance(t.region, mmap.mmap)
        other = reader.BucketTable(t.region)
        found = [other.bucket(f"user-{i}".encode(), 100, 7, 3.0) for i in range(20)]
        assert [(h.index, h.generation) for h in found] == [(h.index, h.generation) for h in handles]
        assert [other.remaining(h, T0 + 4 * SEC) for h in found] == [min(100, 100 - i + 7) for i in range(20)]
        assert other.used == 20


def test_region_is_shared_with_forked_children(impl: ModuleType) -> None:
    t = impl.BucketTable.create(8)
    h = t.bucket(b"k", 10, 1, 3600.0)
    pid = os.fork()
    if pid == 0:  # child: take from the inherited table and create a dynamic bucket
        ok = t.try_take(h, 4) and t.bucket(b"dyn", 3, 1, 3600.0).index >= 0
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert t.remaining(h) == 6
    assert t.remaining(t.bucket(b"dyn", 3, 1, 3600.0)) == 3
    assert t.used == 2


def test_bucket_key_digests_identities(impl: ModuleType) -> None:
    k = native.bucket_key(b"route0", b"sk-secret-api-key")
    assert len(k) == 32 and b"secret" not in k
    assert k == native.bucket_key(b"route0", b"sk-secret-api-key")
    assert native.bucket_key(b"a", b"bc") != native.bucket_key(b"ab", b"c")
    t = impl.BucketTable.create(4)
    long_identity = native.bucket_key(b"x" * 1000)
    assert t.bucket(long_identity, 1, 1, 1.0).index == t.bucket(native.bucket_key(b"x" * 1000), 1, 1, 1.0).index


def test_extreme_specs_do_not_overflow() -> None:
    """Largest amounts, longest interval, deepest debt: both implementations give the same times."""
    results = []
    for impl in (native.implementation("native"), native.implementation("python")):
        t = impl.BucketTable.create(4)
        h = t.bucket(b"k", 2**53, 1, 4e9, 0)
        assert t.charge(h, 2**53, -(2**53), 0) == 0
        assert t.charge(h, 2**53, -(2**53), 0) == -(2**53)
        results.append((t.time_until(h, 2**53, 0), t.time_to_refill(h, 10**9), t.remaining(h, 2**62)))
        with pytest.raises(ValueError):
            t.remaining(h, 2**62 + 1)
    assert results[0] == results[1]
    assert results[0][0] == pytest.approx(2**54 * 4e9)


def test_region_cannot_be_unmapped_while_a_table_uses_it(impl: ModuleType) -> None:
    t = impl.BucketTable.create(4)
    h = t.bucket(b"k", 3, 1, 1.0)
    with pytest.raises(BufferError):
        t.region.close()
    assert t.try_take(h)
