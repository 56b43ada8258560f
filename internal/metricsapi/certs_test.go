package metricsapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// An issued certificate is current for its names until 30 days before it
// expires, is signed by the stored CA, and its key pair loads.
func TestSelfCertsIssueAndRenew(t *testing.T) {
	s := SelfCerts{Namespace: "sdep-system", Secret: "cert", Service: "sdep-metrics-api", ClusterDomain: "cluster.local"}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	data, err := s.issue(now)
	if err != nil {
		t.Fatal(err)
	}
	if !s.current(data, now) {
		t.Fatal("a fresh certificate is not current")
	}
	if _, err := tls.X509KeyPair(data[certKey], data[keyKey]); err != nil {
		t.Fatalf("key pair: %v", err)
	}
	block, _ := pem.Decode(data[certKey])
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(data[caKey])
	for _, name := range []string{"sdep-metrics-api.sdep-system.svc", "sdep-metrics-api.sdep-system.svc.cluster.local"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if s.current(data, now.Add(certValidity-certRenewBefore+time.Hour)) {
		t.Error("a certificate within 30 days of expiry is still current")
	}
	other := s
	other.Service = "renamed"
	if other.current(data, now) {
		t.Error("a certificate for another Service is current")
	}
	foreign, err := other.issue(now)
	if err != nil {
		t.Fatal(err)
	}
	mixed := map[string][]byte{caKey: foreign[caKey], certKey: data[certKey], keyKey: data[keyKey]}
	if s.current(mixed, now) {
		t.Error("a certificate not signed by the stored CA is current")
	}
	if s.current(map[string][]byte{}, now) {
		t.Error("an empty Secret is current")
	}
}

// Keep renews a certificate that came near its expiry while the server
// runs, in the Secret and in the files served.
func TestSelfCertsKeepRenewsWhileRunning(t *testing.T) {
	s := SelfCerts{Namespace: "sdep-system", Secret: "cert", Service: "sdep-metrics-api"}
	c := fake.NewClientBuilder().Build()
	dir := t.TempDir()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	certFile, _, err := s.Ensure(ctx, c, dir, start)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(certFile)
	later := start.Add(certValidity - certRenewBefore + time.Hour)
	passes := make(chan error, 1)
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		s.Keep(ctx, c, dir, time.Millisecond, func() time.Time { return later }, func(err error) {
			select {
			case passes <- err:
			default:
			}
		})
	}()
	// Keep writes into dir every millisecond: it must have returned before
	// the test's cleanup removes dir.
	defer func() { cancel(); <-kept }()
	select {
	case err := <-passes:
		if err != nil {
			t.Fatalf("renewal: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Keep never checked the certificate")
	}
	cancel()
	<-kept
	served, _ := os.ReadFile(certFile)
	if bytes.Equal(served, first) {
		t.Fatal("the served certificate was not renewed")
	}
	var sec corev1.Secret
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: s.Namespace, Name: s.Secret}, &sec); err != nil {
		t.Fatal(err)
	}
	if !s.current(sec.Data, later) {
		t.Error("the Secret holds no current certificate after the renewal")
	}
}
