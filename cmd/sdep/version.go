package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/sdep-dev/sdep/internal/version"
)

func init() { addCommand(newVersionCommand()) }

func newVersionCommand() *cobra.Command {
	var short bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the sdep version and the commit it was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if short {
				_, err := fmt.Fprintln(out, version.Version)
				return err
			}
			_, err := fmt.Fprintf(out, "sdep %s\ncommit: %s\ngo: %s %s/%s\n",
				version.Version, version.Revision(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
	c.Flags().BoolVar(&short, "short", false, "print only the version")
	return c
}
