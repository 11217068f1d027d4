"""The lock files under requirements/ are what every install takes (scripts/setup.sh, CI, the image, all with
`pip install --no-deps --require-hashes`): they must agree with pyproject.toml, and the runtime lock alone must
make a service that imports and assesses a photo, without the mediapipe dependencies it leaves out.

The venv test builds a fresh venv from requirements/runtime.txt plus the project (both --no-deps, the project
non-editable from a copy of its sources, as the image installs it), from pip's cache where it can: ~1-2 min.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCKS = REPO / "requirements"
SAMPLE = REPO / "pipeline" / "samples" / "astronaut.jpg"
RUNTIME_PACKAGES = ("bot", "conversations", "work", "pipeline", "storage", "models")
# mediapipe declares these; its legacy FaceMesh never imports them (scripts/lock.sh leaves them out, with what
# only they need). cv2 is opencv-python-headless.
LEFT_OUT = ("jax", "jaxlib", "opencv-contrib-python", "sentencepiece", "sounddevice", "scipy", "ml-dtypes",
            "opt-einsum")
# Training and evaluation tools: they import the "train" extra's packages (the first one each imports), which the
# runtime lock leaves out. A module that starts needing one and is not listed fails the venv test; one listed here
# that imports without them, or stops at another package, fails it too, so the list stays exact.
TRAINING_ONLY = {
    "models.detector.data": "torch",
    "models.detector.export": "onnx",
    "models.detector.network": "torch",
    "models.detector.train": "torch",
    "models.evaluate": "tqdm",
    "models.evaluate_closeups": "tqdm",
    "models.evaluate_types": "torch",
    "models.export": "onnx",
    "models.facecache": "tqdm",
    "models.grade.crossval": "torch",
    "models.grade.data": "torch",
    "models.grade.export": "onnx",
    "models.grade.network": "torch",
    "models.grade.train": "torch",
    "models.loop": "torch",
    "models.losses": "torch",
    "models.patchset": "tqdm",
    "models.pretrained": "torch",
    "models.regnet": "torch",
    "models.regnet_detector": "torch",
    "models.splits": "tqdm",
    "models.train": "torch",
    "models.train_types": "torch",
}
# Modules that are scripts, not imports: running them is their import.
NOT_IMPORTED = {
    "storage.migrations.env": "alembic's environment script: runs migrations when imported",
}


def pins(*names: str) -> dict[str, Version]:
    """{canonical name: pinned version} of the named locks (runtime, test, train)."""
    pinned: dict[str, Version] = {}
    for name in names:
        for line in (LOCKS / f"{name}.txt").read_text(encoding="utf-8").splitlines():
            match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
            if match:
                key = canonicalize_name(match.group(1))
                version = Version(match.group(2))
                assert pinned.setdefault(key, version) == version, f"{key} pinned twice at different versions"
    return pinned


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _unmet(requirements: list[str], pinned: dict[str, Version]) -> list[str]:
    unmet = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        version = pinned.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            unmet.append(f"{text} (locked: {version})")
    return unmet


@pytest.mark.parametrize("extra, locks", [
    (None, ("runtime",)),
    ("test", ("runtime", "test")),
    ("train", ("runtime", "train")),
])
def test_locks_agree_with_pyproject(extra, locks):
    """Every dependency pyproject.toml names is pinned, within its range, by the locks that install it: a change
    to pyproject without `make lock` fails here."""
    wanted = project()["dependencies"] if extra is None else project()["optional-dependencies"][extra]
    assert not _unmet(wanted, pins(*locks)), f"run `make lock`: {', '.join(_unmet(wanted, pins(*locks)))}"


def test_training_only_modules_need_the_train_extra():
    train = {canonicalize_name(Requirement(r).name) for r in project()["optional-dependencies"]["train"]}
    assert set(TRAINING_ONLY.values()) <= train


def test_locks_are_hashed_layered_and_slim():
    runtime, test, train = pins("runtime"), pins("test"), pins("train")
    assert not set(LEFT_OUT) & set(runtime), "the runtime lock carries what FaceMesh never uses"
    assert "opencv-python-headless" in runtime and "mediapipe" in runtime
    assert "torch" not in runtime and "pytest" not in runtime
    # The extras' locks add to the runtime lock, never repin it; where test and train share a package they agree.
    assert not set(runtime) & (set(test) | set(train))
    assert all(test[name] == train[name] for name in set(test) & set(train))
    for name in ("runtime", "test", "train"):
        text = (LOCKS / f"{name}.txt").read_text(encoding="utf-8")
        entries = [block for block in re.split(r"\n(?=[A-Za-z0-9])", text) if "==" in block.split("\n")[0]]
        assert len(entries) == len(pins(name)), f"{name}.txt: a requirement that is not a pin"
        assert all("--hash=sha256:" in entry for entry in entries), f"{name}.txt: a pin without its hashes"
        assert "make lock" in text, f"{name}.txt says how to regenerate it"


# The child's report: every runtime module imported or why not, and what the venv holds.
_IMPORT_ALL = r"""
import importlib, importlib.metadata as md, json, pkgutil, sys
packages, skip = sys.argv[1].split(","), set(sys.argv[2].split(","))
imported, failed = [], {}
for package in packages:
    module = importlib.import_module(package)
    imported.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name in skip or info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception as error:
            failed[info.name] = [type(error).__name__, getattr(error, "name", None), str(error)]
# The training tools last: each should stop at a package of the train extra.
training = {}
for name in sys.argv[3].split(","):
    try:
        importlib.import_module(name)
        training[name] = "imported"
    except ModuleNotFoundError as error:
        training[name] = error.name
installed = sorted(d.metadata["Name"] for d in md.distributions())
print(json.dumps({"imported": imported, "failed": failed, "training": training, "installed": installed,
                  "files": {m: getattr(sys.modules.get(m), "__file__", None) for m in packages}}))
"""


def test_runtime_venv_from_the_lock_alone(tmp_path):
    """A venv with requirements/runtime.txt and the project only, both --no-deps: every runtime module imports
    (the training tools fail only for the train extra's packages), and `acnebot assess` grades the sample photo
    with FaceMesh, onnxruntime, headless OpenCV and matplotlib as locked."""
    started = time.perf_counter()
    venv = tmp_path / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = venv / "bin" / "python"
        # The project from a copy of what the wheel ships, so no build/ left in the work tree, stale or new.
        source = tmp_path / "src"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for package in RUNTIME_PACKAGES:
            shutil.copytree(REPO / package, source / package, ignore=ignore)
        shutil.copy2(REPO / "pyproject.toml", source / "pyproject.toml")
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-compile"]
        for args in (["--require-hashes", "-r", str(LOCKS / "runtime.txt")], [str(source)]):
            install = subprocess.run(pip + args, capture_output=True, text=True, timeout=900)
            assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]
        installed_at = time.perf_counter()

        # -I: the installed copy, never the work tree (no cwd or PYTHONPATH on sys.path).
        skip = ",".join([*TRAINING_ONLY, *NOT_IMPORTED])
        run = subprocess.run([str(python), "-I", "-c", _IMPORT_ALL, ",".join(RUNTIME_PACKAGES), skip,
                              ",".join(TRAINING_ONLY)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        report = json.loads(run.stdout.strip().splitlines()[-1])
        assert not report["failed"], f"runtime modules that do not import from the lock: {report['failed']}"
        assert all(str(venv) in path for path in report["files"].values()), report["files"]
        installed = {canonicalize_name(name) for name in report["installed"]}
        assert installed == set(pins("runtime")) | {"acnebot"}, "the venv holds exactly the runtime lock"
        assert len(report["imported"]) > 50, report["imported"]

        # The training tools: each stops at the train extra's package it is listed with.
        wrong = {m: got for m, got in report["training"].items() if got != TRAINING_ONLY[m]}
        assert not wrong, f"TRAINING_ONLY modules that import, or stop at another package: {wrong}"

        # One real assessment: FaceMesh regions, the lesion detector, the grade.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ACNEBOT_", "PYTHON"))}
        assess = subprocess.run([str(venv / "bin" / "acnebot"), "assess", "--json", str(SAMPLE)], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=300)
        assert assess.returncode == 0, assess.stderr[-3000:]
        result = json.loads(assess.stdout)
        assert result["quality"]["ok"] and result["grade"], result
        assert all(region["assessed"] for region in result["regions"].values()), result["regions"]
        print(f"\nruntime lock venv: installed in {installed_at - started:.0f} s, "
              f"checked in {time.perf_counter() - installed_at:.0f} s")
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # ~550 MB: not left for pytest's kept temp folders
