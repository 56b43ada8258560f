package validation

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/autoscale"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/servers"
)

// ExecutorContainerName is the name of the container sdep injects to run the
// executor; no user container may take it.
const ExecutorContainerName = predictor.ExecutorContainerName

// Problem is one finding about a document: the field path and what to do.
type Problem = predictor.Problem

// Problems is a list of findings; as an error it prints one per line.
type Problems = predictor.Problems

// Result is everything Validate found. Errors make a document unusable;
// warnings name fields sdep accepts but does not act on yet.
type Result struct {
	Errors   Problems
	Warnings Problems
}

// Err returns the errors as an error, or nil when there are none.
func (r Result) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	return r.Errors
}

// Validate checks a SeldonDeployment as written (before Default) and reports
// every problem at once, each with its field path and a hint. It applies
// Seldon Core 1.x's rules and messages plus the autoscaling rules upstream
// never had. Validate does not modify sd.
func Validate(sd *sdepv1.SeldonDeployment) Result {
	return ValidateWith(sd, Policy{})
}

// Policy is what one installation refuses on top of the rules every
// document must meet. Its zero value refuses nothing more, as upstream.
type Policy struct {
	// RefusePrivileged makes the findings about pods with access to their
	// node (a privileged container, hostPID, hostIPC, hostNetwork, a
	// hostPath volume) errors instead of warnings.
	RefusePrivileged bool
	// ExplicitEndpoints accepts a node without a container when its
	// endpoint names service_host and service_port: it is called there as
	// written. Only `sdep executor --file` runs such graphs (upstream's
	// local executor samples); a cluster has no container to run it.
	ExplicitEndpoints bool
	// Servers is the prepackaged-server table implementations are looked
	// up in (nil: the compiled-in table, Seldon Core 1.18.2's).
	Servers *servers.Source
}

// ValidateWith is Validate under policy pol.
func ValidateWith(sd *sdepv1.SeldonDeployment, pol Policy) Result {
	v := &validator{sd: sd, policy: pol}
	v.metadata()
	v.spec()
	for i := range sd.Spec.Predictors {
		v.predictor(i)
	}
	return Result{Errors: v.errs, Warnings: v.warns}
}

type validator struct {
	sd          *sdepv1.SeldonDeployment
	policy      Policy
	errs, warns Problems
}

func (v *validator) fail(field, format string, args ...any) {
	v.errs = append(v.errs, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) warn(field, format string, args ...any) {
	v.warns = append(v.warns, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// notActedOn is the wording of every "accepted but ignored" warning.
const notActedOn = "accepted but not acted on yet: "

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (v *validator) name(field, value, what string) {
	switch {
	case value == "":
		v.fail(field, "required: %s", what)
	case !dnsLabel.MatchString(value):
		v.fail(field, "%q is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit (%s)", value, what)
	}
}

func (v *validator) metadata() {
	v.name("metadata.name", v.sd.Name, "the names of every Deployment, Service and HPA derive from it")
	if v.sd.Name != "" && (v.sd.Name[0] < 'a' || v.sd.Name[0] > 'z') {
		v.fail("metadata.name", "%q must start with a letter: the Services sdep creates are named after it and Service names must", v.sd.Name)
	}
	v.ambassador()
}

// ambassador warns about Ambassador (Emissary) annotations: sdep writes no
// Mapping (upstream's target, Mapping v2, is not today's Emissary's), only
// Gateway API routes and Istio's objects.
func (v *validator) ambassador() {
	for _, at := range []struct {
		field string
		ann   map[string]string
	}{{"metadata.annotations", v.sd.Annotations}, {"spec.annotations", v.sd.Spec.Annotations}} {
		keys := make([]string, 0, len(at.ann))
		for k := range at.ann {
			if strings.HasPrefix(k, "seldon.io/ambassador-") || strings.HasPrefix(k, "getambassador.io/") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			v.warn(at.field+"["+k+"]", "ignored: sdep does not support Ambassador/Emissary; route traffic with the operator's --gateway (Gateway API) or ISTIO_ENABLED instead")
		}
	}
}

func (v *validator) spec() {
	s := &v.sd.Spec
	if len(s.Predictors) == 0 {
		v.fail("spec.predictors", "Graph contains no predictors: add at least one predictor")
	}
	switch s.Protocol {
	case "", sdepv1.ProtocolSeldon, sdepv1.ProtocolTensorflow, sdepv1.ProtocolKFServing, sdepv1.ProtocolV2:
		// The executor serves all four (docs/protocols.md).
	default:
		v.fail("spec.protocol", "Invalid protocol %q: use seldon, tensorflow, kfserving or v2", s.Protocol)
	}
	switch s.Transport {
	case "", sdepv1.TransportRest, sdepv1.TransportGrpc:
	default:
		v.fail("spec.transport", "Invalid transport %q: use rest or grpc", s.Transport)
	}
	switch s.ServerType {
	case "", sdepv1.ServerTypeRPC:
	case sdepv1.ServerTypeKafka:
		v.warn("spec.serverType", notActedOn+"sdep serves requests over REST and gRPC only, not from Kafka")
		for i, p := range s.Predictors {
			if !hasKafkaEnv(p.SvcOrchSpec) {
				v.fail(fmt.Sprintf("spec.predictors[%d].svcOrchSpec.env", i),
					"For kafka please supply svcOrchSpec envs KAFKA_BROKER, KAFKA_INPUT_TOPIC, KAFKA_OUTPUT_TOPIC")
			}
		}
	default:
		v.fail("spec.serverType", "Invalid serverType %q: use rpc or kafka", s.ServerType)
	}
	if s.OauthKey != "" || s.OauthSecret != "" {
		v.warn("spec.oauth_key", notActedOn+"the 0.x API gateway credentials have no use in sdep")
	}
	if s.Replicas != nil && *s.Replicas < 0 {
		v.fail("spec.replicas", "%d is negative: use 0 or more", *s.Replicas)
	}
	v.predictorSet()
}

func hasKafkaEnv(s *sdepv1.SvcOrchSpec) bool {
	need := map[string]bool{"KAFKA_BROKER": true, "KAFKA_INPUT_TOPIC": true, "KAFKA_OUTPUT_TOPIC": true}
	if s != nil {
		for _, e := range s.Env {
			delete(need, e.Name)
		}
	}
	return len(need) == 0
}

// predictorSet checks rules across predictors: names, Services, shadows, traffic.
func (v *validator) predictorSet() {
	ps := v.sd.Spec.Predictors
	seen := map[string]int{}
	svcNames := map[string]int{}
	shadows, trafficSum, nonShadow := 0, int32(0), 0
	for i := range ps {
		p := &ps[i]
		field := fmt.Sprintf("spec.predictors[%d]", i)
		if j, dup := seen[p.Name]; dup && p.Name != "" {
			v.fail(field+".name", "Duplicate predictor name %q (also spec.predictors[%d]): predictor names must be unique", p.Name, j)
		} else {
			seen[p.Name] = i
		}
		if svc := p.Annotations[naming.AnnotationServiceName]; svc != "" {
			if j, dup := svcNames[svc]; dup {
				v.fail(field+".annotations["+naming.AnnotationServiceName+"]",
					"Found duplicate service name in seldon.io/svc-name with value %s (also spec.predictors[%d])", svc, j)
			}
			svcNames[svc] = i
		}
		if p.Shadow {
			shadows++
			if p.Traffic < 0 || p.Traffic > 100 {
				v.fail(field+".traffic", "shadow traffic is illegal, the traffic number should be between [0, 100]")
			}
			continue
		}
		nonShadow++
		trafficSum += p.Traffic
		if p.Traffic < 0 || p.Traffic > 100 {
			v.fail(field+".traffic", "%d is outside [0, 100]", p.Traffic)
		}
	}
	if len(ps) == 1 && ps[0].Shadow {
		v.fail("spec.predictors[0].shadow", "Shadow can not exist as only predictor: add a main predictor or remove shadow")
	}
	if shadows > 1 {
		v.fail("spec.predictors", "Multiple shadows are not allowed: keep one predictor with shadow: true")
	}
	switch {
	case nonShadow >= 2 && trafficSum != 100:
		v.fail("spec.predictors", "Traffic must sum to 100 for multiple predictors (it sums to %d)", trafficSum)
	case nonShadow == 1 && trafficSum > 0 && trafficSum < 100:
		v.fail("spec.predictors", "Traffic must sum be 100 for a single predictor when set (it is %d)", trafficSum)
	}
}

func (v *validator) predictor(i int) {
	p := &v.sd.Spec.Predictors[i]
	field := fmt.Sprintf("spec.predictors[%d]", i)
	v.name(field+".name", p.Name, "it is part of every object name of this predictor")
	if p.Replicas != nil && *p.Replicas < 0 {
		v.fail(field+".replicas", "%d is negative: use 0 or more", *p.Replicas)
	}
	if p.Explainer != nil {
		v.explainer(field+".explainer", p.Explainer)
	}
	if p.SSL != nil {
		v.warn(field+".ssl", notActedOn+"sdep does not mount TLS certificates into graph containers")
	}
	if p.Annotations[AnnotationNoEngine] == "true" {
		if predictor.Size(&p.Graph) > 1 {
			v.fail(field+".annotations["+AnnotationNoEngine+"]", "Running without engine only valid for single element graphs")
		}
		v.warn(field+".annotations["+AnnotationNoEngine+"]", notActedOn+"sdep always runs the executor in front of the graph")
	}
	if p.SvcOrchSpec != nil && p.SvcOrchSpec.Replicas != nil && predictor.ExecutorComponent(v.sd, p) >= 0 {
		v.warn(field+".svcOrchSpec.replicas", notActedOn+"the executor runs inside componentSpecs[0]'s pods and scales with them; "+
			"set the annotation "+AnnotationEngineSeparatePod+": \"true\" to give it a Deployment of its own with these replicas")
	}
	if p.SvcOrchSpec != nil && p.SvcOrchSpec.Resources != nil {
		v.resources(field+".svcOrchSpec.resources", *p.SvcOrchSpec.Resources)
	}
	if p.EngineResources != nil {
		v.resources(field+".engineResources", *p.EngineResources)
	}
	containers := v.componentSpecs(i)
	v.legacyHpaSpecs(i)
	v.graph(i, containers)
}

// containerRef locates a container of a predictor.
type containerRef struct {
	field     string // e.g. spec.predictors[0].componentSpecs[1].spec.containers[0]
	comp      int
	container *corev1.Container
}

func (v *validator) componentSpecs(i int) map[string]containerRef {
	p := &v.sd.Spec.Predictors[i]
	containers := map[string]containerRef{}
	names := map[string]int{}
	for j := range p.ComponentSpecs {
		cs := &p.ComponentSpecs[j]
		field := fmt.Sprintf("spec.predictors[%d].componentSpecs[%d]", i, j)
		if cs.Metadata.Name != "" {
			v.name(field+".metadata.name", cs.Metadata.Name, "it is part of the Deployment name")
			if k, dup := names[cs.Metadata.Name]; dup {
				v.fail(field+".metadata.name", "%q is also the name of componentSpecs[%d]: componentSpec names must be unique within a predictor", cs.Metadata.Name, k)
			}
			names[cs.Metadata.Name] = j
		}
		v.ignoredMetadata(field+".metadata", cs)
		if len(cs.Spec.Containers) == 0 {
			v.emptyComponentSpec(field, p, j)
		}
		if len(cs.Spec.EphemeralContainers) > 0 {
			v.fail(field+".spec.ephemeralContainers", "ephemeral containers cannot be part of a pod template: remove them")
		}
		v.nodeAccess(field+".spec", &cs.Spec)
		for k, c := range cs.Spec.InitContainers {
			v.resources(fmt.Sprintf("%s.spec.initContainers[%d].resources", field, k), c.Resources)
		}
		for k, c := range cs.Spec.Containers {
			cfield := fmt.Sprintf("%s.spec.containers[%d]", field, k)
			v.resources(cfield+".resources", c.Resources)
			switch c.Name {
			case ExecutorContainerName:
				v.fail(cfield+".name", "%q is reserved for the executor sdep injects: rename the container", c.Name)
			case "":
				v.fail(cfield+".name", "required: graph nodes find their container by name")
			default:
				if prev, dup := containers[c.Name]; dup {
					v.fail(cfield+".name", "%q is also the name of %s: container names must be unique within a predictor", c.Name, prev.field)
				} else {
					containers[c.Name] = containerRef{field: cfield, comp: j, container: &cs.Spec.Containers[k]}
				}
			}
		}
		if cs.Replicas != nil && *cs.Replicas < 0 {
			v.fail(field+".replicas", "%d is negative: use 0 or more", *cs.Replicas)
		}
		if cs.HpaSpec != nil {
			v.hpaBounds(field+".hpaSpec", cs.HpaSpec.MinReplicas, cs.HpaSpec.MaxReplicas, hpaCanScaleFromZero(cs.HpaSpec))
			v.legacyMetrics(field+".hpaSpec.metrics", i, j, cs.HpaSpec.Metrics)
			v.metricsV2(field+".hpaSpec.metricsv2", i, j, cs.HpaSpec.MetricsV2)
			if len(cs.HpaSpec.Metrics) > 0 && len(cs.HpaSpec.MetricsV2) > 0 {
				v.warn(field+".hpaSpec.metricsv2", "ignored: metrics (v2beta1 shape) is also set and takes precedence, as in Seldon Core; keep one of the two")
			}
			v.behavior(field+".hpaSpec.behavior", cs.HpaSpec.Behavior)
		}
		if cs.KedaSpec != nil {
			v.keda(field+".kedaSpec", cs.KedaSpec)
		}
		if cs.PdbSpec != nil {
			switch {
			case cs.PdbSpec.MinAvailable == nil && cs.PdbSpec.MaxUnavailable == nil:
				v.fail(field+".pdbSpec", "set minAvailable or maxUnavailable")
			case cs.PdbSpec.MinAvailable != nil && cs.PdbSpec.MaxUnavailable != nil:
				v.fail(field+".pdbSpec", "minAvailable and maxUnavailable are mutually exclusive: keep one")
			}
		}
		v.autoscalerCount(i, j)
	}
	return containers
}

// nodeAccess reports what gives a componentSpec's pods access to their
// node: a privileged container, the node's process, IPC or network
// namespace, a hostPath volume. Upstream renders these as written and sdep
// does too, so they are warnings unless the policy refuses them. Whether the
// namespace enforces a Pod Security level is the cluster's business and is
// not checked here: the API server's admission applies it to the pods.
func (v *validator) nodeAccess(field string, spec *corev1.PodSpec) {
	report := v.warn
	hint := "sdep renders it as written; an operator run with --refuse-privileged refuses it"
	if v.policy.RefusePrivileged {
		report = v.fail
		hint = "this operator refuses pods with access to their node (--refuse-privileged): remove it"
	}
	privileged := func(cfield string, sc *corev1.SecurityContext) {
		if sc != nil && sc.Privileged != nil && *sc.Privileged {
			report(cfield+".securityContext.privileged", "the pod runs privileged: the container gets every capability and the node's devices; %s", hint)
		}
	}
	for k := range spec.InitContainers {
		privileged(fmt.Sprintf("%s.initContainers[%d]", field, k), spec.InitContainers[k].SecurityContext)
	}
	for k := range spec.Containers {
		privileged(fmt.Sprintf("%s.containers[%d]", field, k), spec.Containers[k].SecurityContext)
	}
	if spec.HostPID {
		report(field+".hostPID", "the pod shares the node's process namespace: it sees and can signal every process on the node; %s", hint)
	}
	if spec.HostIPC {
		report(field+".hostIPC", "the pod shares the node's IPC namespace: it can read other processes' shared memory; %s", hint)
	}
	if spec.HostNetwork {
		report(field+".hostNetwork", "the pod uses the node's network namespace: it binds the node's ports and sees its traffic; %s", hint)
	}
	for k := range spec.Volumes {
		if hp := spec.Volumes[k].HostPath; hp != nil {
			report(fmt.Sprintf("%s.volumes[%d].hostPath", field, k), "the pod mounts %q from the node's filesystem; %s", hp.Path, hint)
		}
	}
}

// ignoredMetadata warns about componentSpec metadata fields that have no
// meaning in a template (the CRD keeps only name, labels and annotations).
func (v *validator) ignoredMetadata(field string, cs *sdepv1.SeldonPodSpec) {
	m := cs.Metadata
	var ignored []string
	if m.GenerateName != "" {
		ignored = append(ignored, "generateName")
	}
	if m.Namespace != "" {
		ignored = append(ignored, "namespace")
	}
	if m.UID != "" || m.ResourceVersion != "" || m.Generation != 0 {
		ignored = append(ignored, "uid/resourceVersion/generation")
	}
	if m.DeletionTimestamp != nil || m.DeletionGracePeriodSeconds != nil {
		ignored = append(ignored, "deletionTimestamp/deletionGracePeriodSeconds")
	}
	if len(m.OwnerReferences) > 0 || len(m.Finalizers) > 0 || len(m.ManagedFields) > 0 {
		ignored = append(ignored, "ownerReferences/finalizers/managedFields")
	}
	if len(ignored) > 0 {
		v.warn(field, "ignored: %s (a componentSpec's metadata carries name, labels and annotations only)", strings.Join(ignored, ", "))
	}
}

// hpaBounds checks an HPA's replica bounds. fromZero says whether its
// metrics include an Object or External metric: the API server accepts
// minReplicas 0 only then (an HPA cannot read CPU or per-pod metrics from a
// Deployment with no pods), and sdep follows the same rule.
func (v *validator) hpaBounds(field string, minReplicas *int32, maxReplicas int32, fromZero bool) {
	if maxReplicas < 1 {
		v.fail(field+".maxReplicas", "%d: maxReplicas is required and must be at least 1", maxReplicas)
	}
	if minReplicas != nil {
		switch {
		case *minReplicas < 0:
			v.fail(field+".minReplicas", "%d is negative: use 0 (scale to zero, with an Object or External metric) or more", *minReplicas)
		case *minReplicas == 0 && !fromZero:
			v.fail(field+".minReplicas", "0 needs at least one Object or External metric, as the API server requires for scaling to zero: "+
				"add {\"type\": \"Object\", \"object\": {\"metric\": {\"name\": \"seldon_requests_in_flight\"}, ...}} to metricsv2 "+
				"(see docs/request-autoscaling.md), or set minReplicas to 1")
		case maxReplicas >= 1 && *minReplicas > maxReplicas:
			v.fail(field+".minReplicas", "%d is greater than maxReplicas %d: minReplicas must not exceed maxReplicas", *minReplicas, maxReplicas)
		}
	}
}

// hpaCanScaleFromZero reports whether the metrics sdep puts on the HPA (the
// v2beta1-shaped metrics when given, else metricsv2) include an Object or
// External metric.
func hpaCanScaleFromZero(h *sdepv1.SeldonHpaSpec) bool {
	if len(h.Metrics) > 0 {
		return legacyCanScaleFromZero(h.Metrics)
	}
	return autoscale.HasObjectOrExternalMetric(h.MetricsV2)
}

func legacyCanScaleFromZero(ms []sdepv1.MetricSpec) bool {
	for _, m := range ms {
		if m.Type == sdepv1.ObjectMetricSourceType || m.Type == sdepv1.ExternalMetricSourceType {
			return true
		}
	}
	return false
}

// autoscalerCount allows at most one of hpaSpec, a legacy hpaSpecs entry
// and kedaSpec per componentSpec.
func (v *validator) autoscalerCount(i, j int) {
	p := &v.sd.Spec.Predictors[i]
	cs := &p.ComponentSpecs[j]
	var have []string
	if cs.HpaSpec != nil {
		have = append(have, "hpaSpec")
	}
	if cs.KedaSpec != nil {
		have = append(have, "kedaSpec")
	}
	if cs.Metadata.Name != "" {
		for k, h := range p.HpaSpecs {
			if h.ScaleTargetRef.Name == cs.Metadata.Name {
				have = append(have, fmt.Sprintf("spec.predictors[%d].hpaSpecs[%d]", i, k))
			}
		}
	}
	field := fmt.Sprintf("spec.predictors[%d].componentSpecs[%d]", i, j)
	if len(have) > 1 {
		v.fail(field, "has %d autoscalers (%s): keep exactly one", len(have), strings.Join(have, ", "))
	}
	if len(have) > 0 && cs.Replicas != nil {
		v.warn(field+".replicas", "ignored: %s owns this component's replica count", have[0])
	}
}

var legacyDeploymentAPIVersions = map[string]bool{
	"": true, "extensions/v1beta1": true, "apps/v1beta1": true, "apps/v1beta2": true, "apps/v1": true,
}

func (v *validator) legacyHpaSpecs(i int) {
	p := &v.sd.Spec.Predictors[i]
	var have []string
	for _, cs := range p.ComponentSpecs {
		if cs.Metadata.Name != "" {
			have = append(have, cs.Metadata.Name)
		}
	}
	haveList := strings.Join(have, ", ")
	if haveList == "" {
		haveList = "none: give the componentSpec a metadata.name"
	}
	for k, h := range p.HpaSpecs {
		field := fmt.Sprintf("spec.predictors[%d].hpaSpecs[%d]", i, k)
		ref := h.ScaleTargetRef
		switch n := predictor.ComponentsNamed(p, ref.Name); {
		case ref.Name == "":
			v.fail(field+".scaleTargetRef.name", "HorizontalPodAutoscalerSpec %d has no target reference: set it to a componentSpecs[].metadata.name (have: %s)", k, haveList)
		case n == 0:
			v.fail(field+".scaleTargetRef.name", "%q matches no componentSpecs[].metadata.name (have: %s)", ref.Name, haveList)
		case n > 1:
			v.fail(field+".scaleTargetRef.name", "%q matches %d componentSpecs: componentSpec names must be unique", ref.Name, n)
		default:
			j := predictor.ComponentByName(p, ref.Name)
			v.legacyMetrics(field+".metrics", i, j, h.Metrics)
		}
		if ref.Kind != "Deployment" {
			v.fail(field+".scaleTargetRef.kind", "%q: must be Deployment (a componentSpec becomes a Deployment)", ref.Kind)
		}
		if !legacyDeploymentAPIVersions[ref.APIVersion] {
			v.fail(field+".scaleTargetRef.apiVersion", "%q: use apps/v1 (extensions/v1beta1, apps/v1beta1 and apps/v1beta2 are accepted and mean the same)", ref.APIVersion)
		}
		v.hpaBounds(field, h.MinReplicas, h.MaxReplicas, legacyCanScaleFromZero(h.Metrics))
	}
}

// legacyMetrics checks v2beta1-shaped metrics of the HPA on componentSpec j
// of predictor i (j < 0 when the target is unknown).
func (v *validator) legacyMetrics(field string, i, j int, metrics []sdepv1.MetricSpec) {
	for k, m := range metrics {
		mf := fmt.Sprintf("%s[%d]", field, k)
		set := sourcesSet(m.Object != nil, m.Pods != nil, m.Resource != nil, m.ContainerResource != nil, m.External != nil)
		if !v.metricSource(mf, string(m.Type), set) {
			continue
		}
		switch m.Type {
		case sdepv1.ResourceMetricSourceType:
			r := m.Resource
			v.legacyTarget(mf+".resource", r.TargetAverageUtilization, r.TargetAverageValue)
			v.resourceRequests(mf+".resource.name", i, j, r.Name, "", r.TargetAverageUtilization != nil)
		case sdepv1.ContainerResourceMetricSourceType:
			r := m.ContainerResource
			v.legacyTarget(mf+".containerResource", r.TargetAverageUtilization, r.TargetAverageValue)
			v.resourceRequests(mf+".containerResource.name", i, j, r.Name, r.Container, r.TargetAverageUtilization != nil)
		case sdepv1.PodsMetricSourceType:
			v.required(mf+".pods.metricName", m.Pods.MetricName)
			v.positive(mf+".pods.targetAverageValue", &m.Pods.TargetAverageValue)
		case sdepv1.ObjectMetricSourceType:
			v.required(mf+".object.metricName", m.Object.MetricName)
			v.required(mf+".object.target.kind", m.Object.Target.Kind)
			v.required(mf+".object.target.name", m.Object.Target.Name)
			if m.Object.AverageValue != nil {
				v.positive(mf+".object.averageValue", m.Object.AverageValue)
			} else {
				v.positive(mf+".object.targetValue", &m.Object.TargetValue)
			}
		case sdepv1.ExternalMetricSourceType:
			v.required(mf+".external.metricName", m.External.MetricName)
			switch {
			case m.External.TargetValue == nil && m.External.TargetAverageValue == nil:
				v.fail(mf+".external", "set targetValue or targetAverageValue")
			case m.External.TargetValue != nil && m.External.TargetAverageValue != nil:
				v.fail(mf+".external", "targetValue and targetAverageValue are mutually exclusive: keep one")
			case m.External.TargetValue != nil:
				v.positive(mf+".external.targetValue", m.External.TargetValue)
			default:
				v.positive(mf+".external.targetAverageValue", m.External.TargetAverageValue)
			}
		}
	}
}

// sourcesSet records which metric sources a MetricSpec (v2beta1 or v2) sets.
func sourcesSet(object, pods, res, containerRes, external bool) map[sdepv1.MetricSourceType]bool {
	return map[sdepv1.MetricSourceType]bool{
		sdepv1.ObjectMetricSourceType:            object,
		sdepv1.PodsMetricSourceType:              pods,
		sdepv1.ResourceMetricSourceType:          res,
		sdepv1.ContainerResourceMetricSourceType: containerRes,
		sdepv1.ExternalMetricSourceType:          external,
	}
}

// metricSource checks that a metric's type is known and that exactly the
// matching source is set. It reports whether the metric can be checked further.
func (v *validator) metricSource(field, typ string, set map[sdepv1.MetricSourceType]bool) bool {
	if _, known := set[sdepv1.MetricSourceType(typ)]; !known {
		v.fail(field+".type", "%q: use Resource, ContainerResource, Pods, Object or External", typ)
		return false
	}
	ok := true
	for _, t := range []sdepv1.MetricSourceType{sdepv1.ObjectMetricSourceType, sdepv1.PodsMetricSourceType,
		sdepv1.ResourceMetricSourceType, sdepv1.ContainerResourceMetricSourceType, sdepv1.ExternalMetricSourceType} {
		key := lowerFirst(string(t))
		switch {
		case string(t) == typ && !set[t]:
			v.fail(field+"."+key, "required: type is %s", typ)
			ok = false
		case string(t) != typ && set[t]:
			v.fail(field+"."+key, "must not be set when type is %s: remove it or change type", typ)
			ok = false
		}
	}
	return ok
}

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

func (v *validator) legacyTarget(field string, utilization *int32, value *resource.Quantity) {
	switch {
	case utilization == nil && value == nil:
		v.fail(field, "set targetAverageUtilization or targetAverageValue")
	case utilization != nil && value != nil:
		v.fail(field, "targetAverageUtilization and targetAverageValue are mutually exclusive: keep one")
	case utilization != nil && *utilization <= 0:
		v.fail(field+".targetAverageUtilization", "%d: a utilisation target must be greater than 0 (percent of the request)", *utilization)
	case value != nil:
		v.positive(field+".targetAverageValue", value)
	}
}

func (v *validator) required(field, value string) {
	if value == "" {
		v.fail(field, "required")
	}
}

func (v *validator) positive(field string, q *resource.Quantity) {
	switch {
	case q.Sign() <= 0:
		v.fail(field, "%s: a target must be greater than 0", q.String())
	case tooLarge(q):
		v.fail(field, "%s is too large: %s", q.String(), quantityBound)
	}
}

// maxQuantity is the largest quantity whose value in thousandths fits in an
// int64: the HPA and sdep's autoscaler compute cpu and memory in milli-units,
// and a larger value silently wraps (1e18 has a MilliValue of 0).
var maxQuantity = resource.NewMilliQuantity(math.MaxInt64, resource.DecimalSI)

const quantityBound = "quantities must not exceed 9223372036854775807m (about 9.2P), or the HPA's arithmetic overflows; use a smaller value"

func tooLarge(q *resource.Quantity) bool { return q.Cmp(*maxQuantity) > 0 }

// resources checks a container's requests and limits: no negative or
// overflowing quantity, and no request above its limit (the API server
// refuses such a pod, long after sdep rendered it).
func (v *validator) resources(field string, r corev1.ResourceRequirements) {
	for _, kind := range []struct {
		key  string
		list corev1.ResourceList
	}{{"requests", r.Requests}, {"limits", r.Limits}} {
		for _, name := range sortedNames(kind.list) {
			q := kind.list[name]
			qf := fmt.Sprintf("%s.%s.%s", field, kind.key, name)
			switch {
			case q.Sign() < 0:
				v.fail(qf, "%s is negative: use 0 or more (%s of %s)", q.String(), strings.TrimSuffix(kind.key, "s"), name)
			case tooLarge(&q):
				v.fail(qf, "%s is too large: %s", q.String(), quantityBound)
			}
		}
	}
	for _, name := range sortedNames(r.Requests) {
		req := r.Requests[name]
		limit, ok := r.Limits[name]
		if ok && req.Sign() >= 0 && limit.Sign() >= 0 && req.Cmp(limit) > 0 {
			v.fail(fmt.Sprintf("%s.requests.%s", field, name),
				"request %s is above limits.%s %s: a request must not exceed its limit; lower the request or raise the limit",
				req.String(), name, limit.String())
		}
	}
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (v *validator) metricsV2(field string, i, j int, metrics []autoscalingv2.MetricSpec) {
	for k, m := range metrics {
		mf := fmt.Sprintf("%s[%d]", field, k)
		set := sourcesSet(m.Object != nil, m.Pods != nil, m.Resource != nil, m.ContainerResource != nil, m.External != nil)
		if !v.metricSource(mf, string(m.Type), set) {
			continue
		}
		switch m.Type {
		case autoscalingv2.ResourceMetricSourceType:
			v.targetV2(mf+".resource.target", m.Resource.Target, true)
			v.resourceRequests(mf+".resource.name", i, j, m.Resource.Name, "", m.Resource.Target.Type == autoscalingv2.UtilizationMetricType)
		case autoscalingv2.ContainerResourceMetricSourceType:
			v.targetV2(mf+".containerResource.target", m.ContainerResource.Target, true)
			v.resourceRequests(mf+".containerResource.name", i, j, m.ContainerResource.Name, m.ContainerResource.Container,
				m.ContainerResource.Target.Type == autoscalingv2.UtilizationMetricType)
		case autoscalingv2.PodsMetricSourceType:
			v.required(mf+".pods.metric.name", m.Pods.Metric.Name)
			v.targetV2(mf+".pods.target", m.Pods.Target, false)
		case autoscalingv2.ObjectMetricSourceType:
			v.required(mf+".object.metric.name", m.Object.Metric.Name)
			v.required(mf+".object.describedObject.kind", m.Object.DescribedObject.Kind)
			v.required(mf+".object.describedObject.name", m.Object.DescribedObject.Name)
			v.targetV2(mf+".object.target", m.Object.Target, false)
		case autoscalingv2.ExternalMetricSourceType:
			v.required(mf+".external.metric.name", m.External.Metric.Name)
			v.targetV2(mf+".external.target", m.External.Target, false)
		}
	}
}

func (v *validator) targetV2(field string, t autoscalingv2.MetricTarget, utilizationAllowed bool) {
	switch t.Type {
	case autoscalingv2.UtilizationMetricType:
		if !utilizationAllowed {
			v.fail(field+".type", "Utilization applies to Resource and ContainerResource metrics only: use Value or AverageValue")
			return
		}
		if t.AverageUtilization == nil || *t.AverageUtilization <= 0 {
			v.fail(field+".averageUtilization", "required and greater than 0 when type is Utilization (percent of the request)")
		}
	case autoscalingv2.AverageValueMetricType:
		if t.AverageValue == nil {
			v.fail(field+".averageValue", "required when type is AverageValue")
		} else {
			v.positive(field+".averageValue", t.AverageValue)
		}
	case autoscalingv2.ValueMetricType:
		if t.Value == nil {
			v.fail(field+".value", "required when type is Value")
		} else {
			v.positive(field+".value", t.Value)
		}
	default:
		v.fail(field+".type", "%q: use Utilization, AverageValue or Value", t.Type)
	}
}

// resourceRequests enforces that a cpu or memory metric can be computed:
// the HPA divides usage by the pods' requests, and one container without a
// request makes the metric unavailable (upstream #1676, #3827). container
// limits the rule to one container (ContainerResource metrics). A
// utilisation target also needs every such request above 0: utilisation
// is usage divided by the request.
func (v *validator) resourceRequests(field string, i, j int, res corev1.ResourceName, container string, utilization bool) {
	if res == "" {
		v.fail(field, "required: cpu or memory")
		return
	}
	if j < 0 {
		return
	}
	p := &v.sd.Spec.Predictors[i]
	cs := &p.ComponentSpecs[j]
	csField := fmt.Sprintf("spec.predictors[%d].componentSpecs[%d]", i, j)
	found := container == ""
	for k := range cs.Spec.Containers {
		c := &cs.Spec.Containers[k]
		if container != "" && c.Name != container {
			continue
		}
		found = true
		if _, ok := request(c.Resources, res); !ok && res == corev1.ResourceCPU && servesPrepackaged(p, c.Name) {
			continue // the builders give a server container a cpu request
		}
		rf := fmt.Sprintf("%s.spec.containers[%d].resources.requests.%s", csField, k, res)
		switch q, ok := request(c.Resources, res); {
		case !ok:
			v.fail(rf,
				"container %q has no %s request, so the HPA cannot compute %s utilisation for this pod: add resources.requests.%s to every container of the pod",
				c.Name, res, res, res)
		case q.Sign() == 0 && utilization:
			v.fail(rf,
				"container %q requests %s %s, so the HPA cannot compute %s utilisation (usage divided by 0): request more than 0",
				c.Name, q.String(), res, res)
		}
	}
	if j == predictor.ExecutorComponent(v.sd, p) && (container == "" || container == ExecutorContainerName) {
		found = true
		rf := fmt.Sprintf("spec.predictors[%d].svcOrchSpec.resources.requests.%s", i, res)
		switch q, ok := request(predictor.ExecutorResources(p), res); {
		case !ok:
			v.fail(rf,
				"the executor container %q that sdep adds to this pod has no %s request, so the HPA cannot compute %s utilisation: add svcOrchSpec.resources.requests.%s",
				ExecutorContainerName, res, res, res)
		case q.Sign() == 0 && utilization:
			v.fail(rf,
				"the executor container %q that sdep adds to this pod requests %s %s, so the HPA cannot compute %s utilisation (usage divided by 0): request more than 0",
				ExecutorContainerName, q.String(), res, res)
		}
	}
	if !found {
		v.fail(strings.TrimSuffix(field, ".name")+".container", "%q is not a container of %s", container, csField)
	}
}

// request returns the request the API server will give the container for
// res, and whether it has one: set explicitly, or defaulted from the limit.
func request(r corev1.ResourceRequirements, res corev1.ResourceName) (resource.Quantity, bool) {
	if q, ok := r.Requests[res]; ok {
		return q, true
	}
	q, ok := r.Limits[res]
	return q, ok
}

// behavior applies the HPA behavior rules internal/autoscale owns.
func (v *validator) behavior(field string, b *autoscalingv2.HorizontalPodAutoscalerBehavior) {
	for _, p := range autoscale.BehaviorProblems(b) {
		v.fail(field+strings.TrimPrefix(p.Field, "behavior"), "%s", p.Message)
	}
}

func (v *validator) keda(field string, k *sdepv1.SeldonScaledObjectSpec) {
	if len(k.Triggers) == 0 {
		v.fail(field+".triggers", "required: KEDA needs at least one trigger")
	}
	for t, tr := range k.Triggers {
		v.required(fmt.Sprintf("%s.triggers[%d].type", field, t), tr.Type)
	}
	if k.MinReplicaCount != nil && k.MaxReplicaCount != nil && *k.MinReplicaCount > *k.MaxReplicaCount {
		v.fail(field+".minReplicaCount", "%d is greater than maxReplicaCount %d", *k.MinReplicaCount, *k.MaxReplicaCount)
	}
}

var (
	knownTypes = map[sdepv1.PredictiveUnitType]bool{
		"": true, sdepv1.UnknownType: true, sdepv1.Router: true, sdepv1.Combiner: true, sdepv1.Model: true,
		sdepv1.Transformer: true, sdepv1.OutputTransformer: true,
	}
	knownMethods = map[sdepv1.PredictiveUnitMethod]bool{
		sdepv1.TransformInput: true, sdepv1.TransformOutput: true, sdepv1.Route: true,
		sdepv1.Aggregate: true, sdepv1.SendFeedback: true,
	}
)

func (v *validator) graph(i int, containers map[string]containerRef) {
	p := &v.sd.Spec.Predictors[i]
	root := fmt.Sprintf("spec.predictors[%d].graph", i)
	// Depth, names, and what the built-ins need: the rules the executor
	// relies on, checked once by the predictor package.
	_, structural := predictor.Compile(&p.Graph, root)
	v.errs = append(v.errs, structural...)
	endpointTypes := map[sdepv1.EndpointType]string{}
	predictor.Walk(&p.Graph, root, func(field string, n *sdepv1.PredictiveUnit) {
		v.node(field, n, containers, endpointTypes)
	})
	if len(endpointTypes) > 1 {
		v.fail(root, "Multiple endpoint.types found - can only have 1 type in graph. Please use spec.transport")
	}
	if t := v.sd.Spec.Transport; t != "" {
		want := sdepv1.EndpointREST
		if t == sdepv1.TransportGrpc {
			want = sdepv1.EndpointGRPC
		}
		for _, et := range []sdepv1.EndpointType{sdepv1.EndpointGRPC, sdepv1.EndpointREST} {
			if field, ok := endpointTypes[et]; ok && et != want {
				v.fail(field, "Mixed transport types found. Remove graph endpoint.types if transport set at deployment level")
				break
			}
		}
	}
}

// node checks one graph node's own fields; Compile has checked the graph's shape.
func (v *validator) node(field string, n *sdepv1.PredictiveUnit, containers map[string]containerRef,
	endpointTypes map[sdepv1.EndpointType]string) {
	if !knownTypes[n.Type] {
		v.fail(field+".type", "%q: use MODEL, ROUTER, COMBINER, TRANSFORMER, OUTPUT_TRANSFORMER or UNKNOWN_TYPE", n.Type)
	}
	for k, m := range n.Methods {
		if !knownMethods[m] {
			v.fail(fmt.Sprintf("%s.methods[%d]", field, k), "%q: use TRANSFORM_INPUT, TRANSFORM_OUTPUT, ROUTE, AGGREGATE or SEND_FEEDBACK", m)
		}
	}
	// As upstream, only a node left to a container must say what it does:
	// a built-in or a server implements its methods itself.
	if n.Type == sdepv1.UnknownType && len(n.Methods) == 0 &&
		(n.Implementation == "" || n.Implementation == sdepv1.UnknownImplementation) {
		v.fail(field+".type", "Predictive Unit has no implementation methods defined. Change to a known type or add what methods it defines")
	}
	ref, hasContainer := containers[n.Name]
	impl := n.Implementation
	switch {
	case impl == "" || impl == sdepv1.UnknownImplementation:
		if !hasContainer && n.Name != "" && (!v.policy.ExplicitEndpoints || !explicitEndpoint(n)) {
			v.fail(field+".name", "Can't find container for Predictive Unit %q: add a container named %q to a componentSpec, or set a built-in implementation", n.Name, n.Name)
		}
	case predictor.IsBuiltin(impl):
	default: // a prepackaged server, looked up in the server table
		v.prepackaged(field, n, ref.container)
	}
	if n.Logger != nil {
		if n.Logger.Mode == "" {
			v.fail(field+".logger.mode", "No logger mode specified: use all, request or response")
		} else if n.Logger.Mode != sdepv1.LogAll && n.Logger.Mode != sdepv1.LogRequest && n.Logger.Mode != sdepv1.LogResponse {
			v.fail(field+".logger.mode", "%q: use all, request or response", n.Logger.Mode)
		}
		if u := n.Logger.URL; u != nil && *u != "" {
			if p, err := url.Parse(*u); err != nil || p.Scheme != "http" && p.Scheme != "https" || p.Host == "" {
				v.fail(field+".logger.url", "%q is not an http(s) URL: give the CloudEvents receiver, for example http://broker.ns:8080, or leave it out for the operator's default", *u)
			}
		}
	}
	if n.Endpoint != nil && n.Endpoint.Type != "" {
		switch n.Endpoint.Type {
		case sdepv1.EndpointREST, sdepv1.EndpointGRPC:
			if _, ok := endpointTypes[n.Endpoint.Type]; !ok {
				endpointTypes[n.Endpoint.Type] = field + ".endpoint.type"
			}
		default:
			v.fail(field+".endpoint.type", "%q: use REST or GRPC", n.Endpoint.Type)
		}
	}
	v.parameters(field+".parameters", n.Parameters)
}

func (v *validator) parameters(field string, params []sdepv1.Parameter) {
	names := map[string]bool{}
	for k, prm := range params {
		pf := fmt.Sprintf("%s[%d]", field, k)
		if prm.Name == "" {
			v.fail(pf+".name", "required")
		} else if names[prm.Name] {
			v.fail(pf+".name", "%q appears twice", prm.Name)
		}
		names[prm.Name] = true
		var err error
		switch prm.Type {
		case sdepv1.ParameterInt:
			_, err = strconv.ParseInt(prm.Value, 10, 64)
		case sdepv1.ParameterFloat, sdepv1.ParameterDouble:
			_, err = strconv.ParseFloat(prm.Value, 64)
		case sdepv1.ParameterBool:
			_, err = strconv.ParseBool(prm.Value)
		case sdepv1.ParameterString:
		default:
			v.fail(pf+".type", "%q: use INT, FLOAT, DOUBLE, STRING or BOOL", prm.Type)
		}
		if err != nil {
			v.fail(pf+".value", "%q is not a valid %s", prm.Value, prm.Type)
		}
	}
}
