package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SeldonDeployment serves an inference graph: one or more predictors, each a
// graph of models, routers, combiners and transformers running in pods.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=sdep,categories=all;seldon
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.replicas`
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.address.url`,priority=1
// +kubebuilder:printcolumn:name="External",type=string,JSONPath=`.status.externalAddress.url`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SeldonDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SeldonDeploymentSpec   `json:"spec"`
	Status SeldonDeploymentStatus `json:"status,omitempty"`
}

// SeldonDeploymentList is a list of SeldonDeployments.
//
// +kubebuilder:object:root=true
type SeldonDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SeldonDeployment `json:"items"`
}

// SeldonDeploymentSpec is the desired state of a SeldonDeployment.
type SeldonDeploymentSpec struct {
	// Name is kept for compatibility; object names derive from metadata.name.
	Name string `json:"name,omitempty"`
	// +kubebuilder:validation:MinItems=1
	Predictors []PredictorSpec `json:"predictors"`
	// OauthKey and OauthSecret belonged to the 0.x API gateway; accepted and unused.
	OauthKey    string            `json:"oauth_key,omitempty"`
	OauthSecret string            `json:"oauth_secret,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Protocol    Protocol          `json:"protocol,omitempty"`
	Transport   Transport         `json:"transport,omitempty"`
	// Replicas is the default for every componentSpec; the scale subresource writes it.
	Replicas   *int32     `json:"replicas,omitempty"`
	ServerType ServerType `json:"serverType,omitempty"`
}

// Protocol is the prediction protocol the executor speaks.
type Protocol string

// Protocols known to Seldon Core 1.x. sdep's executor implements ProtocolSeldon.
const (
	ProtocolSeldon     Protocol = "seldon"
	ProtocolTensorflow Protocol = "tensorflow"
	ProtocolKFServing  Protocol = "kfserving"
	ProtocolV2         Protocol = "v2"
)

// Transport is how the executor calls graph components by default.
type Transport string

// Transports.
const (
	TransportRest Transport = "rest"
	TransportGrpc Transport = "grpc"
)

// ServerType selects request/response serving or Kafka streaming.
type ServerType string

// Server types.
const (
	ServerTypeRPC   ServerType = "rpc"
	ServerTypeKafka ServerType = "kafka"
)

// PredictorSpec is one inference graph with the pods that run it.
type PredictorSpec struct {
	Name  string         `json:"name"`
	Graph PredictiveUnit `json:"graph"`
	// ComponentSpecs become one Deployment each.
	ComponentSpecs []SeldonPodSpec   `json:"componentSpecs,omitempty"`
	Replicas       *int32            `json:"replicas,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	// EngineResources is the 0.x name of svcOrchSpec.resources.
	EngineResources *corev1.ResourceRequirements `json:"engineResources,omitempty"`
	Labels          map[string]string            `json:"labels,omitempty"`
	SvcOrchSpec     *SvcOrchSpec                 `json:"svcOrchSpec,omitempty"`
	// Traffic is this predictor's percentage of requests when there are several.
	Traffic   int32      `json:"traffic,omitempty"`
	Explainer *Explainer `json:"explainer,omitempty"`
	Shadow    bool       `json:"shadow,omitempty"`
	SSL       *SSL       `json:"ssl,omitempty"`
	// ProgressDeadlineSeconds is copied to every Deployment of the predictor.
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// HpaSpecs is the predictor-level autoscaling form of the original
	// "Autoscaling Seldon Deployments" document: autoscaling/v2beta1 shaped
	// HPA specs whose scaleTargetRef.name names a componentSpec's
	// metadata.name. sdep maps each entry onto that componentSpec.
	HpaSpecs []LegacyHpaSpec `json:"hpaSpecs,omitempty"`
}

// SvcOrchSpec configures the executor container.
type SvcOrchSpec struct {
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	Env       []corev1.EnvVar              `json:"env,omitempty"`
	// Replicas applies only when the executor runs in its own pod.
	Replicas *int32 `json:"replicas,omitempty"`
}

// SSL names the secret with the TLS certificate mounted into graph containers.
type SSL struct {
	CertSecretName string `json:"certSecretName,omitempty"`
}

// Explainer is an Alibi explainer served next to the predictor.
type Explainer struct {
	Type                    string            `json:"type,omitempty"`
	ModelURI                string            `json:"modelUri,omitempty"`
	ServiceAccountName      string            `json:"serviceAccountName,omitempty"`
	ContainerSpec           *corev1.Container `json:"containerSpec,omitempty"`
	Config                  map[string]string `json:"config,omitempty"`
	Endpoint                *Endpoint         `json:"endpoint,omitempty"`
	EnvSecretRefName        string            `json:"envSecretRefName,omitempty"`
	StorageInitializerImage string            `json:"storageInitializerImage,omitempty"`
	Replicas                *int32            `json:"replicas,omitempty"`
	InitParameters          string            `json:"initParameters,omitempty"`
}

// SeldonPodSpec is a pod template that becomes one Deployment, with how to
// scale it.
type SeldonPodSpec struct {
	// Metadata names the component (the name is part of the Deployment name)
	// and carries labels and annotations for the Deployment and its pods.
	// +kubebuilder:validation:Optional
	Metadata metav1.ObjectMeta `json:"metadata,omitempty"`
	// +kubebuilder:validation:Optional
	Spec corev1.PodSpec `json:"spec,omitempty"`
	// HpaSpec autoscales this component's Deployment with an autoscaling/v2 HPA.
	HpaSpec *SeldonHpaSpec `json:"hpaSpec,omitempty"`
	// Replicas is the most specific replica setting; ignored when autoscaled.
	Replicas *int32 `json:"replicas,omitempty"`
	// KedaSpec autoscales this component with a KEDA ScaledObject.
	KedaSpec *SeldonScaledObjectSpec `json:"kedaSpec,omitempty"`
	// PdbSpec creates a PodDisruptionBudget for this component's pods.
	PdbSpec *SeldonPdbSpec `json:"pdbSpec,omitempty"`
}

// PredictiveUnitType is the role of a graph node.
type PredictiveUnitType string

// Graph node types.
const (
	UnknownType       PredictiveUnitType = "UNKNOWN_TYPE"
	Router            PredictiveUnitType = "ROUTER"
	Combiner          PredictiveUnitType = "COMBINER"
	Model             PredictiveUnitType = "MODEL"
	Transformer       PredictiveUnitType = "TRANSFORMER"
	OutputTransformer PredictiveUnitType = "OUTPUT_TRANSFORMER"
)

// PredictiveUnitImplementation is a built-in or prepackaged node implementation.
type PredictiveUnitImplementation string

// Built-in implementations run inside the executor; prepackaged servers run
// in a container of their own.
const (
	UnknownImplementation PredictiveUnitImplementation = "UNKNOWN_IMPLEMENTATION"
	SimpleModel           PredictiveUnitImplementation = "SIMPLE_MODEL"
	SimpleRouter          PredictiveUnitImplementation = "SIMPLE_ROUTER"
	RandomABTest          PredictiveUnitImplementation = "RANDOM_ABTEST"
	AverageCombiner       PredictiveUnitImplementation = "AVERAGE_COMBINER"

	SKLearnServer     PredictiveUnitImplementation = "SKLEARN_SERVER"
	XGBoostServer     PredictiveUnitImplementation = "XGBOOST_SERVER"
	TensorflowServer  PredictiveUnitImplementation = "TENSORFLOW_SERVER"
	MLFlowServer      PredictiveUnitImplementation = "MLFLOW_SERVER"
	TritonServer      PredictiveUnitImplementation = "TRITON_SERVER"
	HuggingFaceServer PredictiveUnitImplementation = "HUGGINGFACE_SERVER"
	TempoServer       PredictiveUnitImplementation = "TEMPO_SERVER"
)

// PredictiveUnitMethod is a call a node makes, overriding or extending its type.
type PredictiveUnitMethod string

// Node methods.
const (
	TransformInput  PredictiveUnitMethod = "TRANSFORM_INPUT"
	TransformOutput PredictiveUnitMethod = "TRANSFORM_OUTPUT"
	Route           PredictiveUnitMethod = "ROUTE"
	Aggregate       PredictiveUnitMethod = "AGGREGATE"
	SendFeedback    PredictiveUnitMethod = "SEND_FEEDBACK"
)

// MaxGraphDepth is how many levels deep a graph may nest (the root is level
// 1). Upstream's CRD schema stopped at 10 levels and pruned anything deeper;
// sdep's CRD describes the first 10 levels and preserves deeper ones, and
// the validator rejects graphs deeper than this.
const MaxGraphDepth = 32

// PredictiveUnit is a node of the inference graph.
type PredictiveUnit struct {
	Name string `json:"name"`
	// Children are called after this node; nesting is limited to MaxGraphDepth.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=array
	Children       []PredictiveUnit             `json:"children,omitempty"`
	Type           PredictiveUnitType           `json:"type,omitempty"`
	Implementation PredictiveUnitImplementation `json:"implementation,omitempty"`
	Methods        []PredictiveUnitMethod       `json:"methods,omitempty"`
	Endpoint       *Endpoint                    `json:"endpoint,omitempty"`
	Parameters     []Parameter                  `json:"parameters,omitempty"`
	// ModelURI locates model artefacts for prepackaged servers.
	ModelURI                string  `json:"modelUri,omitempty"`
	ServiceAccountName      string  `json:"serviceAccountName,omitempty"`
	EnvSecretRefName        string  `json:"envSecretRefName,omitempty"`
	StorageInitializerImage string  `json:"storageInitializerImage,omitempty"`
	Logger                  *Logger `json:"logger,omitempty"`
}

// EndpointType is the transport of one graph node.
type EndpointType string

// Endpoint types.
const (
	EndpointREST EndpointType = "REST"
	EndpointGRPC EndpointType = "GRPC"
)

// Endpoint is where the executor reaches a graph node. Defaulting fills it in.
type Endpoint struct {
	ServiceHost string       `json:"service_host,omitempty"`
	ServicePort int32        `json:"service_port,omitempty"`
	Type        EndpointType `json:"type,omitempty"`
	HTTPPort    int32        `json:"httpPort,omitempty"`
	GRPCPort    int32        `json:"grpcPort,omitempty"`
}

// ParameterType is the type of a node parameter's value.
type ParameterType string

// Parameter types.
const (
	ParameterInt    ParameterType = "INT"
	ParameterFloat  ParameterType = "FLOAT"
	ParameterDouble ParameterType = "DOUBLE"
	ParameterString ParameterType = "STRING"
	ParameterBool   ParameterType = "BOOL"
)

// Parameter is passed to a graph node's server (PREDICTIVE_UNIT_PARAMETERS).
type Parameter struct {
	Name  string        `json:"name"`
	Value string        `json:"value"`
	Type  ParameterType `json:"type"`
}

// LoggerMode selects which payloads a node logs.
type LoggerMode string

// Logger modes.
const (
	LogAll      LoggerMode = "all"
	LogRequest  LoggerMode = "request"
	LogResponse LoggerMode = "response"
)

// Logger sends a node's payloads to a URL as CloudEvents.
type Logger struct {
	URL  *string    `json:"url,omitempty"`
	Mode LoggerMode `json:"mode,omitempty"`
}
