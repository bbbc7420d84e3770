# syntax=docker/dockerfile:1.7
# ax0n-settler: batches finalized receipts and settles them on L1 (one active instance per Lease).
# Build from the repository root:  docker build -f docker/settler.Dockerfile -t ax0n-settler:0.1.0 .

# The base: the public slim image by default; `make images` passes a local Debian bookworm base made with
# mmdebstrap where no public image can be pulled (docs/deploy.md). Either has Python 3.11 as python3.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm
FROM ${BASE_IMAGE} AS build
# pip settings of the building host (`make images`: its CA bundle, find-links and mirrors); unset by default
ARG PIP_CERT
ARG PIP_FIND_LINKS
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CONSTRAINT
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README* ./
COPY proto ./proto
COPY ax0n ./ax0n
COPY services/settler ./services/settler
# Generated gRPC code is built here, never copied from a working tree; every dependency is pinned (==) in the pyprojects.
RUN python3 -m venv /opt/ax0n \
 && /opt/ax0n/bin/pip install grpcio-tools==1.85.1 \
 && /opt/ax0n/bin/python -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. proto/ax0n/v1/*.proto \
 && /opt/ax0n/bin/pip install ./ ./services/settler \
 && /opt/ax0n/bin/pip uninstall --yes grpcio-tools

FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10001 ax0n \
 && useradd --system --no-log-init --uid 10001 --gid ax0n --create-home --home-dir /home/ax0n ax0n
COPY --from=build /opt/ax0n /opt/ax0n
COPY --chmod=0755 docker/healthcheck.py /usr/local/bin/ax0n-healthcheck
ENV AX0N_HOST=0.0.0.0 PATH=/opt/ax0n/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    AX0N_GRPC_PORT=50055 AX0N_METRICS_PORT=9090
USER 10001:10001
WORKDIR /home/ax0n
EXPOSE 50055 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["ax0n-healthcheck"]
ENTRYPOINT ["ax0n-settler"]
