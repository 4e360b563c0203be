# Broadsheet's binaries in one small image. Build context: the repository.
#   docker build -t broadsheet .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/composer ./cmd/composer \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/loadtest ./cmd/loadtest

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
COPY site.yaml /etc/broadsheet/site.yaml
# Goroutines start with the stack size recent ones needed, rather than
# growing (copying) it in every fragment call: cold pages ~10% faster
# (BENCHMARKS.md). A runtime GODEBUG setting: no //go:debug directive for it.
ENV GODEBUG=adaptivestackstart=1
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/usr/local/bin/composer"]
CMD ["-addr", "0.0.0.0:8080", "-config", "/etc/broadsheet/site.yaml"]
