# A small runtime image of an app of this workspace (the shop by default):
#
#   docker build -t shop .
#   docker run --rm -p 8080:8080 -e APP_ENV=production \
#     -e INNGEST_SIGNING_KEY=signkey-prod-… -e INNGEST_EVENT_KEY=… \
#     -e INNGEST_SERVE_ORIGIN=https://shop.example.com shop
#
# Build another binary of the workspace with --build-arg PACKAGE=<package>
# --build-arg BINARY=<binary> --build-arg CONFIG=<its config dir>.
#
# Stage 1 compiles with the same toolchain as CI. No system OpenSSL is needed (TLS is
# rustls) and SQLite is compiled in, so the runtime image needs only glibc and libgcc:
# distroless `cc`, as a non-root user, with the binary stripped of symbols.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
ARG PACKAGE=shop
ARG BINARY=shop
WORKDIR /src
COPY . .
# The dependencies come from the lock file; the cache mounts keep them between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked -p "${PACKAGE}" --bin "${BINARY}" \
    && install -D "target/release/${BINARY}" /out/app

FROM gcr.io/distroless/cc-debian12:nonroot
ARG CONFIG=examples/shop/config
COPY --from=build /out/app /app/app
COPY ${CONFIG} /app/config
ENV APP_CONFIG_DIR=/app/config \
    APP__SERVER__HOST=0.0.0.0
EXPOSE 8080
# Kubernetes probes: /health/live and /health/ready (see docs/health.md).
ENTRYPOINT ["/app/app"]
