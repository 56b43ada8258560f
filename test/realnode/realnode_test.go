//go:build linux

// Package realnode checks the real single-node Kubernetes of
// internal/testenv (StartRealNode) end to end: real containers, the pod
// network, Services, metrics, and a host left as it was found.
//
// It needs root, Debian's containerd, runc, CNI plugins and iptables, and
// the binaries of hack/control-plane.sh real-node:
//
//	SDEP_REAL_NODE=1 go test -count=1 -v ./test/realnode/   (or: make test-real-node)
package realnode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/sdep-dev/sdep/internal/testenv"
)

const (
	namespace    = "smoke"
	netcheckRef  = "sdep.local/netcheck:smoke"
	netcheckPort = 8080
	// The egress target lives in a network namespace this test makes, in
	// TEST-NET-2 (RFC 5737), reachable from the host only through a veth.
	egressHostAddr = "198.51.100.1"
	egressNSAddr   = "198.51.100.2"
)

// requireRealNode skips unless the real-node tests were asked for.
func requireRealNode(t *testing.T) {
	t.Helper()
	if os.Getenv("SDEP_REAL_NODE") != "1" {
		t.Skip("real-node tests change the host (as root) and take about a minute; run them with: " +
			"SDEP_REAL_NODE=1 go test -count=1 -v ./test/realnode/  (or: make test-real-node)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("SDEP_REAL_NODE=1 but not root: the real node needs root")
	}
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestRealNodeSmoke(t *testing.T) {
	requireRealNode(t)
	begin := time.Now()
	ctx := context.Background()

	netcheck := filepath.Join(t.TempDir(), "netcheck")
	build := exec.Command("go", "build", "-trimpath", "-o", netcheck, "./testdata/netcheck")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building netcheck: %v\n%s", err, out)
	}
	pause, metricsServer := testImages(t)
	node, err := testenv.StartRealNode(ctx, testenv.RealNodeOptions{
		Pause:         pause,
		MetricsServer: metricsServer,
		Images:        []testenv.Image{{Tarball: wrapImage(t, netcheck, netcheckRef, "/netcheck"), Ref: netcheckRef}},
		Log:           logWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := node.Stop(); err != nil {
			t.Error(err)
		}
		for _, p := range node.Phases {
			t.Logf("timing: %-30s %s", p.Name, p.Took.Round(10*time.Millisecond))
		}
	})
	started := time.Now()
	k8s, err := kubernetes.NewForConfig(node.Config)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := k8s.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Minute, "the default ServiceAccount of "+namespace, func() error {
		_, err := k8s.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	for _, name := range []string{"a", "b"} {
		if _, err := k8s.CoreV1().Pods(namespace).Create(ctx, netcheckPod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := k8s.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "a"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "a"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(netcheckPort)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ipA, ipB := waitPodReady(t, node, k8s, "a"), waitPodReady(t, node, k8s, "b")
	t.Logf("pod a %s, pod b %s, Service a %s", ipA, ipB, svc.Spec.ClusterIP)

	podA := fmt.Sprintf("http://%s:%d/", ipA, netcheckPort)
	fetchFromB := func(target, timeout string) string {
		return fmt.Sprintf("http://%s:%d/fetch?timeout=%s&url=%s", ipB, netcheckPort, timeout, url.QueryEscape(target))
	}
	t.Run("host to pod", func(t *testing.T) {
		expectBody(t, podA, "netcheck a")
	})
	t.Run("pod to pod", func(t *testing.T) {
		expectBody(t, fetchFromB(podA, "3s"), "200 netcheck a")
	})
	t.Run("host to ClusterIP", func(t *testing.T) {
		expectBody(t, "http://"+svc.Spec.ClusterIP+"/", "netcheck a")
	})
	t.Run("pod to ClusterIP", func(t *testing.T) {
		expectBody(t, fetchFromB("http://"+svc.Spec.ClusterIP+"/", "3s"), "200 netcheck a")
	})
	t.Run("pod egress off the machine is dropped", func(t *testing.T) {
		target := startEgressTarget(t, netcheck)
		expectBody(t, target, "netcheck") // the host reaches it
		before, err := testenv.GuardDrops(ctx)
		if err != nil {
			t.Fatal(err)
		}
		code, body := get(t, fetchFromB(target, "2s"))
		if code != http.StatusBadGateway || !strings.Contains(body, "fetch failed") {
			t.Errorf("pod b fetching %s: want the fetch to fail, got %d %q", target, code, body)
		}
		after, err := testenv.GuardDrops(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after <= before {
			t.Errorf("the FORWARD guard rule dropped nothing (counter %d before, %d after)", before, after)
		}
	})
	t.Run("a pull fails on the machine, not at a registry", func(t *testing.T) {
		// Not imported, so the kubelet asks containerd to pull it: the pull
		// must end at the closed loopback proxy, before any name lookup.
		pod := netcheckPod("pull")
		pod.Spec.Containers[0].Image = "seldonio/not-imported:1"
		pod.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
		if _, err := k8s.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, time.Minute, "the pull of an image that was not imported to fail at the loopback proxy", func() error {
			p, err := k8s.CoreV1().Pods(namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, st := range p.Status.ContainerStatuses {
				if w := st.State.Waiting; w != nil && strings.Contains(w.Message, "127.0.0.1:9") {
					return nil
				}
			}
			return fmt.Errorf("container statuses %+v", p.Status.ContainerStatuses)
		})
	})
	t.Run("metrics API reports the pod", func(t *testing.T) {
		path := "/apis/metrics.k8s.io/v1beta1/namespaces/" + namespace + "/pods/a"
		testenv.WaitFor(t, 90*time.Second, "metrics for pod a", func() error {
			var m struct {
				Containers []struct {
					Name  string            `json:"name"`
					Usage map[string]string `json:"usage"`
				} `json:"containers"`
			}
			body, err := k8s.Discovery().RESTClient().Get().AbsPath(path).DoRaw(ctx)
			if err != nil {
				return fmt.Errorf("%w: %s", err, body)
			}
			if err := json.Unmarshal(body, &m); err != nil {
				return err
			}
			if len(m.Containers) != 1 || m.Containers[0].Name != "netcheck" {
				return fmt.Errorf("containers %+v", m.Containers)
			}
			cpu, err := resource.ParseQuantity(m.Containers[0].Usage["cpu"])
			if err != nil {
				return fmt.Errorf("cpu usage %q: %w", m.Containers[0].Usage["cpu"], err)
			}
			mem, err := resource.ParseQuantity(m.Containers[0].Usage["memory"])
			if err != nil {
				return fmt.Errorf("memory usage %q: %w", m.Containers[0].Usage["memory"], err)
			}
			if mem.Value() <= 0 || cpu.Sign() < 0 {
				return fmt.Errorf("cpu %s, memory %s", cpu.String(), mem.String())
			}
			t.Logf("pod a uses cpu %s, memory %s", cpu.String(), mem.String())
			return nil
		})
	})
	t.Logf("timing: smoke checks %s (whole test so far %s)", time.Since(started).Round(10*time.Millisecond), time.Since(begin).Round(10*time.Millisecond))
}

func netcheckPod(name string) *corev1.Pod {
	noAutomount := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			DNSPolicy:                     corev1.DNSDefault,
			AutomountServiceAccountToken:  &noAutomount,
			TerminationGracePeriodSeconds: new(int64(1)),
			Containers: []corev1.Container{{
				Name:            "netcheck",
				Image:           netcheckRef,
				ImagePullPolicy: corev1.PullNever,
				Ports:           []corev1.ContainerPort{{ContainerPort: netcheckPort}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(netcheckPort)}},
					PeriodSeconds: 1,
				},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}},
			}},
		},
	}
}

// waitPodReady waits until the pod is Ready and returns its IP.
func waitPodReady(t *testing.T, node *testenv.RealNode, k8s kubernetes.Interface, name string) string {
	t.Helper()
	var ip string
	testenv.WaitForExplained(t, 90*time.Second, "pod "+name+" to be Ready", func() error {
		pod, err := k8s.CoreV1().Pods(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && pod.Status.PodIP != "" {
				ip = pod.Status.PodIP
				return nil
			}
		}
		return fmt.Errorf("phase %s, conditions %+v, containers %+v", pod.Status.Phase, pod.Status.Conditions, pod.Status.ContainerStatuses)
	}, func() string {
		if e := node.Exited(); e != "" {
			return e
		}
		return "kubelet log: " + node.LogPath("kubelet")
	})
	return ip
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// expectBody polls u until it answers 200 with a body starting with want
// (kube-proxy may take a moment to program a new Service).
func expectBody(t *testing.T, u, want string) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, u+" to answer "+want, func() error {
		code, body := get(t, u)
		if code != http.StatusOK || !strings.HasPrefix(body, want) {
			return fmt.Errorf("got %d %q", code, body)
		}
		return nil
	})
}

// startEgressTarget runs netcheck in a network namespace of its own (made
// with unshare, so that /run/netns, where containerd keeps the pods'
// namespaces, is not touched), joins it to the host by a veth pair, and
// returns its URL; all of it goes away when the test ends, before the node
// stops.
func startEgressTarget(t *testing.T, netcheck string) string {
	t.Helper()
	hostVeth, nsVeth := fmt.Sprintf("sdeph%d", os.Getpid()%100000), fmt.Sprintf("sdepn%d", os.Getpid()%100000)
	p, err := testenv.StartProcess("unshare", []string{"--net", "--", netcheck, "--addr", ":8080"},
		filepath.Join(t.TempDir(), "egress-netcheck.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	pid := strconv.Itoa(p.Pid())
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	inNS := func(args ...string) { sh(append([]string{"nsenter", "--target", pid, "--net", "--"}, args...)...) }
	sh("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", nsVeth)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", hostVeth).Run() })
	sh("ip", "link", "set", nsVeth, "netns", pid)
	sh("ip", "addr", "add", egressHostAddr+"/30", "dev", hostVeth)
	sh("ip", "link", "set", hostVeth, "up")
	inNS("ip", "addr", "add", egressNSAddr+"/30", "dev", nsVeth)
	inNS("ip", "link", "set", nsVeth, "up")
	inNS("ip", "link", "set", "lo", "up")
	return "http://" + egressNSAddr + ":8080/"
}
