// Package testenv is the shared harness for tests that run on a real
// control plane, and for `sdep dev cluster`: polling with a deadline
// (WaitFor, Poll), the operator and its validating webhook started in this
// process against any rest.Config (StartOperator, RunOperator), and the
// control-plane binaries built at the apiserver's version (BinDir,
// Kubectl).
//
// It is meant as the home of test environments: the control planes
// themselves (internal/devcluster, envtest) are started by the suites, and
// harnesses with real nodes belong here too.
package testenv
