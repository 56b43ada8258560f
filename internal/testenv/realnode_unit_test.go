//go:build linux

package testenv

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNormaliseRefSpellsImagesAsContainerdStoresThem(t *testing.T) {
	for in, want := range map[string]string{
		"seldonio/mock_classifier:1.0":     "docker.io/seldonio/mock_classifier:1.0",
		"busybox":                          "docker.io/library/busybox:latest",
		"registry.k8s.io/pause:3.10":       "registry.k8s.io/pause:3.10",
		"localhost/x":                      "localhost/x:latest",
		"host:5000/team/app":               "host:5000/team/app:latest",
		"sdep.local/netcheck@sha256:abcd":  "sdep.local/netcheck@sha256:abcd",
		"docker.io/library/busybox:1":      "docker.io/library/busybox:1",
		"quay.io/org/img:v1":               "quay.io/org/img:v1",
		"library/busybox":                  "docker.io/library/busybox:latest",
		"seldonio/seldon-core-executor:v1": "docker.io/seldonio/seldon-core-executor:v1",
	} {
		if got := normaliseRef(in); got != want {
			t.Errorf("normaliseRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostDiffNamesEveryChange(t *testing.T) {
	base := &hostState{
		sysctls:  map[string]string{"kernel/panic": "1"},
		paths:    map[string]bool{"/var/lib/kubelet": false},
		links:    []string{"eth0", "lo"},
		cgroups:  map[string][]string{"memory": {"system"}},
		iptables: map[string]string{"iptables-save": normaliseIptables("# c\n*filter\n:FORWARD ACCEPT [3:40]\nCOMMIT\n")},
	}
	same := &hostState{
		sysctls:  map[string]string{"kernel/panic": "1"},
		paths:    map[string]bool{"/var/lib/kubelet": false},
		links:    []string{"eth0", "lo"},
		cgroups:  map[string][]string{"memory": {"system"}},
		iptables: map[string]string{"iptables-save": normaliseIptables("# other comment\n*filter\n:FORWARD ACCEPT [9:99]\nCOMMIT\n")},
	}
	if d := base.diff(same); len(d) != 0 {
		t.Errorf("counters and comments alone make differences: %q", d)
	}
	changed := &hostState{
		sysctls:  map[string]string{"kernel/panic": "10"},
		paths:    map[string]bool{"/var/lib/kubelet": true},
		links:    []string{"cni0", "eth0", "lo"},
		cgroups:  map[string][]string{"memory": {"kubepods", "system"}},
		iptables: map[string]string{"iptables-save": "*filter\n:FORWARD ACCEPT [-]\n-A FORWARD -i cni0 ! -o cni0 -j DROP\nCOMMIT\n"},
	}
	d := strings.Join(base.diff(changed), "\n")
	for _, want := range []string{"sysctl kernel.panic", "/var/lib/kubelet", "network interface cni0", "cgroup in memory kubepods", "-A FORWARD -i cni0"} {
		if !strings.Contains(d, want) {
			t.Errorf("the difference does not name %q:\n%s", want, d)
		}
	}
}

func TestStaleMountsAreTheNodesDeepestFirst(t *testing.T) {
	base := []string{"/", "/proc", "/run/netns"}
	now := []string{"/", "/proc", "/run/netns", "/run/netns/cni-1", "/node/kubelet/root", "/node/kubelet/root/pods/x/volumes/token", "/mnt/other"}
	got := staleMounts(base, now, "/node")
	want := []string{"/node/kubelet/root/pods/x/volumes/token", "/node/kubelet/root", "/run/netns/cni-1"}
	if !slices.Equal(got, want) {
		t.Errorf("staleMounts = %q, want %q", got, want)
	}
}

func TestWritePKICoversTheAPIServerNamesAndTheNodeIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	nodeIP, svcIP := net.ParseIP("192.0.2.9"), net.ParseIP(KubernetesServiceIP)
	p, err := writePKI(dir, "n1", "https://192.0.2.9:6443", nodeIP, svcIP)
	if err != nil {
		t.Fatal(err)
	}
	serving := readCert(t, p.apiserverCert)
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, p.caCert))
	for _, name := range []string{"127.0.0.1", "192.0.2.9", KubernetesServiceIP, "kubernetes.default.svc"} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("the apiserver certificate does not serve %s: %v", name, err)
		}
	}
	kubelet := readCert(t, filepath.Join(dir, "kubelet.crt"))
	if kubelet.Subject.CommonName != "system:node:n1" || !slices.Equal(kubelet.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("kubelet client subject %v, want CN system:node:n1 O system:nodes", kubelet.Subject)
	}
	if _, err := kubelet.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the kubelet's client certificate does not verify against the CA: %v", err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
