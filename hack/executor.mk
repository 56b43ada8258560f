# Executor, mock classifier and load generator targets (included by the root Makefile).

EXECUTOR_PKGS := ./internal/executor/... ./internal/models/... ./internal/load/...
PROTO_TOOLS := hack/tools/proto
BENCH_DURATION ?= 10s

.PHONY: proto proto-tools test-executor bench-executor grpcurl-check

# buf (a pure-Go protobuf compiler) and the Go plugins, pinned in their own module.
proto-tools: ## Build buf, the Go protobuf plugins and grpcurl into bin/.
	cd $(PROTO_TOOLS) && GOBIN=$(CURDIR)/bin go install github.com/bufbuild/buf/cmd/buf github.com/fullstorydev/grpcurl/cmd/grpcurl google.golang.org/grpc/cmd/protoc-gen-go-grpc
	GOBIN=$(CURDIR)/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12

# Regenerates internal/proto/seldonpb from prediction.proto.
proto: proto-tools ## Regenerate internal/proto/seldonpb from its .proto.
	PATH=$(CURDIR)/bin:$$PATH bin/buf generate internal/proto --template $(PROTO_TOOLS)/buf.gen.yaml

test-executor: ## Race tests of the executor, mock classifier and load generator.
	go test -race $(EXECUTOR_PKGS)

# grpcurl calls the executor's Predict through reflection, without a .proto.
grpcurl-check: ## Call the executor's Predict with grpcurl through reflection.
	cd $(PROTO_TOOLS) && GOBIN=$(CURDIR)/bin go install github.com/fullstorydev/grpcurl/cmd/grpcurl
	SDEP_GRPCURL=$(CURDIR)/bin/grpcurl go test ./internal/executor -run '^TestGrpcurlThroughReflection$$' -count=1 -v

# Mock classifier direct vs behind the executor on loopback (see README).
bench-executor: ## Mock classifier direct vs behind the executor (BENCH_DURATION per run).
	go build -o bin/sdep ./cmd/sdep
	go run ./hack/bench-executor -sdep bin/sdep -duration $(BENCH_DURATION)
