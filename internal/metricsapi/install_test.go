package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/devcluster"
	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// The identity config/default gives the metrics API.
const (
	installNamespace = "sdep-system"
	installSA        = "system:serviceaccount:sdep-system:sdep-metrics-api"
)

// TestInstalledRBACServesAMetric runs the metrics API with exactly the
// rights config/default grants it: the install's RBAC, APIServices and
// ServiceAccount are applied (the Service becomes an ExternalName to this
// machine, since no pod runs here), and the server runs as that
// ServiceAccount (impersonated) with the manifests' --cert-secret. The
// metric of a component whose executor pod is marked Running at 127.0.0.1
// is read through the aggregator: the Deployment, the SeldonDeployment,
// the pod list, the Secret, the caBundle and delegated authentication all
// had to be allowed.
func TestInstalledRBACServesAMetric(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set (the local control plane's binaries)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Options{
		APIServerOnly:     true,
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")},
		Dir:               t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Stop() }()
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), sdepv1.AddToScheme(scheme)); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	port, err := devcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}

	// The install's objects the metrics API depends on.
	rendered := testenv.Kubectl(t, c.Kubeconfig, "kustomize", filepath.Join("..", "..", "config", "default"))
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(rendered), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		switch u.GetKind() {
		case "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
		case "APIService":
			if err := unstructured.SetNestedField(u.Object, int64(port), "spec", "service", "port"); err != nil {
				t.Fatal(err)
			}
		default:
			continue
		}
		if err := cl.Create(ctx, u); err != nil {
			t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "sdep-metrics-api", Namespace: installNamespace},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(port)}}},
	}
	if err := cl.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}

	// A component and its executor: a real executor on loopback, and a pod
	// that says it runs there.
	const ns = "models"
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	sd := readExample(t, "requests-hpa.json", ns)
	if err := cl.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	res, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dep := res.Deployments[0]
	if err := cl.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	e, err := executor.New(res.SeldonDeployment.Spec.Predictors[0], executor.WithDeploymentName(sd.Name), executor.WithEmptyEndpointSets())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	es := httptest.NewServer(e.Handler(executor.HandlerOptions{}))
	defer es.Close()
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(es.URL, "http://"))
	execPort, _ := strconv.Atoi(p)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: dep.Name + "-abc", Namespace: ns, Labels: dep.Spec.Template.Labels},
		Spec:       *dep.Spec.Template.Spec.DeepCopy(),
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == predictor.ExecutorContainerName {
			for k := range pod.Spec.Containers[i].Ports {
				if pod.Spec.Containers[i].Ports[k].Name == predictor.PortNameHTTP {
					pod.Spec.Containers[i].Ports[k].ContainerPort = int32(execPort)
				}
			}
		}
	}
	if err := cl.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}}
	if err := cl.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}

	// The metrics API as its ServiceAccount, with the manifests' flags.
	kubeconfig := impersonating(t, c.Config, filepath.Join(c.Dir, "metrics-api.kubeconfig"))
	fs := pflag.NewFlagSet("metrics-api", pflag.ContinueOnError)
	a := NewAdapter(fs)
	if err := fs.Parse([]string{
		"--secure-port=" + strconv.Itoa(port), "--bind-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(c.Dir, "metrics-api-certs"),
		"--lister-kubeconfig=" + kubeconfig, "--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
		"--cert-secret=sdep-metrics-api-cert", "--namespace=" + installNamespace, "--service-name=sdep-metrics-api",
		"--scale-to-zero-idle=1s",
	}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	// stopped is closed once Run has returned (runErr is then set), so
	// the poll below and the cleanup can both see the end.
	var runErr error
	stopped := make(chan struct{})
	go func() { runErr = a.Run(runCtx); close(stopped) }()
	defer func() {
		stop()
		<-stopped
		if runErr != nil {
			t.Logf("metrics API: %v", runErr)
		}
	}()

	path := fmt.Sprintf("/apis/custom.metrics.k8s.io/v1beta2/namespaces/%s/deployments.apps/%s/%s", ns, dep.Name, MetricInFlight)
	hc, err := rest.HTTPClientFor(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	err = testenv.Poll(ctx, 90*time.Second, "the metric through the aggregator", func() error {
		select {
		case <-stopped:
			t.Fatalf("the metrics API stopped: %v", runErr)
		default:
		}
		resp, err := hc.Get(strings.TrimSuffix(c.Config.Host, "/") + path)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		if !strings.Contains(string(body), `"value":"0"`) {
			return fmt.Errorf("unexpected answer: %s", body)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	scalerCacheAllowed(ctx, t, cl)
	scalerMovesAComponent(ctx, t, cl, ns)
}

// scalerCacheAllowed wants the install to let the metrics API list and
// watch, cluster-wide, every kind the scaler's cache holds. The scaler
// would move components without watch (the cache syncs by LIST), but each
// refused watch brings a new LIST: more requests than the cache saves.
func scalerCacheAllowed(ctx context.Context, t *testing.T, cl client.Client) {
	t.Helper()
	for _, kind := range scalerCached() {
		gvk, err := apiutil.GVKForObject(kind.obj, cl.Scheme())
		if err != nil {
			t.Fatal(err)
		}
		m, err := cl.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"list", "watch"} {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   installSA,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + installNamespace, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Verb: verb, Group: m.Resource.Group, Resource: m.Resource.Resource,
				},
			}}
			if err := cl.Create(ctx, sar); err != nil {
				t.Fatal(err)
			}
			if !sar.Status.Allowed {
				t.Errorf("the install does not let the metrics API %s %s cluster-wide (the scaler's cache): %s",
					verb, m.Resource.GroupResource(), sar.Status.Reason)
			}
		}
	}
}

// scalerMovesAComponent checks the scaler's rights as the install grants
// them: a component with minReplicas 0 at 0 replicas and a request in
// flight at its executor (a real executor on loopback, behind a pod marked
// Running at 127.0.0.1, whose only endpoint answers when the test says)
// must go to 1 replica, then, with the request answered and the HPA's
// status at 1, back to 0; both Events must be recorded. It needs the
// SeldonDeployment watch, the scale subresource, the HPA read and the
// Event create.
func scalerMovesAComponent(ctx context.Context, t *testing.T, cl client.Client, ns string) {
	t.Helper()
	sd := readExample(t, "requests-to-zero.json", ns)
	if err := cl.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	res, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dep, hpa := componentObjects(t, res, naming.DeploymentName(res.SeldonDeployment, &res.SeldonDeployment.Spec.Predictors[0], 0))
	// The operator's rendering for minReplicas 0, used as is: the
	// Deployment at 0, the HPA's minimum 1.
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 0 || hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 1 {
		t.Fatalf("rendered: Deployment replicas %v, HPA minReplicas %v; want 0 and 1", dep.Spec.Replicas, hpa.Spec.MinReplicas)
	}
	if err := cl.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(ctx, hpa); err != nil {
		t.Fatal(err)
	}
	// No HPA controller runs here: its status says it wants 1.
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, DesiredReplicas: 1}
	if err := cl.Status().Update(ctx, hpa); err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"names":["proba"],"ndarray":[[0.43]]}}`)
	}))
	defer slow.Close()
	e, err := executor.New(res.SeldonDeployment.Spec.Predictors[0], executor.WithDeploymentName(sd.Name), executor.WithEmptyEndpointSets())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	set, _ := e.EndpointSet("classifier")
	host, sp, _ := net.SplitHostPort(strings.TrimPrefix(slow.URL, "http://"))
	slowPort, _ := strconv.Atoi(sp)
	if err := set.Add(executor.Endpoint{Host: host, HTTPPort: int32(slowPort)}); err != nil {
		t.Fatal(err)
	}
	es := httptest.NewServer(e.Handler(executor.HandlerOptions{}))
	defer es.Close()
	_, ep, _ := net.SplitHostPort(strings.TrimPrefix(es.URL, "http://"))
	execPort, _ := strconv.Atoi(ep)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: sd.Name + "-executor", Namespace: ns, Labels: map[string]string{
			naming.LabelSeldonID:  naming.SeldonID(sd),
			naming.LabelSeldonApp: naming.PredictorServiceName(sd, &sd.Spec.Predictors[0]),
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: predictor.ExecutorContainerName, Image: "executor",
			Ports: []corev1.ContainerPort{{Name: predictor.PortNameHTTP, ContainerPort: int32(execPort)}},
		}}},
	}
	if err := cl.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}}
	if err := cl.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}

	answered := make(chan error, 1)
	go func() {
		resp, err := loadClient.Post(es.URL+"/api/v1.0/predictions", "application/json", strings.NewReader(`{"data":{"ndarray":[[1,2,3,4]]}}`))
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = errors.New(resp.Status)
			}
		}
		answered <- err
	}()
	waitReplicas(ctx, t, cl, ns, dep.Name, 1, 30*time.Second)
	close(release)
	if err := <-answered; err != nil {
		t.Fatalf("the request: %v", err)
	}
	// The per-second figure falls to 0 within its 10 s window, then the
	// 1 s idle window passes.
	waitReplicas(ctx, t, cl, ns, dep.Name, 0, 60*time.Second)
	err = testenv.Poll(ctx, 30*time.Second, "the scaler's two Events", func() error {
		var list eventsv1.EventList
		if err := cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, ev := range list.Items {
			if ev.Regarding.Kind == "SeldonDeployment" && ev.Regarding.Name == sd.Name {
				seen[ev.Reason] = true
			}
		}
		if !seen[ReasonScaledFromZero] || !seen[ReasonScaledToZero] {
			return fmt.Errorf("events seen: %v", seen)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// impersonating writes a kubeconfig that acts as the install's
// ServiceAccount through the admin's credentials.
func impersonating(t *testing.T, admin *rest.Config, path string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: admin.CertData, ClientKeyData: admin.KeyData,
		Impersonate:       installSA,
		ImpersonateGroups: []string{"system:serviceaccounts", "system:serviceaccounts:" + installNamespace, "system:authenticated"},
	}
	cfg.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "x"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
