// Package version reports the sdep build version and the commit it was built from.
package version

import "runtime/debug"

// Version is set at link time with
// -ldflags "-X github.com/sdep-dev/sdep/internal/version.Version=1.2.3".
var Version = "0.1.0-dev"

// Commit is set at link time with
// -ldflags "-X github.com/sdep-dev/sdep/internal/version.Commit=<git sha>";
// read it through Revision, which falls back to the build's VCS stamp.
var Commit = ""

// Image is the container image that runs sdep (operator and executor) for this version.
func Image() string { return "sdep:" + Version }

// Revision is the revision sdep was built from: the link-time value, else the
// vcs.revision the go command stamped (with "-dirty" for a modified tree),
// else "unknown" (e.g. built with -buildvcs=false and no ldflags).
func Revision() string {
	if Commit != "" {
		return Commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return revisionOf(info.Settings)
}

func revisionOf(settings []debug.BuildSetting) string {
	rev, dirty := "", false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
