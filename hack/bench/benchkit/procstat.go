package benchkit

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcSample is one reading of a process's memory and CPU use.
type ProcSample struct {
	At time.Time
	// RSSBytes is VmRSS from /proc/PID/status: AnonBytes (private memory:
	// heap, stacks) plus FileBytes (pages of the executable and libraries
	// mapped from the page cache, shared and reclaimable).
	RSSBytes, AnonBytes, FileBytes uint64
	// CPU is utime+stime from /proc/PID/stat.
	CPU time.Duration
}

// ReadProc samples process pid.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.Lines(string(status)) {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "VmRSS":
			dst = &s.RSSBytes
		case "RssAnon":
			dst = &s.AnonBytes
		case "RssFile":
			dst = &s.FileBytes
		default:
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			return s, fmt.Errorf("/proc/%d/status: bad %s line %q", pid, key, line)
		}
		kib, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/status: %s %q: %w", pid, key, f[0], err)
		}
		*dst = kib << 10
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	s.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	return s, nil
}

// Millicores is the average CPU use between two samples of one process.
func Millicores(from, to ProcSample) float64 {
	wall := to.At.Sub(from.At)
	if wall <= 0 {
		return 0
	}
	return 1000 * float64(to.CPU-from.CPU) / float64(wall)
}

// MiB converts bytes to mebibytes.
func MiB(b uint64) float64 { return float64(b) / (1 << 20) }

// RSSByMapping splits a process's resident memory by what is mapped, from
// /proc/PID/smaps: "anon" (heap, stacks, anonymous mappings), "executable"
// (the process's own binary), "journal" (systemd journal files the reader
// maps), "libraries" (other files ending in .so*) and "other files".
func RSSByMapping(pid int) (map[string]uint64, error) {
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	class := "anon"
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.Contains(f[0], "-") && len(f) >= 5 && !strings.HasSuffix(f[0], ":") {
			// A mapping header: "start-end perms offset dev inode [path]".
			path := ""
			if len(f) >= 6 {
				path = strings.Join(f[5:], " ")
			}
			switch {
			case path == "" || strings.HasPrefix(path, "["):
				class = "anon"
			case path == exe || strings.TrimSuffix(path, " (deleted)") == exe:
				class = "executable"
			case strings.Contains(path, ".journal"):
				class = "journal"
			case strings.Contains(path, ".so"):
				class = "libraries"
			default:
				class = "other files"
			}
			continue
		}
		if f[0] == "Rss:" && len(f) >= 2 {
			kib, err := strconv.ParseUint(f[1], 10, 64)
			if err == nil {
				out[class] += kib << 10
			}
		}
	}
	return out, nil
}
