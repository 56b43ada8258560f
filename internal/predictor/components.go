package predictor

import (
	corev1 "k8s.io/api/core/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// FindContainer returns the componentSpec index and the container named
// name in predictor p, or -1 and nil. A graph node's container is the one
// with the node's name.
func FindContainer(p *sdepv1.PredictorSpec, name string) (int, *corev1.Container) {
	for j := range p.ComponentSpecs {
		for k := range p.ComponentSpecs[j].Spec.Containers {
			if p.ComponentSpecs[j].Spec.Containers[k].Name == name {
				return j, &p.ComponentSpecs[j].Spec.Containers[k]
			}
		}
	}
	return -1, nil
}

// ComponentsNamed counts the componentSpecs whose metadata.name is name;
// the empty name matches none.
func ComponentsNamed(p *sdepv1.PredictorSpec, name string) int {
	if name == "" {
		return 0
	}
	n := 0
	for j := range p.ComponentSpecs {
		if p.ComponentSpecs[j].Metadata.Name == name {
			n++
		}
	}
	return n
}

// ComponentByName returns the index of the only componentSpec with that
// metadata.name, or -1 when there is none or more than one.
func ComponentByName(p *sdepv1.PredictorSpec, name string) int {
	if ComponentsNamed(p, name) != 1 {
		return -1
	}
	for j := range p.ComponentSpecs {
		if p.ComponentSpecs[j].Metadata.Name == name {
			return j
		}
	}
	return -1
}

// Images maps each container name of the predictor to its image.
func Images(p *sdepv1.PredictorSpec) map[string]string {
	out := map[string]string{}
	for _, cs := range p.ComponentSpecs {
		for _, c := range cs.Spec.Containers {
			out[c.Name] = c.Image
		}
	}
	return out
}
