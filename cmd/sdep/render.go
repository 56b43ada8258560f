package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sdep-dev/sdep/internal/document"
	"github.com/sdep-dev/sdep/internal/resources"
)

func init() {
	var (
		files         []string
		namespace     string
		executorImage string
	)
	cmd := &cobra.Command{
		Use:   "render -f FILE",
		Short: "Print the Kubernetes objects the operator would create",
		Long: `Render validates each SeldonDeployment in FILE and prints the objects the
operator creates for it (Deployments, Services, HorizontalPodAutoscalers,
PodDisruptionBudgets, KEDA ScaledObjects) as one YAML stream that
kubectl apply -f - accepts. Rendered objects carry no owner references: they
belong to no SeldonDeployment object in a cluster.`,
		Example: "  sdep render -f examples/seed-hpaspecs.json\n  sdep render -f sdep.yaml --namespace models | kubectl apply -f -",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := resources.DefaultOptions()
			if executorImage != "" {
				opts.ExecutorImage = executorImage
			}
			for _, f := range files {
				docs, err := document.Load(cmd.ErrOrStderr(), cmd.InOrStdin(), f)
				if err != nil {
					return errSilent
				}
				for _, d := range docs {
					if namespace != "" {
						d.Object.Namespace = namespace
					}
					built, err := resources.Build(d.Object, opts)
					if err != nil {
						return fmt.Errorf("%s: %w", f, err)
					}
					out, err := built.YAML()
					if err != nil {
						return err
					}
					if _, err := cmd.OutOrStdout().Write(out); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file with SeldonDeployment documents (- for stdin); repeatable")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of the rendered objects (default: the document's, else default)")
	cmd.Flags().Var(&configFlag{}, "config", configFlagUsage)
	cmd.Flags().StringVar(&executorImage, "executor-image", "", "image of the injected executor container (default sdep:<version>)")
	_ = cmd.MarkFlagRequired("filename")
	addCommand(cmd)
}
