package operator

import (
	"context"
	"strings"
	"testing"

	"github.com/sdep-dev/sdep/internal/version"
)

func TestResolveExecutorImageWithoutAPod(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	img, from, err := ResolveExecutorImage(context.Background(), nil, "", env(nil))
	if err != nil || img != version.Image() || from != ImageFromVersion {
		t.Fatalf("outside a pod: %q from %q, %v; want %q from the version", img, from, err, version.Image())
	}
	// Half of the downward API is a mistake in the manifest, not "outside
	// a pod": falling back to the version's image would hide it.
	for _, vars := range []map[string]string{{EnvPodName: "op-1"}, {EnvPodNamespace: "sdep-system"}} {
		_, _, err := ResolveExecutorImage(context.Background(), nil, "", env(vars))
		if err == nil || !strings.Contains(err.Error(), EnvPodName) || !strings.Contains(err.Error(), EnvPodNamespace) {
			t.Errorf("with %v: error %v, want one naming $%s and $%s", vars, err, EnvPodName, EnvPodNamespace)
		}
	}
	img, from, err = ResolveExecutorImage(context.Background(), nil, "", env(map[string]string{EnvPodName: "op-1", EnvExecutorImage: "mirror/sdep:1"}))
	if err != nil || img != "mirror/sdep:1" || from != ImageFromEnv {
		t.Errorf("with $%s: %q from %q, %v", EnvExecutorImage, img, from, err)
	}
}
