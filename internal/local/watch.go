package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sdep-dev/sdep/internal/document"
)

// WatchFile applies edits to the file while serving, as kubectl apply
// would. An edit that does not validate, or that needs a restart, is
// reported and the running state is kept.
func (rt *Runtime) WatchFile(ctx context.Context, stderr io.Writer, name string, last []byte, m Mappings) {
	if m.Context == nil {
		m.Context = ctx // an edit's model fetch stops with serving
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		data, err := os.ReadFile(name)
		if err != nil || bytes.Equal(data, last) {
			continue
		}
		last = data
		if err := rt.ApplyEdit(name, data, m); err != nil {
			fmt.Fprintf(stderr, "%s %s changed, not applied: %v\n", time.Now().Format("15:04:05"), name, err)
			continue
		}
		fmt.Fprintf(stderr, "%s %s changed: applied\n", time.Now().Format("15:04:05"), name)
	}
}

// ApplyEdit checks an edit as sdep validate would, so its problems carry
// their lines, and applies it when it is valid.
func (rt *Runtime) ApplyEdit(name string, data []byte, m Mappings) error {
	var report bytes.Buffer
	docs, err := document.Check(&report, name, data)
	if err != nil {
		return errors.New("\n" + strings.TrimRight(report.String(), "\n"))
	}
	d, err := document.One(name, docs, "sdep serve")
	if err != nil {
		return err
	}
	plan, err := NewPlan(d.Object, m)
	if err != nil {
		return err
	}
	return rt.Apply(plan)
}

// PrintTableOnChange prints the component and predictor tables whenever
// replicas, desired counts, decisions or readiness change, and at most
// every tableRequestsEvery when only the request counts did (nothing in
// steady state).
func PrintTableOnChange(ctx context.Context, w io.Writer, rt *Runtime) {
	tick := time.NewTicker(tableRequestsEvery)
	defer tick.Stop()
	last, lastCounts := "", ""
	for {
		changed := rt.Changed() // before Status, so no change is missed
		st := rt.Status()
		key, counts := "", ""
		for _, c := range st.Components {
			key += fmt.Sprintf("%d/%d/%d/%d/%d/%v;", c.Ready, c.Replicas, c.Desired, c.Terminating, c.Restarts, c.LastDecision)
		}
		for _, p := range st.Predictors {
			key += fmt.Sprintf("%s/%v/%.1f;", p.HTTP, p.Ready, p.Share)
			counts += fmt.Sprintf("%d/%d/%d/%d;", p.Requests, p.Mirrored, p.MirrorErrors, p.MirrorDropped)
		}
		if key != last || counts != lastCounts {
			last, lastCounts = key, counts
			fmt.Fprintln(w)
			_ = WriteTable(w, st)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// tableRequestsEvery is how often the live table may be printed again for
// new request counts alone.
const tableRequestsEvery = 5 * time.Second
