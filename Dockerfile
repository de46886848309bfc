# syntax=docker/dockerfile:1
# loyalty-gateway: the package and its runtime dependencies in a virtualenv, built in one
# stage and copied alone onto a fresh slim Python (no build tools, no pip cache, no dev
# packages, not even pip in the venv). Runs as an unprivileged user (uid 10001).
#
#   docker build -t loyalty-gateway .
#   docker run --rm -p 8080:8080 -e PUNCHH_CLIENT_ID=... \
#     -v "$PWD/secrets:/run/secrets:ro" -e GATEWAY_SESSION_SECRET_FILE=/run/secrets/session-secret \
#     -e PUNCHH_CLIENT_SECRET_FILE=/run/secrets/punchh-client-secret \
#     -v "$PWD/gateway.toml:/etc/loyalty-gateway/gateway.toml:ro" loyalty-gateway
#
# (every secret's variable has a _FILE variant holding a path; the plain variables work too)
#
# Configuration: environment variables, over the TOML file at GATEWAY_CONFIG
# (/etc/loyalty-gateway/gateway.toml: config/gateway.example.toml unless you mount your
# own there). Every key: docs/operators/configuration.md. Examples: deploy/.
# On SIGTERM the gateway drains (server.shutdown_grace + server.drain_timeout, 28 s by
# default): give it that long (`docker stop -t 35`, compose's stop_grace_period,
# Kubernetes' terminationGracePeriodSeconds).
#
# tests/packaging/test_image.py replays the build stage (the same COPY and RUN lines, a
# fresh venv) and starts the gateway from the result with the final stage's ENV,
# ENTRYPOINT, CMD and HEALTHCHECK; tests/packaging/test_dockerfile.py runs hadolint.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY middleware ./middleware
COPY sandbox ./sandbox
# A venv without pip; the base image's pip installs the package (a wheel built from
# /src) and its runtime dependencies into it, compiling the bytecode. The `tracing` extra
# (OpenTelemetry) too: off until OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operators/tracing.md).
RUN python -m venv --without-pip /opt/venv \
    && python -m pip --python /opt/venv/bin/python install '.[tracing]'

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin gateway
COPY --from=build /opt/venv /opt/venv
COPY config/gateway.example.toml /etc/loyalty-gateway/gateway.toml
# Logs: one JSON line per event on stdout, unbuffered (PYTHONUNBUFFERED); stderr carries
# only the command line's own answers (a configuration refused, a port in use).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATEWAY_CONFIG=/etc/loyalty-gateway/gateway.toml \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_EVENT_LOOP=uvloop
USER 10001:10001
EXPOSE 8080
# /healthz on the main port (GATEWAY_PORT), from inside the container, bypassing any
# HTTP proxy settings.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('GATEWAY_PORT', '8080'), timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/venv/bin/loyalty-gateway"]
CMD ["serve"]
