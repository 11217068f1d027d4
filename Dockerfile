# acnebot service image: python:3.11-slim, no compiler or torch in the final image, lesion model baked in
# (installed with the package: models/weights/*.onnx), runs as an unprivileged user.
#   docker build -t acnebot .
#   docker run --env-file acnebot.env -p 8080:8080 -v acnebot-data:/var/lib/acnebot acnebot
# BASE is any Debian-like image with python (3.11) and its venv module on PATH; both stages use it.
# scripts/build_image.sh builds on a local Debian bookworm base (no registry needed) and smoke-tests the image.
# Behind a TLS-intercepting proxy, hand pip the proxy's CA as a build secret (used, never stored in a layer):
#   podman build --secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt -t acnebot .
ARG BASE=python:3.11-slim

# -- build: a virtualenv with acnebot and exactly the locked run-time packages (wheels: slim has no compiler) --
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/acnebot
WORKDIR /src
# The runtime lock first, in a layer of its own that a code change does not rebuild: every package pinned with
# its hashes and nothing else (--no-deps), as .venv and CI get it; mediapipe without the jax, jaxlib,
# opencv-contrib-python... it declares and never imports (requirements/runtime.txt's header; `make lock`).
COPY requirements/runtime.txt ./requirements/
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && /opt/acnebot/bin/pip install --no-deps --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY conversations ./conversations
COPY work ./work
COPY pipeline ./pipeline
COPY storage ./storage
COPY models ./models
# The project alone (--no-deps: the lock above is all it runs on); no extras: torch and the training tools
# ("train") and the test tools ("test") stay out. pip fetches setuptools to build it, hence the CA again.
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && /opt/acnebot/bin/pip install --no-deps . \
    && ! /opt/acnebot/bin/pip show torch >/dev/null 2>&1

# -- run -------------------------------------------------------------------------------------------------------
FROM ${BASE}
# Nothing from apt: cv2 is opencv-python-headless and mediapipe brings its own GL libraries, so neither libGL nor
# GLib is needed (scripts/smoke_image.sh assesses a photo in the image to prove it). User and group are both
# 10001 (useradd --user-group would pick a system gid such as 999), so runAsGroup/fsGroup can name them.
RUN groupadd --system --gid 10001 acnebot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/acnebot --create-home acnebot
# onnxruntime (1.32) starts Microsoft's 1DS telemetry on import: a device id and an event store under $HOME/.cache
# (here the data volume) and /tmp/.ses, for its uploader (mobile.events.data.microsoft.com). Off, before any import.
ENV ORT_DISABLE_TELEMETRY=1
COPY --from=build /opt/acnebot /opt/acnebot
# The image fails to build unless the baked-in lesion model loads and the pipeline imports.
RUN /opt/acnebot/bin/python -c "from pipeline.assess import load_models; load_models()"
ENV PATH=/opt/acnebot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ACNEBOT_DATA_DIR=/var/lib/acnebot \
    HOST=0.0.0.0 \
    PORT=8080 \
    CONSOLE_HOST=0.0.0.0 \
    CONSOLE_PORT=8081 \
    LOG_FORMAT=json
USER acnebot
WORKDIR /var/lib/acnebot
VOLUME ["/var/lib/acnebot"]
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
CMD ["acnebot", "serve"]
