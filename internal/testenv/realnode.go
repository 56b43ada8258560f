//go:build linux

package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// A real node is a single-node Kubernetes on this machine with real
// containers: etcd, kube-apiserver, containerd (Debian's, with runc and
// the CNI bridge), kube-controller-manager, kube-scheduler, the kubelet,
// kube-proxy and, optionally, metrics-server as a pod. Images come from
// tarballs imported into containerd; nothing is pulled. It needs root.
//
// Every packet stays on this machine: pods get addresses in PodCIDR,
// Services in ServiceCIDR (ranges reserved for benchmarking, routed
// nowhere), pods get no DNS resolver, and a FORWARD rule drops anything a
// pod sends off the bridge. Stop removes everything the node changed on
// the host and reports whatever still differs from the state recorded
// before it started.

// realNodeBinaries are the binaries a real node runs from BinDir.
var realNodeBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// hostTools are the Debian packages' programs a real node runs.
var hostTools = []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ip6tables", "iptables-save", "ip6tables-save", "nft", "ip"}

// HostPackages is the apt line that installs hostTools.
const HostPackages = "apt-get install -y containerd runc containernetworking-plugins iptables nftables iproute2"

// Image is an image tarball for containerd.
type Image struct {
	// Tarball is an OCI layout or docker-archive tarball (`ctr images import` reads both).
	Tarball string
	// Ref is the name pods use for it. When the tarball names the image
	// differently (or not at all), the import is tagged with Ref. Short
	// names are normalised as containerd does: "seldonio/x:1" is
	// "docker.io/seldonio/x:1".
	Ref string
}

// RealNodeOptions configure StartRealNode. Only Pause is required.
type RealNodeOptions struct {
	// BinDir holds the Kubernetes binaries (default: BinDir()).
	BinDir string
	// Dir receives certificates, configuration, state and one log per
	// process (default: a new temporary folder, removed by a clean Stop).
	Dir string
	// NodeName is the Node's name (default "sdep-node").
	NodeName string
	// NodeIP is the address the kubelet and kube-apiserver use (default:
	// the first IPv4 address of an interface that is up, not loopback).
	// Traffic to it stays on this machine.
	NodeIP string
	// Pause is the sandbox image (Ref default DefaultPauseImage); it is
	// imported before the kubelet starts.
	Pause Image
	// MetricsServer, when its Tarball is set, runs metrics-server from it as
	// a pod; StartRealNode returns once the metrics API answers.
	MetricsServer Image
	// Images are imported before StartRealNode returns.
	Images []Image
	// ControllerManagerFlags are added to kube-controller-manager's flags
	// (a later flag wins), e.g. a different HPA sync period.
	ControllerManagerFlags []string
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

// Phase is how long one step of starting or stopping took.
type Phase struct {
	Name string
	Took time.Duration
}

// RealNode is a running real node.
type RealNode struct {
	// Dir holds certificates, configuration, state and logs.
	Dir string
	// Kubeconfig is an admin (system:masters) kubeconfig; Config the same as a rest.Config.
	Kubeconfig string
	Config     *rest.Config
	// NodeName and NodeIP are the Node's name and address.
	NodeName, NodeIP string
	// Phases are the steps taken so far with their durations.
	Phases []Phase

	opts      RealNodeOptions
	bin       string
	pki       *nodePKI
	base      *hostState
	guard     []string
	clientset kubernetes.Interface
	procs     map[string]*Process
	order     []string // process names in start order
	removeDir bool
	phaseAt   time.Time
	stopped   bool
}

// StartRealNode starts a real node and returns when the node is Ready, the
// default ServiceAccount exists, the images are imported and the metrics
// API (if asked for) answers. On error everything started is stopped; the
// error names the log to read.
func StartRealNode(ctx context.Context, opts RealNodeOptions) (n *RealNode, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("a real node needs root (kubelet, containerd and iptables change the host)")
	}
	if opts.Pause.Tarball == "" {
		return nil, errors.New("RealNodeOptions.Pause.Tarball is empty: give the pause image tarball that pod sandboxes run")
	}
	if opts.Pause.Ref == "" {
		opts.Pause.Ref = DefaultPauseImage
	}
	if opts.NodeName == "" {
		opts.NodeName = "sdep-node"
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.BinDir == "" {
		if opts.BinDir, err = BinDir(); err != nil {
			return nil, err
		}
	}
	for _, b := range realNodeBinaries {
		if _, err := os.Stat(filepath.Join(opts.BinDir, b)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s; build it with: hack/control-plane.sh real-node", b, opts.BinDir)
		}
	}
	for _, t := range hostTools {
		if _, err := exec.LookPath(t); err != nil {
			return nil, fmt.Errorf("%s is not on PATH; install the host packages: %s", t, HostPackages)
		}
	}
	if _, err := os.Stat(containerdSocket); err == nil {
		return nil, fmt.Errorf("%s exists: another containerd (or a real node not stopped) is running; stop it first", containerdSocket)
	}
	if opts.NodeIP == "" {
		if opts.NodeIP, err = defaultNodeIP(); err != nil {
			return nil, err
		}
	}

	n = &RealNode{opts: opts, bin: opts.BinDir, Dir: opts.Dir, NodeName: opts.NodeName, NodeIP: opts.NodeIP,
		procs: map[string]*Process{}, phaseAt: time.Now()}
	if n.Dir == "" {
		if n.Dir, err = os.MkdirTemp("", "sdep-real-node-"); err != nil {
			return nil, err
		}
		n.removeDir = true
	}
	if n.Dir, err = filepath.Abs(n.Dir); err != nil {
		return nil, err
	}
	if n.base, err = recordHost(ctx); err != nil {
		return nil, fmt.Errorf("recording the host's state: %w", err)
	}
	n.guard = guardTools(n.base)
	defer func() {
		if err != nil {
			if stopErr := n.Stop(); stopErr != nil {
				err = fmt.Errorf("%w\nand stopping: %w", err, stopErr)
			}
			n = nil
		}
	}()
	if err = n.start(ctx); err != nil {
		return n, err
	}
	return n, nil
}

func (n *RealNode) start(ctx context.Context) error {
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	etcdPort, etcdPeerPort, apiPort, kubeletPort, kubeletHealthz, proxyHealthz, proxyMetrics := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6]
	nodeIP := net.ParseIP(n.NodeIP)
	server := "https://" + net.JoinHostPort(n.NodeIP, strconv.Itoa(apiPort))
	if n.pki, err = writePKI(filepath.Join(n.Dir, "pki"), n.NodeName, server, nodeIP, net.ParseIP(KubernetesServiceIP)); err != nil {
		return fmt.Errorf("writing certificates: %w", err)
	}
	n.Kubeconfig = n.pki.adminKubeconfig
	if n.Config, err = clientcmd.BuildConfigFromFlags("", n.Kubeconfig); err != nil {
		return err
	}
	if n.clientset, err = kubernetes.NewForConfig(n.Config); err != nil {
		return err
	}
	n.phase("certificates")

	// The guard goes in before anything can forward a pod's packet.
	if err := insertGuard(ctx, n.guard); err != nil {
		return err
	}

	dirs := map[string]string{}
	for _, d := range []string{"etcd", "containerd/root", "containerd/state", "containerd/opt", "cni/net.d", "cni/ipam", "kubelet/root", "kubelet/pki", "kubelet/pod-logs", "logs"} {
		dirs[d] = filepath.Join(n.Dir, d)
		if err := os.MkdirAll(dirs[d], 0o700); err != nil {
			return err
		}
	}

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort)
	if err := n.startProcess("etcd", filepath.Join(n.bin, "etcd"),
		"--name=default", "--data-dir="+dirs["etcd"],
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync=true"); err != nil {
		return err
	}
	p := n.pki
	if err := n.startProcess("kube-apiserver", filepath.Join(n.bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address="+n.NodeIP, "--advertise-address="+n.NodeIP, fmt.Sprintf("--secure-port=%d", apiPort),
		"--tls-cert-file="+p.apiserverCert, "--tls-private-key-file="+p.apiserverKey,
		"--client-ca-file="+p.caCert,
		"--service-cluster-ip-range="+ServiceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.serviceAccountPub, "--service-account-signing-key-file="+p.saKey,
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--kubelet-client-certificate="+p.kubeletClientCert, "--kubelet-client-key="+p.kubeletClKey,
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--requestheader-client-ca-file="+p.frontProxyCA, "--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+p.frontProxyCert, "--proxy-client-key-file="+p.frontProxyKey,
		"--enable-aggregator-routing=true",
		"--profiling=false"); err != nil {
		return err
	}
	if err := n.waitFor(ctx, time.Minute, "kube-apiserver to be ready", func() error {
		body, err := n.clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		return nil
	}); err != nil {
		return err
	}
	n.phase("etcd and kube-apiserver ready")

	if err := os.WriteFile(filepath.Join(dirs["cni/net.d"], "10-sdep.conflist"), []byte(cniConfig(dirs["cni/ipam"])), 0o644); err != nil {
		return err
	}
	ctdConfig := filepath.Join(n.Dir, "containerd", "config.toml")
	if err := os.WriteFile(ctdConfig, []byte(containerdConfig(dirs["containerd/root"], dirs["containerd/state"],
		dirs["containerd/opt"], dirs["cni/net.d"], normaliseRef(n.opts.Pause.Ref))), 0o644); err != nil {
		return err
	}
	ctd, _ := exec.LookPath("containerd")
	// Nothing is pulled: every image is imported. A pod naming an image
	// that is not (or a :latest tag, which the kubelet always pulls) would
	// make containerd resolve and dial a registry from the host, where the
	// FORWARD guard does not apply; a proxy on a closed loopback port makes
	// such a pull fail here, before any lookup or packet leaves.
	if err := n.startProcessEnv("containerd", ctd, noPullEnv, "--config="+ctdConfig); err != nil {
		return err
	}
	if err := n.waitFor(ctx, 30*time.Second, "containerd to answer", func() error {
		_, err := n.ctr(ctx, "version")
		return err
	}); err != nil {
		return err
	}
	if err := n.ImportImage(ctx, n.opts.Pause); err != nil {
		return err
	}

	cmFlags := []string{
		"--kubeconfig=" + n.Kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file=" + p.saKey, "--root-ca-file=" + p.caCert,
		"--use-service-account-credentials=true",
		"--cluster-signing-cert-file=" + p.caCert, "--cluster-signing-key-file=" + p.caKey,
		"--allocate-node-cidrs=true", "--cluster-cidr=" + PodCIDR, "--node-cidr-mask-size=24",
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--horizontal-pod-autoscaler-sync-period=1s", "--horizontal-pod-autoscaler-downscale-stabilization=5s",
	}
	if err := n.startProcess("kube-controller-manager", filepath.Join(n.bin, "kube-controller-manager"),
		append(cmFlags, n.opts.ControllerManagerFlags...)...); err != nil {
		return err
	}
	if err := n.startProcess("kube-scheduler", filepath.Join(n.bin, "kube-scheduler"),
		"--kubeconfig="+n.Kubeconfig, "--leader-elect=false", "--secure-port=0"); err != nil {
		return err
	}

	kubeletConf := filepath.Join(n.Dir, "kubelet", "config.yaml")
	if err := os.WriteFile(kubeletConf, []byte(kubeletConfig(n.NodeIP, kubeletPort, kubeletHealthz, p.caCert, dirs["kubelet/pod-logs"])), 0o644); err != nil {
		return err
	}
	if err := n.startProcess("kubelet", filepath.Join(n.bin, "kubelet"),
		"--config="+kubeletConf, "--kubeconfig="+p.kubeletKubeconfig,
		"--root-dir="+dirs["kubelet/root"], "--cert-dir="+dirs["kubelet/pki"],
		"--hostname-override="+n.NodeName, "--node-ip="+n.NodeIP, "--v=2"); err != nil {
		return err
	}
	proxyConf := filepath.Join(n.Dir, "kube-proxy.yaml")
	if err := os.WriteFile(proxyConf, []byte(kubeProxyConfig(n.Kubeconfig, n.NodeName, proxyHealthz, proxyMetrics)), 0o644); err != nil {
		return err
	}
	if err := n.startProcess("kube-proxy", filepath.Join(n.bin, "kube-proxy"), "--config="+proxyConf, "--v=2"); err != nil {
		return err
	}
	if err := n.waitFor(ctx, 2*time.Minute, "node "+n.NodeName+" to be Ready", n.nodeReady(ctx)); err != nil {
		return err
	}
	if err := n.waitFor(ctx, time.Minute, "the default ServiceAccount", func() error {
		_, err := n.clientset.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	n.phase("node Ready")

	images := n.opts.Images
	if n.opts.MetricsServer.Tarball != "" {
		images = append([]Image{n.opts.MetricsServer}, images...)
	}
	for _, img := range images {
		if err := n.ImportImage(ctx, img); err != nil {
			return err
		}
	}
	n.phase("images imported")

	if n.opts.MetricsServer.Tarball != "" {
		if err := n.startMetricsServer(ctx); err != nil {
			return err
		}
		n.phase("metrics API answers")
	}
	return nil
}

// nodeReady checks the Node's Ready condition.
func (n *RealNode) nodeReady(ctx context.Context) func() error {
	return func() error {
		node, err := n.clientset.CoreV1().Nodes().Get(ctx, n.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("condition Ready is %s: %s", c.Status, c.Message)
			}
		}
		return errors.New("no Ready condition yet")
	}
}

// startMetricsServer deploys metrics-server and waits until the metrics
// API reports the node.
func (n *RealNode) startMetricsServer(ctx context.Context) error {
	manifest := filepath.Join(n.Dir, "metrics-server.yaml")
	if err := os.WriteFile(manifest, []byte(metricsServerManifest(normaliseRef(n.opts.MetricsServer.Ref))), 0o644); err != nil {
		return err
	}
	if _, err := n.kubectl(ctx, "apply", "-f", manifest); err != nil {
		return err
	}
	return n.waitFor(ctx, 3*time.Minute, "the metrics API to report node "+n.NodeName, func() error {
		body, err := n.clientset.Discovery().RESTClient().Get().
			AbsPath("/apis/metrics.k8s.io/v1beta1/nodes/" + n.NodeName).DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		var m struct {
			Usage map[string]string `json:"usage"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		if m.Usage["cpu"] == "" {
			return fmt.Errorf("no cpu usage in %s", body)
		}
		return nil
	})
}

// ImportImage imports an image tarball into containerd's k8s.io namespace
// (where the kubelet finds images) and makes sure it is there as img.Ref.
func (n *RealNode) ImportImage(ctx context.Context, img Image) error {
	out, err := n.ctr(ctx, "images", "import", img.Tarball)
	if err != nil {
		return fmt.Errorf("importing %s: %w", img.Tarball, err)
	}
	if img.Ref == "" {
		return nil
	}
	want := normaliseRef(img.Ref)
	refs, err := n.ctr(ctx, "images", "list", "--quiet")
	if err != nil {
		return err
	}
	if slicesContainsLine(refs, want) {
		return nil
	}
	// ctr prints "unpacking <name> (sha256:...)...done" per image it imported.
	imported := ""
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "unpacking" {
			imported = f[1]
			break
		}
	}
	if imported == "" {
		return fmt.Errorf("importing %s named no image (ctr said %q); cannot tag it %s", img.Tarball, strings.TrimSpace(out), want)
	}
	if _, err := n.ctr(ctx, "images", "tag", "--force", imported, want); err != nil {
		return fmt.Errorf("tagging %s (from %s) as %s: %w", imported, img.Tarball, want, err)
	}
	return nil
}

func slicesContainsLine(text, line string) bool {
	for l := range strings.SplitSeq(text, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// normaliseRef spells an image reference as containerd stores it:
// docker.io for a name without a registry, library/ for a single-component
// name, :latest without a tag or digest.
func normaliseRef(ref string) string {
	name, rest := ref, ""
	if i := strings.Index(ref, "@"); i >= 0 {
		name, rest = ref[:i], ref[i:]
	}
	first, _, hasSlash := strings.Cut(name, "/")
	if !hasSlash || !strings.ContainsAny(first, ".:") && first != "localhost" {
		if !hasSlash {
			name = "library/" + name
		}
		name = "docker.io/" + name
	}
	if rest == "" {
		last := name[strings.LastIndex(name, "/")+1:]
		if !strings.Contains(last, ":") {
			name += ":latest"
		}
	}
	return name + rest
}

// ctr runs containerd's client against the node's containerd in the k8s.io namespace.
func (n *RealNode) ctr(ctx context.Context, args ...string) (string, error) {
	return run(ctx, "ctr", append([]string{"--address", containerdSocket, "--namespace", "k8s.io"}, args...)...)
}

// kubectl runs kubectl from BinDir with the admin kubeconfig.
func (n *RealNode) kubectl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, filepath.Join(n.bin, "kubectl"), append([]string{"--kubeconfig=" + n.Kubeconfig}, args...)...)
}

// startProcess starts one of the node's processes with its log in logs/<name>.log.
// noPullEnv points containerd's registry client at a closed loopback
// port (the discard port, which nothing here serves).
var noPullEnv = []string{"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=", "http_proxy=", "https_proxy=", "no_proxy="}

func (n *RealNode) startProcess(name, path string, args ...string) error {
	return n.startProcessEnv(name, path, nil, args...)
}

func (n *RealNode) startProcessEnv(name, path string, env []string, args ...string) error {
	p, err := StartProcessEnv(path, args, env, n.LogPath(name))
	if err != nil {
		return err
	}
	n.procs[name] = p
	n.order = append(n.order, name)
	return nil
}

// LogPath is the log file of one of the node's processes (etcd,
// kube-apiserver, containerd, kube-controller-manager, kube-scheduler,
// kubelet, kube-proxy).
func (n *RealNode) LogPath(process string) string {
	return filepath.Join(n.Dir, "logs", process+".log")
}

// Exited names the node's processes that have exited, with their logs; ""
// while all run.
func (n *RealNode) Exited() string {
	var out []string
	for _, name := range n.order {
		if err := n.procs[name].Exited(); err != nil {
			out = append(out, err.Error())
		}
	}
	return strings.Join(out, "; ")
}

// waitFor polls check, giving up early when one of the node's processes exits.
func (n *RealNode) waitFor(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	err := Poll(ctx, timeout, what, func() error {
		if exited := n.Exited(); exited != "" {
			return stopPolling{errors.New(exited)}
		}
		return check()
	})
	var stop stopPolling
	if errors.As(err, &stop) {
		return fmt.Errorf("waiting for %s: %w", what, stop.err)
	}
	if err != nil {
		return fmt.Errorf("%w (logs in %s)", err, filepath.Join(n.Dir, "logs"))
	}
	return nil
}

// stopPolling is a check's error that ends a waitFor at once.
type stopPolling struct{ err error }

func (s stopPolling) Error() string { return s.err.Error() }

func (n *RealNode) phase(name string) {
	now := time.Now()
	took := now.Sub(n.phaseAt)
	n.Phases = append(n.Phases, Phase{Name: name, Took: took})
	n.phaseAt = now
	fmt.Fprintf(n.opts.Log, "real node: %s in %s\n", name, took.Round(10*time.Millisecond))
}

// defaultNodeIP is the first IPv4 address of an interface that is up and
// not loopback.
func defaultNodeIP() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || i.Name == BridgeName {
			continue
		}
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String(), nil
			}
		}
	}
	return "", errors.New("no IPv4 address on an interface that is up; set RealNodeOptions.NodeIP")
}

// freePorts asks the kernel for count distinct free TCP ports.
func freePorts(count int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
