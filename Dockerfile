# syncd container image: a static binary on distroless, running as non-root.
# Build: docker build --build-arg VERSION=$(git describe --tags --always) -t syncd .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/syncd ./cmd/syncd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/syncd /usr/local/bin/syncd
# 65532 is distroless's nonroot; a numeric USER lets Kubernetes' runAsNonRoot
# check it.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/syncd"]
CMD ["--config", "/etc/syncd/syncd.yaml"]
