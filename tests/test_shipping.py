"""The container essentials, read from the Dockerfile and compose.yaml (no Docker daemon needed): a slim
non-root image with a health check and no torch or build tools, and compose wiring the service to PostgreSQL."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def final_stage() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile's last stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    stages: list[list[tuple[str, str]]] = []
    defaults: dict[str, str] = {}  # ARG NAME=default before the first FROM: what `docker build` uses unless told
    for line in lines:
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "ARG" and not stages:
            name, _, default = arguments.strip().partition("=")
            defaults[name] = default
            continue
        if instruction.upper() == "FROM":
            stages.append([])
            arguments = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m[1] or m[2]], arguments)
        stages[-1].append((instruction.upper(), arguments.strip()))
    assert len(stages) >= 2, "a build stage and a run stage"
    return stages[-1]


def test_the_image_is_slim_unprivileged_checked_and_has_no_torch_or_compiler():
    stage = final_stage()
    assert stage[0] == ("FROM", "python:3.11-slim")  # the default base: compose builds on it unchanged
    users = [args for instruction, args in stage if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    (health,) = [args for instruction, args in stage if instruction == "HEALTHCHECK"]
    assert "/healthz" in health
    everything = (REPO / "Dockerfile").read_text()
    run_steps = " ".join(args for instruction, args in stage if instruction == "RUN")
    assert not re.search(r"\b(gcc|g\+\+|build-essential|make)\b", run_steps)
    # uid and gid both 10001, as deploy/k8s's runAsUser/runAsGroup/fsGroup say (--user-group picked gid 999)
    assert re.search(r"groupadd [^&]*--gid 10001 acnebot", run_steps)
    assert re.search(r"useradd [^&]*--uid 10001 --gid 10001 ", run_steps)
    install = re.findall(r"pip install[^&\n]*", everything)
    assert install and not any("torch" in step or "[train]" in step or "[test]" in step for step in install)
    assert "acnebot\", \"serve\"" in everything  # the service is the default command
    assert ".venv" in (REPO / ".dockerignore").read_text().split()


def test_compose_runs_the_service_on_postgres_with_the_key_from_an_env_file():
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    service, postgres = compose["services"]["acnebot"], compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert service["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in service["environment"]["DATABASE_URL"]
    assert [f["path"] for f in service["env_file"]] == ["acnebot.env"]
    assert "acnebot.env" in (REPO / ".gitignore").read_text().split()
    assert "ACNEBOT_PHOTO_KEY=" in (REPO / "acnebot.env.example").read_text()
    assert "8080:8080" in service["ports"] and "127.0.0.1:8081:8081" in service["ports"]
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert set(compose["volumes"]) >= {v.split(":")[0] for v in service["volumes"] + postgres["volumes"]}
