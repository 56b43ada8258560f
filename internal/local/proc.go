package local

import (
	"context"
	"io"
	"net"
	"os/exec"
	"syscall"
	"time"
)

// ProcessSpec is what to start for one container of one replica.
type ProcessSpec struct {
	// Name is "replica/container", for messages.
	Name string
	Argv []string
	Env  []string
	// Output receives the process's stdout and stderr.
	Output io.Writer
	// ProbeAddr is the HOST:PORT the readiness check connects to, as the
	// builders' TCP readiness probe; empty means ready once started.
	ProbeAddr string
}

// Process is one started replica process.
type Process interface {
	Pid() int
	// Ready is closed once the process has passed its readiness check; it
	// stays open if the process exits first.
	Ready() <-chan struct{}
	// Terminate asks the process to stop (SIGTERM); Kill stops it, and
	// whatever it started, at once.
	Terminate() error
	Kill() error
	// Wait waits for the process to exit. It is called once.
	Wait() error
}

// ProcessStarter starts replica processes. The default runs them as child
// processes of sdep; a test gives processes it controls.
type ProcessStarter interface {
	Start(ProcessSpec) (Process, error)
}

// CPUSampler reads the CPU time, user plus system, a process has used so
// far. The default reads the operating system's accounting (CPUSeconds).
type CPUSampler interface {
	CPUSeconds(pid int) (float64, error)
}

// CPUSamplerFunc makes a function a CPUSampler.
type CPUSamplerFunc func(pid int) (float64, error)

// CPUSeconds calls f.
func (f CPUSamplerFunc) CPUSeconds(pid int) (float64, error) { return f(pid) }

// probePeriod is how often the readiness check of a started process tries
// to connect until it succeeds (the probe's periodSeconds, for one machine).
const probePeriod = 50 * time.Millisecond

// execStarter starts replicas as child processes, each in its own process
// group: a Ctrl-C at the terminal reaches sdep serve only, which drains the
// replicas before it stops them.
type execStarter struct{}

type execProcess struct {
	cmd    *exec.Cmd
	ready  chan struct{}
	cancel context.CancelFunc
}

func (execStarter) Start(s ProcessSpec) (Process, error) {
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Env = s.Env
	cmd.Stdout, cmd.Stderr = s.Output, s.Output
	// A grandchild holding the output pipe must not keep Wait from returning.
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = replicaSysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	started(cmd.Process.Pid)
	ctx, cancel := context.WithCancel(context.Background())
	p := &execProcess{cmd: cmd, ready: make(chan struct{}), cancel: cancel}
	go p.probe(ctx, s.ProbeAddr)
	return p, nil
}

func (p *execProcess) Pid() int               { return p.cmd.Process.Pid }
func (p *execProcess) Ready() <-chan struct{} { return p.ready }
func (p *execProcess) Terminate() error       { return p.cmd.Process.Signal(syscall.SIGTERM) }

// Kill kills the process's whole group, so that nothing it started lingers.
func (p *execProcess) Kill() error {
	err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if err != nil {
		return p.cmd.Process.Kill()
	}
	return nil
}

// Wait waits for the process, then kills what is left of its group (as a
// pod's containers go with the pod).
func (p *execProcess) Wait() error {
	err := p.cmd.Wait()
	p.cancel()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	exited(p.cmd.Process.Pid)
	return err
}

// probe closes ready once addr accepts a TCP connection, trying every
// probePeriod until the process exits.
func (p *execProcess) probe(ctx context.Context, addr string) {
	if addr == "" {
		close(p.ready)
		return
	}
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			_ = conn.Close()
			close(p.ready)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(probePeriod):
		}
	}
}
