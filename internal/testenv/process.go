package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Process is one binary of a test environment (a control-plane component,
// a node agent) running in the background with its output in a log file.
type Process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // set before done is closed
}

// StartProcess starts the binary at path with args, its stdout and stderr
// going to a new file at logPath. On Linux the process is killed when the
// one that started it dies, so a crashed test leaves nothing behind.
func StartProcess(path string, args []string, logPath string) (*Process, error) {
	return StartProcessEnv(path, args, nil, logPath)
}

// StartProcessEnv is StartProcess with env added to this process's
// environment (a later entry wins).
func StartProcessEnv(path string, args, env []string, logPath string) (*Process, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	p := &Process{name: filepath.Base(path), cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Name is the binary's file name.
func (p *Process) Name() string { return p.name }

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports an exit before Stop, naming the log to read; nil while
// the process runs.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (see %s): %w", p.name, p.log.Name(), p.err)
	default:
		return nil
	}
}

// Stop sends SIGTERM, and SIGKILL if the process is still there after 10 s
// (which it reports as an error). Call it once.
func (p *Process) Stop() error {
	defer p.log.Close()
	select {
	case <-p.done:
		return nil // already gone (its exit status was reported by Exited, if anyone asked)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not stop within 10s of SIGTERM and was killed", p.name)
}
