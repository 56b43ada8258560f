package predictor

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestPortPlanSharesPortsByNameAndKeepsNamedOnes(t *testing.T) {
	pp := NewPortPlan(Options{})
	model := corev1.Container{Name: "model"}
	own := corev1.Container{Name: "own", Ports: []corev1.ContainerPort{{Name: PortNameHTTP, ContainerPort: 7000}}}
	sidecar := corev1.Container{Name: "sidecar"}
	again := corev1.Container{Name: "model"} // the same name in another predictor
	pp.Assign(&model, true)
	pp.Assign(&sidecar, false)
	pp.Assign(&own, true)
	pp.Assign(&again, true)
	ports := func(c corev1.Container) [3]int32 {
		return [3]int32{NamedPort(c.Ports, PortNameHTTP), NamedPort(c.Ports, PortNameGRPC), NamedPort(c.Ports, PortNameMetrics)}
	}
	for _, tc := range []struct {
		c    corev1.Container
		want [3]int32
	}{
		{model, [3]int32{9000, 9500, 6000}},
		{sidecar, [3]int32{0, 0, 0}}, // outside the graph: nothing added, 9001/9501 reserved
		{own, [3]int32{7000, 9502, 6001}},
		{again, [3]int32{9000, 9500, 6000}},
	} {
		if diff := cmp.Diff(tc.want, ports(tc.c)); diff != "" {
			t.Errorf("%s ports (-want +got):\n%s", tc.c.Name, diff)
		}
	}
	if NamedPort(own.Ports, "nope") != 0 {
		t.Error("NamedPort found a port that is not there")
	}
}

func TestOptionsComplete(t *testing.T) {
	got := Options{GRPCPortBase: 1234}.Complete()
	want := DefaultOptions()
	want.GRPCPortBase = 1234
	if got != want {
		t.Errorf("Complete() = %+v, want %+v", got, want)
	}
}
