package rules

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nodetriage/nodetriage/probes"
)

const oomHogEnv = "NODETRIAGE_RULES_OOM_HOG"

// TestMain lets the test binary double as the memory hog the OOM test puts
// into a memory cgroup.
func TestMain(m *testing.M) {
	if os.Getenv(oomHogEnv) == "1" {
		os.Exit(oomHog())
	}
	os.Exit(m.Run())
}

// oomHog waits for a line on stdin (sent once it is in the cgroup), then
// touches memory until the kernel kills it. Exit 3 means it was not killed.
func oomHog() int {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return 2
	}
	var keep [][]byte
	for i := 0; i < 1024; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	_ = keep
	return 3
}

// TestRealKernelOOMKill makes the real kernel OOM-kill a process in a memory
// cgroup this test creates, reads the kernel's own records from /dev/kmsg and
// checks that the default kernel pack reports OOMKilling with the victim's
// pid, comm and memory cgroup path (from the kernel's oom-kill summary line).
func TestRealKernelOOMKill(t *testing.T) {
	const memRoot = "/sys/fs/cgroup/memory"
	if os.Geteuid() != 0 {
		t.Fatal("needs root: it creates a memory cgroup and reads /dev/kmsg")
	}
	if _, err := os.Stat(filepath.Join(memRoot, "memory.limit_in_bytes")); err != nil {
		t.Fatalf("needs the cgroup v1 memory controller at %s: %v", memRoot, err)
	}
	name := fmt.Sprintf("nodetriage-rules-test-%d", os.Getpid())
	cg := filepath.Join(memRoot, name)
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatalf("create memory cgroup: %v", err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50; i++ { // the cgroup empties once the killed hog is reaped
			if err := os.Remove(cg); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("could not remove memory cgroup %s", cg)
	})
	if err := os.WriteFile(filepath.Join(cg, "memory.limit_in_bytes"), []byte("67108864"), 0o644); err != nil {
		t.Fatalf("set memory limit: %v", err)
	}

	kmsg, err := os.OpenFile("/dev/kmsg", os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatalf("open /dev/kmsg: %v", err)
	}
	defer kmsg.Close()
	if _, err := unix.Seek(int(kmsg.Fd()), 0, io.SeekEnd); err != nil {
		t.Fatalf("seek /dev/kmsg to the end: %v", err)
	}

	hog := exec.Command(os.Args[0])
	hog.Env = append(os.Environ(), oomHogEnv+"=1")
	stdin, err := hog.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hog.Start(); err != nil {
		t.Fatalf("start memory hog: %v", err)
	}
	pid := hog.Process.Pid
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		_ = hog.Process.Kill()
		_ = hog.Wait()
		t.Fatalf("move hog into the cgroup: %v", err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	err = hog.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("hog ended with %v, want killed by the OOM killer (SIGKILL)", err)
	}

	e := newTestEngine(t, DefaultRules())
	wantPid := strconv.Itoa(pid)
	var found []probes.Finding
	var seen []string
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 8192)
	for len(found) == 0 && time.Now().Before(deadline) {
		n, err := kmsg.Read(buf)
		if errors.Is(err, syscall.EAGAIN) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if errors.Is(err, syscall.EPIPE) { // records overwritten while reading: keep going
			continue
		}
		if err != nil {
			t.Fatalf("read /dev/kmsg: %v", err)
		}
		line, ok := kernelRecord(buf[:n])
		if !ok {
			continue
		}
		if strings.Contains(line.Text, wantPid) {
			seen = append(seen, line.Text)
		}
		for _, f := range e.Match(line) {
			if f.Reason == "OOMKilling" && f.Evidence["pid"] == wantPid {
				found = append(found, f)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d OOMKilling findings for pid %s; kernel lines naming it:\n%s", len(found), wantPid, strings.Join(seen, "\n"))
	}
	f := found[0]
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 {
		comm = comm[:15]
	}
	if f.Evidence["memcg"] != "/"+name || f.Evidence["comm"] != comm || f.Subject != "/"+name {
		t.Errorf("evidence memcg=%q comm=%q subject=%q, want memcg and subject /%s, comm %q", f.Evidence["memcg"], f.Evidence["comm"], f.Subject, name, comm)
	}
	if !strings.HasPrefix(f.Message, "Memory cgroup out of memory: the kernel OOM killer killed "+comm+" (pid "+wantPid+")") {
		t.Errorf("message %q", f.Message)
	}
	t.Logf("kernel said: %s", strings.Join(seen, " | "))
}

// kernelRecord turns one /dev/kmsg record ("prio,seq,usec,flag;text\n
// KEY=value…") into a kernel line; records from user space (facility != 0)
// are not kernel lines. The real reader lives in probes/kmsg; this is only
// what the test needs.
func kernelRecord(rec []byte) (probes.Line, bool) {
	head, rest, ok := strings.Cut(string(rec), ";")
	if !ok {
		return probes.Line{}, false
	}
	fields := strings.Split(head, ",")
	if len(fields) < 4 {
		return probes.Line{}, false
	}
	prio, err1 := strconv.Atoi(fields[0])
	usec, err2 := strconv.ParseInt(fields[2], 10, 64)
	if err1 != nil || err2 != nil || prio>>3 != 0 {
		return probes.Line{}, false
	}
	text, _, _ := strings.Cut(rest, "\n")
	return probes.Line{
		Source: probes.SourceKernel,
		Text:   text,
		Time:   testStart.Add(time.Duration(usec) * time.Microsecond),
		BootID: testBootID,
		Origin: "/dev/kmsg seq=" + fields[1],
	}, true
}
