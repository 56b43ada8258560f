// Command chartcheck reads rendered Kubernetes manifests (helm template's
// output) on stdin and fails unless every document is an object with an
// apiVersion, a kind and a name, every object of a kind client-go knows
// decodes strictly into its type (a misspelt or misplaced field is an
// error), and every kind given with -kinds is present.
//
//	helm template sdep charts/sdep | go run ./chartcheck -kinds Deployment,Service
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

func main() {
	kinds := flag.String("kinds", "", "comma-separated kinds that must be present, e.g. Deployment,ClusterRole")
	absent := flag.String("absent", "", "comma-separated kinds that must not be present")
	flag.Parse()
	if err := check(os.Stdin, split(*kinds), split(*absent)); err != nil {
		fmt.Fprintln(os.Stderr, "chartcheck:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func check(in io.Reader, want, absent []string) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(in))
	seen := map[string]int{}
	var errs []error
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", n, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			errs = append(errs, fmt.Errorf("document %d does not parse: %w", n, err))
			continue
		}
		gvk := u.GroupVersionKind()
		id := fmt.Sprintf("document %d (%s %s)", n, gvk.Kind, u.GetName())
		if gvk.Kind == "" || gvk.Version == "" || u.GetName() == "" {
			errs = append(errs, fmt.Errorf("%s: apiVersion, kind and metadata.name are required", id))
			continue
		}
		seen[gvk.Kind]++
		if typed, err := scheme.Scheme.New(gvk); err == nil {
			if err := yaml.UnmarshalStrict(doc, typed); err != nil {
				errs = append(errs, fmt.Errorf("%s does not decode as %s: %w", id, gvk, err))
			}
		}
	}
	for _, k := range want {
		if seen[k] == 0 {
			errs = append(errs, fmt.Errorf("no %s rendered (rendered: %s)", k, kindList(seen)))
		}
	}
	for _, k := range absent {
		if seen[k] != 0 {
			errs = append(errs, fmt.Errorf("%d %s rendered, want none", seen[k], k))
		}
	}
	if len(errs) == 0 {
		fmt.Printf("chartcheck: %s\n", kindList(seen))
	}
	return errors.Join(errs...)
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

func kindList(seen map[string]int) string {
	var ks []string
	for k, n := range seen {
		ks = append(ks, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}
