# syntax=docker/dockerfile:1
#
# driftd container image.
#
#   docker build -t driftd:dev .
#   docker run --rm --read-only -v "$PWD/driftd.toml:/etc/driftd/driftd.toml:ro" \
#     driftd:dev scan --config /etc/driftd/driftd.toml
#
# Build stage: the official Rust image on Debian bookworm, so the binary links
# against the same glibc as the runtime image below.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder

# aws-lc-sys (rustls' crypto provider) compiles C with cc, falling back to
# cmake; perl is used by its build scripts on some targets. pkg-config lets
# build scripts find system libraries.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake perl pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# BuildKit cache mounts keep the registry and target/ between builds, so a
# source change recompiles driftd, not its ~400 dependencies. target/ is a
# cache mount, hence the binary is copied out in the same step. The empty
# /out/var/lib/driftd becomes the data directory, owned by nonroot (65532).
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p driftd \
 && install -D -m 0755 target/release/driftd /out/usr/local/bin/driftd \
 && install -d -m 0750 /out/var/lib/driftd

# Runtime stage: distroless "cc" = glibc, libgcc_s, CA certificates, tzdata,
# /etc/passwd with nonroot (65532) and nothing else: no shell, no package
# manager, no setuid binaries. driftd is one dynamically linked binary that
# needs exactly that (glibc + libgcc_s for unwinding; CA roots for TLS to AWS
# and GitHub). debian:bookworm-slim would add a shell and ~80 packages to patch
# and scan for no benefit; debug with `kubectl debug --image=busybox` instead.
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="driftd" \
      org.opencontainers.image.description="Drift detection daemon for Terraform on AWS" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/driftd/driftd" \
      org.opencontainers.image.documentation="https://github.com/driftd/driftd/blob/main/docs/operations.md" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder /out/usr/local/bin/driftd /usr/local/bin/driftd
COPY --from=builder --chown=65532:65532 /out/var/lib/driftd /var/lib/driftd
COPY config/driftd.example.toml /etc/driftd/driftd.example.toml

# Read-only root filesystem: driftd writes only below /var/lib/driftd (scan
# history, audit log). Declaring it a volume gives `docker run --read-only` a
# writable anonymous volume there; Kubernetes mounts a PVC or emptyDir.
VOLUME ["/var/lib/driftd"]

# The image's nonroot user; numeric so runAsNonRoot can verify it.
USER 65532:65532

# Daemon mode: /metrics, /healthz, /readyz.
EXPOSE 9090

ENTRYPOINT ["/usr/local/bin/driftd"]
# Mount the real configuration at /etc/driftd/driftd.toml (a ConfigMap).
CMD ["daemon", "--config", "/etc/driftd/driftd.toml"]
