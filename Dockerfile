# syntax=docker/dockerfile:1
# camera-service image. Two targets from one runtime:
#   service   (default, the last stage) the camera service. Run alone it finds the
#             MediaMTX binary on PATH and manages it (mediamtx.manage: auto).
#   mediamtx  MediaMTX itself, for compose.yaml: it runs the publisher (FFmpeg) and
#             segment-hook (Python) commands the service gives it, so it needs this
#             runtime; the official image is the binary alone (FROM scratch).
#
#   docker build -t camera-service:0.1.0 .
#   docker build --target mediamtx -t camera-service-mediamtx:0.1.0 .
#
# Linted by hadolint in tests/deploy/test_deploy.py; no Docker engine runs in CI, so it is
# not built there.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG MEDIAMTX_VERSION=1.20.1
ARG UV_VERSION=0.13.9

# The official MediaMTX image: only its binary is taken (pinned; the same version as the
# OpenAPI spec and reference config this project is tested against).
FROM bluenviron/mediamtx:${MEDIAMTX_VERSION} AS mediamtx-dist
FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv-dist

# --- builder: the locked environment, without dev dependencies ------------------------------
FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv-dist /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/camera-service
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

# --- runtime: slim Python, FFmpeg, MediaMTX, a non-root user in group video -----------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG MEDIAMTX_VERSION
LABEL org.opencontainers.image.title="camera-service" \
      org.opencontainers.image.description="Camera hub control service: WebSocket JSON-RPC 2.0 API over MediaMTX" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary" \
      org.opencontainers.image.documentation="docs/deployment.md" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"
# FFmpeg: USB and test-pattern publishers, snapshots, probes. Pinned to Debian 12's 5.1
# line: an exact version would break the build at the next point release.
RUN apt-get update \
 && apt-get install -y --no-install-recommends "ffmpeg=7:5.1.*" \
 && rm -rf /var/lib/apt/lists/*
# One fixed UID/GID so bind mounts can be chowned for it (chown -R 10001:10001 DIR).
RUN groupadd --system --gid 10001 camera-service \
 && useradd --system --uid 10001 --gid camera-service --groups video \
      --home-dir /var/lib/camera-service --no-create-home --shell /usr/sbin/nologin \
      camera-service \
 && install -d -o camera-service -g camera-service -m 0700 /var/lib/camera-service \
 && install -d -o camera-service -g camera-service -m 0750 \
      /srv/camera-service /srv/camera-service/recordings /srv/camera-service/snapshots
COPY --from=builder /opt/camera-service /opt/camera-service
COPY --from=mediamtx-dist /mediamtx /usr/local/bin/mediamtx
# Configuration comes from the environment (CAMERA_SERVICE_<SECTION>_<KEY>; a YAML file
# at /etc/camera-service/config.yaml is read when mounted). Logs: JSON lines.
# TZ=UTC: MediaMTX names recordings in local time, the service's file names are UTC.
ENV PATH=/opt/camera-service/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TZ=UTC \
    CAMERA_SERVICE_STORAGE_DATA_DIR=/var/lib/camera-service \
    CAMERA_SERVICE_STORAGE_RECORDINGS_PATH=/srv/camera-service/recordings \
    CAMERA_SERVICE_STORAGE_SNAPSHOTS_PATH=/srv/camera-service/snapshots \
    CAMERA_SERVICE_LOGGING_FORMAT=json \
    CAMERA_SERVICE_LOGGING_STREAM=stdout
# Numeric, so runtimes can tell it is not root (Kubernetes runAsNonRoot).
USER 10001:10001
WORKDIR /var/lib/camera-service

# --- mediamtx: MediaMTX with the compose configuration --------------------------------------
FROM runtime AS mediamtx
LABEL org.opencontainers.image.title="camera-service-mediamtx" \
      org.opencontainers.image.description="MediaMTX ${MEDIAMTX_VERSION} (official binary) with the camera-service runtime for its commands"
COPY deploy/mediamtx.yml /etc/mediamtx/mediamtx.yml
# RTSP (TCP, UDP RTP/RTCP), HLS, WebRTC (HTTP, ICE UDP); the Control API stays on loopback.
EXPOSE 8554 8000/udp 8001/udp 8888 8889 8189/udp
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9997/v3/config/global/get', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["mediamtx"]
CMD ["/etc/mediamtx/mediamtx.yml"]

# --- service (default target) ----------------------------------------------------------------
FROM runtime AS service
VOLUME ["/var/lib/camera-service", "/srv/camera-service"]
# 8002: WebSocket JSON-RPC (+ downloads); 8003: health, metrics, downloads, hooks.
EXPOSE 8002 8003
# Ready, not just alive: false while starting, draining, or a critical part is down.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8003/health/ready', timeout=4)"]
# SIGTERM: readiness false, requests drained, recordings finalized, registration removed,
# WebSockets closed with 1001, exit 0. Give it more than its own timeouts (docker stop -t 45).
STOPSIGNAL SIGTERM
ENTRYPOINT ["camera-service"]
CMD ["run"]
