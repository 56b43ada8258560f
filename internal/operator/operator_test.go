package operator_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/testenv"
	"github.com/sdep-dev/sdep/internal/validation"
)

// startAPIServer starts kube-apiserver and etcd with the CRD installed.
func startAPIServer(t *testing.T) (*rest.Config, client.Client) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set. This test needs kube-apiserver and etcd:\n" +
			"  export KUBEBUILDER_ASSETS=$(hack/control-plane.sh)")
	}
	testenv.SetTestLogger()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping kube-apiserver and etcd: %v", err)
		}
	})
	k8s, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, k8s
}

// startManager starts the operator's manager and stops it when the test ends.
func startManager(t *testing.T, cfg *rest.Config, opts operator.Options) {
	t.Helper()
	opts.Controller = crcontroller.Options{SkipNameValidation: new(true)}
	mgr, err := operator.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the manager stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the manager did not stop within 30s")
		}
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func seed(t *testing.T) *sdepv1.SeldonDeployment {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "seed-v1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents("seed-v1.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return docs[0].Object.DeepCopy()
}

func createNamespace(t *testing.T, k8s client.Client, name string) {
	t.Helper()
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

// TestSelfModeProvisionsAndRotatesTheWebhookCertificate runs the operator in
// --webhook-cert-mode=self against the generated webhook configuration
// (pointed at this process instead of a Service): it must create its
// Secret, fill the caBundle, serve TLS with a certificate of that CA, and
// the API server must then call it (an invalid SeldonDeployment is denied,
// a valid one allowed). Emptying the Secret must rotate CA and certificate
// everywhere.
func TestSelfModeProvisionsAndRotatesTheWebhookCertificate(t *testing.T) {
	cfg, k8s := startAPIServer(t)
	ctx := context.Background()
	const ns = "sdep-system"
	createNamespace(t, k8s, ns)
	defer operator.SetCertPollInterval(200 * time.Millisecond)()

	// The generated configuration, named as config/default names it, with
	// the Service reference replaced by this process's address.
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := yaml.Unmarshal(bytes.TrimPrefix(data, []byte("---\n")), vwc); err != nil {
		t.Fatal(err)
	}
	if len(vwc.Webhooks) != 1 || vwc.Webhooks[0].ClientConfig.Service == nil {
		t.Fatalf("config/webhook/manifests.yaml: want one webhook with a service reference, got %+v", vwc.Webhooks)
	}
	port := freePort(t)
	url := fmt.Sprintf("https://localhost:%d%s", port, *vwc.Webhooks[0].ClientConfig.Service.Path)
	vwc.Name = operator.DefaultWebhookConfigName
	vwc.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	if err := k8s.Create(ctx, vwc); err != nil {
		t.Fatal(err)
	}

	certDir := filepath.Join(t.TempDir(), "certs")
	healthPort := freePort(t)
	startManager(t, cfg, operator.Options{
		Resources:            testenv.BuilderOptions("sdep:test"),
		Namespace:            ns,
		MetricsAddr:          "0",
		HealthAddr:           "127.0.0.1:" + strconv.Itoa(healthPort),
		Webhook:              true,
		WebhookHost:          "127.0.0.1",
		WebhookPort:          port,
		WebhookCertDir:       certDir,
		WebhookCertMode:      operator.CertModeSelf,
		WebhookExtraDNSNames: []string{"localhost"},
	})

	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort)
	testenv.WaitFor(t, 60*time.Second, "/readyz to pass", func() error {
		resp, err := http.Get(readyz)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})

	ca := checkCertificateEverywhere(t, k8s, ns, certDir, port, nil)

	// The API server calls the webhook with that CA: sdep's validator
	// refuses what only it catches, and lets the seed through.
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "models"}}); err != nil {
		t.Fatal(err)
	}
	bad := seed(t)
	bad.Namespace, bad.Name = "models", "bad-protocol"
	bad.Spec.Protocol = "http"
	if err := k8s.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "denied the request") {
		t.Errorf("creating a SeldonDeployment with protocol http: %v, want the webhook to deny it", err)
	}
	good := seed(t)
	good.Namespace = "models"
	if err := k8s.Create(ctx, good); err != nil {
		t.Errorf("creating the seed through the webhook: %v", err)
	}

	// Rotation: a Secret emptied (or expired) gets a new CA and
	// certificate, in the Secret, the caBundle, the files and the server.
	sec := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: operator.DefaultWebhookSecretName}, sec); err != nil {
		t.Fatal(err)
	}
	sec.Data = nil
	if err := k8s.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	checkCertificateEverywhere(t, k8s, ns, certDir, port, ca)
	bad.Name = "bad-protocol-after-rotation"
	bad.ResourceVersion = ""
	if err := k8s.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "denied the request") {
		t.Errorf("after rotation, creating a SeldonDeployment with protocol http: %v, want the webhook to deny it", err)
	}
}

// checkCertificateEverywhere waits until the Secret holds a CA other than
// notCA, the webhook configuration's caBundle is that CA, the cert dir
// holds the Secret's certificate and the server on port presents a
// certificate that verifies against the CA for the Service's DNS name and
// for localhost. It returns the CA.
func checkCertificateEverywhere(t *testing.T, k8s client.Client, ns, certDir string, port int, notCA []byte) []byte {
	t.Helper()
	ctx := context.Background()
	var ca []byte
	testenv.WaitFor(t, 60*time.Second, "the certificate in the Secret, the caBundle, the cert dir and the server", func() error {
		sec := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: operator.DefaultWebhookSecretName}, sec); err != nil {
			return err
		}
		ca = sec.Data["ca.crt"]
		if len(ca) == 0 || len(sec.Data["tls.crt"]) == 0 || len(sec.Data["tls.key"]) == 0 {
			return fmt.Errorf("the Secret has keys %v", keys(sec.Data))
		}
		if notCA != nil && bytes.Equal(ca, notCA) {
			return fmt.Errorf("the Secret still holds the old CA")
		}
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: operator.DefaultWebhookConfigName}, vwc); err != nil {
			return err
		}
		if !bytes.Equal(vwc.Webhooks[0].ClientConfig.CABundle, ca) {
			return fmt.Errorf("the caBundle is not the Secret's ca.crt")
		}
		for _, f := range []string{"tls.crt", "tls.key"} {
			got, err := os.ReadFile(filepath.Join(certDir, f))
			if err != nil {
				return err
			}
			if !bytes.Equal(got, sec.Data[f]) {
				return fmt.Errorf("%s in the cert dir is not the Secret's", f)
			}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return fmt.Errorf("ca.crt is not PEM")
		}
		for _, name := range []string{operator.DefaultWebhookServiceName + "." + ns + ".svc", "localhost"} {
			conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12})
			if err != nil {
				return fmt.Errorf("TLS to the webhook as %s: %w", name, err)
			}
			_ = conn.Close()
		}
		return nil
	})
	return ca
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestExecutorImageFromOwnPodAndResourcesFromEnv runs the operator as if in
// a pod ($POD_NAME, $POD_NAMESPACE naming a Pod object whose "operator"
// container is not its first) with EXECUTOR_*_RESOURCES_* set: the
// executor container of a reconciled seed must get that image and those
// resources.
func TestExecutorImageFromOwnPodAndResourcesFromEnv(t *testing.T) {
	cfg, k8s := startAPIServer(t)
	ctx := context.Background()
	const ns, podName, image = "sdep-system", "sdep-operator-7d4b9", "registry.test:5000/team/sdep@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	createNamespace(t, k8s, ns)
	// No controller manager runs, so the ServiceAccount admission plugin
	// needs the default account made by hand.
	if err := k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: podName},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "proxy", Image: "proxy:1"},
			{Name: operator.OperatorContainer, Image: image},
		}},
	}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	t.Setenv(operator.EnvPodName, podName)
	t.Setenv(operator.EnvPodNamespace, ns)
	t.Setenv(operator.EnvExecutorImage, "")
	t.Setenv(operator.EnvExecutorRequestCPU, "50m")
	t.Setenv(operator.EnvExecutorRequestMemory, "64Mi")
	t.Setenv(operator.EnvExecutorLimitCPU, "")
	t.Setenv(operator.EnvExecutorLimitMemory, "128Mi")

	// The order of the sources, one by one.
	for _, c := range []struct {
		flag, env, want, from string
	}{
		{"", "", image, operator.ImageFromOwnPod},
		{"", "from-env:1", "from-env:1", operator.ImageFromEnv},
		{"from-flag:1", "from-env:1", "from-flag:1", operator.ImageFromFlag},
	} {
		getenv := func(k string) string {
			if k == operator.EnvExecutorImage {
				return c.env
			}
			return os.Getenv(k)
		}
		got, from, err := operator.ResolveExecutorImage(ctx, k8s, c.flag, getenv)
		if err != nil || got != c.want || from != c.from {
			t.Errorf("flag %q, env %q: got %q from %q (%v), want %q from %q", c.flag, c.env, got, from, err, c.want, c.from)
		}
	}
	// A pod that is not there is an error that says what to do.
	_, _, err := operator.ResolveExecutorImage(ctx, k8s, "", func(k string) string {
		return map[string]string{operator.EnvPodName: "gone", operator.EnvPodNamespace: ns}[k]
	})
	if err == nil || !strings.Contains(err.Error(), "--executor-image") {
		t.Errorf("a missing own pod: %v, want an error naming --executor-image", err)
	}

	// The operator itself, image and resources left to their defaults.
	opts := operator.Options{MetricsAddr: "0", HealthAddr: "0"}
	startManager(t, cfg, opts)
	createNamespace(t, k8s, "models")
	sd := seed(t)
	sd.Namespace = "models"
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Namespace: "models", Name: naming.DeploymentName(sd, &sd.Spec.Predictors[0], 0)}
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
	testenv.WaitFor(t, 30*time.Second, "the Deployment "+key.String()+" with the own pod's image and the env's resources", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, d); err != nil {
			return err
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name != validation.ExecutorContainerName {
				continue
			}
			if c.Image != image {
				return fmt.Errorf("executor image %q, want %q", c.Image, image)
			}
			if !equalResources(c.Resources, want) {
				return fmt.Errorf("executor resources %v, want %v", c.Resources, want)
			}
			return nil
		}
		return fmt.Errorf("no executor container in %v", d.Spec.Template.Spec.Containers)
	})
}

func equalResources(a, b corev1.ResourceRequirements) bool {
	eq := func(x, y corev1.ResourceList) bool {
		if len(x) != len(y) {
			return false
		}
		for k, q := range x {
			if r, ok := y[k]; !ok || q.Cmp(r) != 0 {
				return false
			}
		}
		return true
	}
	return eq(a.Requests, b.Requests) && eq(a.Limits, b.Limits)
}

// TestExecutorResourceSettings covers the parsing: flags over the
// environment over the defaults, and a clear error for a bad value.
func TestExecutorResourceSettings(t *testing.T) {
	env := map[string]string{operator.EnvExecutorRequestCPU: "0.1", operator.EnvExecutorLimitCPU: "2"}
	getenv := func(k string) string { return env[k] }
	got, err := operator.ExecutorResourceSettings{LimitCPU: "1500m"}.Requirements(getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
	if !equalResources(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, c := range []struct {
		s       operator.ExecutorResourceSettings
		env     map[string]string
		wantErr string
	}{
		{env: map[string]string{operator.EnvExecutorRequestMemory: "lots"}, wantErr: "$EXECUTOR_REQUEST_RESOURCES_MEMORY=\"lots\" is not a quantity"},
		{s: operator.ExecutorResourceSettings{LimitMemory: "12x"}, wantErr: "--executor-limit-memory=\"12x\" is not a quantity"},
		{env: map[string]string{operator.EnvExecutorRequestCPU: "0"}, wantErr: "must be more than 0"},
		{env: map[string]string{operator.EnvExecutorRequestMemory: "1Gi"}, wantErr: "memory request 1Gi is above its limit 512Mi"},
	} {
		_, err := c.s.Requirements(func(k string) string { return c.env[k] })
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%+v %v: got %v, want an error containing %q", c.s, c.env, err, c.wantErr)
		}
	}
}

// TestSelfModeNeedsANamespace: without one the operator refuses to start
// and says where the namespace comes from.
func TestSelfModeNeedsANamespace(t *testing.T) {
	t.Setenv(operator.EnvPodNamespace, "")
	_, err := operator.NewManager(&rest.Config{Host: "https://127.0.0.1:1"}, operator.Options{Webhook: true, WebhookCertMode: operator.CertModeSelf})
	if err == nil || !strings.Contains(err.Error(), "POD_NAMESPACE") {
		t.Errorf("got %v, want an error naming POD_NAMESPACE", err)
	}
	_, err = operator.NewManager(&rest.Config{Host: "https://127.0.0.1:1"}, operator.Options{Webhook: true, WebhookCertMode: "cert-manager"})
	if err == nil || !strings.Contains(err.Error(), "--webhook-cert-mode") {
		t.Errorf("got %v, want an error naming --webhook-cert-mode", err)
	}
}
