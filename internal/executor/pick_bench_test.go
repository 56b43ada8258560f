package executor

import (
	"context"
	"testing"
)

// BenchmarkPick is pick and release on a set of three members with nothing
// else going on: the fast path every component call takes.
func BenchmarkPick(b *testing.B) {
	s := newEndpointSet("m", transportConfig{maxIdleConnsPerHost: 1})
	for _, h := range []string{"a", "b", "c"} {
		if err := s.Add(Endpoint{h, 1, 2}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		m, err := s.pick(context.Background(), nil)
		if err != nil {
			b.Fatal(err)
		}
		m.release()
	}
}
