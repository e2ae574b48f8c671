# syntax=docker/dockerfile:1
#
# The `gitops serve` image (GitHub App mode, issue 19): `gitops` built from this checkout, on
# Debian 12 slim with git. Build from the repository root:
#
#   docker build -t mfe-gitops:dev .
#   docker run -p 8080:8080 -e GITOPS_WEBHOOK_SECRET=... -e GITOPS_APP_ID=... \
#     -e GITOPS_APP_PRIVATE_KEY="$(cat app.pem)" -e GITOPS_REPOSITORY=acme/gitops mfe-gitops:dev
#
# Base images are pinned by tag, not digest: no registry is reachable where this recipe was
# written, so no digest could be read. Pin them (`FROM image:tag@sha256:...`) in your own build
# once you have pulled them; the test `deploy_app` keeps the tags in step with the workspace.

# --- build: the release binary, from the locked dependency tree --------------------------------
# The rust tag is the `rust-version` of the `mfe-gitops` package (bins/gitops/Cargo.toml).
FROM rust:1.94.1-bookworm AS build
WORKDIR /src
COPY . .
# The caches hold the registry and the target directory between builds; the binary is copied
# out of the cache in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mfe-gitops --bin gitops \
    && install -D -m 0755 target/release/gitops /out/gitops

# --- runtime -----------------------------------------------------------------------------------
# Not distroless: `gitops serve` runs `git` (clone, fetch, worktree) on its working clone, and
# distroless images have no git (nor the shell and libraries git needs). debian:bookworm-slim is
# the same Debian 12 and glibc the binary was built against, plus git and the CA certificates
# (git and the AWS/GitHub clients speak TLS); nothing of the build toolchain.
FROM debian:bookworm-slim AS runtime
# Not version-pinned (DL3008): bookworm's point releases replace git and ca-certificates with
# their security fixes, and a pinned version disappears from the archive when they do.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --home-dir /var/lib/gitops --create-home \
       --shell /usr/sbin/nologin nonroot
COPY --from=build /out/gitops /usr/local/bin/gitops
# The working clone lives under here (`--repo /var/lib/gitops/repo`, cloned from
# GITOPS_REPO_URL on first start). It is disposable: every job fetches origin first.
WORKDIR /var/lib/gitops
USER 65532:65532
ENV HOME=/var/lib/gitops
EXPOSE 8080
# No HEALTHCHECK: the image has no HTTP client to run one with. The orchestrator checks
# instead: ECS/the load balancer's target group probe GET /healthz (liveness), GET /readyz
# (the queue answers) tells when a task can take deliveries.
ENTRYPOINT ["gitops", "--repo", "/var/lib/gitops/repo", "serve", "--listen", "0.0.0.0:8080"]
