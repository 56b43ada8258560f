package operator

import (
	"context"
	"testing"

	"github.com/go-logr/logr"

	"github.com/sdep-dev/sdep/internal/servers"
)

// A ConfigMap that does not parse keeps the table in use (upstream's
// operator panics); a later good one replaces it; RELATED_IMAGE_* apply on
// top of the ConfigMap.
func TestServerTableKeepsTheTableOnBadData(t *testing.T) {
	src := servers.NewSource(nil)
	tbl := &serverTable{src: src, getenv: func(k string) string {
		if k == "RELATED_IMAGE_STORAGE_INITIALIZER" {
			return "mirror/init:1"
		}
		return ""
	}, log: logr.Discard()}
	ctx := context.Background()
	good := map[string]string{"predictor_servers": `{"ONLY_SERVER": {"protocols": {"seldon": {"image": "example/only", "defaultImageVersion": "1"}}}}`}
	tbl.apply(ctx, good, false)
	if got := src.Current().Image("ONLY_SERVER", ""); got != "example/only:1" {
		t.Fatalf("after a good ConfigMap: ONLY_SERVER image %q", got)
	}
	if got := src.Current().StorageInitializer.Image; got != "mirror/init:1" {
		t.Errorf("RELATED_IMAGE_STORAGE_INITIALIZER not applied: %q", got)
	}
	tbl.apply(ctx, map[string]string{"predictor_servers": `{"ONLY_SERVER": `}, false)
	if got := src.Current().Image("ONLY_SERVER", ""); got != "example/only:1" {
		t.Fatalf("after a bad ConfigMap: ONLY_SERVER image %q, want the table kept", got)
	}
	tbl.apply(ctx, nil, false)
	if _, ok := src.Current().Lookup("ONLY_SERVER"); ok || src.Current().Image("SKLEARN_SERVER", "") == "" {
		t.Error("after the ConfigMap was deleted: want the compiled-in table")
	}
}
