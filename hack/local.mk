# Local runtime targets (sdep serve, sdep demo); included by the root Makefile.

.PHONY: demo serve-seed

demo: build ## Serve the seed, load it 1→4, trickle it back to 1, write sdep-demo/plot.svg.
	$(BIN)/sdep demo -f examples/seed-hpaspecs.json --report-dir sdep-demo

serve-seed: build ## Serve the seed on 127.0.0.1:8000 (status on :8001) until Ctrl-C.
	$(BIN)/sdep serve -f examples/seed-hpaspecs.json
