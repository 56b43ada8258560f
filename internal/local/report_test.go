package local

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

func TestWritePlotIsWellFormedSVGWithOnePanelPerComponent(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var samples []Sample
	for i, reps := range []int32{1, 1, 4, 4, 4, 1} {
		for _, dep := range []string{"a-0-x", "a-1-<y>"} {
			samples = append(samples, Sample{Time: t0.Add(time.Duration(i) * time.Second), Component: "c",
				Deployment: dep, Replicas: reps, Desired: reps, Utilization: float64(10 * i), Target: 10})
		}
	}
	var buf bytes.Buffer
	if err := WritePlot(&buf, samples); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&buf)
	polylines := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed XML: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if want := 4; polylines != want { // replicas and utilisation, per component
		t.Errorf("%d polylines, want %d", polylines, want)
	}
}

func TestDecisionsCSVHasOneRowPerDecision(t *testing.T) {
	var buf bytes.Buffer
	ds := []DecisionRecord{
		{Component: "my-dep", Deployment: "d", From: 1, To: 4, Reason: "cpu 38% of request, target 10%"},
		{Component: "my-dep", Deployment: "d", From: 4, To: 1, Reason: "cpu 0% of request, target 10%"},
	}
	if err := writeDecisionsCSV(&buf, ds); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], `1,4,"cpu 38% of request, target 10%"`) {
		t.Errorf("CSV:\n%s", buf.String())
	}
}
