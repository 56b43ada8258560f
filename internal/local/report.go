package local

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WriteReport writes what happened while serving into dir: decisions.csv
// and decisions.json (every scaling decision), samples.json (each sync's
// replicas and utilisation) and plot.svg (replicas and CPU utilisation over
// time, one panel per autoscaled component). It returns the files written.
func (rt *Runtime) WriteReport(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	decisions, samples := rt.Decisions(), rt.Samples()
	var files []string
	write := func(name string, fn func(io.Writer) error) error {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			_ = f.Close()
			return fmt.Errorf("%s: %w", p, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		files = append(files, p)
		return nil
	}
	jsonOf := func(v any) func(io.Writer) error {
		return func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
	}
	if err := write("decisions.csv", func(w io.Writer) error { return writeDecisionsCSV(w, decisions) }); err != nil {
		return files, err
	}
	if err := write("decisions.json", jsonOf(decisions)); err != nil {
		return files, err
	}
	if err := write("samples.json", jsonOf(samples)); err != nil {
		return files, err
	}
	if err := write("plot.svg", func(w io.Writer) error { return WritePlot(w, samples) }); err != nil {
		return files, err
	}
	return files, nil
}

func writeDecisionsCSV(w io.Writer, ds []DecisionRecord) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"time", "component", "deployment", "from", "to", "reason", "limit"})
	for _, d := range ds {
		_ = cw.Write([]string{d.Time.Format(time.RFC3339Nano), d.Component, d.Deployment,
			strconv.Itoa(int(d.From)), strconv.Itoa(int(d.To)), d.Reason, d.Limit})
	}
	cw.Flush()
	return cw.Error()
}

// WritePlot draws, per component, its replicas (left axis) and CPU
// utilisation with its target (right axis, percent of request) over time.
func WritePlot(w io.Writer, samples []Sample) error {
	var order []string
	byComp := map[string][]Sample{}
	for _, s := range samples {
		if _, ok := byComp[s.Deployment]; !ok {
			order = append(order, s.Deployment)
		}
		byComp[s.Deployment] = append(byComp[s.Deployment], s)
	}
	const width, panelH, left, right, top, bottom = 720, 240, 60, 60, 30, 40
	height := max(1, len(order)) * (panelH + top + bottom)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	if len(order) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no samples</text>`+"\n", left, top+20)
	}
	for i, dep := range order {
		ss := byComp[dep]
		y0 := i*(panelH+top+bottom) + top
		t0, t1 := ss[0].Time, ss[len(ss)-1].Time
		span := math.Max(t1.Sub(t0).Seconds(), 1)
		maxRep, maxUtil := int32(1), 10.0
		for _, s := range ss {
			maxRep = max(maxRep, s.Replicas, s.Desired)
			maxUtil = math.Max(maxUtil, math.Max(s.Utilization, s.Target))
		}
		maxUtil = math.Ceil(maxUtil/20) * 20 // quarter ticks at multiples of 5%
		plotW := float64(width - left - right)
		x := func(t time.Time) float64 { return left + t.Sub(t0).Seconds()/span*plotW }
		yRep := func(n int32) float64 { return float64(y0+panelH) - float64(n)/float64(maxRep)*panelH }
		yUtil := func(u float64) float64 { return float64(y0+panelH) - u/maxUtil*panelH }

		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s (%s)</text>`+"\n", left, y0-10, xmlEscape(ss[0].Component), xmlEscape(dep))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", left, y0, int(plotW), panelH)
		for n := int32(0); n <= maxRep; n++ {
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#1f77b4">%d</text>`+"\n", left-6, yRep(n)+4, n)
		}
		for u := 0.0; u <= maxUtil; u += maxUtil / 4 {
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#d62728">%.0f%%</text>`+"\n", width-right+6, yUtil(u)+4, u)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">seconds (0 to %.0f)</text>`+"\n", left+int(plotW/2), y0+panelH+28, span)

		var reps, utils []string
		for j, s := range ss {
			if j > 0 {
				reps = append(reps, fmt.Sprintf("%.1f,%.1f", x(s.Time), yRep(ss[j-1].Replicas)))
			}
			reps = append(reps, fmt.Sprintf("%.1f,%.1f", x(s.Time), yRep(s.Replicas)))
			if s.Utilization >= 0 {
				utils = append(utils, fmt.Sprintf("%.1f,%.1f", x(s.Time), yUtil(s.Utilization)))
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>`+"\n", strings.Join(reps, " "))
		if len(utils) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(utils, " "))
		}
		if tgt := ss[len(ss)-1].Target; tgt >= 0 {
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="4 3"/>`+"\n",
				left, width-right, yUtil(tgt), yUtil(tgt))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#1f77b4">replicas</text>`+"\n", left+8, y0+16)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#d62728">CPU %% of request (dashed: target)</text>`+"\n", left+80, y0+16)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
