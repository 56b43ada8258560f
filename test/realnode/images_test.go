//go:build linux

package realnode

import (
	"path/filepath"
	"testing"

	"github.com/sdep-dev/sdep/internal/testenv"
)

// wrapImage wraps a static binary as testenv.WrapBinary does, in a
// folder the test removes.
func wrapImage(t *testing.T, binary, ref string, entrypoint ...string) string {
	t.Helper()
	out, err := testenv.WrapBinary(t.TempDir(), binary, ref, entrypoint...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testImages builds the pause and metrics-server images.
func testImages(t *testing.T) (pause, metricsServer testenv.Image) {
	t.Helper()
	pause, metricsServer, err := testenv.NodeImages(t.TempDir(), filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return pause, metricsServer
}
