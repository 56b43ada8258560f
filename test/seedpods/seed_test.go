//go:build linux

package seedpods

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
	"github.com/sdep-dev/sdep/internal/validation"
)

const (
	seedFile = "seed-hpaspecs.json"
	seedNS   = "seed"
	// The second run's only changes: the classifier requests 0.1 CPU
	// instead of 0.5, and the operator gives the executor a 50m request
	// (upstream's EXECUTOR_REQUEST_RESOURCES_CPU) instead of 0.5, so four
	// pods fit on this 2-CPU node.
	smallClassifierCPU = "0.1"
	smallExecutorCPU   = "50m"
	scaleTimeout       = 4 * time.Minute
)

// TestSeedOnRealContainers is the seed's worked example on real pods:
// sdep installed from dist/sdep.yaml, the seed applied verbatim, a
// prediction through the predictor Service's ClusterIP, then load that the
// real HPA controller sees through metrics-server reading the kubelet.
func TestSeedOnRealContainers(t *testing.T) {
	requireNode(t)
	ctx := context.Background()
	k := newClients(t)
	op := install(t, k, distManifest())

	seedPath := filepath.Join(repo, "examples", seedFile)
	newNamespace(t, seedNS)
	testenv.Kubectl(t, node.Kubeconfig, "apply", "-n", seedNS, "-f", seedPath)
	sd := seedObject(t, seedPath, nil)
	names := seedNamesFor(t, sd, resources.Options{ExecutorImage: op.image})
	waitState(t, k, seedNS, sd.Name, sdepv1.StateAvailable, scaleTimeout)

	svc, err := k.core.CoreV1().Services(seedNS).Get(ctx, names.service, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the predictor Service %s: %v", names.service, err)
	}
	url := serviceURL(t, svc)
	if err := predictOnce(url); err != nil {
		t.Fatalf("a prediction through the predictor Service %s: %v", url, err)
	}
	checkRenderedContainers(t, k, names, resources.Options{ExecutorImage: op.image})

	t.Run("as written: the HPA asks for 4, the node fits what it fits", func(t *testing.T) {
		l := startLoad(url, 8, 0)
		start := time.Now()
		waitHPADesired(t, k, names.hpa, 4, scaleTimeout)
		up := time.Since(start)
		// Each seed pod requests 1 CPU (0.5 classifier + 0.5 executor):
		// the pods that fit run, the others wait for a node.
		ready, pending := podCounts(t, k, names)
		if ready < 1 || ready+pending != 4 {
			t.Errorf("pods: %d Ready, %d Pending; want 4 in all, at least 1 Ready", ready, pending)
		}
		for _, ip := range readyPodIPs(t, k, names) {
			if err := predictOnce(fmt.Sprintf("http://%s:%d", ip, names.executorPort)); err != nil {
				t.Errorf("Ready pod %s does not answer: %v", ip, err)
			}
		}
		sent, failed, firstErr := l.stop()
		t.Logf("seed as written: HPA at 4 after %.1fs under load; %d Ready, %d Pending (Insufficient cpu); %d requests, %d failed %s",
			up.Seconds(), ready, pending, sent, failed, firstErr)
	})
	if t.Failed() {
		return
	}

	t.Run("small requests: 1 to 4 Ready pods and back to 1 without a failed request", func(t *testing.T) {
		// The operator setting first (its pod restarts), then the edited
		// document; each rolls the seed's pods once.
		testenv.Kubectl(t, node.Kubeconfig, "set", "env", "-n", op.namespace, "deployment/"+op.name,
			"EXECUTOR_REQUEST_RESOURCES_CPU="+smallExecutorCPU)
		waitDeploymentAvailable(t, k, op.namespace, op.name, 3*time.Minute)
		small := editedSeed(t, seedPath)
		testenv.Kubectl(t, node.Kubeconfig, "apply", "-n", seedNS, "-f", small)

		wantCPU := resource.MustParse(smallClassifierCPU)
		wantCPU.Add(resource.MustParse(smallExecutorCPU))
		waitPods(t, k, names, 1, wantCPU, scaleTimeout)

		l := startLoad(url, 8, 0)
		start := time.Now()
		waitPods(t, k, names, 4, wantCPU, scaleTimeout)
		up := time.Since(start)
		// Every pod answers requests: the load reconnects often, so the
		// Service spreads connections over the new endpoints.
		counts := waitEveryPodServed(t, k, names, 4, time.Minute)
		sentUp, failedUp, firstUp := l.stop()

		trickle := startLoad(url, 1, 200*time.Millisecond)
		start = time.Now()
		waitPods(t, k, names, 1, wantCPU, scaleTimeout)
		down := time.Since(start)
		// A few more seconds at the trickle: connections to the pods that
		// went away must not fail later either.
		time.Sleep(3 * time.Second)
		sent, failed, firstErr := trickle.stop()
		t.Logf("small requests: 1→4 Ready in %.1fs (per-pod executor requests %v; %d requests, %d failed %s); "+
			"4→1 in %.1fs at a trickle: %d requests, %d failed %s",
			up.Seconds(), sortedCounts(counts), sentUp, failedUp, firstUp, down.Seconds(), sent, failed, firstErr)
		if failed != 0 {
			t.Errorf("%d of %d trickle requests failed while scaling down; first: %s", failed, sent, firstErr)
		}
		if failedUp != 0 {
			t.Errorf("%d of %d requests failed while scaling up; first: %s", failedUp, sentUp, firstUp)
		}
	})
}

// seedNames are the objects the operator makes of the seed.
type seedNames struct {
	deployment, hpa, service string
	selector                 string
	executorPort             int32
	executor                 corev1.Container
	enginePredictor          string
}

// seedObject decodes the seed (edited by edit when not nil) as the
// operator sees it in seedNS.
func seedObject(t *testing.T, path string, edit func(*sdepv1.SeldonDeployment)) *sdepv1.SeldonDeployment {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decodeDocs(path, data)
	if err != nil {
		t.Fatal(err)
	}
	sd := docs[0]
	sd.Namespace = seedNS
	if edit != nil {
		edit(sd)
	}
	return sd
}

// seedNamesFor builds the seed with the operator's options, as the operator
// does, and picks out what the test talks to.
func seedNamesFor(t *testing.T, sd *sdepv1.SeldonDeployment, opts resources.Options) seedNames {
	t.Helper()
	res, err := resources.Build(sd, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Components) != 1 {
		t.Fatalf("the seed builds %d components, want 1", len(res.Components))
	}
	c := res.Components[0]
	if c.HPA == nil {
		t.Fatal("the seed builds no HorizontalPodAutoscaler")
	}
	n := seedNames{
		deployment:      c.Deployment.Name,
		hpa:             c.HPA.Name,
		service:         naming.PredictorServiceName(res.SeldonDeployment, &res.SeldonDeployment.Spec.Predictors[0]),
		selector:        metav1.FormatLabelSelector(c.Deployment.Spec.Selector),
		enginePredictor: c.EnginePredictor,
	}
	for _, ct := range c.Deployment.Spec.Template.Spec.Containers {
		if ct.Name == validation.ExecutorContainerName {
			n.executor = ct
			for _, p := range ct.Ports {
				if p.Name == "http" {
					n.executorPort = p.ContainerPort
				}
			}
		}
	}
	if n.executor.Name == "" || n.executorPort == 0 {
		t.Fatal("the seed's Deployment has no executor container with an http port")
	}
	return n
}

// editedSeed writes the seed with the classifier's CPU request changed,
// its only change, and returns the file.
func editedSeed(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The seed writes "cpu": "0.5" once; the edit replaces exactly that.
	old := []byte(`"cpu": "0.5"`)
	if bytes.Count(data, old) != 1 {
		t.Fatalf("%s: expected one %s to edit", path, old)
	}
	out := filepath.Join(t.TempDir(), "seed-small.json")
	if err := os.WriteFile(out, bytes.Replace(data, old, []byte(`"cpu": "`+smallClassifierCPU+`"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRenderedContainers compares the running pod's executor container
// with the one sdep renders for the seed, and checks that its
// ENGINE_PREDICTOR decodes to the seed's predictor.
func checkRenderedContainers(t *testing.T, k *clients, n seedNames, opts resources.Options) {
	t.Helper()
	pods := listPods(t, k, n)
	if len(pods) == 0 {
		t.Fatal("no seed pod")
	}
	pod := pods[0]
	var exec *corev1.Container
	names := []string{}
	for i := range pod.Spec.Containers {
		names = append(names, pod.Spec.Containers[i].Name)
		if pod.Spec.Containers[i].Name == validation.ExecutorContainerName {
			exec = &pod.Spec.Containers[i]
		}
	}
	if exec == nil {
		t.Fatalf("pod %s has containers %v, no %s", pod.Name, names, validation.ExecutorContainerName)
	}
	if strings.Join(exec.Command, " ") != "sdep executor" {
		t.Errorf("executor command %q, want sdep executor", exec.Command)
	}
	if got, want := strings.Join(exec.Args, " "), strings.Join(n.executor.Args, " "); got != want {
		t.Errorf("executor args\n got %s\nwant %s", got, want)
	}
	if exec.Image != opts.ExecutorImage {
		t.Errorf("executor image %s, want the operator's own %s", exec.Image, opts.ExecutorImage)
	}
	var engine string
	for _, e := range exec.Env {
		if e.Name == resources.EnvEnginePredictor {
			engine = e.Value
		}
	}
	if engine != n.enginePredictor {
		t.Errorf("ENGINE_PREDICTOR differs from the rendered one")
	}
	raw, err := base64.StdEncoding.DecodeString(engine)
	if err != nil {
		t.Fatalf("ENGINE_PREDICTOR is not base64: %v", err)
	}
	var p sdepv1.PredictorSpec
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("ENGINE_PREDICTOR is not a predictor: %v", err)
	}
	if p.Name != "example" || p.Graph.Name != "classifier" {
		t.Errorf("ENGINE_PREDICTOR decodes to predictor %q with graph %q, want example/classifier", p.Name, p.Graph.Name)
	}
	for _, st := range pod.Status.ContainerStatuses {
		if !st.Ready {
			t.Errorf("container %s of %s is not Ready", st.Name, pod.Name)
		}
	}
}
