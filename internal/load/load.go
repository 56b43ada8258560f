// Package load generates HTTP load with vegeta (or gRPC load with a closed
// loop of its own) and reports throughput, latency percentiles and errors.
// `sdep load` and the executor benchmark use it.
package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// DefaultPayload is a Seldon prediction request with one ndarray row.
const DefaultPayload = `{"data":{"ndarray":[[1,2,5]]}}`

// DefaultGRPCMethod is the executor's prediction method.
const DefaultGRPCMethod = "/seldon.protos.Seldon/Predict"

// Options describe one run.
type Options struct {
	// Target is a URL for HTTP, or host:port for gRPC (calls
	// seldon.protos.Seldon/Predict).
	Target string
	GRPC   bool
	// GRPCMethod is the unary method called with the payload (default
	// /seldon.protos.Seldon/Predict; a model is /seldon.protos.Model/Predict).
	GRPCMethod string
	// Method and Header apply to HTTP.
	Method string
	Header http.Header
	// Payload is the request body (HTTP) or the SeldonMessage JSON sent as
	// protobuf (gRPC).
	Payload []byte
	// Rate is requests per second (open loop); 0 sends as fast as
	// Concurrency workers can (closed loop).
	Rate        int
	Concurrency int
	Duration    time.Duration
	Timeout     time.Duration
	// Progress, when set, gets a progress line every second.
	Progress io.Writer
	// Protocol is seldon (default), v2 or tensorflow: the default payload
	// and, for gRPC, the request type and default method.
	Protocol string
}

// Report is what a run measured. Latencies are exact (every request is
// kept), not estimated.
type Report struct {
	Target      string         `json:"target"`
	Transport   string         `json:"transport"`
	Rate        int            `json:"rate,omitempty"`
	Concurrency int            `json:"concurrency"`
	Duration    time.Duration  `json:"duration_ns"`
	Requests    int            `json:"requests"`
	Succeeded   int            `json:"succeeded"`
	Throughput  float64        `json:"throughput_rps"`
	P50         time.Duration  `json:"p50_ns"`
	P90         time.Duration  `json:"p90_ns"`
	P99         time.Duration  `json:"p99_ns"`
	Max         time.Duration  `json:"max_ns"`
	Mean        time.Duration  `json:"mean_ns"`
	Errors      map[string]int `json:"errors"`
	// FirstError is one error message, to say what went wrong.
	FirstError string `json:"first_error,omitempty"`
}

// recorder collects results from many goroutines.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    map[string]int
	firstErr  string
	count     atomic.Int64
	failed    atomic.Int64
}

func (r *recorder) add(lat time.Duration, errKey, errMsg string) {
	r.count.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if errKey != "" {
		r.failed.Add(1)
		r.errors[errKey]++
		if r.firstErr == "" {
			r.firstErr = errMsg
		}
		return
	}
	r.latencies = append(r.latencies, lat)
}

// Run generates load until the duration is over or ctx is cancelled.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Duration <= 0 {
		return Report{}, errors.New("duration must be positive")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	proto, err := CheckProtocol(o.Protocol)
	if err != nil {
		return Report{}, err
	}
	o.Protocol = proto
	if len(o.Payload) == 0 {
		o.Payload = []byte(DefaultPayloadFor(o.Protocol, o.GRPC))
	}
	rec := &recorder{errors: map[string]int{}}
	stopProgress := progress(o, rec)
	start := time.Now()
	if o.GRPC {
		err = runGRPC(ctx, o, rec)
	} else {
		err = runHTTP(ctx, o, rec)
	}
	elapsed := time.Since(start)
	stopProgress()
	if err != nil {
		return Report{}, err
	}
	return report(o, rec, elapsed), nil
}

func runHTTP(ctx context.Context, o Options, rec *recorder) error {
	method := o.Method
	if method == "" {
		method = http.MethodPost
	}
	hdr := o.Header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "application/json")
	}
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: method, URL: o.Target, Body: o.Payload, Header: hdr})
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(o.Timeout),
		vegeta.KeepAlive(true),
		vegeta.Connections(max(o.Concurrency, 16)),
		vegeta.Redirects(vegeta.NoFollow),
	}
	var pacer vegeta.Pacer
	if o.Rate > 0 {
		pacer = vegeta.Rate{Freq: o.Rate, Per: time.Second}
		// Open loop: enough workers to keep the rate when responses slow.
		opts = append(opts, vegeta.Workers(uint64(o.Concurrency)), vegeta.MaxWorkers(uint64(max(o.Concurrency, 10*o.Rate))))
	} else {
		// Closed loop: exactly Concurrency requests in flight.
		pacer = vegeta.Rate{Freq: 0, Per: time.Second}
		opts = append(opts, vegeta.Workers(uint64(o.Concurrency)), vegeta.MaxWorkers(uint64(o.Concurrency)))
	}
	attacker := vegeta.NewAttacker(opts...)
	results := attacker.Attack(targeter, pacer, o.Duration, "sdep-load")
	done := ctx.Done()
	for {
		select {
		case res, ok := <-results:
			if !ok {
				return nil
			}
			switch {
			case res.Error != "" && res.Code == 0:
				rec.add(res.Latency, "transport", res.Error)
			case res.Code < 200 || res.Code > 299:
				rec.add(res.Latency, strconv.Itoa(int(res.Code)), fmt.Sprintf("HTTP %d: %s", res.Code, truncate(res.Body, 200)))
			default:
				rec.add(res.Latency, "", "")
			}
		case <-done:
			attacker.Stop()
			done = nil
		}
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

func runGRPC(ctx context.Context, o Options, rec *recorder) error {
	if o.Rate > 0 {
		return errors.New("--rate is for HTTP targets; gRPC load is a closed loop sized by --concurrency")
	}
	req, newResp, defMethod, err := grpcMessages(o.Protocol, o.Payload)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient("passthrough:///"+o.Target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	method := o.GRPCMethod
	if method == "" {
		method = defMethod
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				callCtx, callCancel := context.WithTimeout(context.Background(), o.Timeout)
				start := time.Now()
				err := conn.Invoke(callCtx, method, req, newResp())
				lat := time.Since(start)
				callCancel()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					st, _ := status.FromError(err)
					rec.add(lat, st.Code().String(), err.Error())
					continue
				}
				rec.add(lat, "", "")
			}
		}()
	}
	wg.Wait()
	return nil
}

func report(o Options, rec *recorder, elapsed time.Duration) Report {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	lat := rec.latencies
	slices.Sort(lat)
	r := Report{
		Target: o.Target, Transport: "http", Rate: o.Rate, Concurrency: o.Concurrency,
		Duration: elapsed, Requests: int(rec.count.Load()), Succeeded: len(lat),
		Errors: rec.errors, FirstError: rec.firstErr,
	}
	if o.GRPC {
		r.Transport = "grpc"
	}
	if elapsed > 0 {
		r.Throughput = float64(len(lat)) / elapsed.Seconds()
	}
	if len(lat) > 0 {
		r.P50, r.P90, r.P99 = quantile(lat, 0.50), quantile(lat, 0.90), quantile(lat, 0.99)
		r.Max = lat[len(lat)-1]
		var sum time.Duration
		for _, l := range lat {
			sum += l
		}
		r.Mean = sum / time.Duration(len(lat))
	}
	return r
}

// quantile is the nearest-rank quantile of sorted latencies.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func progress(o Options, rec *recorder) (stop func()) {
	if o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-done:
				_, _ = fmt.Fprint(o.Progress, "\r\033[K")
				return
			case now := <-t.C:
				n := rec.count.Load()
				frac := min(now.Sub(start).Seconds()/o.Duration.Seconds(), 1)
				const width = 20
				bar := strings.Repeat("=", int(frac*width)) + strings.Repeat(" ", width-int(frac*width))
				_, _ = fmt.Fprintf(o.Progress, "\r\033[K[%s] %3.0f%%  %d requests  %.0f req/s  %d errors",
					bar, frac*100, n, float64(n-last)/now.Sub(lastAt).Seconds(), rec.failed.Load())
				last, lastAt = n, now
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// WriteText prints a report for people.
func (r Report) WriteText(w io.Writer) error {
	ok := 0.0
	if r.Requests > 0 {
		ok = 100 * float64(r.Succeeded) / float64(r.Requests)
	}
	load := fmt.Sprintf("concurrency %d", r.Concurrency)
	if r.Rate > 0 {
		load = fmt.Sprintf("rate %d/s", r.Rate)
	}
	errs := "none"
	if len(r.Errors) > 0 {
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, r.Errors[k])
		}
		errs = strings.Join(parts, ", ")
	}
	_, err := fmt.Fprintf(w, `target      %s (%s, %s)
requests    %d in %s, %.2f%% succeeded
throughput  %.1f req/s
latency     p50 %s  p90 %s  p99 %s  max %s  mean %s
errors      %s
`, r.Target, r.Transport, load, r.Requests, r.Duration.Round(time.Millisecond), ok, r.Throughput,
		us(r.P50), us(r.P90), us(r.P99), us(r.Max), us(r.Mean), errs)
	if err == nil && r.FirstError != "" {
		_, err = fmt.Fprintf(w, "first error %s\n", r.FirstError)
	}
	return err
}

func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + "µs"
}

// WriteJSON prints a report for scripts.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
