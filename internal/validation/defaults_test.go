package validation_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
	"github.com/sdep-dev/sdep/internal/validation/validationtest"
)

func TestDefaultSeed(t *testing.T) {
	sd := validationtest.Base()
	validation.Default(sd, predictor.DefaultOptions())
	p := validationtest.Pred(sd)
	if sd.Namespace != "default" {
		t.Errorf("namespace %q", sd.Namespace)
	}
	if p.Labels["version"] != "example" {
		t.Errorf("version label %v", p.Labels)
	}
	if len(p.HpaSpecs) != 0 {
		t.Errorf("legacy hpaSpecs not mapped: %v", p.HpaSpecs)
	}
	want := &sdepv1.SeldonHpaSpec{MinReplicas: ptr.To[int32](1), MaxReplicas: 4, Metrics: []sdepv1.MetricSpec{validationtest.CPUUtilization(10)}}
	if diff := cmp.Diff(want, validationtest.Comp(sd).HpaSpec); diff != "" {
		t.Errorf("hpaSpec of my-dep (-want +got):\n%s", diff)
	}
	wantPorts := []corev1.ContainerPort{
		{Name: "http", ContainerPort: 9000, Protocol: corev1.ProtocolTCP},
		{Name: "grpc", ContainerPort: 9500, Protocol: corev1.ProtocolTCP},
		{Name: "metrics", ContainerPort: 6000, Protocol: corev1.ProtocolTCP},
	}
	if diff := cmp.Diff(wantPorts, validationtest.Comp(sd).Spec.Containers[0].Ports); diff != "" {
		t.Errorf("classifier ports (-want +got):\n%s", diff)
	}
	wantEndpoint := &sdepv1.Endpoint{ServiceHost: "localhost", ServicePort: 9000, Type: sdepv1.EndpointREST, HTTPPort: 9000, GRPCPort: 9500}
	if diff := cmp.Diff(wantEndpoint, p.Graph.Endpoint); diff != "" {
		t.Errorf("graph endpoint (-want +got):\n%s", diff)
	}
	if p.Graph.Implementation != sdepv1.UnknownImplementation || p.Graph.Type != sdepv1.Model {
		t.Errorf("graph type %q implementation %q", p.Graph.Type, p.Graph.Implementation)
	}
}

func TestDefaultIsIdempotent(t *testing.T) {
	once := validationtest.Base()
	validation.Default(once, predictor.DefaultOptions())
	twice := once.DeepCopy()
	validation.Default(twice, predictor.DefaultOptions())
	if diff := cmp.Diff(once, twice); diff != "" {
		t.Errorf("second Default changed the document:\n%s", diff)
	}
}

func TestDefaultPortsAcrossComponentsAndPredictors(t *testing.T) {
	sd := validationtest.Base()
	sd.Namespace = "models"
	sd.Spec.Transport = sdepv1.TransportGrpc
	p := validationtest.Pred(sd)
	p.HpaSpecs = nil
	p.Graph = sdepv1.PredictiveUnit{Name: "router", Type: sdepv1.Router, Children: []sdepv1.PredictiveUnit{
		{Name: "classifier"}, {Name: "second"},
	}}
	p.ComponentSpecs[0].Spec.Containers = append(p.ComponentSpecs[0].Spec.Containers,
		corev1.Container{Name: "router", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 7777}}},
		corev1.Container{Name: "helper"}) // not in the graph: consumes http/grpc numbers only
	p.ComponentSpecs = append(p.ComponentSpecs, sdepv1.SeldonPodSpec{
		Metadata: metav1.ObjectMeta{Name: "two"},
		Spec:     corev1.PodSpec{Containers: []corev1.Container{{Name: "second"}}},
	})
	other := *p.DeepCopy()
	other.Name = "canary"
	sd.Spec.Predictors = append(sd.Spec.Predictors, other)

	validation.Default(sd, predictor.DefaultOptions())

	endpoints := map[string]sdepv1.Endpoint{}
	for i := range sd.Spec.Predictors {
		predictor.Walk(&sd.Spec.Predictors[i].Graph, sd.Spec.Predictors[i].Name, func(_ string, n *sdepv1.PredictiveUnit) {
			endpoints[sd.Spec.Predictors[i].Name+"/"+n.Name] = *n.Endpoint
		})
	}
	want := map[string]sdepv1.Endpoint{
		"example/classifier": {ServiceHost: "localhost", ServicePort: 9500, Type: sdepv1.EndpointGRPC, HTTPPort: 9000, GRPCPort: 9500},
		"example/router":     {ServiceHost: "localhost", ServicePort: 9501, Type: sdepv1.EndpointGRPC, HTTPPort: 7777, GRPCPort: 9501},
		"example/second": {ServiceHost: "seldon-model-example-second.models.svc.cluster.local", ServicePort: 9503,
			Type: sdepv1.EndpointGRPC, HTTPPort: 9002, GRPCPort: 9503},
		// The same container names in another predictor keep their ports.
		"canary/classifier": {ServiceHost: "localhost", ServicePort: 9500, Type: sdepv1.EndpointGRPC, HTTPPort: 9000, GRPCPort: 9500},
		"canary/router":     {ServiceHost: "localhost", ServicePort: 9501, Type: sdepv1.EndpointGRPC, HTTPPort: 7777, GRPCPort: 9501},
		"canary/second": {ServiceHost: "seldon-model-canary-second.models.svc.cluster.local", ServicePort: 9503,
			Type: sdepv1.EndpointGRPC, HTTPPort: 9002, GRPCPort: 9503},
	}
	if diff := cmp.Diff(want, endpoints); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if n := len(validationtest.Pred(sd).ComponentSpecs[0].Spec.Containers[2].Ports); n != 0 {
		t.Errorf("a container outside the graph got %d ports", n)
	}
}
