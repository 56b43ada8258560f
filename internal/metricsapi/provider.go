package metricsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/metrics/pkg/apis/custom_metrics"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

// The metrics this API serves, on Deployments (apps) only.
const (
	MetricInFlight = "seldon_requests_in_flight"
	MetricRPS      = "seldon_requests_per_second"
)

var deployments = schema.GroupResource{Group: "apps", Resource: "deployments"}

// maxLoadBody bounds an executor's /load answer.
const maxLoadBody = 1 << 20

// Provider answers custom metrics for component Deployments from the
// executors' GET /load. Each question is answered fresh: the executor pods
// of the Deployment's predictor are listed and polled at once (the
// per-second window is the executor's own, so polling more often gains
// nothing).
type Provider struct {
	// Client reads Deployments, SeldonDeployments and Pods.
	Client client.Reader
	// ExecutorAddress, when set, is the one executor ("host:port") polled for
	// every predictor instead of its pods (tests, and executors outside
	// the cluster).
	ExecutorAddress string
	// HTTP polls the executors (default: a client with a 2 s timeout).
	HTTP *http.Client
	// Now is the clock for timestamps (default time.Now).
	Now func() time.Time
}

var _ provider.CustomMetricsProvider = (*Provider)(nil)

// ListAllMetrics lists the two metrics on namespaced Deployments.
func (p *Provider) ListAllMetrics() []provider.CustomMetricInfo {
	return []provider.CustomMetricInfo{
		{GroupResource: deployments, Namespaced: true, Metric: MetricInFlight},
		{GroupResource: deployments, Namespaced: true, Metric: MetricRPS},
	}
}

// GetMetricByName is one metric of one Deployment.
func (p *Provider) GetMetricByName(ctx context.Context, name types.NamespacedName, info provider.CustomMetricInfo, _ labels.Selector) (*custom_metrics.MetricValue, error) {
	if err := checkInfo(info); err != nil {
		return nil, err
	}
	var d appsv1.Deployment
	if err := p.Client.Get(ctx, name, &d); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, provider.NewMetricNotFoundForError(info.GroupResource, info.Metric, name.Name)
		}
		return nil, err
	}
	return p.value(ctx, &d, info)
}

// GetMetricBySelector is one metric of every Deployment the selector matches.
func (p *Provider) GetMetricBySelector(ctx context.Context, namespace string, selector labels.Selector, info provider.CustomMetricInfo, _ labels.Selector) (*custom_metrics.MetricValueList, error) {
	if err := checkInfo(info); err != nil {
		return nil, err
	}
	var list appsv1.DeploymentList
	if err := p.Client.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, err
	}
	out := &custom_metrics.MetricValueList{}
	for i := range list.Items {
		v, err := p.value(ctx, &list.Items[i], info)
		if err != nil {
			continue // not a component Deployment, or no executor answered
		}
		out.Items = append(out.Items, *v)
	}
	return out, nil
}

func checkInfo(info provider.CustomMetricInfo) error {
	if info.GroupResource != deployments || info.Metric != MetricInFlight && info.Metric != MetricRPS {
		return provider.NewMetricNotFoundError(info.GroupResource, info.Metric)
	}
	return nil
}

// value computes one metric of one Deployment: per graph node of its
// componentSpec, the figures summed over the predictor's executors; then
// the largest node's (a componentSpec usually holds one model).
func (p *Provider) value(ctx context.Context, d *appsv1.Deployment, info provider.CustomMetricInfo) (*custom_metrics.MetricValue, error) {
	notFound := provider.NewMetricNotFoundForError(info.GroupResource, info.Metric, d.Name)
	sd, pred, nodes, err := p.component(ctx, d)
	if err != nil {
		return nil, err
	}
	if sd == nil {
		return nil, notFound
	}
	addrs, err := p.executors(ctx, sd, pred)
	if err != nil {
		return nil, err
	}
	loads := p.poll(ctx, addrs)
	if len(loads) == 0 {
		return nil, fmt.Errorf("%s %s/%s: none of the %d executor(s) of predictor %q answered GET %s",
			info.Metric, d.Namespace, d.Name, len(addrs), pred.Name, executor.LoadPath)
	}
	inFlight, rps, _ := executor.ComponentLoad(loads, pred.Name, nodes)
	v := custom_metrics.MetricValue{
		DescribedObject: custom_metrics.ObjectReference{
			Kind: "Deployment", APIVersion: "apps/v1", Namespace: d.Namespace, Name: d.Name,
		},
		Metric:    custom_metrics.MetricIdentifier{Name: info.Metric},
		Timestamp: metav1.NewTime(p.now()),
	}
	switch info.Metric {
	case MetricInFlight:
		v.Value = *resource.NewQuantity(inFlight, resource.DecimalSI)
	default:
		v.Value = *resource.NewMilliQuantity(int64(math.Round(rps*1000)), resource.DecimalSI)
	}
	return &v, nil
}

// component finds the SeldonDeployment, predictor and graph nodes behind a
// Deployment; a nil SeldonDeployment means the Deployment is not a
// component's.
func (p *Provider) component(ctx context.Context, d *appsv1.Deployment) (*sdepv1.SeldonDeployment, *sdepv1.PredictorSpec, map[string]bool, error) {
	owner := metav1.GetControllerOf(d)
	if owner == nil || owner.Kind != "SeldonDeployment" {
		return nil, nil, nil, nil
	}
	var sd sdepv1.SeldonDeployment
	if err := p.Client.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: owner.Name}, &sd); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, nil, nil
		}
		return nil, nil, nil, err
	}
	validation.Default(&sd, predictor.DefaultOptions())
	for i := range sd.Spec.Predictors {
		pr := &sd.Spec.Predictors[i]
		for j := range pr.ComponentSpecs {
			if naming.DeploymentName(&sd, pr, j) != d.Name {
				continue
			}
			return &sd, pr, componentNodes(&pr.ComponentSpecs[j]), nil
		}
	}
	return nil, nil, nil, nil
}

// componentNodes are the graph nodes a componentSpec serves: its
// containers' names, the executor's left out.
func componentNodes(cs *sdepv1.SeldonPodSpec) map[string]bool {
	nodes := map[string]bool{}
	for _, c := range cs.Spec.Containers {
		if c.Name != predictor.ExecutorContainerName {
			nodes[c.Name] = true
		}
	}
	return nodes
}

// executors lists the addresses of predictor pred's executors.
func (p *Provider) executors(ctx context.Context, sd *sdepv1.SeldonDeployment, pred *sdepv1.PredictorSpec) ([]string, error) {
	if p.ExecutorAddress != "" {
		return []string{p.ExecutorAddress}, nil
	}
	var pods corev1.PodList
	if err := p.Client.List(ctx, &pods, client.InNamespace(sd.Namespace), client.MatchingLabels{
		naming.LabelSeldonID:  naming.SeldonID(sd),
		naming.LabelSeldonApp: naming.PredictorServiceName(sd, pred),
	}); err != nil {
		return nil, err
	}
	return ExecutorAddresses(pods.Items), nil
}

// ExecutorAddresses are the "ip:port" of the executor container of every
// running, undeleted pod with an IP.
func ExecutorAddresses(pods []corev1.Pod) []string {
	var out []string
	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
			continue
		}
		for _, c := range pod.Spec.Containers {
			if c.Name != predictor.ExecutorContainerName {
				continue
			}
			if port := predictor.NamedPort(c.Ports, predictor.PortNameHTTP); port > 0 {
				out = append(out, net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(port))))
			}
		}
	}
	return out
}

// poll asks every executor at once; those that fail are left out.
func (p *Provider) poll(ctx context.Context, addrs []string) []executor.Load {
	hc := p.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []executor.Load
	for _, a := range addrs {
		wg.Go(func() {
			l, err := fetchLoad(ctx, hc, a)
			if err != nil {
				return
			}
			mu.Lock()
			out = append(out, l)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

var defaultHTTP = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}

func fetchLoad(ctx context.Context, hc *http.Client, addr string) (executor.Load, error) {
	var l executor.Load
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+executor.LoadPath, nil)
	if err != nil {
		return l, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return l, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return l, fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxLoadBody+1))
	if err != nil {
		return l, err
	}
	if len(body) > maxLoadBody {
		return l, errors.New("load answer too large")
	}
	err = json.Unmarshal(body, &l)
	return l, err
}

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}
