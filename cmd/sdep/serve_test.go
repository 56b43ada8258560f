package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestServeMappingsParseContainerAssignments(t *testing.T) {
	m, err := mappings([]string{"classifier=python -m model --x=1"}, []string{"router=10.0.0.1:9000"})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Run["classifier"]; got != "python -m model --x=1" {
		t.Errorf("--run classifier = %q; only the first = separates the container", got)
	}
	if got := m.Endpoints["router"]; got != "10.0.0.1:9000" {
		t.Errorf("--endpoint router = %q", got)
	}
	if m.Self == "" {
		t.Error("no sdep executable for built-in models")
	}
}

func TestServeMappingsRejectMalformedFlags(t *testing.T) {
	tests := []struct {
		runs, endpoints []string
		want            string
	}{
		{runs: []string{"classifier"}, want: "--run \"classifier\": want CONTAINER='command args'"},
		{runs: []string{"=cmd"}, want: "want CONTAINER="},
		{endpoints: []string{"x="}, want: "--endpoint \"x=\": want CONTAINER=HOST:PORT"},
		{runs: []string{"a=x", "a=y"}, want: "--run a: given twice"},
	}
	for _, tt := range tests {
		_, err := mappings(tt.runs, tt.endpoints)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("mappings(%q, %q) = %v, want an error with %q", tt.runs, tt.endpoints, err, tt.want)
		}
	}
}

func TestServeRejectsANonPositiveScaleToZeroIdle(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		err := runServe(context.Background(), io.Discard, io.Discard, strings.NewReader(""),
			serveFlags{file: "-", table: "never", scaleToZeroIdle: d})
		if err == nil || !strings.Contains(err.Error(), "--scale-to-zero-idle") || !strings.Contains(err.Error(), "positive duration") {
			t.Errorf("--scale-to-zero-idle %s: error %v, want one naming the flag and asking for a positive duration", d, err)
		}
	}
}
