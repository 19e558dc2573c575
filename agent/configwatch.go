package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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
	a.logger.Info("config reloaded", "path", path)
}

// rejectReload logs before it counts, so whoever sees the rejection counted
// also finds it in the log.
func (a *Agent) rejectReload(path string, err error) {
	a.logger.Warn("config reload rejected; keeping the running config", "path", path, "err", err)
	a.metrics.configReloads.WithLabelValues("error").Inc()
	a.metrics.configLastReload.Set(0)
}

// apply switches to a prepared configuration: the matcher, the state
// machine's policy and the check loops whose settings changed. a.mu held.
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
	for _, name := range sortedKeys(p.cfg.Sources) {
		sc := p.cfg.Sources[name]
		if old := prev.Sources[name]; old.Enabled != sc.Enabled || old.QueueSize != sc.QueueSize || !bytes.Equal(old.Settings.Raw, sc.Settings.Raw) {
			a.logger.Warn("log source settings changed; they take effect when the agent restarts", "source", name)
		}
	}
}
