package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ghzReport is the part of ghz's JSON report (-O json) the benchmark reads.
// Latencies are nanoseconds.
type ghzReport struct {
	Count                  int64              `json:"count"`
	Total                  int64              `json:"total"`
	RPS                    float64            `json:"rps"`
	StatusCodeDistribution map[string]int64   `json:"statusCodeDistribution"`
	ErrorDistribution      map[string]int64   `json:"errorDistribution"`
	LatencyDistribution    []ghzLatencyBucket `json:"latencyDistribution"`
}

type ghzLatencyBucket struct {
	Percentage int   `json:"percentage"`
	Latency    int64 `json:"latency"`
}

// ghzArgs are the arguments of one closed-loop ghz run: c workers over
// conns connections for d, calling method with payload (a SeldonMessage as
// JSON). Calls still in flight when d ends are left out of the figures
// (--duration-stop=ignore), so the cut at the end is not counted as errors.
func ghzArgs(proto, method, payload, addr string, c, conns int, d time.Duration) []string {
	return []string{
		"--insecure",
		"--proto", proto,
		"--call", method,
		"--data", payload,
		"--connections", strconv.Itoa(conns),
		"--concurrency", strconv.Itoa(c),
		"--duration", d.String(),
		"--duration-stop", "ignore",
		"--format", "json",
		addr,
	}
}

func runGhz(ghz string, args []string) (result, error) {
	cmd := exec.Command(ghz, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("ghz %s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	r, err := parseGhz(out.Bytes())
	if err != nil {
		return r, fmt.Errorf("ghz %s: %w", args[len(args)-1], err)
	}
	r.ClientCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return r, nil
}

// parseGhz reads ghz's JSON report. Any call that did not end OK makes the
// run an error, naming the most frequent error.
func parseGhz(out []byte) (result, error) {
	var rep ghzReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return result{}, fmt.Errorf("ghz output is not its JSON report (run it with --format json): %w", err)
	}
	var failed int64
	for code, n := range rep.StatusCodeDistribution {
		if code != "OK" {
			failed += n
		}
	}
	if failed > 0 {
		return result{}, fmt.Errorf("%d of %d calls failed, most often with %q", failed, rep.Count, mostFrequent(rep.ErrorDistribution))
	}
	if rep.Count == 0 {
		return result{}, fmt.Errorf("ghz completed no call")
	}
	r := result{Requests: rep.Count, RPS: rep.RPS}
	var haveP50, haveP99 bool
	for _, b := range rep.LatencyDistribution {
		switch b.Percentage {
		case 50:
			r.P50, haveP50 = time.Duration(b.Latency), true
		case 99:
			r.P99, haveP99 = time.Duration(b.Latency), true
		}
	}
	if !haveP50 || !haveP99 {
		return r, fmt.Errorf("ghz report has no 50%% or 99%% latency in latencyDistribution")
	}
	return r, nil
}

func mostFrequent(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	if len(keys) == 0 {
		return "no error message"
	}
	return keys[0]
}
