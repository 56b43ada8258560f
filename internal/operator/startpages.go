package operator

import (
	"context"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/sdep-dev/sdep/internal/startpages"
)

// startPagesRelease gives back, once the caches have synced, the pages of
// the sdep binary that starting touched: every command's package
// initialisation, the scheme, the manager's setup. They are about half of
// the operator's memory before its cache fills (about 50 MiB of a 60 MiB
// process) and most of them are never used again; what the operator does
// use comes back as it runs. It runs in every replica, leader or not.
type startPagesRelease struct {
	cache cache.Cache
	log   logr.Logger
}

func (s *startPagesRelease) Start(ctx context.Context) error {
	if !s.cache.WaitForCacheSync(ctx) {
		return nil // stopping before the caches synced
	}
	res, err := startpages.Release()
	if err != nil {
		// Nothing depends on it: an old kernel keeps the pages resident.
		s.log.Info("the binary's start-up pages stay resident", "reason", err.Error())
		return nil
	}
	s.log.Info("gave back the binary's start-up pages", "releasedBytes", res.Released(),
		"residentFileBytesBefore", res.Before, "residentFileBytesAfter", res.After)
	return nil
}

// NeedLeaderElection is false: a replica waiting for the lease holds the
// same pages.
func (s *startPagesRelease) NeedLeaderElection() bool { return false }
