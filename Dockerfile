# syntax=docker/dockerfile:1
# labelgate daemon image. Build: docker build -t labelgate:0.1.0 .
# Two stages: the builder installs the project into a venv; the final image gets only that venv
# (no compilers, no pip cache) and runs as uid 10001, the chart's securityContext.runAsUser.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# confluent-kafka, river and numpy ship manylinux wheels; build tools are only a fallback for
# platforms without them, and they stay in this stage.
# build-essential is a meta-package that follows the base image's Debian release: not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/labelgate
WORKDIR /src
COPY pyproject.toml README.md ./
COPY daemon ./daemon
COPY policies ./policies
COPY connectors ./connectors
RUN /opt/labelgate/bin/pip install --no-compile . \
    && /opt/labelgate/bin/python -m compileall -q /opt/labelgate/lib

FROM python:3.11-slim
LABEL org.opencontainers.image.title="labelgate" \
      org.opencontainers.image.description="Streaming selective-labeling daemon on Kafka" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/labelgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 labelgate \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/labelgate \
       --no-create-home --shell /usr/sbin/nologin labelgate \
    && mkdir -p /var/lib/labelgate /etc/labelgate \
    && chown 10001:10001 /var/lib/labelgate
COPY --from=builder /opt/labelgate /opt/labelgate
# Model checkpoints (config.state_dir); the chart mounts an emptyDir or a PVC here.
VOLUME ["/var/lib/labelgate"]
WORKDIR /var/lib/labelgate
USER 10001:10001
EXPOSE 8080
# Exec form: labelgate is PID 1 and receives SIGTERM itself (graceful drain, commit, checkpoint).
STOPSIGNAL SIGTERM
ENTRYPOINT ["labelgate"]
CMD ["run", "--config", "/etc/labelgate/config.yaml"]
