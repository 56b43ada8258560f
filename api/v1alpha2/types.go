// Package v1alpha2 serves the SeldonDeployment API under machinelearning.seldon.io/v1alpha2.
// Its schema is the v1 schema: the types embed v1's spec and status, so the
// API server converts between versions by rewriting apiVersion only.
//
// +kubebuilder:object:generate=true
// +groupName=machinelearning.seldon.io
package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// SeldonDeployment is the v1alpha2 form of the v1 SeldonDeployment.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=sdep,categories=all;seldon
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.replicas`
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.address.url`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SeldonDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   sdepv1.SeldonDeploymentSpec   `json:"spec"`
	Status sdepv1.SeldonDeploymentStatus `json:"status,omitempty"`
}

// SeldonDeploymentList is a list of v1alpha2 SeldonDeployments.
//
// +kubebuilder:object:root=true
type SeldonDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SeldonDeployment `json:"items"`
}
