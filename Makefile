# sdep developer targets. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

BIN        := $(CURDIR)/bin
GO         ?= go
CONTROLLER_GEN := $(BIN)/controller-gen
GOLANGCI_LINT  := $(BIN)/golangci-lint
CRD        := config/crd/bases/machinelearning.seldon.io_seldondeployments.yaml
# Seconds each fuzz target runs in `make test` (CI budget: at most 20 s each;
# 10 s keeps the cold CI run under its hour with the real-node tests).
FUZZTIME   ?= 10s
# package:FuzzTarget pairs run by `make fuzz`.
FUZZ_TARGETS ?= $(shell grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' api cmd internal 2>/dev/null | \
	sed -E 's|^(.*)/[^/]*:func (.*)|./\1:\2|' | sort -u)

.PHONY: help
help: ## List targets.
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/sdep.
	$(GO) build -o $(BIN)/sdep ./cmd/sdep

.PHONY: test
test: vet unit fuzz ## The whole test suite: vet, unit tests with -race, each fuzz target for FUZZTIME.

.PHONY: vet
vet: ## go vet and gofmt check.
	$(GO) vet ./...
	$(GO) vet -tags nodev ./cmd/sdep
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: unit
unit: ## Unit, integration and control-plane tests with the race detector.
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(GO) test -race -count=1 ./...

.PHONY: fuzz
fuzz: ## Run every Fuzz target for FUZZTIME.
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		GO=$(GO) hack/fuzz.sh $$pkg $$name $(FUZZTIME) || exit 1; \
	done

$(CONTROLLER_GEN): hack/tools/codegen/go.mod hack/tools/codegen/go.sum
	cd hack/tools/codegen && $(GO) build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

$(GOLANGCI_LINT): hack/tools/codegen/go.mod hack/tools/codegen/go.sum
	cd hack/tools/codegen && $(GO) build -o $(GOLANGCI_LINT) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code and the CRD from the API types.
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd:maxDescLen=0,generateEmbeddedObjectMeta=true paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(GO) run ./hack/crdtrim $(CRD)

.PHONY: verify-generated
verify-generated: generate manifests ## Fail if generated files (deepcopy, CRD, RBAC, webhook) are not up to date.
	@git diff --exit-code -- api config || { echo "generated files are stale: run make generate and commit"; exit 1; }

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: clean
clean: ## Remove built binaries (keeps the control-plane cache).
	rm -f $(BIN)/sdep $(CONTROLLER_GEN) $(GOLANGCI_LINT)

-include hack/*.mk
