// Package testenv is the shared harness for tests that run on a real
// control plane, and for `sdep dev cluster`:
//
//   - polling with a deadline: WaitFor and WaitForExplained for tests,
//     Poll for code that returns errors;
//   - the operator and its validating webhook running in this process
//     against any rest.Config, in one namespace or cluster-wide:
//     StartOperator, and RunOperator for tests;
//   - the control-plane binaries, all built at the apiserver's version:
//     BinDir, KubectlPath and Kubectl;
//   - the background processes a test environment runs (control-plane
//     components today, node agents later): StartProcess.
//
// It is the home of test environments. internal/devcluster (a whole
// control plane with a fake node) builds on it; harnesses with real nodes
// belong here too. It must not import internal/devcluster.
package testenv

// TB is the part of testing.TB the harness calls. It is declared here, not
// imported, so that the sdep binary, which runs this harness as `sdep dev
// cluster`, does not link the testing package; every *testing.T satisfies it.
type TB interface {
	Helper()
	Error(args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}
