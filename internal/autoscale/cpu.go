package autoscale

import (
	"math"

	"k8s.io/apimachinery/pkg/api/resource"
)

// CPUUtilization is a replica's CPU utilization in percent of its request:
// the CPU time it used over a wall-clock interval (for a local process, the
// difference of its /proc utime+stime between two samples, in seconds),
// divided by the interval and by the request in cores. It returns 0 when
// the interval or the request is not positive.
func CPUUtilization(cpuSecondsDelta, wallSecondsDelta, requestCores float64) float64 {
	if wallSecondsDelta <= 0 || requestCores <= 0 {
		return 0
	}
	return cpuSecondsDelta / wallSecondsDelta / requestCores * 100
}

// CPUUsage is the average CPU usage over a wall-clock interval as a
// quantity in millicores, suitable for Container.Usage: cpuSecondsDelta
// CPU seconds used during wallSecondsDelta seconds. It returns zero when
// the interval is not positive; negative deltas (a restarted process)
// count as zero.
func CPUUsage(cpuSecondsDelta, wallSecondsDelta float64) resource.Quantity {
	if wallSecondsDelta <= 0 || cpuSecondsDelta <= 0 {
		return *resource.NewMilliQuantity(0, resource.DecimalSI)
	}
	return *resource.NewMilliQuantity(int64(math.Round(cpuSecondsDelta/wallSecondsDelta*1000)), resource.DecimalSI)
}
