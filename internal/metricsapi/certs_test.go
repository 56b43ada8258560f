package metricsapi

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
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
