# ovnet — see README.md. `make run` and `make test` install what they need
# (Debian OVN/OVS packages, kube-apiserver/etcd/kubectl built from the Go
# module proxy) and run as root (network namespaces, OVS).

SHELL := /bin/bash
export GOFLAGS ?= -mod=mod
KUBEBUILDER_ASSETS ?= $(CURDIR)/bin/k8s
export KUBEBUILDER_ASSETS

.PHONY: all build generate verify-generate deps envtest-bin ovn-deps test bench kind-e2e run stop fmt vet clean

all: build

build:
	go build -o bin/ ./cmd/...

## generate: deepcopy, CRDs, RBAC and the libovsdb models (generated code is committed).
generate:
	go tool controller-gen object paths=./apis/...
	rm -f manifests/crd/core.apinet.ironcore.dev_*.yaml && go tool controller-gen crd:generateEmbeddedObjectMeta=true paths=./apis/... output:crd:artifacts:config=manifests/crd
	go generate ./ovn/...
	go tool controller-gen rbac:roleName=ovnet-controller paths=./controllers/... output:rbac:artifacts:config=manifests/rbac/controller
	go tool controller-gen rbac:roleName=ovnet-agent paths=./nodeagent/... output:rbac:artifacts:config=manifests/rbac/agent
	go run ./hack/apiref manifests/crd > docs/api-reference.md

## verify-generate: fails when generated code is stale.
verify-generate: generate
	@git diff --exit-code -- apis manifests/crd manifests/rbac ovn/nbdb ovn/vswitchd docs/api-reference.md || { echo "generated code is stale: run make generate and commit"; exit 1; }

envtest-bin:
	hack/build-envtest.sh

ovn-deps:
	hack/install-ovn.sh

deps: envtest-bin ovn-deps

fmt:
	gofmt -l -w $$(git ls-files '*.go')

vet:
	go vet ./...

## test: everything, against a real kube-apiserver and real OVN daemons,
## then make kind-e2e (KIND_E2E=0 leaves it out), whose cluster it removes when
## it passes.
KIND_E2E ?= 1
test: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...
	go test -count=1 -timeout 30m ./...
	@if [ "$(KIND_E2E)" = 1 ]; then test/kind/run.sh && test/kind/run.sh delete; fi

## bench: benchmarks that print figures and write docs/benchmarks.md;
## SCALE=1k is minutes, SCALE=10k (issue 11's population) is by hand.
SCALE ?= 10k
bench: deps
	go run ./test/bench -scale $(SCALE) -out docs/benchmarks.md

## kind-e2e: a kind cluster with OVN and ovnet, and the portable and
## cluster e2e tests against it; builds what it needs offline (docker from
## Debian, the node and Kubernetes images here) and keeps the cluster
## (test/kind/run.sh delete removes it).
kind-e2e: envtest-bin
	test/kind/run.sh

## run: a local stack (API server with the CRDs, OVN central) until Ctrl-C.
run: deps build
	hack/run.sh

stop: build
	hack/run.sh stop

clean:
	rm -rf bin .run
