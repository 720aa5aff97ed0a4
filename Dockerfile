# syntax=docker/dockerfile:1
# meshgate service image: `docker build -t meshgate:0.1.0 .` (see docs/operations.md).
# Stage 1 builds a virtualenv with meshgate and its runtime dependencies; stage 2 copies only that venv onto
# a clean slim Python and runs it as an unprivileged user. No compiler, pip cache or sources in the result.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/meshgate
COPY pyproject.toml README.md ./
COPY service ./service
# `[pulsar]` adds pulsar-client for the audit log's topic sink.
RUN /opt/meshgate/bin/pip install --no-cache-dir ".[pulsar]" \
 && /opt/meshgate/bin/meshgate --help > /dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="meshgate" \
      org.opencontainers.image.description="Identity-aware authorization for Apache Pulsar in a service mesh" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 meshgate \
 && useradd --system --uid 10001 --gid meshgate --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin meshgate \
 && install -d -o meshgate -g meshgate /var/run/meshgate /var/log/meshgate
COPY --from=build /opt/meshgate /opt/meshgate
COPY deploy/image/meshgate.yaml /etc/meshgate/meshgate.yaml
ENV PATH=/opt/meshgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
# gRPC on the unix socket in /var/run/meshgate (a volume shared with the broker), 9090 health, readiness
# and metrics. A TCP gRPC port needs mutual TLS (docs/configuration.md, grpc.*).
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2)"]
ENTRYPOINT ["meshgate"]
CMD ["serve", "--config", "/etc/meshgate/meshgate.yaml"]
