"""docker-compose.yaml is a valid compose file and says what the README promises. The stack itself
is not started here (its Prometheus image cannot be pulled where the tests run): the compose
specification's JSON schema is the check, plus what a schema cannot see."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("compose-spec.json")


def _compose() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(_compose()), key=str)
    assert errors == [], "\n".join(e.message for e in errors)


def test_the_validator_does_catch_mistakes() -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = _compose()
    services = broken["services"]
    assert isinstance(services, dict)
    services["gateway"]["ports"] = "3000:3000"  # a string, not a list
    services["gateway"]["helthcheck"] = {}  # misspelt key
    messages = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(broken)]
    assert any("helthcheck" in m for m in messages) and any("is not of type 'array'" in m for m in messages)


def test_one_image_built_once_and_no_unused_services() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    built = [name for name, spec in services.items() if "build" in spec]
    assert built == ["gateway"], "exactly one service builds the image"
    assert services["gateway"]["image"] == "fastgw:local"
    others = [spec.get("image", "") for name, spec in services.items() if name != "gateway"]
    assert not any("fastgw" in image for image in others)
    assert set(services) == {"gateway", "prometheus"}  # no redis until something uses it


def test_ports_and_scrape_target_match_the_image() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    ports = {p.rsplit(":", 1)[-1] for p in services["gateway"]["ports"]}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert ports == {"3000", "15020", "15021"}
    assert re.search(r"^EXPOSE 3000 15020 15021$", dockerfile, re.M)
    assert 'CMD ["demo", "--host", "0.0.0.0"]' in dockerfile
    prometheus = yaml.safe_load((ROOT / "configs" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["gateway:15020"] and job["metrics_path"] == "/metrics"
