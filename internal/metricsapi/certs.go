package metricsapi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SelfCerts is the self-issued serving certificate: a CA and a serving
// certificate for the Service's DNS names, kept in a Secret (so every
// replica serves the same one), with the CA written into the APIServices'
// caBundle so the aggregator verifies the server. A certificate is issued
// when the Secret has none, when it is for other names, or when it expires
// within certRenewBefore. Run checks again every certCheckPeriod, so a
// running server renews (or takes another replica's renewal): the serving
// library reloads the rewritten files.
type SelfCerts struct {
	Namespace, Secret, Service string
	ClusterDomain              string
	APIServices                []string
}

const (
	certValidity    = 365 * 24 * time.Hour
	certRenewBefore = 30 * 24 * time.Hour
	certCheckPeriod = 24 * time.Hour
	caKey, certKey  = "ca.crt", "tls.crt"
	keyKey          = "tls.key"
)

var apiServiceGVK = schema.GroupVersionKind{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"}

func (s SelfCerts) dnsNames() []string {
	host := s.Service + "." + s.Namespace + ".svc"
	names := []string{host}
	if s.ClusterDomain != "" {
		names = append(names, host+"."+s.ClusterDomain)
	}
	return names
}

// Ensure makes the Secret hold a current certificate, writes tls.crt and
// tls.key into dir, and sets the APIServices' caBundle. It returns the
// paths of the two files.
func (s SelfCerts) Ensure(ctx context.Context, c client.Client, dir string, now time.Time) (certFile, keyFile string, err error) {
	key := types.NamespacedName{Namespace: s.Namespace, Name: s.Secret}
	var sec corev1.Secret
	err = c.Get(ctx, key, &sec)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return "", "", fmt.Errorf("reading the serving certificate Secret %s: %w (the metrics API needs get, create and update on it)", key, err)
	}
	if !s.current(sec.Data, now) {
		data, err := s.issue(now)
		if err != nil {
			return "", "", err
		}
		sec.Data = data
		sec.Type = corev1.SecretTypeOpaque
		if exists {
			err = c.Update(ctx, &sec)
		} else {
			sec.ObjectMeta = metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Secret,
				Labels: map[string]string{"app.kubernetes.io/name": "sdep", "app.kubernetes.io/component": "metrics-api-certificate"}}
			err = c.Create(ctx, &sec)
		}
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			// Another replica issued one first: use it.
			if err = c.Get(ctx, key, &sec); err == nil && !s.current(sec.Data, now) {
				err = errors.New("the Secret another replica wrote holds no current certificate")
			}
		}
		if err != nil {
			return "", "", fmt.Errorf("storing the serving certificate in Secret %s: %w", key, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, certKey), filepath.Join(dir, keyKey)
	if err := os.WriteFile(certFile, sec.Data[certKey], 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, sec.Data[keyKey], 0o600); err != nil {
		return "", "", err
	}
	for _, name := range s.APIServices {
		if err := injectCABundle(ctx, c, name, sec.Data[caKey]); err != nil {
			return "", "", err
		}
	}
	return certFile, keyFile, nil
}

// Keep runs Ensure every period until ctx ends, with the time now gives,
// so the files served follow the Secret and a certificate near its expiry
// is renewed without a restart. done, when set, gets each pass's error.
func (s SelfCerts) Keep(ctx context.Context, c client.Client, dir string, period time.Duration, now func() time.Time, done func(error)) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_, _, err := s.Ensure(ctx, c, dir, now())
		if done != nil {
			done(err)
		}
	}
}

// current reports whether data holds a serving certificate for our names,
// signed by its CA, valid beyond the renewal margin.
func (s SelfCerts) current(data map[string][]byte, now time.Time) bool {
	caBlock, _ := pem.Decode(data[caKey])
	certBlock, _ := pem.Decode(data[certKey])
	if caBlock == nil || certBlock == nil || len(data[keyKey]) == 0 {
		return false
	}
	ca, err1 := x509.ParseCertificate(caBlock.Bytes)
	cert, err2 := x509.ParseCertificate(certBlock.Bytes)
	if err1 != nil || err2 != nil || cert.CheckSignatureFrom(ca) != nil {
		return false
	}
	if now.Add(certRenewBefore).After(cert.NotAfter) || now.Add(certRenewBefore).After(ca.NotAfter) {
		return false
	}
	for _, n := range s.dnsNames() {
		if !slices.Contains(cert.DNSNames, n) {
			return false
		}
	}
	return true
}

func (s SelfCerts) issue(now time.Time) (map[string][]byte, error) {
	caPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "sdep-metrics-api-ca", Organization: []string{"sdep"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caPriv.Public(), caPriv)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	names := s.dnsNames()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, priv.Public(), caPriv)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		caKey:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certKey: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// injectCABundle sets one APIService's spec.caBundle (and clears
// insecureSkipTLSVerify, which the API server refuses beside a bundle).
func injectCABundle(ctx context.Context, c client.Client, name string, ca []byte) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(apiServiceGVK)
	if err := c.Get(ctx, types.NamespacedName{Name: name}, u); err != nil {
		return fmt.Errorf("reading APIService %s to set its caBundle: %w (install config/metrics-api, which creates it and lets the metrics API update it)", name, err)
	}
	old, _, _ := unstructured.NestedString(u.Object, "spec", "caBundle")
	if bytes.Equal([]byte(old), []byte(b64(ca))) {
		return nil
	}
	if err := unstructured.SetNestedField(u.Object, b64(ca), "spec", "caBundle"); err != nil {
		return err
	}
	unstructured.RemoveNestedField(u.Object, "spec", "insecureSkipTLSVerify")
	if err := c.Update(ctx, u); err != nil {
		return fmt.Errorf("setting APIService %s's caBundle: %w", name, err)
	}
	return nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
