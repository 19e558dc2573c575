# syntax=docker/dockerfile:1
# nodetriage agent image. The journal reader needs cgo and, at run time,
# libsystemd (dlopened by go-systemd's sdjournal), so the runtime image is
# glibc-based Debian slim rather than distroless/static.
#
# Build: make image (with a Docker engine this file; without one
# hack/demo/build-image.sh builds an equivalent OCI image from the same Debian
# packages). A test keeps RUNTIME_PACKAGES below equal to the builder's list,
# hack/demo/runtime-packages.

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsystemd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=1 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/nodetriage ./cmd/nodetriage

FROM debian:bookworm-slim
ARG RUNTIME_PACKAGES="libsystemd0 ca-certificates"
RUN apt-get update && apt-get install -y --no-install-recommends ${RUNTIME_PACKAGES} \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/nodetriage /etc/nodetriage
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="nodetriage" \
      org.opencontainers.image.description="Finds the node-local faults that make pods fail and reports them as NodeConditions, Events and metrics, with the fix." \
      org.opencontainers.image.source="https://github.com/nodetriage/nodetriage" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/nodetriage /usr/local/bin/nodetriage
USER 0:0
ENTRYPOINT ["/usr/local/bin/nodetriage"]
CMD ["run"]
