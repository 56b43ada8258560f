package metricsapi

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sdep-dev/sdep/internal/executor"
)

func executorPod(name, ip string, phase corev1.PodPhase, port int32) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "model", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9000}}},
			{Name: "seldon-container-engine", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}, {Name: "grpc", ContainerPort: 5001}}},
		}},
		Status: corev1.PodStatus{Phase: phase, PodIP: ip},
	}
}

// Only running, undeleted pods with an IP are polled, on the executor
// container's http port.
func TestExecutorAddresses(t *testing.T) {
	deleting := executorPod("d", "10.0.0.4", corev1.PodRunning, 8000)
	deleting.DeletionTimestamp = new(metav1.Now())
	got := ExecutorAddresses([]corev1.Pod{
		executorPod("a", "10.0.0.1", corev1.PodRunning, 8000),
		executorPod("b", "10.0.0.2", corev1.PodPending, 8000),
		executorPod("c", "", corev1.PodRunning, 8000),
		deleting,
		executorPod("e", "fd00::5", corev1.PodRunning, 8080),
	})
	want := []string{"10.0.0.1:8000", "[fd00::5]:8080"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("addresses = %v, want %v", got, want)
	}
}

// Figures are summed over executors per node, only for the predictor and
// nodes asked for; the busiest node is the component's.
func TestSum(t *testing.T) {
	loads := []executor.Load{
		{Predictor: "p", Nodes: []executor.NodeLoad{{Name: "a", InFlight: 3, RequestsPerSecond: 10}, {Name: "b", InFlight: 1, RequestsPerSecond: 40}}},
		{Predictor: "p", Nodes: []executor.NodeLoad{{Name: "a", InFlight: 2, RequestsPerSecond: 5.5}, {Name: "c", InFlight: 100}}},
		{Predictor: "other", Nodes: []executor.NodeLoad{{Name: "a", InFlight: 50, RequestsPerSecond: 50}}},
	}
	inFlight, rps, _ := executor.ComponentLoad(loads, "p", map[string]bool{"a": true, "b": true})
	if inFlight != 5 || rps != 40 {
		t.Fatalf("Sum = %d, %v; want 5 (a: 3+2), 40 (b)", inFlight, rps)
	}
	if inFlight, rps, ok := executor.ComponentLoad(loads, "p", map[string]bool{"missing": true}); inFlight != 0 || rps != 0 || ok {
		t.Fatalf("Sum of an unknown node = %d, %v", inFlight, rps)
	}
}
