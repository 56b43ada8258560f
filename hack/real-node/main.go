//go:build linux

// Command real-node starts a real single-node Kubernetes on this machine
// (testenv.StartRealNode: containerd, kubelet, kube-proxy, metrics-server
// as a pod), prints how to use it, and tears it down on Ctrl-C, checking
// that the host is left as it was. It needs root.
//
//	go run ./hack/real-node up [-image tarball=ref ...]   (or: make real-node)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sdep-dev/sdep/internal/testenv"
)

// imageFlags collects -image tarball[=ref] flags.
type imageFlags []testenv.Image

func (f *imageFlags) String() string { return fmt.Sprint(*f) }

func (f *imageFlags) Set(v string) error {
	tarball, ref, _ := strings.Cut(v, "=")
	if tarball == "" {
		return errors.New("-image: want tarball or tarball=ref")
	}
	*f = append(*f, testenv.Image{Tarball: tarball, Ref: ref})
	return nil
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "up" {
		fmt.Fprintln(os.Stderr, "usage: go run ./hack/real-node up [-dir D] [-image tarball[=ref]]...\n"+
			"Starts a real node and stops it on Ctrl-C (the node lives as long as this command).")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := fs.String("dir", "", "folder for certificates, state and logs (default: a new temporary folder)")
	var images imageFlags
	fs.Var(&images, "image", "an image tarball to import, optionally named: tarball=ref (repeatable)")
	_ = fs.Parse(os.Args[2:])
	if err := up(*dir, images); err != nil {
		fmt.Fprintln(os.Stderr, "real-node:", err)
		os.Exit(1)
	}
}

func up(dir string, images []testenv.Image) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "sdep-real-node-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	pause, metricsServer, err := testenv.NodeImages(work, ".")
	if err != nil {
		return fmt.Errorf("%w (run from the repository root)", err)
	}
	node, err := testenv.StartRealNode(ctx, testenv.RealNodeOptions{
		Dir:           dir,
		Pause:         pause,
		MetricsServer: metricsServer,
		Images:        images,
		Log:           os.Stderr,
	})
	if err != nil {
		return err
	}
	fmt.Printf(`
Real node %s (%s) is up. In another shell:

  export KUBECONFIG=%s
  %s get nodes -o wide
  %s top pods -A

Import more images with:
  ctr --address /run/containerd/containerd.sock -n k8s.io images import <tarball>
and use them with imagePullPolicy: Never (nothing is pulled).
Logs: %s
Press Ctrl-C to tear it down.
`, node.NodeName, node.NodeIP, node.Kubeconfig, kubectl(), kubectl(), filepath.Join(node.Dir, "logs"))
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "real-node: tearing down")
	start := time.Now()
	if err := node.Stop(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "real-node: down in %s; the host is as it was\n", time.Since(start).Round(10*time.Millisecond))
	return nil
}

func kubectl() string {
	if p, err := testenv.KubectlPath(); err == nil {
		return p
	}
	return "kubectl"
}
