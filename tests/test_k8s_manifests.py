"""The Kubernetes manifests in deploy/k8s/ validate against the Kubernetes schemas (kubernetes-validate bundles them:
no cluster or network needed), and agree with what the image and the service really are: the Dockerfile's ports,
user, data folder and environment, the `acnebot` subcommands, the settings bot/settings.py reads, the example
Secret's keys. A pod's environment is put together as Kubernetes would and handed to Settings."""
from __future__ import annotations

import copy
import functools
import importlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices, ValidationError

from bench import bench_rss

try:
    import kubernetes_validate
    from kubernetes_validate.utils import all_versions
except ImportError:  # the consistency checks below still run
    kubernetes_validate = None
needs_validator = pytest.mark.skipif(kubernetes_validate is None, reason="kubernetes-validate is not installed "
                                     "(it is in the test extra: pip install -e '.[test]')")

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "deploy" / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"
EXAMPLE_SECRET = K8S / "secret.example.yaml"
RUNTIME_ENV_READS = re.compile(r"""os\.(?:environ\.get|environ\[|getenv)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")


# -- reading the repository -------------------------------------------------------------------------------------
def manifests(*, example_secret: bool = True) -> list[tuple[str, dict]]:
    """(file name, object) of every YAML document in deploy/k8s/ but the kustomization."""
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path == KUSTOMIZATION or (path == EXAMPLE_SECRET and not example_secret):
            continue
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def objects(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def deployments() -> dict[str, dict]:
    return objects("Deployment")


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def kustomization() -> dict:
    return yaml.safe_load(KUSTOMIZATION.read_text())


def env_file(path: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {key.strip(): value for key, value in pairs}


def config_env() -> dict[str, str]:
    """The ConfigMap's data, from the file its generator reads."""
    (generator,) = kustomization()["configMapGenerator"]
    return {k: v for name in generator["envs"] for k, v in env_file(K8S / name).items()}


def example_secret() -> dict[str, str]:
    (secret,) = [doc for doc in yaml.safe_load_all(EXAMPLE_SECRET.read_text()) if doc]
    assert secret["kind"] == "Secret"
    return secret["stringData"]


def dockerfile_run_stage() -> dict:
    """The final stage's user, ports and environment, continuation lines joined (ARGs before FROM allowed)."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stage: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stage = []
        stage.append((instruction.upper(), arguments.strip()))
    env: dict[str, str] = {}
    for instruction, arguments in stage:
        if instruction == "ENV":
            pairs = re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)', arguments)
            if not pairs:  # the old form: ENV KEY value
                key, _, value = arguments.partition(" ")
                pairs = [(key, value.strip())]
            env.update({key: value.strip('"') for key, value in pairs})
    run = " ".join(arguments for instruction, arguments in stage if instruction == "RUN")
    useradd = re.search(r"useradd\s[^&;]*", run).group(0)
    uid = re.search(r"(?:--uid|-u)[ =](\d+)", useradd)
    home = re.search(r"(?:--home-dir|-d)[ =](\S+)", useradd)
    exposed = {int(port.split("/")[0]) for instruction, arguments in stage if instruction == "EXPOSE"
               for port in arguments.split()}
    (user,) = [arguments for instruction, arguments in stage if instruction == "USER"][-1:]
    return {"env": env, "uid": int(uid.group(1)), "home": home.group(1), "expose": exposed, "user": user}


@functools.cache
def setting_names() -> frozenset[str]:
    """Environment variables the service reads: Settings' fields (by alias where they have one) and the few
    read straight from os.environ in the installed packages (the model paths and threads)."""
    from bot.settings import Settings

    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        else:
            names.add((alias or name).upper())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        for package in REPO.glob(pattern.rstrip("*")):
            for source in package.rglob("*.py"):
                names |= set(RUNTIME_ENV_READS.findall(source.read_text(encoding="utf-8")))
    return frozenset(names)


def acnebot_subcommands(capsys) -> set[str]:
    """The subcommands `acnebot --help` lists, through the console script pyproject.toml installs."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["acnebot"].split(":")
    with pytest.raises(SystemExit) as exit_:
        getattr(importlib.import_module(module), function)(["--help"])
    assert exit_.value.code in (0, None)
    choices = re.search(r"\{([a-z0-9,-]+)\}", capsys.readouterr().out)
    return set(choices.group(1).split(","))


def env_names(deployment: dict) -> set[str]:
    return {entry["name"] for entry in container(deployment).get("env", [])}


def secret_refs(deployment: dict) -> dict[str, dict]:
    """Environment variable -> its secretKeyRef."""
    return {entry["name"]: entry["valueFrom"]["secretKeyRef"] for entry in container(deployment).get("env", [])
            if "secretKeyRef" in entry.get("valueFrom", {})}


def pod_environment(deployment: dict, secret: dict[str, str]) -> dict[str, str]:
    """What the container's process sees, in Kubernetes' order: the image's ENV, then envFrom (later sources win),
    then env. The ConfigMap is the kustomization's generator; the Secret is `secret`."""
    stage = dockerfile_run_stage()
    generated = {generator["name"]: config_env() for generator in kustomization()["configMapGenerator"]}
    spec = container(deployment)
    env = dict(stage["env"])
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            env.update(generated[source["configMapRef"]["name"]])
        if "secretRef" in source:
            assert source["secretRef"]["name"] == "acnebot"
            env.update(secret)
    for entry in spec.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            if ref["key"] in secret:
                env[entry["name"]] = secret[ref["key"]]
            else:
                assert ref.get("optional"), f"{entry['name']}: the pod would not start without {ref['key']}"
    return env


def named_port(spec: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in spec["ports"] if p["name"] == port]
    return number


def quantity(text: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    return float(match.group(1)) * units.get(match.group(2), 1)


def selects(selector: dict, labels: dict) -> bool:
    return selector.items() <= labels.items()


# -- the schemas ------------------------------------------------------------------------------------------------
# The Kubernetes versions whose schemas kubernetes-validate bundles (one a minor version).
SCHEMA_VERSIONS = sorted({".".join(v.split(".")[:2]) for v in all_versions()},
                         key=lambda v: tuple(map(int, v.split(".")))) if kubernetes_validate else ["none"]


@needs_validator
@pytest.mark.parametrize("version", sorted({SCHEMA_VERSIONS[0], SCHEMA_VERSIONS[-1]}))
def test_every_manifest_validates_against_the_kubernetes_schemas(version):
    docs = manifests()
    kinds = sorted(doc["kind"] for _, doc in docs)
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Secret"} <= set(kinds)
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} is not valid Kubernetes {version}: "
                        f"{'.'.join(map(str, error.path))}: {error.message}")


@needs_validator
def test_the_validator_catches_a_misspelt_field_and_a_wrong_type():
    """The check above is not vacuous: strict validation refuses what a typo or a wrong value would apply."""
    deployment = deployments()["acnebot-serve"]
    misspelt = copy.deepcopy(deployment)
    container(misspelt)["readinesProbe"] = container(misspelt).pop("readinessProbe")
    wrong_type = copy.deepcopy(deployment)
    container(wrong_type)["ports"][0]["containerPort"] = "8080"
    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, SCHEMA_VERSIONS[-1], strict=True)


def test_the_kustomization_applies_every_manifest_but_the_example_secret():
    listed = kustomization()["resources"]
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {KUSTOMIZATION.name, EXAMPLE_SECRET.name}
    assert sorted(listed) == sorted(on_disk)
    assert all(doc["kind"] != "Secret" for _, doc in manifests(example_secret=False)), \
        "secrets never go into the kustomization: placeholders would be applied"
    assert "secret.yaml" in (K8S / ".gitignore").read_text().split(), "the filled-in copy must stay out of git"
    images = {container(d)["image"] for d in deployments().values()}
    compose_image = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["acnebot"]["image"]
    assert images == {compose_image.split(":")[0]}, "the image the Dockerfile builds, as compose names it"
    assert [image["name"] for image in kustomization()["images"]] == sorted(images)
    referenced = {source["configMapRef"]["name"] for d in deployments().values()
                  for source in container(d)["envFrom"] if "configMapRef" in source}
    assert referenced == {g["name"] for g in kustomization()["configMapGenerator"]}


@needs_validator
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed (renders the kustomization)")
def test_what_kubectl_applies_validates_and_lands_in_one_namespace():
    rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    docs = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    for doc in docs:
        kubernetes_validate.validate(doc, SCHEMA_VERSIONS[-1], strict=True)
    namespace = kustomization()["namespace"]
    assert {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"} == {namespace}
    assert [doc["metadata"]["name"] for doc in docs if doc["kind"] == "Namespace"] == [namespace]
    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    (config,) = [doc for doc in docs if doc["kind"] == "ConfigMap"]
    assert config["data"] == config_env()
    new = kustomization()["images"][0]
    for doc in docs:
        if doc["kind"] == "Deployment":
            spec = doc["spec"]["template"]["spec"]["containers"][0]
            assert spec["image"] == f"{new['newName']}:{new['newTag']}"
            assert {"configMapRef": {"name": config["metadata"]["name"]}} in spec["envFrom"]


# -- agreement with the image and the service -------------------------------------------------------------------
def test_ports_probes_user_and_data_folder_match_the_dockerfile():
    stage = dockerfile_run_stage()
    port, console_port = int(stage["env"]["PORT"]), int(stage["env"]["CONSOLE_PORT"])
    assert stage["expose"] == {port, console_port}
    data_dir = stage["env"]["ACNEBOT_DATA_DIR"]
    assert stage["home"] == data_dir, "HOME is where matplotlib and onnxruntime keep caches: the writable volume"
    for name, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        spec = container(deployment)
        env = {e["name"]: e.get("value") for e in spec.get("env", [])}
        assert int(env.get("PORT", port)) == named_port(spec, "http") == port, name
        assert {p["containerPort"] for p in spec["ports"]} <= stage["expose"], name
        if "console" in {p["name"] for p in spec["ports"]}:
            assert named_port(spec, "console") == int(env.get("CONSOLE_PORT", console_port))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            check = spec[probe]["httpGet"]
            assert check["path"] == "/healthz" and named_port(spec, check["port"]) == port, (name, probe)
            assert spec[probe]["timeoutSeconds"] > 5, "/healthz waits up to 5 s for the database"
        assert pod["securityContext"]["runAsUser"] == stage["uid"] and pod["securityContext"]["runAsNonRoot"]
        assert stage["user"] in ("acnebot", str(stage["uid"]))
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in spec["volumeMounts"]}
        assert set(mounts) == {data_dir, "/tmp"}, "the only writable places: the data folder and /tmp"
        assert all("emptyDir" in volume for volume in mounts.values()), "photos live in PostgreSQL, not here"
    serve = container(deployments()["acnebot-serve"])
    assert {p["containerPort"] for p in serve["ports"]} == stage["expose"], "serve listens on every EXPOSEd port"


@pytest.mark.parametrize("deployment", ["acnebot-serve", "acnebot-worker"])
def test_each_deployment_runs_a_real_acnebot_subcommand(deployment, capsys):
    command = container(deployments()[deployment])["command"]
    assert command[0] == "acnebot" and len(command) == 2
    subcommands = acnebot_subcommands(capsys)
    assert command[1] in subcommands, f"`acnebot {command[1]}` does not exist (acnebot has {sorted(subcommands)})"


def test_every_variable_set_is_one_the_service_reads_and_every_secret_key_exists():
    known = setting_names()
    assert {"TELEGRAM_WEBHOOK_URL", "ACNEBOT_PHOTO_KEY", "ASSESSMENT_WORKERS", "DATABASE_URL"} <= known
    secret = example_secret()
    for source, names in [("config.env", set(config_env())), ("secret.example.yaml", set(secret))] + \
                         [(name, env_names(d)) for name, d in deployments().items()]:
        assert names <= known, f"{source} sets what acnebot never reads: {sorted(names - known)}"
    for name, deployment in deployments().items():
        for variable, ref in secret_refs(deployment).items():
            assert ref["name"] == "acnebot" and ref["key"] in secret, (name, variable)
        # Without these a pod generates its own photo key (webhook secret) and SQLite file in its emptyDir.
        required = {v for v, ref in secret_refs(deployment).items() if not ref.get("optional")}
        receives_webhooks = container(deployment)["command"][1] == "serve"
        assert {"ACNEBOT_PHOTO_KEY", "DATABASE_URL"} | ({"TELEGRAM_WEBHOOK_SECRET"} if receives_webhooks else set()) \
            <= required, name


def filled_secret() -> dict[str, str]:
    from storage.crypto import new_key_text

    return {**example_secret(), "ACNEBOT_PHOTO_KEY": new_key_text(), "TELEGRAM_BOT_TOKEN": "123456:test-token",
            "TELEGRAM_WEBHOOK_SECRET": "s3cret_" * 6}


def settings_for(monkeypatch, environment: dict[str, str]):
    from bot.settings import Settings

    for name in setting_names():  # what the pod does not set must not come from the test's own environment
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        if name in setting_names():  # not PATH and the like
            monkeypatch.setenv(name, value)
    return Settings()


@pytest.mark.parametrize("deployment", ["acnebot-serve", "acnebot-worker"])
def test_a_pods_environment_gives_webhook_mode_on_postgres_on_the_ports_the_services_use(deployment, monkeypatch):
    from storage.crypto import parse_key

    spec = container(deployments()[deployment])
    settings = settings_for(monkeypatch, pod_environment(deployments()[deployment], filled_secret()))
    assert settings.host == "0.0.0.0" and settings.port == named_port(spec, "http")
    assert str(settings.data_dir) == dockerfile_run_stage()["env"]["ACNEBOT_DATA_DIR"]
    assert settings.telegram_enabled, "serve and worker both reach the patients: the messengers' tokens"
    parse_key(settings.reveal("photo_key"))
    database = urlsplit(settings.reveal("database_url"))
    assert database.scheme == "postgresql+asyncpg"
    external = {name: doc["spec"] for name, doc in objects("Service").items() if doc["spec"]["type"] == "ExternalName"}
    assert database.hostname in external and database.port == external[database.hostname]["ports"][0]["port"]
    assert "ASSESSMENT_WORKERS" in env_names(deployments()[deployment]), "the default counts the node's cores"
    workers = settings.assessment_workers
    assert quantity(spec["resources"]["limits"]["cpu"]) >= workers, "a CPU for each worker process"
    if deployment == "acnebot-serve":
        assert settings.webhook_mode, "Telegram by webhook: polling replicas would take each other's updates"
        assert settings.console_port == named_port(spec, "console")
        assert settings.console_host == "0.0.0.0", "the console Service must reach the console port"
        (ingress,) = objects("Ingress").values()
        (rule,) = ingress["spec"]["rules"]
        routed = {p["path"] for p in rule["http"]["paths"]}
        webhook = urlsplit(settings.telegram_webhook_url)
        assert webhook.scheme == "https" and webhook.hostname == rule["host"]
        assert rule["host"] in ingress["spec"]["tls"][0]["hosts"]
        assert any(settings.webhook_path.startswith(path) for path in routed)
        assert any(settings.wechat_callback_path.startswith(path) for path in routed)


def test_a_forgotten_placeholder_stops_the_pod_instead_of_running_with_a_published_secret(monkeypatch):
    from storage.crypto import parse_key

    shipped = example_secret()
    with pytest.raises(ValueError):
        parse_key(shipped["ACNEBOT_PHOTO_KEY"])
    with pytest.raises(ValidationError, match="TELEGRAM_WEBHOOK_SECRET"):
        settings_for(monkeypatch, pod_environment(deployments()["acnebot-serve"], shipped))
    assert "REPLACE" in urlsplit(shipped["DATABASE_URL"]).password


# -- scaling, disruptions, exposure, pod security ---------------------------------------------------------------
def test_workers_autoscale_and_node_drains_leave_every_deployment_running():
    all_deployments = deployments()
    (hpa,) = objects("HorizontalPodAutoscaler").values()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    worker = all_deployments[target["name"]]
    assert container(worker)["command"][1] == "worker"
    assert "replicas" not in worker["spec"], "the HPA owns the count; an applied one would reset it"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and "cpu" in container(worker)["resources"]["requests"], \
        "CPU utilisation is measured against the request"
    budgets = objects("PodDisruptionBudget").values()
    for name, deployment in all_deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
        (budget,) = [b for b in budgets if selects(b["spec"]["selector"]["matchLabels"], labels)]
        replicas = deployment["spec"].get("replicas", hpa["spec"]["minReplicas"])
        allowed = budget["spec"].get("maxUnavailable", replicas - budget["spec"].get("minAvailable", replicas))
        assert 1 <= allowed < replicas, f"{name}: a drain must be able to move a pod, and leave one running"
        others = [d for n, d in all_deployments.items() if n != name]
        assert not any(selects(budget["spec"]["selector"]["matchLabels"],
                               d["spec"]["template"]["metadata"]["labels"]) for d in others)


def test_services_reach_the_chat_port_and_keep_the_console_inside_the_cluster():
    serve = deployments()["acnebot-serve"]
    labels = serve["spec"]["template"]["metadata"]["labels"]
    spec = container(serve)
    services = {n: s for n, s in objects("Service").items() if s["spec"]["type"] != "ExternalName"}
    exposed = {}
    for name, service in services.items():
        assert selects(service["spec"]["selector"], labels), name
        assert not selects(service["spec"]["selector"], deployments()["acnebot-worker"]["spec"]["template"]
                           ["metadata"]["labels"]), f"{name} would send chat traffic to workers"
        for port in service["spec"]["ports"]:
            exposed[named_port(spec, port["targetPort"])] = (name, service["spec"]["type"], port)
    stage = dockerfile_run_stage()
    console_port, port = int(stage["env"]["CONSOLE_PORT"]), int(stage["env"]["PORT"])
    assert set(exposed) == {port, console_port}
    assert exposed[console_port][1] == "ClusterIP", "the staff console and /metrics stay inside the cluster"
    (ingress,) = objects("Ingress").values()
    backends = {(p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
                for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    chat_service, _, chat_port = exposed[port]
    assert backends == {(chat_service, chat_port["name"])}, "the ingress routes the chat port only"


def test_pods_meet_the_restricted_pod_security_standard_and_have_resources():
    namespace = objects("Namespace")[kustomization()["namespace"]]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        spec = container(deployment)
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False, name
        assert all(set(volume) == {"name", "emptyDir"} for volume in pod["volumes"]), name
        resources = spec["resources"]
        for kind in ("cpu", "memory"):
            assert quantity(resources["requests"][kind]) <= quantity(resources["limits"][kind]), (name, kind)
        tmp = [v["emptyDir"] for v in pod["volumes"] if v["emptyDir"].get("medium") == "Memory"]
        assert sum(quantity(v["sizeLimit"]) for v in tmp) < quantity(resources["limits"]["memory"]) / 8, \
            "an in-memory emptyDir counts against the memory limit"


# What a pod runs besides its assessment processes: the `acnebot serve` or `acnebot worker` process itself and
# multiprocessing's resource tracker (2026-12-05, idle with PostgreSQL: 186 + 13 MB RSS).
POD_PARENT_MB = 250


@pytest.fixture(scope="module")
def assessment_process_peak_mb(tmp_path_factory) -> float:
    """Peak RSS of one assessment process over four 12 MP phone photos at one inference thread, as the pods run
    them: bench/bench_rss.py's child (models loaded, photo check, assessment, annotated picture, trend chart)."""
    paths = bench_rss.photo_paths(4, 12, tmp_path_factory.mktemp("phone-photos"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ACNEBOT_MODEL_THREADS", "1")
        report = bench_rss.pipeline_rss(Path(sys.prefix), paths)
    assert all(step.get("grade") for step in report["steps"][1:]), "every photo was assessed"
    return report["peak_rss_mb"]


@pytest.mark.parametrize("deployment", ["acnebot-serve", "acnebot-worker"])
def test_a_pods_memory_limit_holds_its_assessment_processes_at_their_peak(deployment, assessment_process_peak_mb):
    spec = container(deployments()[deployment])
    env = {e["name"]: e.get("value") for e in spec["env"]}
    assert env["ACNEBOT_MODEL_THREADS"] == "1", "the peak below is measured at one inference thread"
    needed = int(env["ASSESSMENT_WORKERS"]) * assessment_process_peak_mb + POD_PARENT_MB
    limit_mb = quantity(spec["resources"]["limits"]["memory"]) / 2**20
    assert needed <= limit_mb, f"{deployment}: {needed:.0f} MB at the peak, limit {limit_mb:.0f} MB"
