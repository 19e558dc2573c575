package benchkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nodetriage/nodetriage/agent"
)

// AgentOptions say how to run `nodetriage run`.
type AgentOptions struct {
	// Binary is the nodetriage executable (BuildAgent).
	Binary string
	// Dir holds the agent's log (agent.log) and, unless ConfigPath is set,
	// its config file.
	Dir      string
	NodeName string
	// Kubeconfig reports to that API server; "" runs --standalone.
	Kubeconfig string
	HostRoot   string
	// Config is the AgentConfig YAML, written to Dir/config.yaml.
	Config string
	// ConfigPath is passed as --config instead (e.g. a ConfigMap-style
	// directory the caller swaps).
	ConfigPath  string
	CRIEndpoint string
	// Stdout, when set, receives the agent's stdout (stderr goes to the
	// log file).
	Stdout io.Writer
}

// Agent is a running nodetriage process.
type Agent struct {
	Opts AgentOptions
	// Addr is the metrics/debug listen address (127.0.0.1:port).
	Addr    string
	LogPath string

	cmd      *exec.Cmd
	logFile  *os.File
	done     chan struct{}
	waitErr  error
	exitedAt time.Time
	http     *http.Client
}

// StartAgent starts the agent and waits until it serves /metrics. The
// process dies with the caller (SIGKILL on parent death).
func StartAgent(ctx context.Context, o AgentOptions) (*Agent, error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := o.ConfigPath
	if cfgPath == "" && o.Config != "" {
		cfgPath = filepath.Join(o.Dir, "config.yaml")
		if err := os.WriteFile(cfgPath, []byte(o.Config), 0o644); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for range 3 { // a free port can be taken before the agent binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		a, err := startAgentOnce(ctx, o, cfgPath, fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return a, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func startAgentOnce(ctx context.Context, o AgentOptions, cfgPath, addr string) (*Agent, error) {
	args := []string{"run", "--node-name", o.NodeName, "--host-root", o.HostRoot, "--listen-address", addr}
	if o.Kubeconfig == "" {
		args = append(args, "--standalone")
	} else {
		args = append(args, "--kubeconfig", o.Kubeconfig)
	}
	if cfgPath != "" {
		args = append(args, "--config", cfgPath)
	}
	if o.CRIEndpoint != "" {
		args = append(args, "--cri-endpoint", o.CRIEndpoint)
	}
	logPath := filepath.Join(o.Dir, "agent.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "=== %s %s %q\n", time.Now().Format(time.RFC3339Nano), o.Binary, args)
	cmd := exec.Command(o.Binary, args...)
	cmd.Stderr = logFile
	cmd.Stdout = logFile
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	a := &Agent{
		Opts: o, Addr: addr, LogPath: logPath, cmd: cmd, logFile: logFile,
		done: make(chan struct{}), http: &http.Client{Timeout: 10 * time.Second},
	}
	go func() {
		a.waitErr = cmd.Wait()
		a.exitedAt = time.Now()
		logFile.Close()
		close(a.done)
	}()
	if err := a.waitServing(ctx, 60*time.Second); err != nil {
		a.Kill()
		return nil, fmt.Errorf("%w; end of %s:\n%s", err, logPath, a.LogTail(20))
	}
	return a, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (a *Agent) waitServing(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if a.Exited() {
			return fmt.Errorf("nodetriage exited at start (%v)", a.waitErr)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := a.Metrics(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("nodetriage does not serve /metrics on %s: %v", a.Addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PID is the agent's process ID.
func (a *Agent) PID() int { return a.cmd.Process.Pid }

// URL is the address of one of the agent's HTTP endpoints.
func (a *Agent) URL(path string) string { return "http://" + a.Addr + path }

// Metrics scrapes the agent's /metrics.
func (a *Agent) Metrics(ctx context.Context) (Metrics, error) {
	return Scrape(ctx, a.http, a.URL("/metrics"))
}

// Report reads /debug/findings: the agent's own view of its findings and
// conditions.
func (a *Agent) Report(ctx context.Context) (agent.Report, error) {
	var r agent.Report
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL("/debug/findings"), nil)
	if err != nil {
		return r, err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return r, fmt.Errorf("GET /debug/findings: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("GET /debug/findings: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("decode /debug/findings: %w", err)
	}
	return r, nil
}

// Proc samples the agent's RSS and CPU time.
func (a *Agent) Proc() (ProcSample, error) { return ReadProc(a.PID()) }

// Signal sends sig to the agent.
func (a *Agent) Signal(sig syscall.Signal) error { return a.cmd.Process.Signal(sig) }

// Exited reports whether the process has ended.
func (a *Agent) Exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to end and returns its exit
// code (-1 when killed by a signal) and when it ended.
func (a *Agent) Wait(timeout time.Duration) (code int, at time.Time, err error) {
	if !a.Exited() {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-a.done:
		case <-t.C:
			return 0, time.Time{}, fmt.Errorf("nodetriage still running after %s", timeout)
		}
	}
	var exitErr *exec.ExitError
	if errors.As(a.waitErr, &exitErr) {
		code = exitErr.ExitCode()
	} else if a.waitErr != nil {
		return 0, a.exitedAt, a.waitErr
	}
	return code, a.exitedAt, nil
}

// Stop sends SIGTERM and waits up to grace, then kills. It returns the exit
// code.
func (a *Agent) Stop(grace time.Duration) (int, error) {
	if a.Exited() {
		code, _, err := a.Wait(0)
		return code, err
	}
	_ = a.Signal(syscall.SIGTERM)
	code, _, err := a.Wait(grace)
	if err != nil {
		a.Kill()
		return -1, err
	}
	return code, nil
}

// Kill kills the process and waits for it.
func (a *Agent) Kill() {
	_ = a.cmd.Process.Kill()
	<-a.done
}

// LogTail is the end of the agent's log.
func (a *Agent) LogTail(n int) string {
	data, err := os.ReadFile(a.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Log is the agent's whole log so far.
func (a *Agent) Log() string {
	data, _ := os.ReadFile(a.LogPath)
	return string(data)
}
