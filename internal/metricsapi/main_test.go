package metricsapi

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/klog/v2"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.SetTestLogger()
	// The API server library logs through klog at info level; keep it for
	// SDEP_TEST_LOGS, as testenv does for controller-runtime.
	if os.Getenv("SDEP_TEST_LOGS") == "" {
		fs := flag.NewFlagSet("klog", flag.ContinueOnError)
		klog.InitFlags(fs)
		_ = fs.Set("logtostderr", "false")
		_ = fs.Set("alsologtostderr", "false")
		_ = fs.Set("stderrthreshold", "FATAL")
		klog.SetOutput(io.Discard)
	}
	os.Exit(m.Run())
}

// readExample decodes examples/<name> (a SeldonDeployment) into namespace ns.
func readExample(t *testing.T, name, ns string) *sdepv1.SeldonDeployment {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	sd := &sdepv1.SeldonDeployment{}
	if err := json.Unmarshal(raw, sd); err != nil {
		t.Fatalf("examples/%s: %v", name, err)
	}
	sd.Namespace = ns
	return sd
}
