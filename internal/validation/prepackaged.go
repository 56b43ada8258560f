package validation

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/servers"
)

// addServerContainers gives every prepackaged-server node without a
// container of its name one, as Seldon Core's defaulting does: a container
// named after the node, appended to componentSpecs[0] in graph order (a
// new componentSpec when the predictor has none). Its image, environment,
// ports and probes come from the builders and the server table.
func addServerContainers(p *sdepv1.PredictorSpec) {
	walkGraph(&p.Graph, func(n *sdepv1.PredictiveUnit) {
		if !predictor.IsPrepackaged(n.Implementation) || n.Name == "" {
			return
		}
		if _, c := predictor.FindContainer(p, n.Name); c != nil {
			return
		}
		if len(p.ComponentSpecs) == 0 {
			p.ComponentSpecs = append(p.ComponentSpecs, sdepv1.SeldonPodSpec{})
		}
		cs := &p.ComponentSpecs[0]
		cs.Spec.Containers = append(cs.Spec.Containers, corev1.Container{Name: n.Name})
	})
}

// dropEmptyComponentSpecs removes componentSpecs that have no containers
// and nothing else that needs a Deployment (autoscaler, disruption budget):
// upstream admits them and then fails to reconcile; sdep treats them as
// absent (Validate warns).
func dropEmptyComponentSpecs(p *sdepv1.PredictorSpec) {
	kept := p.ComponentSpecs[:0]
	for _, cs := range p.ComponentSpecs {
		if len(cs.Spec.Containers) == 0 && emptyDroppable(&cs) {
			continue
		}
		kept = append(kept, cs)
	}
	if len(kept) == 0 {
		kept = nil
	}
	p.ComponentSpecs = kept
}

func emptyDroppable(cs *sdepv1.SeldonPodSpec) bool {
	return cs.HpaSpec == nil && cs.KedaSpec == nil && cs.PdbSpec == nil
}

// fillsFirstComponent reports whether defaulting will add a server
// container to componentSpecs[0].
func fillsFirstComponent(p *sdepv1.PredictorSpec) bool {
	fills := false
	walkGraph(&p.Graph, func(n *sdepv1.PredictiveUnit) {
		if predictor.IsPrepackaged(n.Implementation) && n.Name != "" {
			if _, c := predictor.FindContainer(p, n.Name); c == nil {
				fills = true
			}
		}
	})
	return fills
}

// emptyComponentSpec reports a componentSpec without containers: an error
// when it carries an autoscaler or a disruption budget (they need pods),
// else a warning that it is left out.
func (v *validator) emptyComponentSpec(field string, p *sdepv1.PredictorSpec, j int) {
	cs := &p.ComponentSpecs[j]
	if j == 0 && fillsFirstComponent(p) {
		return
	}
	if !emptyDroppable(cs) {
		v.fail(field+".spec.containers", "a componentSpec needs at least one container: its hpaSpec, kedaSpec or pdbSpec acts on its pods")
		return
	}
	v.warn(field+".spec.containers", "empty: sdep leaves this componentSpec out, as if it were not written (Seldon Core admits it and then fails to reconcile)")
}

var tensorflowIncompatible = map[sdepv1.PredictiveUnitImplementation]bool{
	sdepv1.SKLearnServer: true, sdepv1.XGBoostServer: true, sdepv1.MLFlowServer: true, sdepv1.HuggingFaceServer: true,
}

// serverTable is the table the policy names, else the compiled-in one.
func (v *validator) serverTable() *servers.Config {
	return v.policy.Servers.Current()
}

// prepackaged checks a prepackaged-server node with Seldon Core's rules
// and messages, plus one of sdep's own: a server with no image for the
// document's protocol is refused here rather than left to fail at the API
// server with an empty image.
func (v *validator) prepackaged(field string, n *sdepv1.PredictiveUnit, c *corev1.Container) {
	if n.ModelURI == "" && n.Implementation != sdepv1.HuggingFaceServer {
		v.fail(field+".modelUri", "Predictive unit modelUri required when using standalone servers")
	}
	protocol := v.sd.Spec.Protocol
	if protocol == sdepv1.ProtocolTensorflow && tensorflowIncompatible[n.Implementation] {
		v.fail(field+".implementation", "Prepackaged server does not handle tensorflow protocol %s", n.Implementation)
		return
	}
	if c == nil && n.Name == ExecutorContainerName {
		v.fail(field+".name", "%q is reserved for the executor sdep injects, and the server's container would take the node's name: rename the node", n.Name)
		return
	}
	if c == nil && n.Name != "" && !dnsLabel.MatchString(n.Name) {
		v.fail(field+".name", "%q cannot name the server's container sdep adds: use lowercase letters, digits and '-', starting and ending with a letter or digit", n.Name)
	}
	if c != nil && c.Image != "" {
		return // the user's image serves it
	}
	table := v.serverTable()
	entry, ok := table.Lookup(string(n.Implementation))
	if !ok {
		v.fail(field+".implementation", "No entry in predictors map for %s: add it to predictor_servers of the %s ConfigMap (or the --config file), or give the container %q an image",
			n.Implementation, servers.ConfigMapName, n.Name)
		return
	}
	want := string(protocol)
	if n.Implementation == sdepv1.TensorflowServer && protocol != sdepv1.ProtocolTensorflow {
		// The proxy needs both its own image and TF Serving's.
		if entry.Image(servers.ProtocolTensorflow) == "" {
			v.fail(field+".implementation", "%s has no %q image in predictor_servers for its TF Serving sidecar: add one", n.Implementation, servers.ProtocolTensorflow)
		}
	}
	if entry.Image(want) == "" {
		if want == "" {
			want = servers.ProtocolSeldon
		}
		v.fail(field+".implementation", "%s has no image for protocol %q in predictor_servers (it has %s): set spec.protocol to one of those, add the protocol to the table, or give the container %q an image",
			n.Implementation, want, protocolList(entry), n.Name)
	}
}

func protocolList(s servers.Server) string {
	if len(s.Protocols) == 0 {
		return "none"
	}
	out := ""
	for _, k := range []string{servers.ProtocolSeldon, servers.ProtocolTensorflow, servers.ProtocolKFServing, servers.ProtocolV2} {
		if _, ok := s.Protocols[k]; ok {
			if out != "" {
				out += ", "
			}
			out += k
		}
	}
	if out == "" {
		return fmt.Sprintf("%d unknown protocol keys", len(s.Protocols))
	}
	return out
}

// explainerTypesV2 are the types MLServer's Alibi runtime serves.
var explainerTypesV2 = map[string]bool{
	"AnchorTabular": true, "AnchorImages": true, "AnchorText": true, "Counterfactuals": true,
	"Contrastive": true, "KernelShap": true, "IntegratedGradients": true, "ALE": true, "TreeShap": true,
}

func (v *validator) explainer(field string, e *sdepv1.Explainer) {
	if e.Type == "" {
		v.warn(field+".type", "empty: no explainer is deployed (set type, e.g. AnchorTabular)")
		return
	}
	p := v.sd.Spec.Protocol
	if (p == sdepv1.ProtocolV2 || p == sdepv1.ProtocolKFServing) && !explainerTypesV2[e.Type] {
		v.fail(field+".type", "%s not supported: under protocol %s use AnchorTabular, AnchorImages, AnchorText, Counterfactuals, Contrastive, KernelShap, IntegratedGradients, ALE or TreeShap", e.Type, p)
	}
	if e.InitParameters != "" && !json.Valid([]byte(e.InitParameters)) {
		v.fail(field+".initParameters", "not valid JSON: it is passed to the explainer verbatim")
	}
}

// explicitEndpoint reports whether n says where it is served.
func explicitEndpoint(n *sdepv1.PredictiveUnit) bool {
	return n.Endpoint != nil && n.Endpoint.ServiceHost != "" && n.Endpoint.ServicePort != 0
}

// servesPrepackaged reports whether the container named name runs a
// prepackaged server of p's graph (the builders give it a cpu request).
func servesPrepackaged(p *sdepv1.PredictorSpec, name string) bool {
	found := false
	walkGraph(&p.Graph, func(n *sdepv1.PredictiveUnit) {
		if n.Name == name && predictor.IsPrepackaged(n.Implementation) {
			found = true
		}
	})
	return found
}
