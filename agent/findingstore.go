package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nodetriage/nodetriage/probes"
)

// StateFileName is the file in the state directory that holds the active
// log-derived findings.
const StateFileName = "findings.json"

// Bounds of the state file: at most maxLogFindingsPerCondition findings per
// condition are kept in memory anyway; evidence values are cut so one
// pathological log line cannot bloat the file.
const (
	maxStateFileBytes      = 4 << 20
	maxPersistedEvidence   = 1024
	stateFileFormatVersion = 1
)

// persistedState is the state file's format.
type persistedState struct {
	Version  int                `json:"version"`
	Findings []persistedFinding `json:"findings"`
}

type persistedFinding struct {
	Finding   probes.Finding `json:"finding"`
	ClearMode string         `json:"clearMode"`
	Quiet     string         `json:"quiet,omitempty"`
	BootID    string         `json:"bootID,omitempty"`
	FirstSeen time.Time      `json:"firstSeen"`
	LastSeen  time.Time      `json:"lastSeen"`
}

var clearModeNames = map[probes.ClearMode]string{
	probes.ClearWhenHealthy: "whenHealthy",
	probes.ClearAfterQuiet:  "afterQuiet",
	probes.ClearOnReboot:    "onReboot",
}

// findingStore writes the state file atomically (temp file + rename) and
// logs a failure once until a write succeeds again.
type findingStore struct {
	path    string
	logger  *slog.Logger
	metrics *Metrics
	failing bool
}

func (s *findingStore) save(records []persistedFinding) {
	err := s.write(records)
	if err != nil {
		if s.metrics != nil {
			s.metrics.stateWriteErrors.Inc()
		}
		if !s.failing {
			s.logger.Warn("cannot persist active log findings; detection continues, but a restart will forget them", "path", s.path, "err", err)
		} else {
			s.logger.Debug("state write failed again", "path", s.path, "err", err)
		}
		s.failing = true
		return
	}
	if s.failing {
		s.logger.Info("persisting active log findings again", "path", s.path)
	}
	s.failing = false
}

func (s *findingStore) write(records []persistedFinding) error {
	data, err := json.Marshal(persistedState{Version: stateFileFormatVersion, Findings: records})
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if len(data) > maxStateFileBytes {
		return fmt.Errorf("state is %d bytes, over the %d byte bound", len(data), maxStateFileBytes)
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".*")
	if err != nil {
		return fmt.Errorf("create temp state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("rename state file: %w", err)
	}
	return nil
}

// load reads the state file; a missing file is an empty state.
func (s *findingStore) load() ([]persistedFinding, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open state file: %w", err)
	}
	defer f.Close()
	var st persistedState
	dec := json.NewDecoder(&limitedReader{r: f, n: maxStateFileBytes})
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("decode state file %s: %w", s.path, err)
	}
	if st.Version != stateFileFormatVersion {
		return nil, fmt.Errorf("state file %s has format version %d, want %d", s.path, st.Version, stateFileFormatVersion)
	}
	return st.Findings, nil
}

// persistedLocked lists the active log findings in file order. c.mu held.
func (c *Conditions) persistedLocked() []persistedFinding {
	var out []persistedFinding
	for _, byKey := range c.logs {
		for _, tf := range byKey {
			f := tf.f
			f.Evidence = truncateEvidence(f.Evidence)
			pf := persistedFinding{
				Finding:   f,
				ClearMode: clearModeNames[f.Clear.Mode],
				BootID:    tf.bootID,
				FirstSeen: tf.firstSeen,
				LastSeen:  tf.lastSeen,
			}
			if f.Clear.Quiet > 0 {
				pf.Quiet = f.Clear.Quiet.String()
			}
			out = append(out, pf)
		}
	}
	slices.SortFunc(out, func(a, b persistedFinding) int {
		ka := a.Finding.Condition + "\x00" + a.Finding.Reason + "\x00" + a.Finding.Subject
		kb := b.Finding.Condition + "\x00" + b.Finding.Reason + "\x00" + b.Finding.Subject
		return strings.Compare(ka, kb)
	})
	return out
}

// restore loads persisted findings that still hold: reboot-cleared ones from
// this boot, quiet-cleared ones whose window has not passed.
func (c *Conditions) restore() {
	records, err := c.store.load()
	if err != nil {
		c.logger.Warn("ignoring the persisted log findings", "err", err)
		return
	}
	now := c.clock.Now()
	restored, dropped := 0, 0
	for _, pf := range records {
		f := pf.Finding
		mode, ok := clearModeByName(pf.ClearMode)
		if !ok || f.Condition == "" || f.Reason == "" {
			dropped++
			continue
		}
		f.Clear = probes.ClearPolicy{Mode: mode, BootID: pf.BootID}
		if pf.Quiet != "" {
			if q, err := time.ParseDuration(pf.Quiet); err == nil {
				f.Clear.Quiet = q
			}
		}
		tf := &trackedFinding{f: f, firstSeen: pf.FirstSeen, lastSeen: pf.LastSeen, bootID: pf.BootID}
		if mode == probes.ClearOnReboot && c.bootID == "" {
			dropped++ // cannot tell whether it is from this boot
			continue
		}
		if c.expired(tf, now) {
			dropped++
			continue
		}
		byKey := c.logs[f.Condition]
		if byKey == nil {
			byKey = map[logKey]*trackedFinding{}
			c.logs[f.Condition] = byKey
		}
		if len(byKey) >= maxLogFindingsPerCondition {
			dropped++
			continue
		}
		byKey[logKey{f.Condition, f.Reason, f.Subject}] = tf
		restored++
	}
	if restored > 0 || dropped > 0 {
		c.logger.Info("restored active log findings", "path", c.store.path, "restored", restored, "expired", dropped)
	}
}

func clearModeByName(name string) (probes.ClearMode, bool) {
	for mode, n := range clearModeNames {
		if n == name {
			return mode, true
		}
	}
	return 0, false
}

func truncateEvidence(ev map[string]string) map[string]string {
	if ev == nil {
		return nil
	}
	out := make(map[string]string, len(ev))
	for k, v := range ev {
		out[k] = truncateUTF8(v, maxPersistedEvidence)
	}
	return out
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// limitedReader fails instead of silently truncating, so an oversized file
// is reported as such rather than as a JSON syntax error.
type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("state file is over %d bytes", maxStateFileBytes)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
