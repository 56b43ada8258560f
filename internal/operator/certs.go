package operator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Webhook certificate modes (--webhook-cert-mode).
const (
	// CertModeFiles serves tls.crt and tls.key from the cert dir, written
	// there by someone else (cert-manager through a Secret volume, or a test).
	CertModeFiles = "files"
	// CertModeSelf makes the operator issue its own CA and serving
	// certificate, keep them in a Secret of its namespace, rotate them,
	// write them into the cert dir and put the CA into the
	// ValidatingWebhookConfiguration's caBundle.
	CertModeSelf = "self"
)

// Defaults of the self mode's object names: what config/default installs.
const (
	DefaultWebhookSecretName  = "sdep-webhook-server-cert"
	DefaultWebhookServiceName = "sdep-webhook-service"
	DefaultWebhookConfigName  = "sdep-validating-webhook-configuration"
)

// certFileNames are the files the webhook server reads from its cert dir,
// and the keys of the Secret the rotator keeps.
const (
	certFile = "tls.crt"
	keyFile  = "tls.key"
)

// certPollInterval is how often the cert-dir writer reads the Secret once
// the files are written (tests shorten it).
var certPollInterval = 30 * time.Second

// rotatorSeq makes the rotator's controller name unique when a test starts
// several managers in one process.
var rotatorSeq atomic.Int64

// selfCerts is the self mode's state: the rotator's readiness and the
// cert-dir writer.
type selfCerts struct {
	rotator *rotator.CertRotator
	// written is set once tls.crt/tls.key from the Secret are in the cert dir.
	written *atomic.Bool
}

// ready reports whether the certificate files are in place and the CA is
// in the webhook configuration.
func (s *selfCerts) ready() error {
	if !s.written.Load() {
		return errors.New("the webhook serving certificate is not in the cert dir yet")
	}
	select {
	case <-s.rotator.IsReady:
		return nil
	default:
		return errors.New("the webhook configuration's caBundle is not filled in yet")
	}
}

// validateCertOptions checks the webhook certificate settings and fills
// the self mode's defaults.
func validateCertOptions(opts *Options) error {
	if !opts.Webhook {
		return nil
	}
	switch opts.WebhookCertMode {
	case "", CertModeFiles:
		opts.WebhookCertMode = CertModeFiles
		return nil
	case CertModeSelf:
	default:
		return fmt.Errorf("--webhook-cert-mode=%q is not a mode: use %q (the operator issues and rotates its own certificate) or %q (tls.crt/tls.key supplied in --webhook-cert-dir, e.g. by cert-manager)",
			opts.WebhookCertMode, CertModeSelf, CertModeFiles)
	}
	if opts.Namespace == "" {
		return errors.New("--webhook-cert-mode=self keeps its certificate in a Secret of the operator's namespace, and none is known: set POD_NAMESPACE (the downward API's metadata.namespace) or --namespace, or use --webhook-cert-mode=files or --webhook=false")
	}
	if opts.WebhookSecretName == "" {
		opts.WebhookSecretName = DefaultWebhookSecretName
	}
	if opts.WebhookServiceName == "" {
		opts.WebhookServiceName = DefaultWebhookServiceName
	}
	if opts.WebhookConfigName == "" {
		opts.WebhookConfigName = DefaultWebhookConfigName
	}
	if opts.WebhookCertDir == "" {
		// controller-runtime's own default, spelled out: the writer needs it.
		opts.WebhookCertDir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
	}
	return nil
}

// addSelfCerts registers the certificate rotator and the cert-dir writer
// with mgr. Both run on every replica (not only the leader): each one
// serves the webhook and needs the files.
// written is the flag the manager's waitingServer waits for.
func addSelfCerts(ctx context.Context, mgr manager.Manager, opts Options, written *atomic.Bool) (*selfCerts, error) {
	svcHost := opts.WebhookServiceName + "." + opts.Namespace + ".svc"
	name := "sdep-cert-rotator"
	if opts.Controller.SkipNameValidation != nil && *opts.Controller.SkipNameValidation {
		name = fmt.Sprintf("%s-%d", name, rotatorSeq.Add(1))
	}
	s := &selfCerts{written: written, rotator: &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: opts.Namespace, Name: opts.WebhookSecretName},
		CertDir:        opts.WebhookCertDir,
		CAName:         "sdep-webhook-ca",
		CAOrganization: "sdep",
		DNSName:        svcHost,
		ExtraDNSNames:  append([]string{svcHost + "." + opts.Resources.Predictor.Complete().ClusterDomain}, opts.WebhookExtraDNSNames...),
		IsReady:        make(chan struct{}),
		Webhooks:       []rotator.WebhookInfo{{Name: opts.WebhookConfigName, Type: rotator.Validating}},
		FieldOwner:     "sdep-operator",
		CertName:       certFile,
		KeyName:        keyFile,
		ControllerName: name,
		// The rotator's checks that the files exist give up after about 17
		// minutes; the writer below fills them within seconds of the Secret.
		EnableReadinessCheck: true,
	}}
	// The rotator updates the Secret but does not create it.
	if err := ensureSecret(ctx, mgr.GetAPIReader(), mgr.GetClient(), s.rotator.SecretKey); err != nil {
		return nil, err
	}
	if err := rotator.AddRotator(mgr, s.rotator); err != nil {
		return nil, fmt.Errorf("setting up the webhook certificate rotator: %w", err)
	}
	w := &certWriter{reader: mgr.GetAPIReader(), key: s.rotator.SecretKey, dir: opts.WebhookCertDir, done: written}
	if err := mgr.Add(w); err != nil {
		return nil, err
	}
	return s, nil
}

// ensureSecret creates the (empty) Secret the rotator fills, if missing.
func ensureSecret(ctx context.Context, r client.Reader, w client.Writer, key types.NamespacedName) error {
	err := r.Get(ctx, key, &corev1.Secret{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading the webhook certificate Secret %s: %w (the operator needs get and create on secrets in its namespace)", key, err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{
			"app.kubernetes.io/name": "sdep", "app.kubernetes.io/component": "webhook-certificate",
		}},
		Type: corev1.SecretTypeOpaque,
	}
	if err := w.Create(ctx, sec); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the webhook certificate Secret %s: %w (the operator needs create on secrets in its namespace)", key, err)
	}
	return nil
}

// certWriter copies tls.crt and tls.key from the rotator's Secret into the
// webhook server's cert dir whenever they change. The webhook server's
// certificate watcher picks rotated files up without a restart. It polls
// the Secret (one GET every few seconds until the first write, then every
// 30 s), which needs no cache and no list/watch permission on Secrets.
type certWriter struct {
	reader client.Reader
	key    types.NamespacedName
	dir    string
	done   *atomic.Bool
}

// NeedLeaderElection: every replica serves the webhook.
func (w *certWriter) NeedLeaderElection() bool { return false }

func (w *certWriter) Start(ctx context.Context) error {
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		return fmt.Errorf("creating the webhook cert dir %s: %w (it must be writable in --webhook-cert-mode=self: mount an emptyDir there)", w.dir, err)
	}
	for {
		wait := certPollInterval
		if err := w.sync(ctx); err != nil {
			return err
		}
		if !w.done.Load() {
			wait = 500 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// sync writes the files when the Secret holds a certificate that differs
// from them. Only a failure to write is fatal; API errors are retried.
func (w *certWriter) sync(ctx context.Context) error {
	sec := &corev1.Secret{}
	if err := w.reader.Get(ctx, w.key, sec); err != nil {
		return nil //nolint:nilerr // retried at the next tick
	}
	crt, key := sec.Data[certFile], sec.Data[keyFile]
	if len(crt) == 0 || len(key) == 0 {
		return nil
	}
	oldCrt, _ := os.ReadFile(filepath.Join(w.dir, certFile))
	oldKey, _ := os.ReadFile(filepath.Join(w.dir, keyFile))
	if bytes.Equal(oldCrt, crt) && bytes.Equal(oldKey, key) {
		w.done.Store(true)
		return nil
	}
	// The key first: the watcher reloads on the certificate's change.
	if err := writeAtomic(filepath.Join(w.dir, keyFile), key); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(w.dir, certFile), crt); err != nil {
		return err
	}
	w.done.Store(true)
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing the webhook certificate: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// waitingServer is a webhook server that starts only once its certificate
// files exist: controller-runtime's server reads them at start and fails
// when they are missing, and the manager starts webhook servers before
// the caches the rotator needs.
type waitingServer struct {
	webhook.Server
	ready func() bool
}

func (s *waitingServer) Start(ctx context.Context) error {
	for !s.ready() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	return s.Server.Start(ctx)
}
