# The image of manifests/default: ovnet-controller and ovnet-agent.
# (Its base images cannot be pulled on our machines: test/kind/run.sh builds
# the same binaries the same way into an image of its own, same user.)
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/ovnet-controller ./cmd/ovnet-agent

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/ovnet-controller /out/ovnet-agent /
