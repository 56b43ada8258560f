package metricsapi

import (
	"flag"
	"io"
	"os"
	"testing"

	"k8s.io/klog/v2"

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
