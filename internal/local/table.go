package local

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the status as a table: one row per component with its
// replicas, requests in flight and per second, metrics against targets,
// desired count and last decision.
func WriteTable(w io.Writer, st Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tDEPLOYMENT\tREADY/REPLICAS\tIN FLIGHT\tREQ/S\tMETRICS\tDESIRED\tRESTARTS\tLAST DECISION")
	for _, c := range st.Components {
		var ms []string
		for _, m := range c.Metrics {
			if m.Error != "" {
				ms = append(ms, m.Name+" unavailable")
				continue
			}
			ms = append(ms, fmt.Sprintf("%s %s / %s", m.Name, strings.TrimSuffix(m.Current, " of request"), m.Target))
		}
		metrics := strings.Join(ms, ", ")
		if metrics == "" {
			metrics = "-"
		}
		last := "-"
		if d := c.LastDecision; d != nil {
			last = fmt.Sprintf("%s %d→%d: %s", d.Time.Format("15:04:05"), d.From, d.To, d.Reason)
		}
		reps := fmt.Sprintf("%d/%d", c.Ready, c.Replicas)
		if c.Terminating > 0 {
			reps += fmt.Sprintf(" (+%d stopping)", c.Terminating)
		}
		switch {
		case len(c.External) > 0 && c.Replicas == 0:
			reps = "external"
		case c.ScaledToZero && c.Terminating == 0:
			reps = "0 (scaled to zero)"
		case c.ScaledToZero:
			reps = fmt.Sprintf("0 (scaling to zero, %d stopping)", c.Terminating)
		case c.Waking:
			reps += " (waking from zero)"
		}
		inFlight, rps := "-", "-"
		if c.InFlight != nil {
			inFlight = fmt.Sprint(*c.InFlight)
		}
		if c.RequestsPerSecond != nil {
			rps = fmt.Sprintf("%.1f", *c.RequestsPerSecond)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", c.Component, c.Deployment, reps, inFlight, rps, metrics, c.Desired, c.Restarts, last)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writePredictorTable(w, st)
}

// writePredictorTable prints one row per predictor: its traffic, whether
// it takes its share now, the front requests it received and its own
// ports.
func writePredictorTable(w io.Writer, st Status) error {
	if len(st.Predictors) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PREDICTOR\tTRAFFIC\tREADY\tREQUESTS\tOWN PORTS (front: %s, gRPC %s)\n", st.Front.HTTP, st.Front.GRPC)
	for _, p := range st.Predictors {
		traffic := fmt.Sprintf("%.0f%%", p.Share)
		requests := fmt.Sprint(p.Requests)
		if p.Shadow {
			traffic = fmt.Sprintf("shadow, %.0f%% mirrored", p.Share)
			requests = fmt.Sprintf("%d mirrored, %d errors, %d dropped", p.Mirrored, p.MirrorErrors, p.MirrorDropped)
		} else if !p.Ready && p.Share == 0 {
			traffic = fmt.Sprintf("0%% (of %d: not ready)", p.Traffic)
		}
		ready := "yes"
		if !p.Ready {
			ready = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s, gRPC %s\n", p.Predictor, traffic, ready, requests, p.HTTP, p.GRPC)
	}
	return tw.Flush()
}
