package benchkit

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// ProgramTB lets a measurement program (a main package, not a test) use the
// test harnesses in internal/kubetest and internal/containerdtest, which
// take a testing.TB. It keeps their cleanups and runs them in Close (last
// registered first, as testing does). Fatal logs, runs the cleanups and
// calls the onFatal the program gave (which exits).
//
// testing.TB cannot be implemented outside the testing package because of
// an unexported method; embedding the interface satisfies it, and every
// method the harnesses call is overridden here. Calling any other one
// panics on the nil embedded value.
type ProgramTB struct {
	testing.TB
	name    string
	logger  *slog.Logger
	onFatal func()

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	tempDirs []string
}

// NewProgramTB returns a TB named name that logs through logger.
func NewProgramTB(name string, logger *slog.Logger, onFatal func()) *ProgramTB {
	return &ProgramTB{name: name, logger: logger, onFatal: onFatal}
}

func (t *ProgramTB) Name() string { return t.name }
func (t *ProgramTB) Helper()      {}

func (t *ProgramTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// TempDir makes a directory that Close removes.
func (t *ProgramTB) TempDir() string {
	dir, err := os.MkdirTemp("", "nodetriage-bench-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *ProgramTB) Log(args ...any)                 { t.logger.Info(fmt.Sprint(args...)) }
func (t *ProgramTB) Logf(format string, args ...any) { t.logger.Info(fmt.Sprintf(format, args...)) }

func (t *ProgramTB) Error(args ...any) { t.fail(fmt.Sprint(args...)) }
func (t *ProgramTB) Errorf(format string, args ...any) {
	t.fail(fmt.Sprintf(format, args...))
}

func (t *ProgramTB) Fatal(args ...any) {
	t.fail(fmt.Sprint(args...))
	t.FailNow()
}

func (t *ProgramTB) Fatalf(format string, args ...any) {
	t.fail(fmt.Sprintf(format, args...))
	t.FailNow()
}

func (t *ProgramTB) Fail() { t.fail("") }

func (t *ProgramTB) fail(msg string) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	if msg != "" {
		t.logger.Error(msg)
	}
}

// FailNow runs the cleanups and hands over to onFatal.
func (t *ProgramTB) FailNow() {
	t.Close()
	t.onFatal()
}

func (t *ProgramTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// Close runs the registered cleanups, newest first.
func (t *ProgramTB) Close() {
	t.mu.Lock()
	cleanups := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}
