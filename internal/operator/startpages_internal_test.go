package operator

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// syncedCache is a cache whose WaitForCacheSync answers synced.
type syncedCache struct {
	cache.Cache
	synced bool
}

func (c syncedCache) WaitForCacheSync(context.Context) bool { return c.synced }

func TestStartPagesReleasedOnlyOnceTheCachesSynced(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the pages are given back on Linux only")
	}
	for _, synced := range []bool{false, true} {
		var (
			mu    sync.Mutex
			lines []string
		)
		log := funcr.New(func(prefix, args string) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, args)
		}, funcr.Options{})
		r := &startPagesRelease{cache: syncedCache{synced: synced}, log: log}
		if r.NeedLeaderElection() {
			t.Fatal("the release waits for the lease: a replica that is not the leader keeps its pages")
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		all := strings.Join(lines, "\n")
		t.Logf("synced %v: %s", synced, all)
		switch {
		case !synced && len(lines) != 0:
			t.Fatalf("caches not synced, yet: %s", all)
		case synced && !strings.Contains(all, `"msg"="gave back the binary's start-up pages"`) && !strings.Contains(all, "stay resident"):
			t.Fatalf("synced, but nothing said what happened to the pages: %q", all)
		case synced && strings.Contains(all, `"releasedBytes"=0`):
			t.Fatalf("synced, but no page was given back: %s", all)
		}
	}
}
