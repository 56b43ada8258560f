package testenv

import (
	"os"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// SetTestLogger sends controller-runtime's log (the operator's among it) to
// stderr: errors only, or everything when SDEP_TEST_LOGS is set.
func SetTestLogger() {
	level := zapcore.ErrorLevel
	if os.Getenv("SDEP_TEST_LOGS") != "" {
		level = zapcore.DebugLevel
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(level)))
}
