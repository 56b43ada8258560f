// Command images builds sdep's container images without a container engine
// and writes each as an OCI layout tarball (see internal/image):
//
//	go run ./hack/images [all] [-out bin/images] [-version V] [-commit C]
//	    sdep.tar             sdep:<version>, linux/amd64 + linux/arm64
//	    mock-classifier.tar  docker.io/seldonio/mock_classifier:1.0, host platform
//	    pause.tar            registry.k8s.io/pause:3.10, host platform
//	go run ./hack/images wrap -binary X -ref Y -entrypoint /metrics-server -user 65532 -o Z
//
// Every image is reproducible: the same commit gives the same digests.
package main

import (
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sdep-dev/sdep/internal/image"
	"github.com/sdep-dev/sdep/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "images:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string) error {
	mode := "all"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	switch mode {
	case "all":
		return runAll(ctx, args)
	case "wrap":
		return runWrap(args)
	default:
		return fmt.Errorf("unknown mode %q: want all (the default) or wrap", mode)
	}
}

func commonFlags(fs *flag.FlagSet) (ver, commit, ca *string) {
	ver = fs.String("version", version.Version, "sdep version: linked into the binary, the image tag and labels")
	commit = fs.String("commit", "", "commit linked into the binary and labels (default: git rev-parse HEAD, -dirty if modified)")
	ca = fs.String("ca", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied into the image (Debian's ca-certificates)")
	return ver, commit, ca
}

func newBuildInfo(ver, commit string) (buildInfo, error) {
	root, err := moduleRoot()
	if err != nil {
		return buildInfo{}, err
	}
	if commit == "" {
		commit = gitCommit(root)
	}
	created, err := image.SourceDateEpoch()
	if err != nil {
		return buildInfo{}, err
	}
	if ver == "" {
		return buildInfo{}, fmt.Errorf("-version: must not be empty")
	}
	return buildInfo{moduleRoot: root, version: ver, commit: commit, created: created}, nil
}

func runAll(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("images all", flag.ContinueOnError)
	ver, commit, ca := commonFlags(fs)
	out := fs.String("out", "bin/images", "directory the tarballs are written to")
	sdepRef := fs.String("sdep-ref", "", "reference of the sdep image (default sdep:<version>)")
	mockRef := fs.String("mock-classifier-ref", "docker.io/seldonio/mock_classifier:1.0", "reference of the mock classifier image (the seed's image, as containerd normalises it)")
	pauseRef := fs.String("pause-ref", "registry.k8s.io/pause:3.10", "reference of the pause image")
	sdepPlatforms := fs.String("platforms", "linux/amd64,linux/arm64", "platforms of the sdep image")
	mockPlatforms := fs.String("mock-classifier-platforms", "host", "platforms of the mock classifier image")
	pausePlatforms := fs.String("pause-platforms", "host", "platforms of the pause image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	b, err := newBuildInfo(*ver, *commit)
	if err != nil {
		return err
	}
	o := allOptions{out: *out, ca: *ca, sdepRef: *sdepRef, mockRef: *mockRef, pauseRef: *pauseRef}
	if o.sdepRef == "" {
		o.sdepRef = "sdep:" + b.version
	}
	for _, pf := range []struct {
		flag, value string
		into        *[]v1.Platform
	}{
		{"-platforms", *sdepPlatforms, &o.sdepPlatforms},
		{"-mock-classifier-platforms", *mockPlatforms, &o.mockPlatforms},
		{"-pause-platforms", *pausePlatforms, &o.pausePlatforms},
	} {
		ps, err := platforms(pf.value)
		if err != nil {
			return fmt.Errorf("%s: %w", pf.flag, err)
		}
		*pf.into = ps
	}
	work, err := os.MkdirTemp("", "sdep-images-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()
	b.workDir = work
	results, err := b.buildAll(ctx, o)
	if err != nil {
		return err
	}
	for _, r := range results {
		fmt.Printf("%s\t%s\t%s\n", r.Path, r.Ref, r.Digest)
	}
	return nil
}

func runWrap(args []string) error {
	fs := flag.NewFlagSet("images wrap", flag.ContinueOnError)
	binary := fs.String("binary", "", "static binary to put in the image (required)")
	ref := fs.String("ref", "", "image reference written into index.json (required)")
	dst := fs.String("o", "", "output tarball (required)")
	entrypoint := fs.String("entrypoint", "", "entrypoint, words separated by spaces (required), e.g. /metrics-server")
	inImage := fs.String("path", "", "path of the binary in the image (default: the entrypoint if absolute, else /usr/local/bin/<entrypoint>)")
	user := fs.String("user", "65532", "numeric uid or uid:gid")
	ports := fs.String("ports", "", "exposed ports, comma separated (e.g. 10250/tcp)")
	ca := fs.String("ca", "", "CA bundle to include at "+caBundle+" (default none)")
	platform := fs.String("platform", "host", "platform of the binary (linux/<arch> or host)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ps, err := platforms(*platform)
	if err != nil || len(ps) != 1 {
		return fmt.Errorf("-platform %q: want one linux/<arch> or host", *platform)
	}
	if err := checkStatic(*binary, ps[0]); err != nil {
		return err
	}
	created, err := image.SourceDateEpoch()
	if err != nil {
		return err
	}
	var portList []string
	if *ports != "" {
		portList = strings.Split(*ports, ",")
	}
	r, err := buildInfo{created: created}.wrap(wrapOptions{
		binary: *binary, ref: *ref, dst: *dst, inImage: *inImage,
		entrypoint: strings.Fields(*entrypoint), user: *user, ports: portList,
		ca: *ca, platform: ps[0],
	})
	if err != nil {
		return err
	}
	fmt.Printf("%s\t%s\t%s\n", r.Path, r.Ref, r.Digest)
	return nil
}

var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM,
	"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV,
}

// checkStatic refuses binaries the image cannot run: it has no libc and no
// dynamic loader, and one platform.
func checkStatic(binary string, p v1.Platform) error {
	if binary == "" {
		return fmt.Errorf("-binary: required (a static linux binary)")
	}
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("-binary %s: %w (want a static linux ELF binary)", binary, err)
	}
	defer func() { _ = f.Close() }()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("-binary %s is dynamically linked; the image has no libc (build it with CGO_ENABLED=0)", binary)
		}
	}
	if want, ok := elfMachines[p.Architecture]; ok && f.Machine != want {
		return fmt.Errorf("-binary %s is built for %s, not -platform %s/%s", binary, f.Machine, p.OS, p.Architecture)
	}
	return nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run hack/images inside the sdep module")
	}
	return filepath.Dir(gomod), nil
}

// gitCommit is HEAD's full hash with -dirty when the tree has changes, or
// "unknown" outside a git checkout.
func gitCommit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "-dirty"
	}
	return c
}
