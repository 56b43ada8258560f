package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// maxStoredForms bounds the memory storedForms may hold: at 1,000
// SeldonDeployments with about five children each it holds about 5,000
// entries of about 150 bytes. Past the bound it starts over, which costs at
// most one dry-run per child.
const maxStoredForms = 50_000

// storedForms remembers, per child (by UID) and desired hash, how the API
// server stores what the operator writes: the overrides of storedOverrides,
// learnt from the response to each create or patch and, for a child the
// operator has not written since it started, from one server-side dry-run.
//
// Why this and not server-side apply: the writes stay JSON merge patches of
// the whole spec the operator owns, which replace lists wholesale, so an
// edited Service port or container is put back exactly (an apply keeps list
// entries another manager added under a new key, and a Service port whose
// number was edited then collides with the restored one on its name); a merge
// patch never drops a field it does not mention, so handing spec.replicas
// over to an autoscaler cannot reset it to 1 (Seldon Core #1310), where an
// apply that stops setting replicas would remove the field it owned; and it
// needs no managedFields, which the cache strips. The comparison still is
// against what the server would store: a zero value desired sets counts,
// and where the server stores something else (a default, a canonical form)
// the stored value is expected instead, so that is no reason to write.
//
// The key holds no resourceVersion, on purpose: a label someone else adds,
// a status update or an autoscaler's scaling moves the resourceVersion but
// not what the operator compares, and must cost no request. A converged
// SeldonDeployment therefore costs no request at all, dry-run included.
type storedForms struct {
	mu    sync.Mutex
	forms map[types.UID]storedForm
}

type storedForm struct {
	hash   string
	stored overrides
}

// get returns what is known of uid's stored form under desired hash hash.
func (s *storedForms) get(uid types.UID, hash string) (overrides, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.forms[uid]
	if !ok || f.hash != hash {
		return nil, false
	}
	return f.stored, true
}

func (s *storedForms) put(uid types.UID, hash string, stored overrides) {
	if uid == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forms == nil || len(s.forms) >= maxStoredForms {
		s.forms = map[types.UID]storedForm{}
	}
	s.forms[uid] = storedForm{hash: hash, stored: stored}
}

func (s *storedForms) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.forms, uid)
}
