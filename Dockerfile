# syntax=docker/dockerfile:1
# Conduix in one image: the control plane with its web UI (`conduix control serve`), the agent
# (`conduix agent start`) and the standalone runner (`conduix run FILE`), with every connector.
# Build: `docker build -t conduix .` (or `make build`); how to run it: docs/deployment.md.
#
# BASE is any Debian 12 image (the tests use one made locally with debootstrap); NODE_IMAGE builds the
# web UI only and is not part of the result.
ARG BASE=debian:bookworm-slim
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- web UI: React + Vite into conduix-control/src/conduix_control/webui/dist -------------------------
FROM ${NODE_IMAGE} AS ui
WORKDIR /src/conduix-control/ui
COPY conduix-control/ui/package.json conduix-control/ui/package-lock.json ./
# its postinstall installs typegen (openapi-typescript, which `npm run build` runs on openapi.json)
COPY conduix-control/ui/typegen/package.json conduix-control/ui/typegen/package-lock.json ./typegen/
# /host-ca.crt exists only when a build is given a CA bundle (a TLS-inspecting proxy; see docs/deployment.md)
RUN --mount=type=cache,target=/root/.npm \
    if [ -f /host-ca.crt ]; then export NODE_EXTRA_CA_CERTS=/host-ca.crt; fi; \
    npm ci --no-audit --no-fund --loglevel=error
COPY conduix-control/ui/ ./
RUN npm run build

# ---- Python packages into a virtual environment ---------------------------------------------------
FROM ${BASE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/conduix
# the third-party dependencies first, from the pyproject files only: this layer stays cached while only code changes
COPY conduix-core/pyproject.toml /src/conduix-core/
COPY conduix-connectors-kafka/pyproject.toml /src/conduix-connectors-kafka/
COPY conduix-connectors-es/pyproject.toml /src/conduix-connectors-es/
COPY conduix-connectors-s3/pyproject.toml /src/conduix-connectors-s3/
COPY conduix-connectors-messaging/pyproject.toml /src/conduix-connectors-messaging/
COPY conduix-control/pyproject.toml /src/conduix-control/
COPY deploy/docker/requirements.py /src/requirements.py
RUN --mount=type=cache,target=/root/.cache/pip \
    if [ -f /host-ca.crt ]; then export PIP_CERT=/host-ca.crt; fi; \
    python3 /src/requirements.py /src 'conduix-control[mysql,postgresql]' > /src/requirements.txt \
    && /opt/conduix/bin/pip install --disable-pip-version-check -r /src/requirements.txt
COPY conduix-core /src/conduix-core
COPY conduix-connectors-kafka /src/conduix-connectors-kafka
COPY conduix-connectors-es /src/conduix-connectors-es
COPY conduix-connectors-s3 /src/conduix-connectors-s3
COPY conduix-connectors-messaging /src/conduix-connectors-messaging
COPY conduix-control /src/conduix-control
COPY --from=ui /src/conduix-control/src/conduix_control/webui/dist /src/conduix-control/src/conduix_control/webui/dist
# the UI is built above: the package build only packs it (CONDUIX_SKIP_UI_BUILD); pip check: nothing missing
RUN --mount=type=cache,target=/root/.cache/pip \
    if [ -f /host-ca.crt ]; then export PIP_CERT=/host-ca.crt; fi; \
    CONDUIX_SKIP_UI_BUILD=1 /opt/conduix/bin/pip install --disable-pip-version-check --no-deps \
        /src/conduix-core /src/conduix-connectors-kafka /src/conduix-connectors-es /src/conduix-connectors-s3 \
        /src/conduix-connectors-messaging /src/conduix-control \
    && /opt/conduix/bin/pip check \
    && test -f /opt/conduix/lib/python3*/site-packages/conduix_control/webui/dist/index.html \
    && find /opt/conduix -name __pycache__ -prune -exec rm -rf {} +

# ---- the image ------------------------------------------------------------------------------------
FROM ${BASE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="conduix" \
      org.opencontainers.image.description="Conduix control plane, agent and pipeline runner" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# tini is PID 1: it forwards SIGTERM (agents drain and checkpoint) and reaps the worker processes agents fork
# (TINI_SUBREAPER: also where it is not PID 1, e.g. under `buildah run` or `docker run --pid=host`)
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 tini ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 conduix \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/conduix --create-home --shell /usr/sbin/nologin conduix
COPY --from=build /opt/conduix /opt/conduix
COPY deploy/alerts/ /usr/share/conduix/alerts/
COPY examples/ /usr/share/conduix/examples/
COPY deploy/docker/conduix.yaml /etc/conduix/conduix.yaml
COPY deploy/docker/conduix-healthcheck /usr/local/bin/conduix-healthcheck
ENV PATH=/opt/conduix/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONDUIX_STATE_DIR=/var/lib/conduix \
    CONDUIX_CONFIG=/etc/conduix/conduix.yaml \
    CONDUIX_CONTROL_HOST=0.0.0.0 \
    CONDUIX_AGENT_METRICS_HOST=0.0.0.0 \
    CONDUIX_LOG_LEVEL=info \
    TINI_SUBREAPER=1
WORKDIR /var/lib/conduix
USER 10001:10001
# 8470: control plane (API, web UI, /health, /metrics); 9599: an agent's /health, /ready, /metrics
EXPOSE 8470 9599
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["conduix-healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "conduix"]
CMD ["control", "serve"]
