# Local runtime targets (sdep serve, sdep demo); included by the root Makefile.

.PHONY: demo serve-seed cross-build

demo: build ## Serve the seed, load it 1→4, trickle it back to 1, write sdep-demo/plot.svg.
	$(BIN)/sdep demo -f examples/seed-hpaspecs.json --report-dir sdep-demo

serve-seed: build ## Serve the seed on 127.0.0.1:8000 (status on :8001) until Ctrl-C.
	$(BIN)/sdep serve -f examples/seed-hpaspecs.json

CROSS_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

cross-build: ## Build cmd/sdep without cgo for linux and darwin (amd64, arm64) into a temporary directory.
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	for p in $(CROSS_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "go build ./cmd/sdep for $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o "$$out/sdep-$$os-$$arch" ./cmd/sdep || exit 1; \
	done && ls -l "$$out"
