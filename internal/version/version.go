// Package version reports the sdep build version.
package version

// Version is set at link time with -ldflags "-X github.com/sdep-dev/sdep/internal/version.Version=...".
var Version = "0.1.0-dev"

// Image is the container image that runs sdep (operator and executor) for this version.
func Image() string { return "sdep:" + Version }
