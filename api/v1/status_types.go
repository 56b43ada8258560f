package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// State is the summary state of a SeldonDeployment.
type State string

// States.
const (
	StateCreating  State = "Creating"
	StateAvailable State = "Available"
	StateFailed    State = "Failed"
)

// Condition types written by the operator.
const (
	ConditionReady            = "Ready"
	ConditionDeploymentsReady = "DeploymentsReady"
	ConditionServicesReady    = "ServicesReady"
	ConditionHpasReady        = "HpasReady"
	ConditionPdbsReady        = "PdbsReady"
	ConditionKedaReady        = "KedaReady"
	// ConditionRoutesReady is set when the operator builds routes (a
	// Gateway, Istio): False while a route cannot be written, a Gateway
	// refuses it, or a predictor gets weight 0 for want of available pods.
	// It is not part of Ready.
	ConditionRoutesReady = "RoutesReady"
	// ConditionSpecWarnings is True while the spec has fields sdep accepts
	// but does not act on; the message lists them.
	ConditionSpecWarnings = "SpecWarnings"
)

// SeldonDeploymentStatus is the observed state of a SeldonDeployment.
type SeldonDeploymentStatus struct {
	State       State  `json:"state,omitempty"`
	Description string `json:"description,omitempty"`
	// DeploymentStatus is keyed by Deployment name.
	DeploymentStatus map[string]DeploymentStatus `json:"deploymentStatus,omitempty"`
	// ServiceStatus is keyed by Service name.
	ServiceStatus map[string]ServiceStatus `json:"serviceStatus,omitempty"`
	// Replicas of the first predictor's first Deployment (the scale subresource reads it).
	Replicas int32 `json:"replicas,omitempty"`
	// Selector selects every pod of the SeldonDeployment, as a label
	// selector string: the scale subresource returns it, so `kubectl scale`
	// and an HPA aimed at the SeldonDeployment itself find its pods.
	Selector string       `json:"selector,omitempty"`
	Address  *Addressable `json:"address,omitempty"`
	// ExternalAddress is where clients outside the cluster predict,
	// through the Gateway API or Istio routes (address is the in-cluster
	// URL); set while a route exists and its host is known.
	ExternalAddress *Addressable `json:"externalAddress,omitempty"`
	// +listType=map
	// +listMapKey=type
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Annotations        map[string]string  `json:"annotations,omitempty"`
}

// DeploymentStatus is the state of one Deployment the operator owns.
type DeploymentStatus struct {
	Name              string `json:"name,omitempty"`
	Status            string `json:"status,omitempty"`
	Description       string `json:"description,omitempty"`
	Replicas          int32  `json:"replicas,omitempty"`
	AvailableReplicas int32  `json:"availableReplicas,omitempty"`
	ExplainerFor      string `json:"explainerFor,omitempty"`
}

// ServiceStatus is one Service the operator owns and its endpoints.
type ServiceStatus struct {
	SvcName      string `json:"svcName,omitempty"`
	HTTPEndpoint string `json:"httpEndpoint,omitempty"`
	GRPCEndpoint string `json:"grpcEndpoint,omitempty"`
	ExplainerFor string `json:"explainerFor,omitempty"`
}

// Addressable is where the first predictor answers predictions.
type Addressable struct {
	URL string `json:"url,omitempty"`
}
