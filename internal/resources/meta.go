package resources

import (
	"crypto/md5" //nolint:gosec // shortens a label key, not a security use
	"encoding/hex"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
)

// Labels and annotations the builders write besides those in naming.
const (
	// LabelShadow marks the pods of a shadow predictor.
	LabelShadow = "seldon.io/shadow"
	// AnnotationHeadlessService makes a predictor's Service headless when "true".
	AnnotationHeadlessService = "seldon.io/headless-svc"
	// AnnotationPrometheusPath and AnnotationPrometheusScrape tell Prometheus
	// where to scrape a pod; a user's own value wins.
	AnnotationPrometheusPath   = "prometheus.io/path"
	AnnotationPrometheusScrape = "prometheus.io/scrape"
)

// nodeTypeLabels maps a graph node type to the label its pods and Service carry.
var nodeTypeLabels = map[sdepv1.PredictiveUnitType]string{
	sdepv1.Model:             "seldon.io/model",
	sdepv1.Router:            "seldon.io/router",
	sdepv1.Combiner:          "seldon.io/combiner",
	sdepv1.Transformer:       "seldon.io/transformer",
	sdepv1.OutputTransformer: "seldon.io/output-transformer",
}

// ContainerServiceLabel is the label key, seldon-app-svc-<container>, that
// ties a graph container's pods to its Service. A label key's name part may
// have at most 63 characters, so a container name longer than 48 is
// replaced by its MD5 (upstream produced an invalid key).
func ContainerServiceLabel(container string) string {
	key := naming.LabelSeldonAppSvcPrefix + container
	if len(key) <= naming.MaxNameLength {
		return key
	}
	sum := md5.Sum([]byte(container)) //nolint:gosec // naming, not security
	return naming.LabelSeldonAppSvcPrefix + hex.EncodeToString(sum[:])
}

// ownerReferences makes sd the controller of an object. A document being
// rendered from a file has no UID, and the API server rejects an owner
// reference with an empty uid, so there is none until sd has been stored.
func ownerReferences(sd *sdepv1.SeldonDeployment) []metav1.OwnerReference {
	if sd.UID == "" {
		return nil
	}
	return []metav1.OwnerReference{{
		APIVersion:         sdepv1.GroupVersion.String(),
		Kind:               "SeldonDeployment",
		Name:               sd.Name,
		UID:                sd.UID,
		Controller:         new(true),
		BlockOwnerDeletion: new(true),
	}}
}

func objectMeta(sd *sdepv1.SeldonDeployment, name string, labels, annotations map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       sd.Namespace,
		Labels:          labels,
		Annotations:     annotations,
		OwnerReferences: ownerReferences(sd),
	}
}

// seldonIDLabels is the one label every owned object carries.
func seldonIDLabels(sd *sdepv1.SeldonDeployment) map[string]string {
	return map[string]string{naming.LabelSeldonID: naming.SeldonID(sd)}
}

// selectorLabels select the pods of one Deployment, and only those.
func selectorLabels(sd *sdepv1.SeldonDeployment, deployment string) map[string]string {
	return map[string]string{
		naming.LabelSeldonID: naming.SeldonID(sd),
		naming.LabelApp:      deployment,
	}
}

// graphNodes indexes predictor p's graph by node name; with duplicate names
// (invalid) the first in depth-first order wins.
func graphNodes(p *sdepv1.PredictorSpec) map[string]*sdepv1.PredictiveUnit {
	nodes := map[string]*sdepv1.PredictiveUnit{}
	predictor.Walk(&p.Graph, "graph", func(_ string, n *sdepv1.PredictiveUnit) {
		if _, seen := nodes[n.Name]; !seen {
			nodes[n.Name] = n
		}
	})
	return nodes
}

// merge returns the union of maps, later ones winning; nil when all are empty.
func merge(maps ...map[string]string) map[string]string {
	var out map[string]string
	for _, m := range maps {
		for k, v := range m {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}
