"""Listening addresses in the config: `binds[].address` (a fastgw extension) and the management
addresses, well formed and never two listeners on one address."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastgw.config.compile import load_runtime
from fastgw.config.load import ConfigError


@pytest.mark.parametrize(
    ("yaml_text", "where", "message"),
    [
        (
            "binds:\n- port: 3000\n  address: localhost4\n  listeners: []\n",
            ":3: binds[0].address",
            "expected an IP address such as 127.0.0.1, 0.0.0.0 or ::1, not 'localhost4'",
        ),
        (
            "config:\n  adminAddr: admin.local\nbinds: []\n",
            ":2: config.adminAddr",
            'expected "ip:port" (port 1..65535) or "off", not \'admin.local\'',
        ),
        (
            "config:\n  statsAddr: example.com:9\nbinds: []\n",
            ":2: config.statsAddr",
            "expected an IP address such as 127.0.0.1, 0.0.0.0 or ::1, not 'example.com'",
        ),
        (
            "config:\n  readinessAddr: 127.0.0.1:3000\nbinds:\n- port: 3000\n  listeners: []\n",
            ":2: config.readinessAddr",
            "127.0.0.1:3000 is also where bind/3000 listens",
        ),
        (
            "config:\n  adminAddr: 0.0.0.0:9000\n  statsAddr: 127.0.0.1:9000\nbinds: []\n",
            ":3: config.statsAddr",
            "127.0.0.1:9000 is also where config.adminAddr listens",
        ),
    ],
    ids=["bind address", "admin address without port", "stats hostname", "readiness on a bind", "stats on admin"],
)
def test_listen_addresses_are_validated(tmp_path: Path, yaml_text: str, where: str, message: str) -> None:
    path = tmp_path / "addr.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_runtime(str(path))
    text = str(err.value)
    assert f"{path}{where}" in text and message in text, text


def test_bind_address_is_kept_in_one_spelling(tmp_path: Path) -> None:
    path = tmp_path / "v6.yaml"
    path.write_text("binds:\n- port: 3000\n  address: '0:0::1'\n  listeners: []\n- port: 3001\n  listeners: []\n")
    rt = load_runtime(str(path))
    assert [(b.host, b.port) for b in rt.binds] == [("::1", 3000), ("0.0.0.0", 3001)]
