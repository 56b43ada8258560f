# Executor, mock classifier and load generator targets (included by the root Makefile).

EXECUTOR_PKGS := ./internal/executor/... ./internal/models/... ./internal/load/...
PROTO_TOOLS := hack/tools/proto

.PHONY: proto proto-tools test-executor bench-executor grpcurl-check

# buf (a pure-Go protobuf compiler) and the Go plugins, pinned in their own module.
proto-tools: ## Build buf, the Go protobuf plugins and grpcurl into bin/.
	cd $(PROTO_TOOLS) && GOBIN=$(CURDIR)/bin go install github.com/bufbuild/buf/cmd/buf github.com/fullstorydev/grpcurl/cmd/grpcurl google.golang.org/grpc/cmd/protoc-gen-go-grpc
	GOBIN=$(CURDIR)/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12

# Regenerates internal/proto/{seldonpb,inferencepb,tfservingpb} from their .proto files.
proto: proto-tools ## Regenerate the Go code of internal/proto/*/ from the .proto files.
	PATH=$(CURDIR)/bin:$$PATH bin/buf generate internal/proto --template $(PROTO_TOOLS)/buf.gen.yaml

test-executor: ## Race tests of the executor, mock classifier and load generator.
	go test -race $(EXECUTOR_PKGS)

# grpcurl calls the executor's Predict (seldon) and every method of
# inference.GRPCInferenceService (v2) through reflection, without a .proto;
# curl calls every v2 REST route (skipped where curl is not installed).
grpcurl-check: ## Call the executor's seldon and v2 gRPC services with grpcurl through reflection.
	cd $(PROTO_TOOLS) && GOBIN=$(CURDIR)/bin go install github.com/fullstorydev/grpcurl/cmd/grpcurl
	SDEP_GRPCURL=$(CURDIR)/bin/grpcurl SDEP_CURL=$$(command -v curl) go test ./internal/executor -run '^(TestGrpcurl(V2)?ThroughReflection|TestCurlV2Routes)$$' -count=1 -v

# Mock classifier direct vs behind the executor on loopback (see README):
# REST load from wrk, gRPC load from ghz, alternating rounds, medians.
# BENCH_BASELINE=<git rev> adds that revision's executor to every round.
BENCH_DURATION ?= 5s
BENCH_WARMUP ?= 2s
BENCH_ROUNDS ?= 3
BENCH_BASELINE ?=
BENCH_FLAGS ?=
# Protocols measured, one set of tables each: seldon, then v2 (the Open
# Inference Protocol: /v2/models/classifier/infer and ModelInfer).
BENCH_PROTOCOLS ?= seldon v2
GHZ_TOOLS := hack/tools/ghz
# ghz's binary is keyed by the version and a hash of its module's pins, so a
# change of go.mod/go.sum builds a new one and switching branches reuses the old.
GHZ_VERSION := $(shell awk '{ for (i = 1; i < NF; i++) if ($$i == "github.com/bojand/ghz") { print $$(i+1); exit } }' $(GHZ_TOOLS)/go.mod)
GHZ_PINS := $(shell cat $(GHZ_TOOLS)/go.mod $(GHZ_TOOLS)/go.sum | sha256sum | cut -c1-10)
GHZ := $(BIN)/ghz-$(GHZ_VERSION)-$(GHZ_PINS)

$(GHZ):
	cd $(GHZ_TOOLS) && $(GO) build -o $@ github.com/bojand/ghz/cmd/ghz

bench-executor: $(GHZ) ## Mock classifier direct vs behind the executor, wrk and ghz, seldon and v2 (BENCH_DURATION, BENCH_ROUNDS, BENCH_PROTOCOLS, BENCH_BASELINE=<rev>).
	@command -v wrk >/dev/null || { \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "bench-executor: installing wrk (Debian package)"; \
		$$sudo apt-get install -y wrk || { $$sudo apt-get update && $$sudo apt-get install -y wrk; }; }
	$(GO) build -o $(BIN)/sdep ./cmd/sdep
	$(GO) build -o $(BIN)/bench-executor ./hack/bench-executor
	baseline=; if [ -n "$(BENCH_BASELINE)" ]; then baseline=$$(hack/bench-executor/build-baseline.sh "$(BENCH_BASELINE)" | tail -n1); fi; \
	for p in $(BENCH_PROTOCOLS); do \
		$(BIN)/bench-executor -protocol $$p -sdep $(BIN)/sdep -ghz $(GHZ) -duration $(BENCH_DURATION) -warmup $(BENCH_WARMUP) \
			-rounds $(BENCH_ROUNDS) $${baseline:+-baseline $$baseline} $(BENCH_FLAGS) || exit 1; \
	done
