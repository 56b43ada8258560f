package autoscale

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// String is a one-line summary: "replicas 1 -> 4: cpu 380% of request,
// target 10% (scale-up limited by ...)".
func (d Decision) String() string {
	return fmt.Sprintf("replicas %d -> %d: %s", d.CurrentReplicas, d.DesiredReplicas, d.Reason)
}

// String describes the metric's observation, or its failure.
func (m MetricResult) String() string {
	if m.Err != "" {
		return fmt.Sprintf("%s unavailable (%s): %s", m.Name, m.Reason, m.Err)
	}
	return describe(m)
}

func describe(m MetricResult) string {
	return fmt.Sprintf("%s %s, target %s", m.Name, m.Current, m.Target)
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

func trimFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', 4, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
