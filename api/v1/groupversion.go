package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is the API group of every SeldonDeployment version.
const Group = "machinelearning.seldon.io"

var (
	// GroupVersion is the storage version, machinelearning.seldon.io/v1.
	GroupVersion = schema.GroupVersion{Group: Group, Version: "v1"}

	// SchemeBuilder registers the v1 types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the v1 types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// ServedVersions lists every apiVersion sdep accepts for a SeldonDeployment.
// All of them share this package's schema.
var ServedVersions = []string{"v1", "v1alpha3", "v1alpha2"}

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &SeldonDeployment{}, &SeldonDeploymentList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
