package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"k8s.io/utils/clock"
)

// watchConfig reloads the configuration when its file changes. It watches
// the file's directory, not the file: a Kubernetes ConfigMap volume updates
// by swapping the ..data symlink to a new timestamped directory, which a
// watch on the old file (or its old target) never sees.
func (a *Agent) watchConfig(ctx context.Context) {
	path, err := filepath.Abs(a.opts.ConfigPath)
	if err != nil {
		a.logger.Warn("config hot reload disabled", "path", a.opts.ConfigPath, "err", err)
		return
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		a.logger.Warn("config hot reload disabled", "path", path, "err", err)
		return
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		a.logger.Warn("config hot reload disabled", "path", path, "err", err)
		return
	}
	var timer clock.Timer
	var fire <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.Events:
			if !ok {
				return
			}
			// Any change in the directory may be the swap; reload compares
			// bytes, so unrelated changes cost one read.
			if timer != nil {
				timer.Stop()
			}
			timer = a.clock.NewTimer(configReloadDebounce)
			fire = timer.C()
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			a.logger.Warn("config watch error", "path", path, "err", err)
		case <-fire:
			fire = nil
			a.reload(ctx)
		}
	}
}

// reload re-reads the configuration file. An invalid file is rejected and
// the running configuration stays.
func (a *Agent) reload(ctx context.Context) {
	path := a.opts.ConfigPath
	data, err := os.ReadFile(path)
	if err != nil {
		a.rejectReload(path, err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if bytes.Equal(data, a.cfgBytes) {
		return
	}
	cfg, err := ParseConfig(data, a.catalog())
	if err != nil {
		a.rejectReload(path, err)
		return
	}
	prep, err := a.prepare(cfg, a.cfg)
	if err != nil {
		a.rejectReload(path, err)
		return
	}
	// Counted before it takes effect, so whoever sees the new behaviour
	// (a condition changing) also sees the reload counted.
	a.metrics.configReloads.WithLabelValues("success").Inc()
	a.metrics.configLastReload.Set(1)
	a.apply(ctx, prep)
	a.cfgBytes = data
	if later := restartOnlyChanges(a.started, cfg); len(later) > 0 {
		a.logger.Warn("config reloaded, but some changes take effect only when the agent restarts",
			"path", path, "fields", strings.Join(later, ", "))
		return
	}
	a.logger.Info("config reloaded", "path", path)
}

// restartOnlyChanges names the fields of cfg that differ from started, the
// configuration the agent started with, among those read only at start:
// stateDir (the state file and the journal cursor are opened once), the
// whole reporting section (the Kubernetes reporter is built before the
// agent) and the log sources (their streams start with the agent).
func restartOnlyChanges(started, cfg *Config) []string {
	var fields []string
	if started.StateDir != cfg.StateDir {
		fields = append(fields, "stateDir")
	}
	was, now := started.Reporting, cfg.Reporting
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"reporting.batchInterval", was.BatchInterval != now.BatchInterval},
		{"reporting.heartbeatInterval", was.HeartbeatInterval != now.HeartbeatInterval},
		{"reporting.eventDedupWindow", was.EventDedupWindow != now.EventDedupWindow},
		{"reporting.eventBurstPerReason", was.EventBurstPerReason != now.EventBurstPerReason},
		{"reporting.eventsPerMinutePerReason", was.EventsPerMinutePerReason != now.EventsPerMinutePerReason},
	} {
		if f.changed {
			fields = append(fields, f.name)
		}
	}
	for _, name := range sortedKeys(cfg.Sources) {
		old, sc := started.Sources[name], cfg.Sources[name]
		path := "sources." + name
		if old.Enabled != sc.Enabled {
			fields = append(fields, path+".enabled")
		}
		if old.QueueSize != sc.QueueSize {
			fields = append(fields, path+".queueSize")
		}
		if !bytes.Equal(old.Settings.Raw, sc.Settings.Raw) {
			fields = append(fields, path+".settings")
		}
	}
	return fields
}

// rejectReload logs before it counts, so whoever sees the rejection counted
// also finds it in the log.
func (a *Agent) rejectReload(path string, err error) {
	a.logger.Warn("config reload rejected; keeping the running config", "path", path, "err", err)
	a.metrics.configReloads.WithLabelValues("error").Inc()
	a.metrics.configLastReload.Set(0)
}

// apply switches to a prepared configuration: the matcher, the state
// machine's policy and the check loops whose settings changed; the settings
// read only at start stay as they were (restartOnlyChanges). a.mu held.
func (a *Agent) apply(ctx context.Context, p *prepared) {
	prev := a.cfg
	if p.matcherChanged {
		a.matcher.store(p.matcher)
		a.ruleReasons = p.ruleReasons
	}
	a.cfg = p.cfg
	a.sm.Configure(a.policy(p.cfg, p.ruleReasons))
	runCtx := a.runCtx
	if runCtx == nil {
		runCtx = ctx
	}
	for _, spec := range a.opts.Checks {
		old, cc := prev.Checks[spec.Name], p.cfg.Checks[spec.Name]
		if sameCheckConfig(old, cc) {
			continue
		}
		a.sched.stop(spec.Name)
		if check, ok := p.checks[spec.Name]; ok {
			a.sched.start(runCtx, spec, cc, a.checkEnv(spec, cc, p.cfg), check)
		}
	}
}
