//go:build linux

package testenv

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stopTimeout bounds the whole of Stop.
const stopTimeout = 3 * time.Minute

// Stop deletes the pods, stops every process, removes what the node left
// on the host (mounts, network namespaces, the bridge and veth links,
// iptables tables and rules, cgroups, folders) and puts back the sysctls
// it changed. It returns an error listing whatever still differs from the
// state recorded before the node started; the node's folder is then kept
// for its logs, otherwise removed (when StartRealNode made it). Calls
// after the first return nil.
func (n *RealNode) Stop() error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	n.phaseAt = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	var errs []error
	running := func(name string) bool { p := n.procs[name]; return p != nil && p.Exited() == nil }

	// Nothing may recreate or place pods while they are deleted.
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		errs = append(errs, n.stopProcess(name))
	}
	if running("kubelet") && running("kube-apiserver") {
		errs = append(errs, n.deletePods(ctx))
	}
	proxyStarted := n.procs["kube-proxy"] != nil
	errs = append(errs, n.stopProcess("kube-proxy"))
	if proxyStarted {
		// kube-proxy removes its own iptables (and nftables) rules.
		if out, err := run(ctx, filepath.Join(n.bin, "kube-proxy"), "--cleanup"); err != nil {
			errs = append(errs, fmt.Errorf("kube-proxy --cleanup: %w\n%s", err, out))
		}
	}
	errs = append(errs, n.stopProcess("kubelet"))
	if running("containerd") {
		errs = append(errs, n.removeContainers(ctx))
	}
	for i := len(n.order) - 1; i >= 0; i-- {
		errs = append(errs, n.stopProcess(n.order[i]))
	}
	if n.base != nil {
		errs = append(errs, deleteGuard(ctx, n.guard))
		errs = append(errs, restoreHost(ctx, n.base, n.Dir)...)
		after, err := recordHost(ctx)
		if err != nil {
			errs = append(errs, err)
		} else if d := n.base.diff(after); len(d) > 0 {
			errs = append(errs, fmt.Errorf("the host differs from before the node started:\n  %s", strings.Join(d, "\n  ")))
		}
	}
	n.phase("teardown")
	err := errors.Join(errs...)
	if err != nil {
		return fmt.Errorf("stopping the real node (logs in %s): %w", filepath.Join(n.Dir, "logs"), err)
	}
	if n.removeDir {
		if err := removeUnmounted(n.Dir); err != nil {
			return err
		}
	}
	return nil
}

// stopProcess stops one process if it was started and is still there.
func (n *RealNode) stopProcess(name string) error {
	p := n.procs[name]
	if p == nil {
		return nil
	}
	delete(n.procs, name)
	n.order = slices.DeleteFunc(n.order, func(s string) bool { return s == name })
	return p.Stop()
}

// deletePods deletes every pod and waits until the kubelet has stopped
// their containers and containerd has torn down their sandboxes (which
// removes their network namespaces, veth links and addresses).
func (n *RealNode) deletePods(ctx context.Context) error {
	namespaces, err := n.clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing namespaces to delete their pods: %w", err)
	}
	grace := int64(1)
	for _, ns := range namespaces.Items {
		err := n.clientset.CoreV1().Pods(ns.Name).DeleteCollection(ctx,
			metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("deleting the pods of namespace %s: %w", ns.Name, err)
		}
	}
	if err := Poll(ctx, time.Minute, "every pod to be gone", func() error {
		pods, err := n.clientset.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d pods left, e.g. %s/%s", len(pods.Items), pods.Items[0].Namespace, pods.Items[0].Name)
		}
		return nil
	}); err != nil {
		return err
	}
	return Poll(ctx, time.Minute, "containerd to run no container", func() error {
		out, err := n.ctr(ctx, "tasks", "list", "--quiet")
		if err != nil {
			return err
		}
		if ids := strings.Fields(out); len(ids) > 0 {
			return fmt.Errorf("%d tasks still run: %s", len(ids), strings.Join(ids, " "))
		}
		return nil
	})
}

// removeContainers kills and removes whatever containers are left (after
// a failed start or a kubelet that died), so that their shims exit.
func (n *RealNode) removeContainers(ctx context.Context) error {
	var errs []error
	tasks, err := n.ctr(ctx, "tasks", "list", "--quiet")
	if err != nil {
		return err
	}
	for _, id := range strings.Fields(tasks) {
		_, _ = n.ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
		if _, err := n.ctr(ctx, "tasks", "delete", "--force", id); err != nil {
			errs = append(errs, err)
		}
	}
	containers, err := n.ctr(ctx, "containers", "list", "--quiet")
	if err != nil {
		return err
	}
	for _, id := range strings.Fields(containers) {
		if _, err := n.ctr(ctx, "containers", "delete", id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
