# kubectl-cadvisor-doctor. Targets:
#   make build     the plugin for this machine: bin/kubectl-cadvisor_doctor
#   make release   everything a release ships, into dist/ (hack/release):
#                  archives for linux/darwin/windows x amd64/arm64, sha256sums.txt,
#                  the filled krew manifest dist/cadvisor-doctor.yaml and the
#                  multi-arch probe image tarball (OCI layout, no Docker)
#   make test      the project's test command (hack/test.sh)
#   make clean     remove bin/ and dist/
#
# Variables:
#   VERSION     release version, semver with v prefix (default: the latest
#               v* tag on HEAD, else v0.1.0-dev)
#   IMAGE_REPO  probe image repository (default ghcr.io/kubectl-cadvisor-doctor/probe);
#               the binary's default --image is $(IMAGE_REPO):$(VERSION)
#   TARGETS     comma-separated os/arch list for release (default: all six)

GO         ?= go
VERSION    ?= $(shell git describe --tags --exact-match --match 'v*' 2>/dev/null || echo v0.1.0-dev)
IMAGE_REPO ?= ghcr.io/kubectl-cadvisor-doctor/probe
TARGETS    ?=
MODULE     := github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor
LDFLAGS    := -s -w -buildid= \
	-X $(MODULE)/internal/version.Version=$(VERSION) \
	-X $(MODULE)/internal/version.ProbeImage=$(IMAGE_REPO):$(VERSION)

.PHONY: build release test clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)' \
		-o bin/kubectl-cadvisor_doctor ./cmd/kubectl-cadvisor-doctor

release:
	$(GO) run ./hack/release --version '$(VERSION)' --image-repo '$(IMAGE_REPO)' --out dist \
		$(if $(TARGETS),--targets '$(TARGETS)')

test:
	hack/test.sh

clean:
	rm -rf bin dist
