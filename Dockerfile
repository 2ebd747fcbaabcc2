# syntax=docker/dockerfile:1
#
# kamflow's worker and starter in one small image, for deploy/compose and
# deploy/k8s. The build stage runs exactly the `go build` lines of
# `make build` (deploy/deploy_test.go checks that they stay equal); the final
# image holds only the two static binaries and runs as a non-root user.
#
#   docker build -t kamflow .
#   docker run --rm kamflow --help
#   docker run --rm --entrypoint starter kamflow --help

ARG GO_IMAGE=golang:1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Static binaries for a distroless image (lib/pq and the SQLite of the dev
# server are pure Go); -trimpath keeps build paths out of them.
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -o bin/worker ./worker
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -o bin/starter ./starter

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/bin/worker /src/bin/starter /usr/local/bin/
# distroless "nonroot" is uid 65532; a numeric USER lets Kubernetes verify
# runAsNonRoot without looking the name up.
USER 65532:65532
WORKDIR /home/nonroot
# Inside a container the HTTP server (console, API, /metrics, /healthz)
# listens on every interface; the worker's own default is loopback only.
ENV KAM_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/worker"]
