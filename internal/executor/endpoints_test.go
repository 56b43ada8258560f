package executor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

func TestPickPrefersFewestInFlight(t *testing.T) {
	s := newEndpointSet("m", transportConfig{maxIdleConnsPerHost: 1})
	a, b, c := Endpoint{"a", 1, 2}, Endpoint{"b", 1, 2}, Endpoint{"c", 1, 2}
	for _, ep := range []Endpoint{a, b, c} {
		if err := s.Add(ep); err != nil {
			t.Fatal(err)
		}
	}
	// Three picks without releasing spread over the three members.
	seen := map[Endpoint]int{}
	var held []*member
	for range 3 {
		m, err := s.pick(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[m.ep]++
		held = append(held, m)
	}
	if len(seen) != 3 {
		t.Fatalf("3 picks went to %v, want one each", seen)
	}
	// Release the one on b: it is now the only member with nothing in
	// flight, so it must get the next request.
	for _, m := range held {
		if m.ep == b {
			m.release()
		}
	}
	m, _ := s.pick(context.Background(), nil)
	if m.ep != b {
		t.Errorf("picked %v, want b (the least loaded)", m.ep)
	}
}

func TestEndpointSetAddRemove(t *testing.T) {
	s := newEndpointSet("m", transportConfig{maxIdleConnsPerHost: 1})
	a := Endpoint{"a", 1, 2}
	if _, err := s.pick(context.Background(), nil); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("pick on an empty set: %v, want ErrNoEndpoint", err)
	}
	if err := s.Add(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(a); err == nil {
		t.Error("adding a member twice succeeded")
	}
	m, _ := s.pick(context.Background(), nil)
	drained, err := s.Remove(a)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-drained:
		t.Fatal("drained while a request was in flight")
	default:
	}
	if _, err := s.pick(context.Background(), nil); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("pick after removing the only member: %v, want ErrNoEndpoint", err)
	}
	m.release()
	<-drained // closes once the in-flight request is done
	if _, err := s.Remove(a); err == nil {
		t.Error("removing a member twice succeeded")
	}
}

// TestEndpointChangesUnderLoadLoseNoRequest sends a fixed number of requests
// from many goroutines while replicas are added and drained, and checks that
// every request succeeded, every request reached exactly one replica, and no
// replica got a request after it was drained.
func TestEndpointChangesUnderLoadLoseNoRequest(t *testing.T) {
	for _, transport := range []string{"rest", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			replicas := make([]*fake, 4)
			for i := range replicas {
				replicas[i] = startFake(t, &fake{name: "m"})
			}
			s := serve(t, unit("m", v1.Model, replicas[0]))
			set, ok := s.e.EndpointSet("m")
			if !ok {
				t.Fatal("no endpoint set for node m")
			}
			calls := func(f *fake) int64 { return f.count("/predict") + f.count("Predict") }

			const workers, perWorker = 8, 150
			var (
				sent, failed atomic.Int64
				wg           sync.WaitGroup
				firstErr     atomic.Value
			)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range perWorker {
						sent.Add(1)
						if err := s.predictOnce(transport); err != nil {
							failed.Add(1)
							firstErr.CompareAndSwap(nil, err.Error())
						}
					}
				}()
			}
			// Churn while the load runs: add 1, 2, 3; drain 0, then 1.
			waitCalls := func(min int64) {
				for calls(replicas[0])+calls(replicas[1])+calls(replicas[2])+calls(replicas[3]) < min &&
					sent.Load() < workers*perWorker {
					time.Sleep(time.Millisecond)
				}
			}
			var afterDrain [4]int64
			for i := 1; i < 4; i++ {
				waitCalls(int64(100 * i))
				if err := set.Add(replicas[i].ep); err != nil {
					t.Fatal(err)
				}
			}
			for _, i := range []int{0, 1} {
				waitCalls(int64(400 + 200*i))
				drained, err := set.Remove(replicas[i].ep)
				if err != nil {
					t.Fatal(err)
				}
				<-drained
				afterDrain[i] = calls(replicas[i])
			}
			wg.Wait()

			if n := failed.Load(); n != 0 {
				t.Fatalf("%d of %d requests failed; first: %v", n, sent.Load(), firstErr.Load())
			}
			var total int64
			for _, r := range replicas {
				total += calls(r)
			}
			if total != workers*perWorker {
				t.Errorf("replicas served %d requests, want %d", total, workers*perWorker)
			}
			for _, i := range []int{0, 1} {
				if got := calls(replicas[i]); got != afterDrain[i] {
					t.Errorf("replica %d served %d requests after it was drained", i, got-afterDrain[i])
				}
			}
			if calls(replicas[2]) == 0 || calls(replicas[3]) == 0 {
				t.Errorf("added replicas got no traffic: %d, %d", calls(replicas[2]), calls(replicas[3]))
			}
			if got := set.Endpoints(); len(got) != 2 || got[0] != replicas[2].ep || got[1] != replicas[3].ep {
				t.Errorf("members = %v, want replicas 2 and 3", got)
			}
		})
	}
}

func (s *served) predictOnce(transport string) error {
	if transport == "grpc" {
		out, err := s.client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}})
		if err != nil {
			return err
		}
		if out.GetStrData() != "m(x)" {
			return errors.New("unexpected answer " + out.GetStrData())
		}
		return nil
	}
	resp, err := http.Post(s.restURL+"/api/v1.0/predictions", "application/json", strings.NewReader(`{"strData":"x"}`))
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"strData":"m(x)"`) {
		return errors.New("unexpected answer " + resp.Status + " " + string(b))
	}
	return nil
}

func TestEmptyEndpointSetsAnswer503(t *testing.T) {
	s := serve(t, v1.PredictiveUnit{Name: "m", Type: v1.Model}, WithEmptyEndpointSets())
	code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	if code != 503 || dig(out, "status", "info") != `node "m": no endpoint available` {
		t.Errorf("got %d %v, want 503 naming node m", code, out)
	}
	f := startFake(t, &fake{name: "m"})
	set, _ := s.e.EndpointSet("m")
	if err := set.Add(f.ep); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`); code != 200 || out["strData"] != "m(x)" {
		t.Errorf("after Add: %d %v", code, out)
	}
}
