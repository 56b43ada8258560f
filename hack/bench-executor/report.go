package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// summary is the median of a row's rounds, each figure taken separately.
type summary struct {
	rps            float64
	p50, p99       time.Duration
	execPer1000    float64 // executor CPU-s per 1,000 requests; NaN for the model direct
	modelPer1000   float64 // the model's CPU-s per 1,000 requests
	clientPer1000  float64 // load client CPU-s per 1,000 requests
	executorTarget bool
}

func summarize(r *row) summary {
	var rps, p50, p99, execCPU, modelCPU, clientCPU []float64
	for _, s := range r.samples {
		rps = append(rps, s.RPS)
		p50 = append(p50, float64(s.P50))
		p99 = append(p99, float64(s.P99))
		execCPU = append(execCPU, s.execCPU/float64(s.Requests)*1000)
		modelCPU = append(modelCPU, s.modelCPU/float64(s.Requests)*1000)
		clientCPU = append(clientCPU, s.ClientCPU/float64(s.Requests)*1000)
	}
	sum := summary{
		rps: median(rps), p50: time.Duration(median(p50)), p99: time.Duration(median(p99)),
		execPer1000: math.NaN(), modelPer1000: median(modelCPU), clientPer1000: median(clientCPU), executorTarget: r.target.pid != 0,
	}
	if sum.executorTarget {
		sum.execPer1000 = median(execCPU)
	}
	return sum
}

// median of a non-empty list; the mean of the middle two for an even count.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func transportLabel(transport string) string {
	if transport == "grpc" {
		return "gRPC"
	}
	return "REST"
}

func clientLabel(client, transport string) string {
	switch {
	case client == "go":
		return "Go client"
	case transport == "rest":
		return "wrk"
	default:
		return "ghz"
	}
}

// report renders the tables: per load client and transport, every path at
// every concurrency, then (with a baseline) the executor under test
// against the baseline.
func report(cfg config, rows []*row, loadBefore, loadAfter string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Executor benchmark: the mock classifier direct and behind the executor, loopback, %d CPUs.\n", numCPU())
	fmt.Fprintf(&b, "%d alternating rounds of %s per path after a %s warm-up; medians of the rounds.\n", cfg.rounds, cfg.duration, cfg.warmup)
	fmt.Fprintf(&b, "Protocol: %s. Payload: %s\n", cfg.protocol, cfg.payload)
	if cfg.grpcPayload != cfg.payload {
		fmt.Fprintf(&b, "gRPC payload: %s\n", cfg.grpcPayload)
	}
	if cfg.baseline != "" {
		fmt.Fprintf(&b, "Baseline executor: %s; executor under test: %s\n", shortPath(cfg.baseline), shortPath(cfg.sdep))
	}
	fmt.Fprintf(&b, "Load average before: %s; after: %s\n", loadBefore, loadAfter)

	sums := map[*row]summary{}
	for _, r := range rows {
		sums[r] = summarize(r)
	}
	for _, group := range groupRows(rows, func(r *row) string { return r.client + "/" + r.transport }) {
		first := group[0]
		fmt.Fprintf(&b, "\n### %s (%s)\n\n", transportLabel(first.transport), clientDescription(cfg, first.scenario))
		b.WriteString("| path | c | req/s | p50 | p99 | executor CPU-s per 1,000 req | % of direct | added p50 | model CPU-s per 1,000 req | load client CPU-s per 1,000 req |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range group {
			s := sums[r]
			direct := sums[directRow(group, r.c)]
			pct, added, cpu := "—", "—", "—"
			if s.executorTarget {
				pct = fmt.Sprintf("%.0f%%", 100*s.rps/direct.rps)
				added = signedLatency(s.p50 - direct.p50)
				cpu = fmt.Sprintf("%.3f", s.execPer1000)
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %.3f | %.3f |\n",
				r.target.label, r.c, thousands(s.rps), formatLatency(s.p50), formatLatency(s.p99),
				cpu, pct, added, s.modelPer1000, s.clientPer1000)
		}
	}
	if cfg.baseline != "" {
		b.WriteString("\n### sdep executor against the baseline executor\n\n")
		b.WriteString("| load client | transport | c | req/s (sdep / baseline) | p50 (sdep − baseline) | p99 (sdep − baseline) | executor CPU-s per 1,000 req (sdep / baseline) |\n")
		b.WriteString("|---|---|---|---|---|---|---|\n")
		for _, group := range groupRows(rows, func(r *row) string { return fmt.Sprintf("%s/%s/%d", r.client, r.transport, r.c) }) {
			var base, test *row
			for _, r := range group {
				switch r.target.label {
				case "baseline executor":
					base = r
				case "sdep executor":
					test = r
				}
			}
			if base == nil || test == nil {
				continue
			}
			bs, ts := sums[base], sums[test]
			fmt.Fprintf(&b, "| %s | %s | %d | %s / %s = %.2f× | %s | %s | %.3f / %.3f = %.2f× |\n",
				clientLabel(test.client, test.transport), transportLabel(test.transport), test.c,
				thousands(ts.rps), thousands(bs.rps), ts.rps/bs.rps,
				signedLatency(ts.p50-bs.p50), signedLatency(ts.p99-bs.p99),
				ts.execPer1000, bs.execPer1000, ts.execPer1000/bs.execPer1000)
		}
	}
	return b.String()
}

func clientDescription(cfg config, sc scenario) string {
	switch {
	case sc.client == "go":
		return "Go client: sdep's internal/load, in the benchmark's own process"
	case sc.transport == "rest":
		return "wrk -t1 -c<c> --latency"
	default:
		conns := "one connection per worker"
		if cfg.grpcConns == 1 {
			conns = "1 connection"
		} else if cfg.grpcConns > 1 {
			conns = fmt.Sprintf("up to %d connections", cfg.grpcConns)
		}
		return "ghz --concurrency <c>, " + conns
	}
}

// groupRows splits rows by key, keeping the first-seen order of keys and of
// rows within a key.
func groupRows(rows []*row, key func(*row) string) [][]*row {
	index := map[string]int{}
	var groups [][]*row
	for _, r := range rows {
		k := key(r)
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	return groups
}

func directRow(group []*row, c int) *row {
	for _, r := range group {
		if r.c == c && r.target.pid == 0 {
			return r
		}
	}
	return nil
}

// formatLatency prints about three significant digits: 149 µs, 2.04 ms,
// 11.2 ms, 120 ms.
func formatLatency(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0f µs", us)
	case us < 10_000:
		return fmt.Sprintf("%.2f ms", us/1000)
	case us < 100_000:
		return fmt.Sprintf("%.1f ms", us/1000)
	default:
		return fmt.Sprintf("%.0f ms", us/1000)
	}
}

func signedLatency(d time.Duration) string {
	if d < 0 {
		return "−" + formatLatency(-d)
	}
	return "+" + formatLatency(d)
}

// thousands prints a rate rounded to a whole number with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// shortPath is p relative to the working directory when it lies below it,
// so a pasted report names bin/... rather than where the checkout is.
func shortPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}
