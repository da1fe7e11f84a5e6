"""docker-compose.yml and the Dockerfile are for users (no Docker engine here):
check they parse, wire the topology the docs describe, and that the runtime
image gets the runtime wheel only."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from setuptools.config.pyprojecttoml import read_configuration

from om.settings import Settings

ROOT = Path(__file__).parents[2]
# `om` is the client-side services package (optional until it exists).
RUNTIME = {"domain", "workflows", "activities", "workers", "api", "cli"}
DEV_TOOLS = {"sandbox", "loadtest"}


def test_compose_has_temporal_on_postgres_ui_worker_and_api():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker", "api"} <= set(services)
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    for name in ("worker", "api"):
        assert services[name]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert services[name]["build"] == "."
    assert services["api"]["command"][:2] == ["om", "api"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("worker", "api"):
        url = services[name]["environment"]["OM_REPORTING_URL"]
        assert url.startswith("postgresql+psycopg://") and "@postgresql:5432/" in url


def test_compose_settings_file_loads_as_settings(monkeypatch):
    file = ROOT / "deploy" / "settings.json"
    json.loads(file.read_text())
    monkeypatch.setenv("OM_SETTINGS_FILE", str(file))
    settings = Settings()
    assert settings.task_queue == "order-management"
    assert settings.support_desk.url == "https://example.zendesk.com"


def _settings_under(environment: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as the service's process reads them from its environment."""
    for name in ("OM_METRICS_BIND", "OM_LOG_FORMAT", "OM_API_METRICS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("OM_SETTINGS_FILE")  # a path inside the container
    return Settings()


def test_compose_worker_serves_sdk_metrics_and_both_log_json(monkeypatch):
    """The worker replicas serve Temporal SDK metrics on the compose network
    only (no host port: two replicas could not share one), the API serves its
    own /metrics on its port, and both log JSON lines."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    worker, api = services["worker"], services["api"]
    assert "9464" in [str(port) for port in worker.get("expose", [])]
    assert "ports" not in worker

    on_worker = _settings_under(worker["environment"], monkeypatch)
    assert on_worker.metrics_bind == "0.0.0.0:9464" and on_worker.log_format == "json"
    on_api = _settings_under(api["environment"], monkeypatch)
    assert on_api.metrics_bind is None and on_api.log_format == "json" and on_api.api_metrics


def _setuptools_config(pyproject: Path) -> dict[str, Any]:
    """The [tool.setuptools] table with the package search done, as a build
    computes it (older setuptools warn that the table is beta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_configuration(pyproject)["tool"]["setuptools"]


def test_runtime_wheel_holds_the_runtime_packages_only():
    config = _setuptools_config(ROOT / "pyproject.toml")
    top_level = {name.split(".")[0] for name in config["packages"]}
    assert RUNTIME <= top_level <= RUNTIME | {"om"}, top_level
    assert "api.console" in config["packages"]
    assert {"templates/*.html", "static/*"} <= set(config["package-data"]["api"])


def test_every_top_level_package_is_runtime_devtools_or_tests():
    """A new top-level package lands in one of the two distributions on
    purpose: the runtime wheel's find patterns or devtools/pyproject.toml."""
    devtools = _setuptools_config(ROOT / "devtools" / "pyproject.toml")
    assert set(devtools["packages"]) == DEV_TOOLS
    for name in DEV_TOOLS:
        folder = (ROOT / "devtools" / devtools["package-dir"][name]).resolve()
        assert folder == ROOT / name and (folder / "__init__.py").exists()
    runtime = {
        name.split(".")[0] for name in _setuptools_config(ROOT / "pyproject.toml")["packages"]
    }
    on_disk = {init.parent.name for init in ROOT.glob("*/__init__.py")}
    assert on_disk == runtime | DEV_TOOLS | {"tests"}


def test_runtime_image_installs_the_runtime_wheel_only():
    """The final stage copies nothing but the wheel the first stage built, and
    the build context leaves the development code out altogether."""
    instructions = DockerfileParser(path=str(ROOT / "Dockerfile")).structure
    stages: list[list[dict[str, Any]]] = []
    for instruction in instructions:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages and instruction["instruction"] != "COMMENT":
            stages[-1].append(instruction)
    assert len(stages) == 2
    build, runtime = stages
    build_name = build[0]["value"].split()[-1]
    assert any("pip wheel" in i["value"] and "--no-deps" in i["value"] for i in build)
    copies = [i["value"] for i in runtime if i["instruction"] in ("COPY", "ADD")]
    assert copies == [f"--from={build_name} /wheels /wheels"]
    runs = " ".join(i["value"] for i in runtime if i["instruction"] == "RUN")
    assert "/wheels/om_orchestrator-*.whl)[postgres]" in runs
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert DEV_TOOLS | {"devtools", "benchmarks", "tests", ".venv"} <= ignored


# `om` in a checkout whose sandbox package is not installed, as under the
# runtime wheel: devtools' editable finder is dropped before cli loads.
WITHOUT_DEVTOOLS = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "om_devtools" not in getattr(f, "__module__", "")]
sys.argv[0] = "om"
from cli.main import main
main()
"""


@pytest.mark.parametrize("args", [["dev"], ["sandbox"], ["sandbox", "info"]])
def test_dev_commands_without_the_dev_tools_print_one_line(args, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEVTOOLS, *args],
        cwd=tmp_path,  # not the checkout: its folders would import from the cwd
        env={"PATH": "/usr/bin:/bin", "OM_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    command = "om " + args[0]
    assert done.stderr.splitlines() == [
        f"error: `{command}` needs the development tools (missing sandbox): "
        "run `make install` in a checkout"
    ]
    assert not (tmp_path / "home").exists()  # stopped before starting anything
