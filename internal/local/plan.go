package local

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/predictor"
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
	// ModelCache is where prepackaged servers' modelUris are fetched to
	// (prepackaged.go); empty means the user's cache directory.
	ModelCache string
	// Context bounds those fetches: cancelling it (sdep serve's Ctrl-C)
	// stops a fetch in progress. Nil means no cancellation.
	Context context.Context
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
	// ScaleToZero is set when the componentSpec's hpaSpec (or the legacy
	// hpaSpecs entry moved onto it) has minReplicas 0. The component then
	// starts with no replica (Replicas 0), a held request wakes one, and
	// an idle window takes it back to none; HPA keeps minReplicas 1 for
	// the HPA algorithm, which scales 1 to N as on a cluster, where the
	// rendered HPA has minReplicas 1 and a scaler does 0↔1.
	ScaleToZero bool
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

// mockClassifierImage is the upstream image sdep runs with its own
// `sdep model mock-classifier`.
const mockClassifierImage = "seldonio/mock_classifier"

// NewPlan validates sd with the shared validator and builds it with the
// shared builders, then decides how to run each container of each
// componentSpec's Deployment. Names, replica counts and HPA specs are the
// builders' own decisions (resources.Result), not derived again here.
func NewPlan(sd *sdepv1.SeldonDeployment, m Mappings) (*Plan, error) {
	sd = withPrepackagedContainers(sd)
	if err := validation.Validate(sd).Err(); err != nil {
		return nil, err
	}
	built, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		return nil, err
	}
	def := built.SeldonDeployment
	plan := &Plan{SeldonDeployment: def}
	for i := range def.Spec.Predictors {
		plan.Predictors = append(plan.Predictors, PredictorPlan{Spec: *def.Spec.Predictors[i].DeepCopy()})
	}
	used := map[string]bool{}
	var errs []error
	for _, bc := range built.Components {
		if bc.ComponentSpec < 0 {
			continue // the executor alone: it runs inside sdep serve
		}
		d := bc.Deployment
		c := &ComponentPlan{
			Name:        bc.Name,
			Deployment:  d.Name,
			Replicas:    bc.Replicas.Initial(),
			GracePeriod: 30 * time.Second,
			KEDA:        bc.Replicas.AutoscaledBy == resources.KindScaledObject,
		}
		if bc.HPA != nil {
			c.HPA = bc.HPA.Spec.DeepCopy()
			// The builders' own decision (predictor.ScalesToZero): such a
			// component starts with no replica (Replicas.Initial is 0) and
			// its HPA is rendered with a minimum of 1, as on a cluster.
			c.ScaleToZero = bc.Replicas.ToZero
		}
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			c.GracePeriod = time.Duration(*g) * time.Second
		}
		field := fmt.Sprintf("spec.predictors[%d].componentSpecs[%d]", bc.Predictor, bc.ComponentSpec)
		for k := range d.Spec.Template.Spec.Containers {
			ct := &d.Spec.Template.Spec.Containers[k]
			if ct.Name == predictor.ExecutorContainerName {
				continue
			}
			cp, ok, err := planPrepackagedContainer(def, bc.Predictor, ct, m)
			if !ok {
				cp, err = planContainer(ct, m)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %w", field, c.Name, err))
				continue
			}
			used[ct.Name] = true
			c.Containers = append(c.Containers, cp)
		}
		if len(c.Containers) > 0 {
			pp := &plan.Predictors[bc.Predictor]
			pp.Components = append(pp.Components, c)
		}
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
	case predictor.ImageRepository(ct.Image) == mockClassifierImage:
		// In a pod it listens on every interface; on a workstation only
		// the executor, on localhost, needs to reach it. sdep serve takes
		// a replica out of service and waits for its requests before it
		// stops it, so the model need not keep serving after SIGTERM.
		cp.Command = []string{m.Self, "model", "mock-classifier", "--host", "127.0.0.1", "--drain-period=0"}
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

// isSdepImage reports whether image is sdep's own (the executor image the
// builders use, whatever its registry).
func isSdepImage(image string) bool {
	own := predictor.ImageRepository(version.Image())
	repo := predictor.ImageRepository(image)
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
