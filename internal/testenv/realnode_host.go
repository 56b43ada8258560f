//go:build linux

package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// watchedSysctls are the host settings the kubelet, the CNI bridge and
// kube-proxy may change; Stop puts back the values they had before.
var watchedSysctls = []string{
	"kernel/panic",
	"kernel/panic_on_oops",
	"vm/overcommit_memory",
	"net/ipv4/ip_forward",
	"net/ipv4/conf/all/forwarding",
	"net/ipv4/conf/all/route_localnet",
	"net/ipv6/conf/all/forwarding",
	"net/bridge/bridge-nf-call-iptables",
	"net/bridge/bridge-nf-call-ip6tables",
	"net/netfilter/nf_conntrack_max",
	"net/netfilter/nf_conntrack_tcp_timeout_established",
	"net/netfilter/nf_conntrack_tcp_timeout_close_wait",
	"net/netfilter/nf_conntrack_tcp_be_liberal",
}

// watchedPaths are the host folders that the kubelet, containerd and the
// CNI plugins create outside the node's own folder whatever they are told;
// Stop removes each one that did not exist before.
var watchedPaths = []string{
	"/var/lib/kubelet",
	"/var/log/containers",
	"/var/log/pods",
	"/run/containerd",
	"/run/netns",
	"/var/lib/cni",
	"/var/lib/containerd",
	"/opt/containerd",
	"/etc/cni",
	"/opt/cni",
}

const cgroupRoot = "/sys/fs/cgroup"

// hostState is what the real node may change on the host, recorded before
// it starts and compared after it stops.
type hostState struct {
	sysctls  map[string]string   // watchedSysctls that exist → value
	paths    map[string]bool     // watchedPaths → exists
	links    []string            // network interface names
	mounts   []string            // mount points
	netns    []string            // entries of /run/netns
	cgroups  map[string][]string // cgroup hierarchy → its top-level groups
	iptables map[string]string   // iptables-save, ip6tables-save → rules without counters
	nft      string              // nft list ruleset
}

// recordHost reads the host's current state.
func recordHost(ctx context.Context) (*hostState, error) {
	s := &hostState{
		sysctls:  map[string]string{},
		paths:    map[string]bool{},
		cgroups:  map[string][]string{},
		iptables: map[string]string{},
	}
	for _, name := range watchedSysctls {
		if v, err := os.ReadFile(filepath.Join("/proc/sys", name)); err == nil {
			s.sysctls[name] = strings.TrimSpace(string(v))
		}
	}
	for _, p := range watchedPaths {
		_, err := os.Lstat(p)
		s.paths[p] = err == nil
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifaces {
		s.links = append(s.links, i.Name)
	}
	sort.Strings(s.links)
	if s.mounts, err = mountPoints(); err != nil {
		return nil, err
	}
	// Network namespaces are files (nsfs bind mounts).
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			s.netns = append(s.netns, e.Name())
		}
	}
	hierarchies := dirNames(cgroupRoot)
	for _, h := range hierarchies {
		s.cgroups[h] = dirNames(filepath.Join(cgroupRoot, h))
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		out, err := run(ctx, tool)
		if err != nil {
			return nil, err
		}
		s.iptables[tool] = normaliseIptables(out)
	}
	if s.nft, err = run(ctx, "nft", "list", "ruleset"); err != nil {
		return nil, err
	}
	return s, nil
}

// iptablesCounters matches the packet and byte counters of iptables-save.
var iptablesCounters = regexp.MustCompile(`\[\d+:\d+\]`)

// normaliseIptables drops comments and counters, which change by themselves.
func normaliseIptables(save string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(save, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b.WriteString(iptablesCounters.ReplaceAllString(line, "[-]"))
		b.WriteByte('\n')
	}
	return b.String()
}

// diff lists what differs between the baseline s and the state after, one
// line per difference.
func (s *hostState) diff(after *hostState) []string {
	var out []string
	for _, name := range watchedSysctls {
		if s.sysctls[name] != after.sysctls[name] {
			out = append(out, fmt.Sprintf("sysctl %s is %q, was %q", strings.ReplaceAll(name, "/", "."), after.sysctls[name], s.sysctls[name]))
		}
	}
	for _, p := range watchedPaths {
		if s.paths[p] != after.paths[p] {
			out = append(out, fmt.Sprintf("%s: exists %v, existed %v", p, after.paths[p], s.paths[p]))
		}
	}
	out = append(out, listDiff("network interface", s.links, after.links)...)
	out = append(out, listDiff("mount point", s.mounts, after.mounts)...)
	out = append(out, listDiff("network namespace", s.netns, after.netns)...)
	for h, groups := range after.cgroups {
		out = append(out, listDiff("cgroup in "+h, s.cgroups[h], groups)...)
	}
	for tool, rules := range after.iptables {
		if rules != s.iptables[tool] {
			out = append(out, fmt.Sprintf("%s differs:\n%s", tool, lineDiff(s.iptables[tool], rules)))
		}
	}
	if after.nft != s.nft {
		out = append(out, "nft ruleset differs:\n"+lineDiff(s.nft, after.nft))
	}
	return out
}

// listDiff names the entries added to and removed from a sorted list.
func listDiff(what string, before, after []string) []string {
	var out []string
	for _, a := range after {
		if !slices.Contains(before, a) {
			out = append(out, fmt.Sprintf("new %s %s", what, a))
		}
	}
	for _, b := range before {
		if !slices.Contains(after, b) {
			out = append(out, fmt.Sprintf("%s %s is gone", what, b))
		}
	}
	return out
}

// lineDiff lists lines only in before (-) and only in after (+).
func lineDiff(before, after string) string {
	bl, al := strings.Split(before, "\n"), strings.Split(after, "\n")
	var b strings.Builder
	for _, l := range bl {
		if !slices.Contains(al, l) {
			fmt.Fprintf(&b, "  - %s\n", l)
		}
	}
	for _, l := range al {
		if !slices.Contains(bl, l) {
			fmt.Fprintf(&b, "  + %s\n", l)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// mountPoints lists the mount points of this mount namespace.
func mountPoints() ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var points []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			points = append(points, unescapeMount(fields[4]))
		}
	}
	sort.Strings(points)
	return points, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// dirNames lists the sub-folders of dir (none if it does not exist).
func dirNames(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// run runs a host tool and returns its standard output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// guardRule keeps pod traffic on this machine: a packet from the bridge to
// any other interface is dropped. Pod to pod stays on the bridge, and pod to
// node (the `kubernetes` Service among it) is delivered locally, not
// forwarded; kube-proxy's own FORWARD rules, placed before this one, accept
// only replies and Service traffic it has already translated.
var guardRule = []string{"FORWARD", "-i", BridgeName, "!", "-o", BridgeName, "-j", "DROP"}

// guardTools are the iptables front ends that get the guard rule: IPv4
// always, IPv6 when the host forwards IPv6.
func guardTools(base *hostState) []string {
	tools := []string{"iptables"}
	if base.sysctls["net/ipv6/conf/all/forwarding"] == "1" {
		tools = append(tools, "ip6tables")
	}
	return tools
}

func insertGuard(ctx context.Context, tools []string) error {
	for _, tool := range tools {
		if _, err := run(ctx, tool, append([]string{"-w", "-I"}, guardRule...)...); err != nil {
			return fmt.Errorf("inserting the FORWARD guard rule: %w", err)
		}
	}
	return nil
}

func deleteGuard(ctx context.Context, tools []string) error {
	var errs []error
	for _, tool := range tools {
		// -C first, so a rule never inserted is not an error.
		if _, err := run(ctx, tool, append([]string{"-w", "-C"}, guardRule...)...); err != nil {
			continue
		}
		if _, err := run(ctx, tool, append([]string{"-w", "-D"}, guardRule...)...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// GuardDrops is the packet counter of the IPv4 FORWARD guard rule: how many
// pod packets headed off the machine were dropped so far.
func GuardDrops(ctx context.Context) (int64, error) {
	out, err := run(ctx, "iptables", "-w", "-L", "FORWARD", "-v", "-x", "-n")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		// pkts bytes target prot opt in out source destination
		if len(f) >= 7 && f[2] == "DROP" && f[5] == BridgeName && f[6] == "!"+BridgeName {
			var n int64
			if _, err := fmt.Sscan(f[0], &n); err != nil {
				return 0, fmt.Errorf("reading the guard rule's counter from %q: %w", line, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no FORWARD guard rule (-i %s ! -o %s -j DROP) in:\n%s", BridgeName, BridgeName, out)
}

// restoreHost undoes what the node left on the host, compared with base:
// sysctls, mounts under dir and in /run/netns, links, cgroups, folders and
// iptables tables. It returns the problems it met; what it could not undo
// shows in the final comparison.
func restoreHost(ctx context.Context, base *hostState, dir string) []error {
	var errs []error
	after, err := recordHost(ctx)
	if err != nil {
		return []error{err}
	}
	for name, was := range base.sysctls {
		if after.sysctls[name] != was {
			if err := os.WriteFile(filepath.Join("/proc/sys", name), []byte(was), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("restoring sysctl %s: %w", name, err))
			}
		}
	}
	// Mounts: pod volumes and the kubelet's bind mount of its root folder
	// under dir, and the pods' network namespaces; deepest first, in a few
	// passes because a mount may hide another one below it.
	for range 3 {
		mounts, err := mountPoints()
		if err != nil {
			return append(errs, err)
		}
		stale := staleMounts(base.mounts, mounts, dir)
		if len(stale) == 0 {
			break
		}
		for _, m := range stale {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
			}
		}
	}
	for _, ns := range after.netns {
		if !slices.Contains(base.netns, ns) {
			_ = os.Remove(filepath.Join("/run/netns", ns))
		}
	}
	for _, link := range after.links {
		if slices.Contains(base.links, link) {
			continue
		}
		if link == BridgeName || strings.HasPrefix(link, "veth") {
			if _, err := run(ctx, "ip", "link", "delete", link); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for h, groups := range after.cgroups {
		for _, g := range groups {
			if slices.Contains(base.cgroups[h], g) || !strings.HasPrefix(g, "kubepods") {
				continue
			}
			if err := removeCgroup(filepath.Join(cgroupRoot, h, g)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, p := range watchedPaths {
		if !base.paths[p] && after.paths[p] {
			if err := removeUnmounted(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, removeNewTables(ctx, base, after)...)
	return errs
}

// staleMounts are the mounts not in base that the node makes: under dir,
// /run/netns, /run/containerd and /var/lib/kubelet; deepest first.
func staleMounts(base, now []string, dir string) []string {
	var stale []string
	for _, m := range now {
		if slices.Contains(base, m) {
			continue
		}
		for _, root := range []string{dir, "/run/netns", "/run/containerd", "/var/lib/kubelet"} {
			if m == root || strings.HasPrefix(m, root+"/") {
				stale = append(stale, m)
				break
			}
		}
	}
	sort.Slice(stale, func(i, j int) bool { return len(stale[i]) > len(stale[j]) })
	return stale
}

// removeCgroup removes a cgroup folder and its children, deepest first (a
// cgroup folder holds only pseudo-files, and rmdir is how one is removed).
func removeCgroup(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
			procs, _ := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs"))
			return fmt.Errorf("removing cgroup %s: %w (processes: %q)", dirs[i], err, strings.Fields(string(procs)))
		}
	}
	return nil
}

// removeUnmounted removes path and everything in it, unless something is
// still mounted below it (removing would then reach into that mount).
func removeUnmounted(path string) error {
	mounts, err := mountPoints()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m == path || strings.HasPrefix(m, path+"/") {
			return fmt.Errorf("not removing %s: %s is still mounted", path, m)
		}
	}
	return os.RemoveAll(path)
}

// nftTable is the header line of one table in `nft list ruleset`.
var nftTable = regexp.MustCompile(`(?m)^table (\S+) (\S+) \{`)

// nftChain is a chain's header line.
var nftChain = regexp.MustCompile(`(?m)^\s+chain (\S+) \{`)

// builtinChains are the chains iptables-nft creates in its tables.
var builtinChains = []string{"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"}

// removeNewTables deletes the nftables tables that appeared since base
// (iptables-nft makes them when kube-proxy, the CNI plugins or the guard
// rule first write to a table), provided they hold only built-in,
// kube-proxy (KUBE-) and CNI (CNI-) chains; a table with anything else is
// left alone and shows in the comparison.
func removeNewTables(ctx context.Context, base, after *hostState) []error {
	var errs []error
	baseTables := map[string]bool{}
	for _, m := range nftTable.FindAllStringSubmatch(base.nft, -1) {
		baseTables[m[1]+" "+m[2]] = true
	}
	for _, block := range splitNftTables(after.nft) {
		m := nftTable.FindStringSubmatch(block)
		if m == nil || baseTables[m[1]+" "+m[2]] {
			continue
		}
		ours := m[2] == "kube-proxy"
		if !ours {
			ours = true
			for _, c := range nftChain.FindAllStringSubmatch(block, -1) {
				name := c[1]
				if !slices.Contains(builtinChains, name) && !strings.HasPrefix(name, "KUBE-") && !strings.HasPrefix(name, "CNI-") {
					ours = false
				}
			}
		}
		if !ours {
			continue
		}
		if _, err := run(ctx, "nft", "delete", "table", m[1], m[2]); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// splitNftTables cuts `nft list ruleset` into one block per table.
func splitNftTables(ruleset string) []string {
	idx := nftTable.FindAllStringIndex(ruleset, -1)
	var blocks []string
	for i, loc := range idx {
		end := len(ruleset)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		blocks = append(blocks, ruleset[loc[0]:end])
	}
	return blocks
}
