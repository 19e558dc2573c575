package agent

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"

	"github.com/nodetriage/nodetriage/probes"
)

// watchSet re-runs probes.Watched checks when one of their files changes.
// One fsnotify watcher serves every check; it is created on the first watch
// so an agent without watched checks runs no watcher goroutine. A file is
// watched through its directory, so an atomic replace (write temp, rename)
// is seen too.
type watchSet struct {
	logger *slog.Logger

	mu      sync.Mutex
	watcher *fsnotify.Watcher
	dirs    map[string]int // watched directory → number of subscriptions
	subs    map[string][]watchSub
	closed  bool
	wg      sync.WaitGroup
}

type watchSub struct {
	dir     string
	file    string // "" = anything in dir
	trigger chan<- struct{}
}

func newWatchSet(logger *slog.Logger) *watchSet {
	return &watchSet{logger: logger, dirs: map[string]int{}, subs: map[string][]watchSub{}}
}

// add subscribes check to the host paths; trigger gets a non-blocking send
// on every change. Paths that do not exist (nor their parent) are skipped:
// the check's interval still covers them.
func (w *watchSet) add(check string, host probes.FS, paths []string, trigger chan<- struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.watcher == nil {
		watcher, err := fsnotify.NewWatcher()
		if err != nil {
			w.logger.Warn("cannot watch files; watched checks run on their interval only", "check", check, "err", err)
			return
		}
		w.watcher = watcher
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.dispatch(watcher)
		}()
	}
	for _, p := range paths {
		local, err := host.Path(p)
		if err != nil {
			w.logger.Debug("cannot resolve watched path", "check", check, "path", p, "err", err)
			continue
		}
		sub := watchSub{dir: local, trigger: trigger}
		if fi, err := os.Stat(local); err != nil || !fi.IsDir() {
			sub = watchSub{dir: filepath.Dir(local), file: local, trigger: trigger}
		}
		if w.dirs[sub.dir] == 0 {
			if err := w.watcher.Add(sub.dir); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					w.logger.Warn("cannot watch path", "check", check, "path", sub.dir, "err", err)
				}
				continue
			}
		}
		w.dirs[sub.dir]++
		w.subs[check] = append(w.subs[check], sub)
	}
}

// remove drops every subscription of check.
func (w *watchSet) remove(check string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, sub := range w.subs[check] {
		w.dirs[sub.dir]--
		if w.dirs[sub.dir] == 0 {
			delete(w.dirs, sub.dir)
			if w.watcher != nil {
				_ = w.watcher.Remove(sub.dir) // the directory may be gone already
			}
		}
	}
	delete(w.subs, check)
}

func (w *watchSet) dispatch(watcher *fsnotify.Watcher) {
	for {
		select {
		case ev, ok := <-watcher.Events:
			if !ok {
				return
			}
			w.notify(ev.Name)
		case err, ok := <-watcher.Errors:
			if !ok {
				return
			}
			w.logger.Warn("file watch error; watched checks still run on their interval", "err", err)
		}
	}
}

func (w *watchSet) notify(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, subs := range w.subs {
		for _, sub := range subs {
			if (sub.file == "" && (filepath.Dir(name) == sub.dir || name == sub.dir)) || name == sub.file {
				select {
				case sub.trigger <- struct{}{}:
				default:
				}
			}
		}
	}
}

// close stops the watcher and waits for its goroutine.
func (w *watchSet) close() {
	w.mu.Lock()
	watcher := w.watcher
	w.watcher = nil
	w.closed = true
	w.mu.Unlock()
	if watcher != nil {
		watcher.Close()
	}
	w.wg.Wait()
}
