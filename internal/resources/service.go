package resources

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

// MakePredictorService builds the Service in front of predictor p's
// executor: ports http and grpc, selecting the pods labelled
// seldon-app: <service name>. It is headless only when
// seldon.io/headless-svc is "true" in spec.annotations (or, failing that,
// the SeldonDeployment's metadata.annotations); see the package doc.
func MakePredictorService(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, opts Options) *corev1.Service {
	opts = opts.complete()
	name := naming.PredictorServiceName(sd, p)
	labels := map[string]string{
		naming.LabelSeldonApp: name,
		naming.LabelSeldonID:  naming.SeldonID(sd),
		naming.LabelManagedBy: naming.ManagedByValue,
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(sd, name, labels, merge(p.Annotations)),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{naming.LabelSeldonApp: name},
			Ports:    servicePorts(opts.Predictor.ExecutorHTTPPort, opts.Predictor.ExecutorGRPCPort),
		},
	}
	if headless(sd) {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return svc
}

func headless(sd *sdepv1.SeldonDeployment) bool {
	v, ok := sd.Spec.Annotations[AnnotationHeadlessService]
	if !ok {
		v = sd.Annotations[AnnotationHeadlessService]
	}
	return v == "true"
}

// MakeContainerService builds the Service in front of graph container c of
// predictor p, through which the executor reaches containers outside its
// own pod. It returns nil when c is not a graph node, is the executor, or
// has neither an http nor a grpc port.
func MakeContainerService(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, c *corev1.Container) *corev1.Service {
	n, inGraph := graphNodes(p)[c.Name]
	if !inGraph || c.Name == validation.ExecutorContainerName {
		return nil
	}
	ports := servicePorts(predictor.NamedPort(c.Ports, predictor.PortNameHTTP), predictor.NamedPort(c.Ports, predictor.PortNameGRPC))
	if len(ports) == 0 {
		return nil
	}
	name := naming.ContainerServiceName(sd, p, c.Name)
	key := ContainerServiceLabel(c.Name)
	labels := map[string]string{
		key:                   name,
		naming.LabelSeldonID:  naming.SeldonID(sd),
		naming.LabelSeldonApp: naming.PredictorServiceName(sd, p),
		naming.LabelManagedBy: naming.ManagedByValue,
	}
	if typeLabel, ok := nodeTypeLabels[n.Type]; ok {
		labels[typeLabel] = "true"
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(sd, name, labels, merge(p.Annotations)),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{key: name},
			Ports:    ports,
		},
	}
}

// servicePorts exposes http and grpc on the same numbers as the targets,
// leaving out a port numbered 0.
func servicePorts(httpPort, grpcPort int32) []corev1.ServicePort {
	var ports []corev1.ServicePort
	for _, p := range []struct {
		name string
		port int32
	}{{predictor.PortNameHTTP, httpPort}, {predictor.PortNameGRPC, grpcPort}} {
		if p.port == 0 {
			continue
		}
		ports = append(ports, corev1.ServicePort{
			Name: p.name, Port: p.port, TargetPort: intstr.FromInt32(p.port), Protocol: corev1.ProtocolTCP,
		})
	}
	return ports
}
