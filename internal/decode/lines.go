package decode

import (
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

var pathSegment = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]|\[([^\]]+)\]`)

// lineOf returns the input line of the field at path (e.g.
// spec.predictors[0].graph.name), or of the closest enclosing field that
// exists, or the document start.
func (c chunk) lineOf(path string) int {
	if line := findLine(c.tree.root(), path, false); line > 0 {
		return line + c.startLine - 1
	}
	return c.startLine
}

// lineOfLoose is lineOf for paths without list indices
// (spec.predictors.componentSpecs.replicas): the first match wins.
func (c chunk) lineOfLoose(path string) int {
	if line := findLine(c.tree.root(), path, true); line > 0 {
		return line + c.startLine - 1
	}
	return c.startLine
}

type segment struct {
	key   string
	index int // -1 for a key
}

func parsePath(path string) []segment {
	var segs []segment
	for _, m := range pathSegment.FindAllStringSubmatch(path, -1) {
		switch {
		case m[2] != "":
			i, _ := strconv.Atoi(m[2])
			segs = append(segs, segment{index: i})
		case m[3] != "": // a map key with dots: annotations[seldon.io/svc-name]
			segs = append(segs, segment{key: m[3], index: -1})
		default:
			segs = append(segs, segment{key: m[1], index: -1})
		}
	}
	return segs
}

func findLine(root *yaml.Node, path string, loose bool) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	return walk(n, parsePath(path), loose, n.Line)
}

// walk descends node along segs and returns the line of the deepest node
// reached; best is the line of the closest ancestor found so far.
func walk(node *yaml.Node, segs []segment, loose bool, best int) int {
	if len(segs) == 0 {
		return best
	}
	seg := segs[0]
	switch node.Kind {
	case yaml.MappingNode:
		if seg.index >= 0 {
			return best
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == seg.key {
				return walk(node.Content[i+1], segs[1:], loose, node.Content[i].Line)
			}
		}
	case yaml.SequenceNode:
		if seg.index >= 0 {
			if seg.index < len(node.Content) {
				return walk(node.Content[seg.index], segs[1:], loose, node.Content[seg.index].Line)
			}
			return best
		}
		if loose {
			for _, item := range node.Content {
				if line := walk(item, segs, loose, 0); line > 0 {
					return line
				}
			}
		}
	}
	return best
}
