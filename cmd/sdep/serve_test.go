package main

import (
	"strings"
	"testing"
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
