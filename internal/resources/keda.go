package resources

import (
	"encoding/json"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
)

// KEDA's ScaledObject API. sdep does not import KEDA's Go module; it writes
// the object as unstructured content.
const (
	KedaAPIVersion   = "keda.sh/v1alpha1"
	KindScaledObject = "ScaledObject"
)

// scaledObject is the part of KEDA's ScaledObject sdep writes.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              scaledObjectSpec `json:"spec"`
}

type scaledObjectSpec struct {
	ScaleTargetRef   autoscalingv2.CrossVersionObjectReference `json:"scaleTargetRef"`
	PollingInterval  *int32                                    `json:"pollingInterval,omitempty"`
	CooldownPeriod   *int32                                    `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount *int32                                    `json:"idleReplicaCount,omitempty"`
	MinReplicaCount  *int32                                    `json:"minReplicaCount,omitempty"`
	MaxReplicaCount  *int32                                    `json:"maxReplicaCount,omitempty"`
	Advanced         *sdepv1.KedaAdvancedConfig                `json:"advanced,omitempty"`
	Triggers         []sdepv1.KedaScaleTrigger                 `json:"triggers"`
	Fallback         *sdepv1.KedaFallback                      `json:"fallback,omitempty"`
}

// MakeScaledObject builds the KEDA ScaledObject of componentSpecs[j] of
// predictor p, named as and aimed at its Deployment, with the kedaSpec's
// fields copied into its spec; nil when the componentSpec has no kedaSpec.
func MakeScaledObject(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, j int) (*unstructured.Unstructured, error) {
	k := p.ComponentSpecs[j].KedaSpec
	if k == nil {
		return nil, nil
	}
	k = k.DeepCopy()
	name := naming.DeploymentName(sd, p, j)
	so := scaledObject{
		TypeMeta:   metav1.TypeMeta{APIVersion: KedaAPIVersion, Kind: KindScaledObject},
		ObjectMeta: objectMeta(sd, name, seldonIDLabels(sd), nil),
		Spec: scaledObjectSpec{
			ScaleTargetRef:   deploymentRef(name),
			PollingInterval:  k.PollingInterval,
			CooldownPeriod:   k.CooldownPeriod,
			IdleReplicaCount: k.IdleReplicaCount,
			MinReplicaCount:  k.MinReplicaCount,
			MaxReplicaCount:  k.MaxReplicaCount,
			Advanced:         k.Advanced,
			Triggers:         k.Triggers,
			Fallback:         k.Fallback,
		},
	}
	data, err := json.Marshal(so)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return u, nil
}
