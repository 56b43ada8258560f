package testenv

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
)

// operatorTimeout bounds how long the operator may take to serve its
// webhook after starting, and to stop.
const operatorTimeout = 30 * time.Second

// OperatorOptions are what the callers of StartOperator vary. The zero
// value watches every namespace, serves no webhook and injects the
// build's default executor image.
type OperatorOptions struct {
	// Namespace limits the operator to one namespace; empty watches all.
	Namespace string
	// Webhook, when set, serves the validating webhook on the host, port
	// and certificates that envtest rewrote the webhook configurations to
	// point at (envtest.Environment.WebhookInstallOptions).
	Webhook *envtest.WebhookInstallOptions
	// ExecutorImage is the executor image the operator injects (empty: the default).
	ExecutorImage string
	// WrapTransport, when set, wraps the transport of every client the
	// operator makes (its cache, client, status writer and events).
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Policy is what the reconciler and the webhook refuse beyond the
	// validator's rules (the zero value: the operator's flag defaults).
	Policy validation.Policy
}

// BuilderOptions are the resource builders' settings an operator started
// with executorImage uses: the operator's flag defaults with that image
// (the default image when empty).
func BuilderOptions(executorImage string) resources.Options {
	o := resources.DefaultOptions()
	if executorImage != "" {
		o.ExecutorImage = executorImage
	}
	return o
}

// Operator is an operator (controller-runtime manager) running in this process.
type Operator struct {
	// Manager is the running manager.
	Manager manager.Manager

	cancel   context.CancelFunc
	done     chan struct{}
	err      error // the manager's result, set before done is closed
	stopOnce sync.Once
	stopErr  error
}

// StartOperator starts the operator against cfg and returns once its
// webhook server (if any) answers. Stop stops it; on error nothing is left
// running. Several operators may run in one process (one after another,
// or side by side in different namespaces).
func StartOperator(cfg *rest.Config, opts OperatorOptions) (*Operator, error) {
	cfg = rest.CopyConfig(cfg)
	if opts.WrapTransport != nil {
		cfg.Wrap(opts.WrapTransport)
	}
	opOpts := operator.Options{
		Resources:      BuilderOptions(opts.ExecutorImage),
		WatchNamespace: opts.Namespace,
		Policy:         opts.Policy,
		MetricsAddr:    "0",
		HealthAddr:     "0",
		// Tests start several managers in one process.
		Controller: crcontroller.Options{SkipNameValidation: new(true)},
	}
	if wh := opts.Webhook; wh != nil {
		opOpts.Webhook = true
		opOpts.WebhookHost = wh.LocalServingHost
		opOpts.WebhookPort = wh.LocalServingPort
		opOpts.WebhookCertDir = wh.LocalServingCertDir
	}
	mgr, err := operator.NewManager(cfg, opOpts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Operator{Manager: mgr, cancel: cancel, done: make(chan struct{})}
	go func() {
		o.err = mgr.Start(ctx)
		close(o.done)
	}()
	if opts.Webhook == nil {
		return o, nil
	}
	// Stop waiting as soon as the manager returns by itself.
	waitCtx, stopWaiting := context.WithCancel(context.Background())
	go func() {
		defer stopWaiting()
		select {
		case <-o.done:
		case <-waitCtx.Done():
		}
	}()
	err = Poll(waitCtx, operatorTimeout, "the operator's webhook server to answer", func() error {
		return mgr.GetWebhookServer().StartedChecker()(nil)
	})
	stopWaiting()
	if err != nil {
		select {
		case <-o.done:
			err = fmt.Errorf("the operator stopped before its webhook server answered: %w", o.err)
		default:
		}
		_ = o.Stop()
		return nil, err
	}
	return o, nil
}

// Done is closed when the manager has returned, by Stop or by itself.
func (o *Operator) Done() <-chan struct{} { return o.done }

// Err is what the manager returned; call it after Done is closed.
func (o *Operator) Err() error { return o.err }

// Stop stops the operator and waits for it, returning the manager's error
// or a timeout. It may be called more than once; later calls return what
// the first did.
func (o *Operator) Stop() error {
	o.stopOnce.Do(func() {
		o.cancel()
		select {
		case <-o.done:
			if o.err != nil {
				o.stopErr = fmt.Errorf("operator stopped with: %w", o.err)
			}
		case <-time.After(operatorTimeout):
			o.stopErr = fmt.Errorf("operator did not stop within %s", operatorTimeout)
		}
	})
	return o.stopErr
}

// RunOperator is StartOperator for a test: it fails t if the operator does
// not start, and stops it when the test ends, failing the test if it does
// not stop cleanly.
func RunOperator(t TB, cfg *rest.Config, opts OperatorOptions) *Operator {
	t.Helper()
	o, err := StartOperator(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := o.Stop(); err != nil {
			t.Error(err)
		}
	})
	return o
}
