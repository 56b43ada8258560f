package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The testdata files are real wrk and ghz output from runs against the mock
// classifier (ghz's per-call details trimmed to three entries).

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		file     string
		requests int64
		rps      float64
		p50, p99 time.Duration
	}{
		{"wrk-c1.txt", 27061, 24601.56, 30 * time.Microsecond, 4770 * time.Microsecond},
		{"wrk-c32.txt", 29392, 29347.92, 846 * time.Microsecond, 11180 * time.Microsecond},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r, err := parseWrk(string(readTestdata(t, tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if r.Requests != tc.requests || r.RPS != tc.rps || r.P50 != tc.p50 || r.P99 != tc.p99 {
				t.Errorf("got %d requests, %.2f req/s, p50 %s, p99 %s; want %d, %.2f, %s, %s",
					r.Requests, r.RPS, r.P50, r.P99, tc.requests, tc.rps, tc.p50, tc.p99)
			}
		})
	}
}

func TestParseWrkRefusesFailedRuns(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"wrk-non2xx.txt", "32871 of the answers were not 2xx or 3xx"},
		{"wrk-socket-errors.txt", "socket errors: Socket errors: connect 0, read 4, write 69898, timeout 0"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := parseWrk(string(readTestdata(t, tc.file)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseWrkWithoutLatencyDistribution(t *testing.T) {
	// The same output as wrk prints without --latency: no percentile lines.
	var kept []string
	for line := range strings.SplitSeq(string(readTestdata(t, "wrk-c1.txt")), "\n") {
		if !strings.Contains(line, "%   ") && !strings.Contains(line, "Latency Distribution") {
			kept = append(kept, line)
		}
	}
	_, err := parseWrk(strings.Join(kept, "\n"))
	if err == nil || !strings.Contains(err.Error(), "--latency") {
		t.Fatalf("got error %v, want one that asks for --latency", err)
	}
}

func TestWrkTimeUnits(t *testing.T) {
	for in, want := range map[[2]string]time.Duration{
		{"846.00", "us"}: 846 * time.Microsecond,
		{"4.77", "ms"}:   4770 * time.Microsecond,
		{"1.20", "s"}:    1200 * time.Millisecond,
		{"2.00", "m"}:    2 * time.Minute,
	} {
		got, err := wrkTime(in[0], in[1])
		if err != nil || got != want {
			t.Errorf("wrkTime(%q, %q) = %s, %v; want %s", in[0], in[1], got, err, want)
		}
	}
}

func TestParseGhz(t *testing.T) {
	for _, tc := range []struct {
		file     string
		requests int64
		rps      float64
		p50, p99 time.Duration
	}{
		{"ghz-c1.json", 6709, 6705.087279843284, 96361, 665451},
		{"ghz-c32.json", 3205, 3234.2170011045673, 8180834, 37392318},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r, err := parseGhz(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if r.Requests != tc.requests || r.RPS != tc.rps || r.P50 != tc.p50 || r.P99 != tc.p99 {
				t.Errorf("got %d calls, %f req/s, p50 %s, p99 %s; want %d, %f, %s, %s",
					r.Requests, r.RPS, r.P50, r.P99, tc.requests, tc.rps, tc.p50, tc.p99)
			}
		})
	}
}

func TestParseGhzRefusesFailedCalls(t *testing.T) {
	_, err := parseGhz(readTestdata(t, "ghz-unimplemented.json"))
	want := `10056 of 10056 calls failed, most often with "rpc error: code = Unimplemented desc = unknown service seldon.protos.Seldon"`
	if err == nil || err.Error() != want {
		t.Fatalf("got error %v, want %s", err, want)
	}
}

func TestParseGhzRefusesOtherFormats(t *testing.T) {
	// ghz's default summary format is text, not JSON.
	_, err := parseGhz([]byte("\nSummary:\n  Count:\t34345\n"))
	if err == nil || !strings.Contains(err.Error(), "--format json") {
		t.Fatalf("got error %v, want one that asks for --format json", err)
	}
}

func TestLuaQuote(t *testing.T) {
	for in, want := range map[string]string{
		`{"data":{"ndarray":[[1,2,5]]}}`: `"{\"data\":{\"ndarray\":[[1,2,5]]}}"`,
		"a\\b\nc":                        `"a\\b\010c"`,
		"é":                              `"\195\169"`,
	} {
		if got := luaQuote(in); got != want {
			t.Errorf("luaQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{
		149 * time.Microsecond:   "149 µs",
		2040 * time.Microsecond:  "2.04 ms",
		11200 * time.Microsecond: "11.2 ms",
		120 * time.Millisecond:   "120 ms",
	} {
		if got := formatLatency(d); got != want {
			t.Errorf("formatLatency(%s) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[float64]string{5753.4: "5,753", 23901: "23,901", 999.6: "1,000", 1234567: "1,234,567", 12: "12"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}
