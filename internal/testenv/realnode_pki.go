//go:build linux

package testenv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// certValidity is how long the real node's certificates are valid: far
// longer than any test, short enough that a forgotten folder is useless.
const certValidity = 7 * 24 * time.Hour

// keyPair is a certificate with its private key.
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newCA makes a self-signed certificate authority.
func newCA(commonName string) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

// certRequest is what a leaf certificate says about its holder.
type certRequest struct {
	commonName    string
	organizations []string
	dnsNames      []string
	ips           []net.IP
	server        bool // serving certificate (else a client certificate)
}

// issue makes a leaf certificate signed by ca.
func (ca *keyPair) issue(req certRequest) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	usage := x509.ExtKeyUsageClientAuth
	if req.server {
		usage = x509.ExtKeyUsageServerAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: req.commonName, Organization: req.organizations},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     req.dnsNames,
		IPAddresses:  req.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func (kp *keyPair) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.cert.Raw})
}

func keyPEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// write stores the pair as <dir>/<name>.crt and <dir>/<name>.key.
func (kp *keyPair) write(dir, name string) error {
	k, err := keyPEM(kp.key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), kp.certPEM(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), k, 0o600)
}

// nodePKI is every certificate and key file the real node's processes read,
// by path.
type nodePKI struct {
	dir string

	caCert, caKey                   string // cluster CA (also the controller manager's signer)
	apiserverCert, apiserverKey     string // kube-apiserver serving
	kubeletClientCert, kubeletClKey string // kube-apiserver → kubelet (system:masters)
	frontProxyCA                    string // requestheader client CA
	frontProxyCert, frontProxyKey   string // kube-apiserver → aggregated APIs
	serviceAccountPub, saKey        string // service-account token signing

	adminKubeconfig   string // system:masters, for people, tests and the control plane
	kubeletKubeconfig string // system:node:<node>, for the kubelet
}

// apiserverSANs are the names and addresses kube-apiserver's serving
// certificate covers: loopback, the node, the first Service IP (the
// `kubernetes` Service pods dial) and that Service's DNS names.
func apiserverSANs(nodeIP, kubernetesServiceIP net.IP) ([]string, []net.IP) {
	dns := []string{
		"localhost",
		"kubernetes",
		"kubernetes.default",
		"kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local",
	}
	return dns, []net.IP{net.IPv4(127, 0, 0, 1), nodeIP, kubernetesServiceIP}
}

// writePKI creates the certificates and kubeconfigs of a node named
// nodeName, whose apiserver is at server, in dir.
func writePKI(dir, nodeName, server string, nodeIP, kubernetesServiceIP net.IP) (*nodePKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &nodePKI{
		dir:               dir,
		caCert:            filepath.Join(dir, "ca.crt"),
		caKey:             filepath.Join(dir, "ca.key"),
		apiserverCert:     filepath.Join(dir, "apiserver.crt"),
		apiserverKey:      filepath.Join(dir, "apiserver.key"),
		kubeletClientCert: filepath.Join(dir, "apiserver-kubelet-client.crt"),
		kubeletClKey:      filepath.Join(dir, "apiserver-kubelet-client.key"),
		frontProxyCA:      filepath.Join(dir, "front-proxy-ca.crt"),
		frontProxyCert:    filepath.Join(dir, "front-proxy-client.crt"),
		frontProxyKey:     filepath.Join(dir, "front-proxy-client.key"),
		serviceAccountPub: filepath.Join(dir, "sa.pub"),
		saKey:             filepath.Join(dir, "sa.key"),
		adminKubeconfig:   filepath.Join(dir, "..", "kubeconfig"),
		kubeletKubeconfig: filepath.Join(dir, "kubelet.kubeconfig"),
	}
	p.adminKubeconfig = filepath.Clean(p.adminKubeconfig)

	ca, err := newCA("sdep-real-node-ca")
	if err != nil {
		return nil, err
	}
	frontCA, err := newCA("sdep-real-node-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	dns, ips := apiserverSANs(nodeIP, kubernetesServiceIP)
	leaves := []struct {
		ca   *keyPair
		name string
		req  certRequest
	}{
		{ca, "apiserver", certRequest{commonName: "kube-apiserver", dnsNames: dns, ips: ips, server: true}},
		{ca, "apiserver-kubelet-client", certRequest{commonName: "kube-apiserver-kubelet-client", organizations: []string{"system:masters"}}},
		{ca, "admin", certRequest{commonName: "sdep-admin", organizations: []string{"system:masters"}}},
		{ca, "kubelet", certRequest{commonName: "system:node:" + nodeName, organizations: []string{"system:nodes"}}},
		{frontCA, "front-proxy-client", certRequest{commonName: "front-proxy-client"}},
	}
	issued := map[string]*keyPair{}
	for _, l := range leaves {
		kp, err := l.ca.issue(l.req)
		if err != nil {
			return nil, fmt.Errorf("issuing the %s certificate: %w", l.name, err)
		}
		if err := kp.write(dir, l.name); err != nil {
			return nil, err
		}
		issued[l.name] = kp
	}
	if err := ca.write(dir, "ca"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.frontProxyCA, frontCA.certPEM(), 0o644); err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saPriv, err := keyPEM(saKey)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.saKey, saPriv, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.serviceAccountPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return nil, err
	}

	for _, kc := range []struct {
		path, user string
		kp         *keyPair
	}{
		{p.adminKubeconfig, "sdep-admin", issued["admin"]},
		{p.kubeletKubeconfig, "system:node:" + nodeName, issued["kubelet"]},
	} {
		if err := writeKubeconfig(kc.path, server, kc.user, ca, kc.kp); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// writeKubeconfig writes a kubeconfig with one cluster, user and context,
// everything embedded so that the file can be copied elsewhere.
func writeKubeconfig(path, server, user string, ca, client *keyPair) error {
	key, err := keyPEM(client.key)
	if err != nil {
		return err
	}
	const name = "sdep-real-node"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca.certPEM()}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: client.certPEM(), ClientKeyData: key}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user}
	cfg.CurrentContext = name
	return clientcmd.WriteToFile(*cfg, path)
}
