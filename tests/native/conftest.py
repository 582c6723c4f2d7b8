"""Every test here runs against both implementations: the C extension and the pure-Python twins."""

from types import ModuleType

import pytest

from fastgw import native


@pytest.fixture(params=["native", "python"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return native.implementation(request.param)
