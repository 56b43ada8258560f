package local

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
	"github.com/sdep-dev/sdep/internal/version"
)

// Mappings say how to run containers whose image sdep does not know.
type Mappings struct {
	// Self is the sdep executable, used for built-in images.
	Self string
	// Run maps a container name to a shell command started once per
	// replica with the container's environment and ports.
	Run map[string]string
	// Endpoints maps a container name to an already-running server
	// (HOST:PORT of its REST port). Such containers are not started and
	// not autoscaled.
	Endpoints map[string]string
}

// Plan is what a SeldonDeployment asks the local runtime to run: the
// builders' Deployments and HPAs, turned into processes.
type Plan struct {
	// SeldonDeployment is the defaulted document.
	SeldonDeployment *sdepv1.SeldonDeployment
	Predictors       []PredictorPlan
}

// PredictorPlan is one predictor: its executor and its components.
type PredictorPlan struct {
	Spec       sdepv1.PredictorSpec
	Components []*ComponentPlan
}

// ComponentPlan is one componentSpec, that is one Deployment.
type ComponentPlan struct {
	// Name is the componentSpec's name; Deployment the Deployment's.
	Name       string
	Deployment string
	// Replicas is the Deployment's replica count (for an autoscaled one,
	// the HPA's minReplicas: what the first HPA sync would set).
	Replicas int32
	// HPA is the HorizontalPodAutoscaler spec the builders made, or nil.
	HPA *autoscalingv2.HorizontalPodAutoscalerSpec
	// Containers are the pod's containers except the executor, which runs
	// once inside sdep serve.
	Containers []ContainerPlan
	// GracePeriod is the pod's terminationGracePeriodSeconds.
	GracePeriod time.Duration
	// KEDA is set when a kedaSpec asks for scaling the local runtime does
	// not do (it needs KEDA's scalers).
	KEDA bool
}

// Scaled reports whether any container runs as a local process, so the
// component has replicas to start and stop.
func (c *ComponentPlan) Scaled() bool {
	for _, ct := range c.Containers {
		if ct.External == "" {
			return true
		}
	}
	return false
}

// ContainerPlan is one container of a component's pod.
type ContainerPlan struct {
	Name  string
	Image string
	// Command is what each replica runs (argv); empty when External is set.
	Command []string
	// External is HOST:PORT of an already-running server (--endpoint).
	External string
	Env      []corev1.EnvVar
	Ports    []corev1.ContainerPort
	Requests corev1.ResourceList
}

// port returns the container port with the given name, or 0.
func (c *ContainerPlan) port(name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// mockClassifierImage is the upstream image sdep runs with its own
// `sdep model mock-classifier`.
const mockClassifierImage = "seldonio/mock_classifier"

// NewPlan validates sd with the shared validator and builds its objects with
// the shared builders, then decides how to run each container.
func NewPlan(sd *sdepv1.SeldonDeployment, m Mappings) (*Plan, error) {
	vopts := validation.DefaultOptions()
	if err := validation.Validate(sd, vopts).Err(); err != nil {
		return nil, err
	}
	objs, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		return nil, err
	}
	def := sd.DeepCopy()
	validation.Default(def, vopts)
	deployments := map[string]int{}
	for i, d := range objs.Deployments {
		deployments[d.Name] = i
	}
	hpas := map[string]*autoscalingv2.HorizontalPodAutoscalerSpec{}
	for _, h := range objs.HPAs {
		hpas[h.Spec.ScaleTargetRef.Name] = h.Spec.DeepCopy()
	}
	plan := &Plan{SeldonDeployment: def}
	used := map[string]bool{}
	var errs []error
	for i := range def.Spec.Predictors {
		p := &def.Spec.Predictors[i]
		pp := PredictorPlan{Spec: *p.DeepCopy()}
		for j := range p.ComponentSpecs {
			name := naming.DeploymentName(def, p, j)
			di, ok := deployments[name]
			if !ok {
				continue // nothing to run: the builders made no Deployment
			}
			d := objs.Deployments[di]
			c := &ComponentPlan{
				Name:        naming.ComponentName(&p.ComponentSpecs[j]),
				Deployment:  name,
				Replicas:    1,
				HPA:         hpas[name],
				GracePeriod: 30 * time.Second,
				KEDA:        p.ComponentSpecs[j].KedaSpec != nil,
			}
			if d.Spec.Replicas != nil {
				c.Replicas = *d.Spec.Replicas
			}
			if c.HPA != nil && c.HPA.MinReplicas != nil {
				c.Replicas = *c.HPA.MinReplicas
			}
			if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
				c.GracePeriod = time.Duration(*g) * time.Second
			}
			field := fmt.Sprintf("spec.predictors[%d].componentSpecs[%d]", i, j)
			for k := range d.Spec.Template.Spec.Containers {
				ct := &d.Spec.Template.Spec.Containers[k]
				if ct.Name == validation.ExecutorContainerName {
					continue
				}
				cp, err := planContainer(ct, m)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s (%s): %w", field, c.Name, err))
					continue
				}
				used[ct.Name] = true
				c.Containers = append(c.Containers, cp)
			}
			if len(c.Containers) > 0 {
				pp.Components = append(pp.Components, c)
			}
		}
		plan.Predictors = append(plan.Predictors, pp)
	}
	for _, flag := range []struct {
		name string
		m    map[string]string
	}{{"--run", m.Run}, {"--endpoint", m.Endpoints}} {
		for name := range flag.m {
			if !used[name] {
				errs = append(errs, fmt.Errorf("%s %s: no container of that name in the document", flag.name, name))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return plan, nil
}

func planContainer(ct *corev1.Container, m Mappings) (ContainerPlan, error) {
	cp := ContainerPlan{
		Name:     ct.Name,
		Image:    ct.Image,
		Env:      ct.Env,
		Ports:    ct.Ports,
		Requests: ct.Resources.Requests,
	}
	_, hasRun := m.Run[ct.Name]
	_, hasEndpoint := m.Endpoints[ct.Name]
	switch {
	case hasRun && hasEndpoint:
		return cp, fmt.Errorf("container %q has both --run and --endpoint: give one", ct.Name)
	case hasRun:
		cmd := strings.TrimSpace(m.Run[ct.Name])
		if cmd == "" {
			return cp, fmt.Errorf("--run %s: empty command", ct.Name)
		}
		// exec makes the command itself the replica's process, so its CPU
		// is what /proc reports for the pid sdep started.
		cp.Command = []string{"/bin/sh", "-c", "exec " + cmd}
	case hasEndpoint:
		cp.External = m.Endpoints[ct.Name]
		if _, _, err := splitHostPort(cp.External); err != nil {
			return cp, fmt.Errorf("--endpoint %s=%s: %w", ct.Name, cp.External, err)
		}
	case imageRepository(ct.Image) == mockClassifierImage:
		// In a pod it listens on every interface; on a workstation only
		// the executor, on localhost, needs to reach it.
		cp.Command = []string{m.Self, "model", "mock-classifier", "--host", "127.0.0.1"}
	case isSdepImage(ct.Image) && len(ct.Args) > 0 && ct.Args[0] == "model":
		cp.Command = append([]string{m.Self}, ct.Args...)
	default:
		return cp, fmt.Errorf("container %q (image %q) is not built into sdep: "+
			"give --run %s='command args' to start it per replica with the operator's env vars and ports, "+
			"or --endpoint %s=HOST:PORT to use a server that is already running",
			ct.Name, ct.Image, ct.Name, ct.Name)
	}
	return cp, nil
}

// imageRepository strips the registry, the tag and the digest from an image
// reference: "host.example:5000/seldonio/mock_classifier:1.19" and
// "seldonio/mock_classifier" both give "seldonio/mock_classifier".
func imageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	// As in the container image reference grammar, a first component with a
	// dot or a port, or "localhost", names a registry.
	if first, rest, ok := strings.Cut(image, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		image = rest
	}
	return image
}

// isSdepImage reports whether image is sdep's own (the executor image the
// builders use, whatever its registry).
func isSdepImage(image string) bool {
	own := imageRepository(version.Image())
	repo := imageRepository(image)
	return repo == own || strings.HasSuffix(repo, "/"+own)
}

func splitHostPort(hostport string) (string, int32, error) {
	i := strings.LastIndexByte(hostport, ':')
	if i <= 0 {
		return "", 0, errors.New("want HOST:PORT")
	}
	port, err := strconv.ParseUint(hostport[i+1:], 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("port %q is not a port number", hostport[i+1:])
	}
	return strings.Trim(hostport[:i], "[]"), int32(port), nil
}
