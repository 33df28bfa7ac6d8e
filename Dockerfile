# syntax=docker/dockerfile:1
# Hub container image: a static binary on distroless, running as nonroot.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ghcr.io/hubrt/hub:dev .
#
# Needs a Docker (BuildKit) engine; the Helm chart in deploy/helm uses this image.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so source changes reuse the download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hub ./cmd/hub

FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="hub" \
      org.opencontainers.image.description="Clustered realtime WebSocket hub" \
      org.opencontainers.image.source="https://github.com/hubrt/hub" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/hub /hub
# nonroot (65532); the hub needs no writable filesystem.
USER 65532:65532
# 8080 HTTP + WebSocket, 7946 memberlist gossip (TCP+UDP),
# 4222 embedded NATS clients, 6222 embedded NATS cluster routes.
EXPOSE 8080 7946/tcp 7946/udp 4222 6222
ENTRYPOINT ["/hub"]
