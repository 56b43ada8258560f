//go:build nodev

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// The container image's sdep is built with -tags nodev: `sdep dev cluster`
// runs a control plane from binaries a pod does not have, and the test
// harness it links (controller-runtime's envtest) creates a cache folder
// when the program starts, which fails in a container whose root
// filesystem is read-only.
func init() {
	dev := &cobra.Command{Use: "dev", Short: "Developer tools (not in this build)"}
	dev.AddCommand(&cobra.Command{
		Use:   "cluster",
		Short: "Run a local Kubernetes control plane (not in this build)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("this sdep was built without the dev cluster (-tags nodev, as in the container image); " +
				"build sdep from source (make build) to run sdep dev cluster")
		},
	})
	addCommand(dev)
}
