package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// logFilesystemCheck is the check test configs turn off by default.
	logFilesystemCheck = "log-filesystem"
	// agentStopGrace is how long a stopped agent may take to exit after
	// SIGTERM; it shuts its HTTP server down within 2 s.
	agentStopGrace = 15 * time.Second
	logTail        = 40
)

// agentConfig writes an AgentConfig with a state dir of its own (never the
// host's /var/lib/nodetriage); see agentConfigWithState.
func agentConfig(t testing.TB, checks map[string]string, rest string) string {
	t.Helper()
	return agentConfigWithState(t, t.TempDir(), checks, rest)
}

// agentConfigWithState writes an AgentConfig with stateDir, the given check
// sections (name → YAML flow mapping) and rest, more top-level YAML, and
// returns its path. A test config turns off log-filesystem unless checks
// configures it: it statfs's the filesystem holding the fixture's /var/log,
// the machine's real disk, whose usage and growth belong to whoever else is
// building here. A test that configures it mounts a tmpfs of its own there
// (hostRoot.mountTmpfs).
func agentConfigWithState(t testing.TB, stateDir string, checks map[string]string, rest string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: %s\n", stateDir)
	b.WriteString("checks:\n")
	if _, ok := checks[logFilesystemCheck]; !ok {
		fmt.Fprintf(&b, "  %s: {enabled: false}\n", logFilesystemCheck)
	}
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		fmt.Fprintf(&b, "  %s: %s\n", name, checks[name])
	}
	b.WriteString(rest)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runningBinary is `nodetriage run` as a child process.
type runningBinary struct {
	t       testing.TB
	cmd     *exec.Cmd
	baseURL string
	logPath string
	done    chan struct{}
	waitErr error
}

// binaryArgs are the flags of one `nodetriage run` besides --listen-address.
type binaryArgs struct {
	kubeconfig, node, hostRoot, config string
}

// startBinary runs `nodetriage run` against the API server and waits until
// it serves /healthz. The process is stopped in t.Cleanup (if the test did
// not stop it) and its log is shown when the test failed.
func startBinary(t testing.TB, args binaryArgs) *runningBinary {
	t.Helper()
	bin := nodetriageBinary(t)
	logPath := filepath.Join(t.TempDir(), "nodetriage.log")
	var lastErr error
	// A free port can be taken between choosing it and the agent binding
	// it; then the agent exits at once and another port is tried.
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		b := &runningBinary{t: t, logPath: logPath, baseURL: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
		b.cmd = exec.Command(bin, "run",
			"--kubeconfig", args.kubeconfig,
			"--node-name", args.node,
			"--host-root", args.hostRoot,
			"--config", args.config,
			"--listen-address", "127.0.0.1:"+strconv.Itoa(port))
		logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(logFile, "=== %s %q\n", time.Now().Format(time.RFC3339Nano), b.cmd.Args)
		b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
		// Its own process group, and SIGKILL if the test binary dies
		// before its cleanups run (a -timeout panic).
		b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := b.cmd.Start(); err != nil {
			logFile.Close()
			t.Fatalf("start %s: %v", bin, err)
		}
		go func() {
			b.waitErr = b.cmd.Wait()
			logFile.Close()
			close(b.done)
		}()
		t.Cleanup(func() {
			b.kill()
			if t.Failed() {
				t.Logf("nodetriage log (last %d lines):\n%s", logTail, tailFile(logPath, logTail))
			}
		})
		lastErr = b.waitServing()
		if lastErr == nil {
			return b
		}
		b.kill()
		if !strings.Contains(tailFile(logPath, logTail), "address already in use") {
			break
		}
	}
	t.Fatalf("nodetriage run did not come up: %v\n%s", lastErr, tailFile(logPath, logTail))
	return nil
}

// waitServing waits until /healthz answers, or the process exits.
func (b *runningBinary) waitServing() error {
	end := time.Now().Add(apiDeadline)
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-b.done:
			return fmt.Errorf("nodetriage exited: %v", b.waitErr)
		default:
		}
		resp, err := client.Get(b.baseURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/healthz: %s", resp.Status)
		}
		if time.Now().After(end) {
			return err
		}
		time.Sleep(pollInterval)
	}
}

// waitReady waits until /readyz says every enabled check has run once.
func (b *runningBinary) waitReady() {
	b.t.Helper()
	waitFor(b.t, "nodetriage /readyz", apiDeadline, func() error {
		select {
		case <-b.done:
			return fmt.Errorf("nodetriage exited: %v", b.waitErr)
		default:
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(b.baseURL + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("/readyz: %s: %s", resp.Status, bytes.TrimSpace(body))
		}
		return nil
	})
}

// get returns the body of an HTTP GET on the agent.
func (b *runningBinary) get(path string) ([]byte, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(b.baseURL + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

func (b *runningBinary) metrics() (metrics, error) { return scrapeMetrics(b.baseURL) }

// stop sends SIGTERM and fails the test unless the agent exits cleanly
// (status 0) within agentStopGrace.
func (b *runningBinary) stop() {
	b.t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(agentStopGrace):
		b.kill()
		b.t.Fatalf("nodetriage did not exit within %s of SIGTERM", agentStopGrace)
	}
	if b.waitErr != nil {
		b.t.Fatalf("nodetriage exited with %v after SIGTERM, want status 0", b.waitErr)
	}
}

// kill ends the process group at once and reaps the process; a no-op when
// it already exited.
func (b *runningBinary) kill() {
	select {
	case <-b.done:
	default:
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailFile returns the last n lines of a log file.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "(no log)"
	}
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
