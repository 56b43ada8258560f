// Command sdep serves and autoscales SeldonDeployment inference graphs: on
// Kubernetes (sdep operator) or on one machine (sdep serve).
//
// Each subcommand lives in its own file and registers itself with
// addCommand from an init function; main only runs the root command.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sdep-dev/sdep/internal/version"
)

var root = &cobra.Command{
	Use:           "sdep",
	Short:         "Serve and autoscale SeldonDeployment inference graphs",
	Version:       version.Version,
	SilenceUsage:  true,
	SilenceErrors: true,
}

// addCommand registers a subcommand; called from init functions.
func addCommand(c *cobra.Command) { root.AddCommand(c) }

func main() {
	if err := root.Execute(); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		os.Exit(1)
	}
}
