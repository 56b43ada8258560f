package version

import (
	"runtime/debug"
	"testing"
)

func TestRevisionOf(t *testing.T) {
	cases := []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"no vcs stamp", []debug.BuildSetting{{Key: "GOOS", Value: "linux"}}, "unknown"},
		{"clean tree", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}, "abc123"},
		{"modified tree", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "abc123"}}, "abc123-dirty"},
	}
	for _, c := range cases {
		if got := revisionOf(c.settings); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestRevisionPrefersTheLinkTimeValue(t *testing.T) {
	old := Commit
	t.Cleanup(func() { Commit = old })
	Commit = "feedface"
	if got := Revision(); got != "feedface" {
		t.Errorf("Revision() = %q, want the link-time value", got)
	}
}

func TestImageFollowsVersion(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "9.9.9"
	if got := Image(); got != "sdep:9.9.9" {
		t.Errorf("Image() = %q", got)
	}
}
