package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/document"
	"github.com/sdep-dev/sdep/internal/resources"
)

func init() {
	var files []string
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check SeldonDeployment documents and report every problem",
		Long: `Validate decodes each SeldonDeployment in FILE (JSON or YAML, one document or
a stream, any served apiVersion) strictly, then applies the same defaulting and
validation the operator's webhook and sdep serve use.

A valid document prints one summary line and exits 0; warnings name fields that
are accepted but not acted on yet. An invalid one prints every problem, one per
line as FILE:LINE: FIELD: MESSAGE, and exits 1.`,
		Example: "  sdep validate -f examples/seed-hpaspecs.json\n  cat sdep.yaml | sdep validate -f -",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ok := true
			for _, f := range files {
				if !validateFile(cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.InOrStdin(), f) {
					ok = false
				}
			}
			if !ok {
				return errSilent
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file with SeldonDeployment documents (- for stdin); repeatable")
	cmd.Flags().Var(&configFlag{}, "config", configFlagUsage)
	_ = cmd.MarkFlagRequired("filename")
	addCommand(cmd)
}

// errSilent makes the command exit 1 after it has printed its own report.
var errSilent = errors.New("")

func validateFile(stdout, stderr io.Writer, stdin io.Reader, name string) bool {
	docs, err := document.Load(stderr, stdin, name)
	for _, d := range docs {
		if len(d.Errors) > 0 {
			fmt.Fprintf(stdout, "%s: SeldonDeployment %q is invalid: %d error(s)\n", name, d.Object.Name, len(d.Errors))
			continue
		}
		line, serr := summary(d.Document, len(d.Warnings))
		if serr != nil {
			err = serr
			fmt.Fprintf(stderr, "%s: %v\n", name, serr)
			continue
		}
		fmt.Fprintf(stdout, "%s: %s\n", name, line)
	}
	return err == nil
}

// summary describes a valid document in one line, from what the builders
// decided: the same Deployments and autoscalers render and the operator
// produce.
func summary(d decode.Document, warnings int) (string, error) {
	built, err := resources.Build(d.Object, resources.DefaultOptions())
	if err != nil {
		return "", err
	}
	sd := built.SeldonDeployment
	components := 0
	for _, p := range sd.Spec.Predictors {
		components += len(p.ComponentSpecs)
	}
	var scaled []string
	for _, c := range built.Components {
		switch {
		case c.HPA != nil:
			scaled = append(scaled, c.Deployment.Name+" "+hpaRange(c.Replicas, c.HPA.Spec.Metrics))
		case c.Replicas.AutoscaledBy == resources.KindScaledObject:
			scaled = append(scaled, c.Deployment.Name+" by KEDA")
		}
	}
	s := fmt.Sprintf("SeldonDeployment %q (%s) is valid: %s, %s", sd.Name, d.APIVersion,
		plural(len(sd.Spec.Predictors), "predictor"), plural(components, "component"))
	if len(scaled) > 0 {
		s += "; autoscaled: " + strings.Join(scaled, ", ")
	}
	if warnings > 0 {
		s += fmt.Sprintf(" (%s)", plural(warnings, "warning"))
	}
	return s, nil
}

// hpaRange describes an HPA's bounds and targets: "1-4 replicas on cpu 10%".
func hpaRange(rp resources.ReplicaPolicy, metrics []autoscalingv2.MetricSpec) string {
	var targets []string
	for _, m := range metrics {
		if m.Resource != nil && m.Resource.Target.AverageUtilization != nil {
			targets = append(targets, fmt.Sprintf("%s %d%%", m.Resource.Name, *m.Resource.Target.AverageUtilization))
		} else {
			targets = append(targets, string(m.Type))
		}
	}
	if len(targets) == 0 {
		targets = []string{"cpu 80% (the HPA default)"}
	}
	return fmt.Sprintf("%d-%d replicas on %s", rp.Min, rp.Max, strings.Join(targets, ", "))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
