package main

import (
	"github.com/sdep-dev/sdep/internal/servers"
)

// configFlag is the --config FILE flag of render, validate and serve: a
// prepackaged-server table in the seldon-config ConfigMap's shape. Reading
// it when the flag is parsed makes it the process's table, so every
// validation and build of the command uses it.
type configFlag struct{ path string }

func (f *configFlag) String() string { return f.path }
func (f *configFlag) Type() string   { return "FILE" }
func (f *configFlag) Set(path string) error {
	c, err := servers.ReadFile(path)
	if err != nil {
		return err
	}
	f.path = path
	servers.SetProcessTable(c)
	return nil
}

// configFlagUsage describes --config.
const configFlagUsage = "prepackaged-server table: a seldon-config ConfigMap, or an object with its keys predictor_servers, storageInitializer, explainer (default: Seldon Core 1.18.2's)"
