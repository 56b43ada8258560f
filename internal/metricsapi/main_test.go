package metricsapi

import (
	"os"
	"testing"

	"github.com/sdep-dev/sdep/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.SetTestLogger()
	os.Exit(m.Run())
}
