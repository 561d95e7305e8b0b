# Container image of jschedlat, used by deploy/kubernetes/daemonset.yaml.
#
#   docker build -t jschedlat:VERSION .
#
# Build stage: a static binary. The BPF object is committed (bpf/runqlat_bpfel.o)
# and embedded by go build, so neither clang nor a C toolchain is needed;
# CGO_ENABLED=0 makes the binary independent of the final image's libc.
# GO_VERSION follows the go line of go.mod (deploy/deploy_test.go checks it).
ARG GO_VERSION=1.26.8
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/jschedlat ./cmd/jschedlat

# Final stage: distroless "static", the root variant (not :nonroot), on purpose.
# - Nothing else is needed at run time: thread dumps go over HotSpot's attach
#   socket, which jschedlat speaks itself (no JDK, no jcmd in the image; the
#   jcmd/jstack fallback uses the JVM's own tools, reached through /proc/PID/root).
# - jschedlat must run as uid 0: HotSpot's attach listener accepts only its own
#   euid or root, and the "send the request as the JVM's user" path (JDK 8, and
#   JVMs whose socket root cannot open) is taken only when jschedlat is root.
#   Root here is not all-powerful: the DaemonSet drops every capability and adds
#   back only those listed there (the same set as deploy/jschedlat.service).
# - No shell, no package manager, no setuid binaries in the image.
FROM gcr.io/distroless/static-debian12
LABEL org.opencontainers.image.title="jschedlat" \
      org.opencontainers.image.description="Run-queue latency of Java threads, named, from eBPF" \
      org.opencontainers.image.source="https://github.com/jschedlat/jschedlat"
COPY --from=build /out/jschedlat /usr/local/bin/jschedlat
USER 0:0
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/jschedlat"]
CMD ["attach", "--all-jvms", "--metrics-addr", ":9464"]
