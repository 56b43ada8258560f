// Package naming derives the names of the Kubernetes objects a
// SeldonDeployment owns. The rules are Seldon Core 1.x's, so that objects,
// HPAs and dashboards keep the names users already know: a name longer than
// 63 characters becomes "seldon-" and the MD5 of the long name.
package naming

import (
	"crypto/md5" //nolint:gosec // upstream's naming rule, not a security use
	"encoding/hex"
	"strconv"
	"strings"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// MaxNameLength is the DNS label limit object names and label values obey.
const MaxNameLength = 63

// Label keys and values on owned objects.
const (
	LabelSeldonID           = "seldon-deployment-id"
	LabelSeldonApp          = "seldon-app"
	LabelContainsSvcOrch    = "seldon-deployment-contains-svcorch"
	LabelApp                = "app"
	LabelFluentd            = "fluentd"
	LabelVersion            = "version"
	LabelManagedBy          = "app.kubernetes.io/managed-by"
	ManagedByValue          = "seldon-core"
	LabelSeldonAppSvcPrefix = "seldon-app-svc-"

	// AnnotationServiceName overrides a predictor's Service name.
	AnnotationServiceName = "seldon.io/svc-name"
)

// Fit returns name, or "seldon-<md5 of name>" when name is longer than 63.
func Fit(name string) string {
	if len(name) <= MaxNameLength {
		return name
	}
	sum := md5.Sum([]byte(name)) //nolint:gosec // naming, not security
	return "seldon-" + hex.EncodeToString(sum[:])
}

// SeldonID is the value of the seldon-deployment-id label.
func SeldonID(sd *sdepv1.SeldonDeployment) string { return Fit(sd.Name) }

// ComponentName is what the Deployment name of componentSpec j ends with:
// its metadata.name, else its container names joined by "-".
func ComponentName(cs *sdepv1.SeldonPodSpec) string {
	if cs.Metadata.Name != "" {
		return cs.Metadata.Name
	}
	names := make([]string, len(cs.Spec.Containers))
	for i, c := range cs.Spec.Containers {
		names[i] = c.Name
	}
	return strings.Join(names, "-")
}

// DeploymentName names the Deployment of componentSpecs[j] of predictor p;
// its HPA, ScaledObject and PodDisruptionBudget share the name.
func DeploymentName(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, j int) string {
	return Fit(sd.Name + "-" + p.Name + "-" + strconv.Itoa(j) + "-" + ComponentName(&p.ComponentSpecs[j]))
}

// PredictorServiceName names the Service in front of predictor p's executor.
func PredictorServiceName(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec) string {
	if v := p.Annotations[AnnotationServiceName]; v != "" {
		return v
	}
	return Fit(sd.Name + "-" + p.Name)
}

// ContainerServiceName names the Service in front of one graph container.
func ContainerServiceName(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, container string) string {
	return Fit(sd.Name + "-" + p.Name + "-" + container)
}
