package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// LoadAvg returns the 1, 5 and 15 minute load averages, or "?".
func LoadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Sleep waits for d or until ctx is done (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// FindProcess returns the pid of the first process whose command line
// (argv, split at NULs) match accepts; what names the process in the error.
func FindProcess(what string, match func(argv []string) bool) (int, error) {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || len(cmdline) == 0 {
			continue
		}
		if match(strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s process", what)
}

// WriteJSON writes v, indented, to path.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
