# syntax=docker/dockerfile:1
# loyalty-gateway: build a wheel-installed virtualenv, ship only it on a slim base.

FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY middleware ./middleware
COPY sandbox ./sandbox
RUN /opt/venv/bin/pip install --no-compile .

FROM python:3.11-slim
RUN groupadd --system gateway && useradd --system --gid gateway --home-dir /nonexistent gateway
COPY --from=build /opt/venv /opt/venv
COPY config/gateway.example.toml /etc/loyalty-gateway/gateway.toml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GATEWAY_CONFIG=/etc/loyalty-gateway/gateway.toml \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080
USER gateway
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s --retries=3 \
    CMD ["python", "-c", "import urllib.request,os; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GATEWAY_PORT','8080'), timeout=2)"]
ENTRYPOINT ["loyalty-gateway"]
CMD ["serve"]
