package journal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/internal/journalexport"
	"github.com/nodetriage/nodetriage/internal/streamtest"
	"github.com/nodetriage/nodetriage/probes"
)

func TestMain(m *testing.M) {
	if os.Getenv(noLibsystemdHelperEnv) != "" {
		runWithoutLibsystemd()
		return
	}
	goleak.VerifyTestMain(m)
}

// sinkTimeout bounds each wait for a line.
const sinkTimeout = 15 * time.Second

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// entry is one journal entry for journal-remote's export format.
type entry struct {
	at     time.Time
	fields [][2]string
}

func kubeletEntry(at time.Time, msg string) entry {
	return entry{at: at, fields: [][2]string{
		{"_TRANSPORT", "stdout"}, {"PRIORITY", "6"}, {"SYSLOG_IDENTIFIER", "kubelet"},
		{"_SYSTEMD_UNIT", "kubelet.service"}, {"_PID", "1234"}, {"MESSAGE", msg},
	}}
}

// writeJournal turns entries into a real journal file with
// systemd-journal-remote (appending when the file exists).
func writeJournal(t *testing.T, file string, entries []entry) {
	t.Helper()
	export := make([]journalexport.Entry, len(entries))
	for i, e := range entries {
		export[i] = journalexport.Entry{Time: e.at, Fields: append([][2]string{
			{"_BOOT_ID", "0f2b3c4d5e6f47a8b9c0d1e2f3a4b5c6"}, {"_MACHINE_ID", "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6"}, {"_HOSTNAME", "node-a"},
		}, e.fields...)}
	}
	if err := journalexport.Write(file, export); err != nil {
		t.Fatal(err)
	}
}

func importExport(t *testing.T, file, export string) {
	t.Helper()
	f, err := os.Open(export)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := journalexport.Import(file, f); err != nil {
		t.Fatal(err)
	}
}

func newStream(t *testing.T, env probes.Env, opts probes.StreamOptions) *Stream {
	t.Helper()
	if env.Clock == nil {
		env.Clock = clock.RealClock{}
	}
	env.Logger = discardLogger()
	env.Settings.Path = "sources.journal.settings"
	s, err := New(env, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// follow runs the stream in the background; the returned stop cancels it
// and returns Run's error.
func follow(t *testing.T, s *Stream, sink probes.Sink) (stop func() error) {
	t.Helper()
	return streamtest.Run(t, s, sink, 10*time.Second)
}

func TestReadAgreesWithJournalctl(t *testing.T) {
	dir := t.TempDir()
	importExport(t, filepath.Join(dir, "system.journal"), "testdata/node-a.export")

	s := newStream(t, probes.Env{Host: probes.NewFS(t.TempDir())}, probes.StreamOptions{
		Path:  dir,
		Since: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC),
	})
	sink := streamtest.NewSink(sinkTimeout)
	if err := s.Run(context.Background(), sink); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// What journalctl itself reads from the same files.
	out, err := exec.Command("journalctl", "-D", dir, "-o", "json", "--no-pager").Output()
	if err != nil {
		t.Fatalf("journalctl -D %s -o json (apt-get install systemd): %v", dir, err)
	}
	byMessage := map[string]map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]string
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("journalctl json %q: %v", sc.Text(), err)
		}
		byMessage[e["MESSAGE"]] = e
	}
	if len(byMessage) != 10 {
		t.Fatalf("journalctl read %d entries, want the 10 of the export", len(byMessage))
	}

	// Every entry but sshd's, in journal order, with the source its
	// identifier, unit or transport says.
	wantSources := []probes.Source{
		probes.SourceKubelet, probes.SourceContainerd, probes.SourceSystemd, probes.SourceKernel,
		probes.SourceKmsgUser, probes.SourceCRIO, probes.SourceDockerd, probes.SourceKubeProxy, probes.SourceSystemd,
	}
	got := sink.Lines()
	if len(got) != len(wantSources) {
		t.Fatalf("read %d lines, want %d: %q", len(got), len(wantSources), sink.Texts())
	}
	for i, l := range got {
		e, ok := byMessage[l.Text]
		if !ok {
			t.Errorf("line %d %q is not in journalctl's output", i, l.Text)
			continue
		}
		usec, _ := strconv.ParseInt(e["__REALTIME_TIMESTAMP"], 10, 64)
		want := probes.Line{
			Source: wantSources[i],
			Time:   time.UnixMicro(usec),
			Text:   e["MESSAGE"],
			BootID: "0f2b3c4d-5e6f-47a8-b9c0-d1e2f3a4b5c6",
			Origin: "journal " + dir,
		}
		for _, f := range []string{"SYSLOG_IDENTIFIER", "_SYSTEMD_UNIT", "UNIT", "MESSAGE_ID", "PRIORITY"} {
			if v, ok := e[f]; ok {
				if want.Fields == nil {
					want.Fields = map[string]string{}
				}
				want.Fields[f] = v
			}
		}
		if diff := cmp.Diff(want, l); diff != "" {
			t.Errorf("line %d (-journalctl +stream):\n%s", i, diff)
		}
		if e["SYSLOG_IDENTIFIER"] == "sshd" {
			t.Errorf("sshd's entry was read: %q", l.Text)
		}
	}
}

func TestSinceBoundsTheRead(t *testing.T) {
	dir := t.TempDir()
	importExport(t, filepath.Join(dir, "system.journal"), "testdata/node-a.export")
	// 08:11:06.5 falls after the crio entry (08:11:08 is dockerd).
	s := newStream(t, probes.Env{Host: probes.NewFS(t.TempDir())}, probes.StreamOptions{
		Path: dir, Since: time.Date(2026, 11, 22, 8, 11, 8, 500000000, time.UTC),
	})
	sink := streamtest.NewSink(sinkTimeout)
	if err := s.Run(context.Background(), sink); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var sources []probes.Source
	for _, l := range sink.Lines() {
		sources = append(sources, l.Source)
	}
	if diff := cmp.Diff([]probes.Source{probes.SourceDockerd, probes.SourceKubeProxy, probes.SourceSystemd}, sources); diff != "" {
		t.Errorf("sources read since 08:11:08.5 (-want +got):\n%s", diff)
	}
}

// hostWithJournal builds a host root holding /var/log/journal/<machine-id>
// with the export's entries, and optionally a working /dev/kmsg.
func hostWithJournal(t *testing.T, withKmsg bool) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "var/log/journal/1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	importExport(t, filepath.Join(dir, "system.journal"), "testdata/node-a.export")
	if withKmsg {
		if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
			t.Fatal(err)
		}
		// The real kmsg device node (char 1:11); needs root, as the agent does.
		if err := unix.Mknod(filepath.Join(root, "dev/kmsg"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11))); err != nil {
			t.Fatalf("mknod dev/kmsg (run the tests as root): %v", err)
		}
	}
	return root
}

func TestKernelTransport(t *testing.T) {
	kernelText := "nf_conntrack: nf_conntrack: table full, dropping packet"
	userText := "BUG: soft lockup - CPU#0 stuck for 22s! [fake:1]"
	tests := []struct {
		name      string
		setting   string
		withKmsg  bool
		wantKern  bool
		wantKUser bool
	}{
		{name: "auto without /dev/kmsg reads the kernel transport", setting: KernelAuto, wantKern: true, wantKUser: true},
		{name: "auto with a readable /dev/kmsg leaves it to the kmsg stream", setting: KernelAuto, withKmsg: true},
		{name: "always", setting: KernelAlways, withKmsg: true, wantKern: true, wantKUser: true},
		{name: "never", setting: KernelNever},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := hostWithJournal(t, tt.withKmsg)
			env := probes.Env{
				Host:     probes.NewFS(root),
				Settings: probes.Settings{Raw: json.RawMessage(`{"kernelTransport":"` + tt.setting + `"}`)},
			}
			s := newStream(t, env, probes.StreamOptions{Since: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
			sink := streamtest.NewSink(sinkTimeout)
			if err := s.Run(context.Background(), sink); err != nil {
				t.Fatalf("Run: %v", err)
			}
			var gotKern, gotKUser bool
			for _, l := range sink.Lines() {
				switch {
				case l.Text == kernelText && l.Source == probes.SourceKernel:
					gotKern = true
				case l.Text == userText && l.Source == probes.SourceKmsgUser:
					gotKUser = true
				case l.Text == kernelText || l.Text == userText:
					t.Errorf("kernel-transport line %q has source %q", l.Text, l.Source)
				}
				if l.Origin != "journal /var/log/journal" {
					t.Errorf("origin %q, want the host path", l.Origin)
				}
			}
			if gotKern != tt.wantKern || gotKUser != tt.wantKUser {
				t.Errorf("kernel line read: %v (want %v); user write to kmsg read as kmsg-user: %v (want %v)", gotKern, tt.wantKern, gotKUser, tt.wantKUser)
			}
		})
	}
}

func TestCursorRestartNeitherReplaysNorSkips(t *testing.T) {
	// The host root holds the journal directory /j.
	root := t.TempDir()
	dir := filepath.Join(root, "j")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "system.journal")
	state := t.TempDir()
	now := time.Now()
	writeJournal(t, file, []entry{
		kubeletEntry(now.Add(-3*time.Second), "batch A 1"),
		kubeletEntry(now.Add(-2*time.Second), "batch A 2"),
		kubeletEntry(now.Add(-1*time.Second), "batch A 3"),
	})
	env := probes.Env{
		Host:     probes.NewFS(root),
		StateDir: state,
		Settings: probes.Settings{Raw: json.RawMessage(`{"directories":["/j"]}`)},
	}

	first := streamtest.NewSink(sinkTimeout)
	stop := follow(t, newStream(t, env, probes.StreamOptions{Follow: true}), first)
	first.WaitForText(t, "batch A 3")
	if err := stop(); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	if diff := cmp.Diff([]string{"batch A 1", "batch A 2", "batch A 3"}, first.Texts()); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	cursors, err := loadCursors(filepath.Join(state, cursorFile))
	if err != nil || cursors["/j"] == "" {
		t.Fatalf("cursor after shutdown = %v, %v; want one for /j", cursors, err)
	}

	// Written while the agent is down: must be read after the restart.
	writeJournal(t, file, []entry{kubeletEntry(time.Now(), "batch B 1"), kubeletEntry(time.Now(), "batch B 2")})

	second := streamtest.NewSink(sinkTimeout)
	follow(t, newStream(t, env, probes.StreamOptions{Follow: true}), second)
	second.WaitForText(t, "batch B 2")
	writeJournal(t, file, []entry{kubeletEntry(time.Now(), "batch C 1")})
	second.WaitForText(t, "batch C 1")
	if diff := cmp.Diff([]string{"batch B 1", "batch B 2", "batch C 1"}, second.Texts()); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
}

func TestFollowSeesNewEntriesPromptly(t *testing.T) {
	dir := t.TempDir()
	writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "initial")})
	sink := streamtest.NewSink(sinkTimeout)
	follow(t, newStream(t, probes.Env{Host: probes.NewFS(t.TempDir())}, probes.StreamOptions{Follow: true, Path: dir}), sink)
	sink.WaitForText(t, "initial")

	tests := []struct{ name, file string }{
		{"appended to the open file", "system.journal"},
		{"in a new file", "system@0001.journal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "new entry " + tt.name
			start := time.Now()
			writeJournal(t, filepath.Join(dir, tt.file), []entry{kubeletEntry(time.Now(), text)})
			exited := time.Now()
			arrived := sink.WaitForText(t, text).At
			// The entry is usually read while journal-remote is still
			// closing the file, so measure from its start: an upper bound.
			t.Logf("follow latency %s: %v after journal-remote started (it ran %v)", tt.name, arrived.Sub(start), exited.Sub(start))
		})
	}
}

func TestReopenResumesAtCursor(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "system.journal")
	writeJournal(t, file, []entry{kubeletEntry(time.Now(), "line 0")})
	s := newStream(t, probes.Env{Host: probes.NewFS(t.TempDir())}, probes.StreamOptions{Follow: true, Path: dir})
	s.cfg.ReopenInterval = metav1.Duration{Duration: time.Nanosecond} // reopen whenever idle
	sink := streamtest.NewSink(sinkTimeout)
	stop := follow(t, s, sink)
	want := []string{"line 0"}
	sink.WaitForText(t, "line 0")
	for i := 1; i <= 4; i++ {
		text := fmt.Sprintf("line %d", i)
		want = append(want, text)
		writeJournal(t, file, []entry{kubeletEntry(time.Now(), text)})
		sink.WaitForText(t, text)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, sink.Texts()); diff != "" {
		t.Errorf("lines across reopens (-want +got):\n%s", diff)
	}
	if s.opens < 3 {
		t.Errorf("handle opened %d times, want it reopened while idle", s.opens)
	}
}

// TestReopenAfterEntries: a handle that reads many entries without ever
// reaching the end (a storm) is reopened by volume, and every entry is
// still read exactly once, in order, across the reopens.
func TestReopenAfterEntries(t *testing.T) {
	dir := t.TempDir()
	var entries []entry
	var want []string
	start := time.Now().Add(-time.Minute)
	for i := range 50 {
		text := fmt.Sprintf("storm line %d", i)
		entries = append(entries, kubeletEntry(start.Add(time.Duration(i)*time.Millisecond), text))
		want = append(want, text)
	}
	writeJournal(t, filepath.Join(dir, "system.journal"), entries)
	s := newStream(t, probes.Env{Host: probes.NewFS(t.TempDir())}, probes.StreamOptions{Path: dir, Since: start.Add(-time.Second)})
	s.reopenAfter = 7
	sink := streamtest.NewSink(sinkTimeout)
	if err := s.Run(context.Background(), sink); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff(want, sink.Texts()); diff != "" {
		t.Errorf("lines across reopens (-want +got):\n%s", diff)
	}
	if s.opens < 50/7 {
		t.Errorf("handle opened %d times reading 50 entries, want a reopen every 7", s.opens)
	}
}

func TestFileVacuumedUnderTheReader(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "system@0001.journal")
	writeJournal(t, old, []entry{kubeletEntry(time.Now(), "in the old file")})
	writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "in the live file")})
	sink := streamtest.NewSink(sinkTimeout)
	stop := follow(t, newStream(t, probes.Env{Host: probes.NewFS(t.TempDir())}, probes.StreamOptions{Follow: true, Path: dir}), sink)
	sink.WaitForText(t, "in the live file")

	if err := os.Remove(old); err != nil { // what journalctl --vacuum-* does
		t.Fatal(err)
	}
	writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "after the vacuum")})
	sink.WaitForText(t, "after the vacuum")
	if err := stop(); err != nil {
		t.Errorf("Run after a vacuum: %v", err)
	}
}

func TestBadDirectories(t *testing.T) {
	empty := t.TempDir()
	garbage := t.TempDir()
	if err := os.WriteFile(filepath.Join(garbage, "system.journal"), []byte("this is not a journal file at all"), 0o640); err != nil {
		t.Fatal(err)
	}
	short := t.TempDir()
	if err := os.WriteFile(filepath.Join(short, "system.journal"), []byte("LPK"), 0o640); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(garbage, "system.journal")
	missing := filepath.Join(empty, "nope")

	tests := []struct {
		name, path, wantErr string
	}{
		{"missing", missing, "journal directory " + missing + ": stat " + missing + ": no such file or directory"},
		{"empty", empty, "journal directory " + empty + " has no journal files (*.journal)"},
		{"corrupt", garbage, "journal directory " + garbage + " has no readable journal file: system.journal: not a journal file (bad signature)"},
		{"truncated", short, "journal directory " + short + " has no readable journal file: system.journal: too short for a journal file"},
		{"a file", notDir, "journal directory " + notDir + " is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStream(t, probes.Env{Host: probes.NewFS(t.TempDir())}, probes.StreamOptions{Path: tt.path})
			err := s.Run(context.Background(), streamtest.NewSink(sinkTimeout))
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Run error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("reading a missing directory created it")
	}
}

func TestNotApplicableWithoutJournalDirectories(t *testing.T) {
	env := probes.Env{Host: probes.NewFS(t.TempDir()), Clock: clock.RealClock{}, Logger: discardLogger()}
	_, err := New(env, probes.StreamOptions{Follow: true})
	if !errors.Is(err, probes.ErrNotApplicable) {
		t.Errorf("New on a host without /var/log/journal and /run/log/journal = %v, want ErrNotApplicable", err)
	}
}

const (
	noLibsystemdHelperEnv = "NODETRIAGE_TEST_NO_LIBSYSTEMD"
	helperDirEnv          = "NODETRIAGE_TEST_JOURNAL_DIR"
)

// runWithoutLibsystemd runs in a child process with a private mount
// namespace: it hides libsystemd behind /dev/null, runs the stream and
// prints its error.
func runWithoutLibsystemd() {
	libs, _ := filepath.Glob("/usr/lib/*/libsystemd.so*")
	if len(libs) == 0 {
		fmt.Println("helper: no libsystemd to hide")
		os.Exit(3)
	}
	for _, lib := range libs {
		if err := unix.Mount("/dev/null", lib, "", unix.MS_BIND, ""); err != nil {
			fmt.Printf("helper: hide %s: %v\n", lib, err)
			os.Exit(3)
		}
	}
	env := probes.Env{Host: probes.NewFS("/"), Clock: clock.RealClock{}, Logger: discardLogger()}
	s, err := New(env, probes.StreamOptions{Path: os.Getenv(helperDirEnv)})
	if err == nil {
		err = s.Run(context.Background(), streamtest.NewSink(sinkTimeout))
	}
	fmt.Printf("error: %v\n", err)
}

func TestMissingLibsystemdIsOneClearError(t *testing.T) {
	dir := t.TempDir()
	writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "x")})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), noLibsystemdHelperEnv+"=1", helperDirEnv+"="+dir)
	cmd.SysProcAttr = &unix.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper in a private mount namespace (needs root): %v\n%s", err, out)
	}
	want := "error: libsystemd.so.0 not found (install libsystemd0): unable to open a handle to the library\n"
	if string(out) != want {
		t.Errorf("without libsystemd the stream said %q, want %q", out, want)
	}
}

func TestParseConfig(t *testing.T) {
	streamtest.RunParseConfig(t, "sources.journal.settings", ParseConfig, DefaultConfig, []streamtest.ConfigCase[Config]{
		{Name: "empty is the default", Raw: ""},
		{Name: "extras", Raw: `{"extraIdentifiers":{"k3s":"kubelet"},"extraUnits":{"k3s.service":"kubelet"},"kernelTransport":"never"}`, Want: func(c *Config) {
			c.ExtraIdentifiers = map[string]probes.Source{"k3s": probes.SourceKubelet}
			c.ExtraUnits = map[string]probes.Source{"k3s.service": probes.SourceKubelet}
			c.KernelTransport = KernelNever
		}},
		{Name: "lookback and intervals", Raw: `{"lookback":"1h","reopenInterval":"1m","cursorSaveInterval":"2s"}`, Want: func(c *Config) {
			c.Lookback.Duration = time.Hour
			c.ReopenInterval.Duration = time.Minute
			c.CursorSaveInterval.Duration = 2 * time.Second
		}},
		{Name: "kernel is reserved for the kernel transport", Raw: `{"extraIdentifiers":{"myagent":"kernel"}}`,
			WantErr: `sources.journal.settings.extraIdentifiers.myagent: source must be one of kubelet, containerd, crio, dockerd, kube-proxy, systemd, got "kernel"`},
		{Name: "unknown source", Raw: `{"extraUnits":{"x.service":"nginx"}}`,
			WantErr: `sources.journal.settings.extraUnits.x.service: source must be one of kubelet, containerd, crio, dockerd, kube-proxy, systemd, got "nginx"`},
		{Name: "bad identifier", Raw: `{"extraIdentifiers":{"a=b":"kubelet"}}`, WantErr: `sources.journal.settings.extraIdentifiers: "a=b" is not a journal field value`},
		{Name: "kernel transport value", Raw: `{"kernelTransport":"sometimes"}`, WantErr: `sources.journal.settings.kernelTransport: must be auto, always or never, got "sometimes"`},
		{Name: "reopen too often", Raw: `{"reopenInterval":"1s"}`, WantErr: "sources.journal.settings.reopenInterval: must be at least 10s, got 1s"},
		{Name: "cursor save too often", Raw: `{"cursorSaveInterval":"10ms"}`, WantErr: "sources.journal.settings.cursorSaveInterval: must be at least 1s, got 10ms"},
		{Name: "negative lookback", Raw: `{"lookback":"-1s"}`, WantErr: "sources.journal.settings.lookback: must not be negative, got -1s"},
		{Name: "bad duration", Raw: `{"reopenInterval":"often"}`, WantErr: `sources.journal.settings.reopenInterval: not a duration (like "90s" or "10m"): "often"`},
		{Name: "relative directory", Raw: `{"directories":["var/log/journal"]}`, WantErr: `sources.journal.settings.directories[0]: must be an absolute host path, got "var/log/journal"`},
		{Name: "no directories", Raw: `{"directories":[]}`, WantErr: "sources.journal.settings.directories: must list at least one directory"},
		{Name: "unknown field", Raw: `{"identifiers":[]}`, WantErr: `sources.journal.settings.identifiers: unknown field`},
	})
}

func TestSelectorSource(t *testing.T) {
	sel := selector{identifiers: DefaultIdentifiers, units: DefaultUnits, kernel: true}
	noKernel := sel
	noKernel.kernel = false
	tests := []struct {
		name   string
		sel    selector
		fields map[string]string
		want   probes.Source
		wantOK bool
	}{
		{"identifier", sel, map[string]string{"SYSLOG_IDENTIFIER": "kubelet"}, probes.SourceKubelet, true},
		{"unit when the identifier is another program", sel, map[string]string{"SYSLOG_IDENTIFIER": "conmon", "_SYSTEMD_UNIT": "crio.service"}, probes.SourceCRIO, true},
		{"systemd about a unit", sel, map[string]string{"SYSLOG_IDENTIFIER": "systemd", "_SYSTEMD_UNIT": "init.scope", "UNIT": "kubelet.service"}, probes.SourceSystemd, true},
		{"kernel facility 0", sel, map[string]string{"_TRANSPORT": "kernel", "SYSLOG_FACILITY": "0", "SYSLOG_IDENTIFIER": "kernel"}, probes.SourceKernel, true},
		{"kernel without facility", sel, map[string]string{"_TRANSPORT": "kernel"}, probes.SourceKernel, true},
		{"kernel transport off", noKernel, map[string]string{"_TRANSPORT": "kernel", "SYSLOG_FACILITY": "0"}, probes.SourceKernel, false},
		{"user write to /dev/kmsg", sel, map[string]string{"_TRANSPORT": "kernel", "SYSLOG_FACILITY": "1", "SYSLOG_IDENTIFIER": "root"}, probes.SourceKmsgUser, true},
		{"user write to /dev/kmsg posing as kubelet", noKernel, map[string]string{"_TRANSPORT": "kernel", "SYSLOG_FACILITY": "1", "SYSLOG_IDENTIFIER": "kubelet"}, probes.SourceKmsgUser, true},
		{"kube-proxy as a systemd unit", sel, map[string]string{"SYSLOG_IDENTIFIER": "kube-proxy-wrapper", "_SYSTEMD_UNIT": "kube-proxy.service"}, probes.SourceKubeProxy, true},
		{"cri-dockerd", sel, map[string]string{"SYSLOG_IDENTIFIER": "cri-dockerd", "_SYSTEMD_UNIT": "cri-docker.service"}, probes.SourceDockerd, true},
		{"unrelated", sel, map[string]string{"SYSLOG_IDENTIFIER": "sshd", "_SYSTEMD_UNIT": "ssh.service"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.sel.source(tt.fields)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("source(%v) = %q, %v; want %q, %v", tt.fields, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestSelectorMatches(t *testing.T) {
	tests := []struct {
		name string
		sel  selector
		want [][]string
	}{
		{
			name: "identifiers, units and the kernel transport",
			sel:  selector{identifiers: map[string]probes.Source{"kubelet": "kubelet", "systemd": "systemd"}, units: map[string]probes.Source{"kubelet.service": "kubelet"}, kernel: true},
			want: [][]string{{"SYSLOG_IDENTIFIER=kubelet", "SYSLOG_IDENTIFIER=systemd"}, {"_SYSTEMD_UNIT=kubelet.service"}, {"_TRANSPORT=kernel"}},
		},
		{
			// signals.md §6 and DESIGN: the kubelet, containerd, CRI-O,
			// dockerd (and its CRI shim), kube-proxy and systemd's unit
			// messages, by identifier and by unit.
			name: "defaults",
			sel:  selector{identifiers: DefaultIdentifiers, units: DefaultUnits},
			want: [][]string{
				{"SYSLOG_IDENTIFIER=containerd", "SYSLOG_IDENTIFIER=crio", "SYSLOG_IDENTIFIER=dockerd", "SYSLOG_IDENTIFIER=kube-proxy", "SYSLOG_IDENTIFIER=kubelet", "SYSLOG_IDENTIFIER=systemd"},
				{"_SYSTEMD_UNIT=containerd.service", "_SYSTEMD_UNIT=cri-docker.service", "_SYSTEMD_UNIT=crio.service", "_SYSTEMD_UNIT=docker.service", "_SYSTEMD_UNIT=kube-proxy.service", "_SYSTEMD_UNIT=kubelet.service"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.sel.matches()
			for _, g := range got {
				sort.Strings(g)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("matches (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnitMatchesReadByLibsystemd: lines a default unit writes under an
// identifier the stream does not know are read through the unit match, by
// libsystemd over a real journal file.
func TestUnitMatchesReadByLibsystemd(t *testing.T) {
	dir := t.TempDir()
	at := time.Now().Add(-time.Minute)
	unitEntry := func(i int, identifier, unit, msg string) entry {
		return entry{at: at.Add(time.Duration(i) * time.Second), fields: [][2]string{
			{"_TRANSPORT", "stdout"}, {"PRIORITY", "3"}, {"SYSLOG_IDENTIFIER", identifier},
			{"_SYSTEMD_UNIT", unit}, {"_PID", strconv.Itoa(1000 + i)}, {"MESSAGE", msg},
		}}
	}
	writeJournal(t, filepath.Join(dir, "system.journal"), []entry{
		unitEntry(0, "kube-proxy-wrapper", "kube-proxy.service", "kube-proxy under a wrapper"),
		unitEntry(1, "cri-dockerd", "cri-docker.service", "cri-dockerd line"),
		unitEntry(2, "sshd", "ssh.service", "not for the stream"),
	})
	s := newStream(t, probes.Env{Host: probes.NewFS(t.TempDir())}, probes.StreamOptions{Path: dir, Since: at.Add(-time.Second)})
	sink := streamtest.NewSink(sinkTimeout)
	if err := s.Run(context.Background(), sink); err != nil {
		t.Fatalf("Run: %v", err)
	}
	type read struct {
		Source probes.Source
		Text   string
	}
	var got []read
	for _, l := range sink.Lines() {
		got = append(got, read{l.Source, l.Text})
	}
	want := []read{{probes.SourceKubeProxy, "kube-proxy under a wrapper"}, {probes.SourceDockerd, "cri-dockerd line"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestFormatBootID(t *testing.T) {
	tests := map[string]string{
		"0f2b3c4d5e6f47a8b9c0d1e2f3a4b5c6":     "0f2b3c4d-5e6f-47a8-b9c0-d1e2f3a4b5c6",
		"ca4c4ec3-0227-4eda-a161-726a045240e7": "ca4c4ec3-0227-4eda-a161-726a045240e7",
		"":                                     "",
		"0F2B3C4D5E6F47A8B9C0D1E2F3A4B5CZ":     "0F2B3C4D5E6F47A8B9C0D1E2F3A4B5CZ",
	}
	for in, want := range tests {
		if got := formatBootID(in); got != want {
			t.Errorf("formatBootID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCursorFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", cursorFile)
	got, err := loadCursors(path)
	if err != nil || len(got) != 0 {
		t.Fatalf("loadCursors of a missing file = %v, %v; want empty", got, err)
	}
	want := map[string]string{"/var/log/journal": "s=1;i=2", "/run/log/journal": "s=3;i=4"}
	if err := saveCursors(path, want); err != nil {
		t.Fatalf("saveCursors: %v", err)
	}
	got, err = loadCursors(path)
	if err != nil {
		t.Fatalf("loadCursors: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cursors after a round trip (-want +got):\n%s", diff)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCursors(path); err == nil || !strings.Contains(err.Error(), "journal cursor file "+path+" is corrupt") {
		t.Errorf("loadCursors of a corrupt file = %v, want an error naming it", err)
	}
}

// The fake clock only matters for reopen timing; make sure a stream built
// with one still reads (PassiveClock is all the stream needs).
func TestRunWithFakeClock(t *testing.T) {
	dir := t.TempDir()
	importExport(t, filepath.Join(dir, "system.journal"), "testdata/node-a.export")
	env := probes.Env{Host: probes.NewFS(t.TempDir()), Clock: clocktesting.NewFakePassiveClock(time.Date(2026, 11, 22, 8, 12, 0, 0, time.UTC))}
	s := newStream(t, env, probes.StreamOptions{Path: dir}) // lookback 5m from 08:12
	sink := streamtest.NewSink(sinkTimeout)
	if err := s.Run(context.Background(), sink); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(sink.Lines()) != 9 {
		t.Errorf("read %d lines within the 5m look-back, want 9", len(sink.Lines()))
	}
}

func TestCursorOfVacuumedEntrySkipsNothingNewer(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "j")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	archived := filepath.Join(dir, "system@0001.journal")
	writeJournal(t, archived, []entry{kubeletEntry(time.Now(), "old 1"), kubeletEntry(time.Now(), "old 2")})
	env := probes.Env{
		Host:     probes.NewFS(root),
		StateDir: t.TempDir(),
		Settings: probes.Settings{Raw: json.RawMessage(`{"directories":["/j"]}`)},
	}
	first := streamtest.NewSink(sinkTimeout)
	stop := follow(t, newStream(t, env, probes.StreamOptions{Follow: true}), first)
	first.WaitForText(t, "old 2")
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// While the agent is down, the file holding the cursor's entry is
	// vacuumed and new entries land in another file.
	if err := os.Remove(archived); err != nil {
		t.Fatal(err)
	}
	writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "new 1"), kubeletEntry(time.Now(), "new 2")})

	second := streamtest.NewSink(sinkTimeout)
	follow(t, newStream(t, env, probes.StreamOptions{Follow: true}), second)
	second.WaitForText(t, "new 2")
	if diff := cmp.Diff([]string{"new 1", "new 2"}, second.Texts()); diff != "" {
		t.Errorf("after the cursor's file was vacuumed (-want +got):\n%s", diff)
	}
}

// hostJournalDirs builds a host root holding the named journal directories,
// empty.
func hostJournalDirs(t *testing.T, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestFollowWaitsForJournalFiles: an empty /var/log/journal (journald has
// not flushed yet) is waited for, not failed on: the stream keeps running,
// delivers no source and says so once, and reads the entries once files
// appear.
func TestFollowWaitsForJournalFiles(t *testing.T) {
	root := hostJournalDirs(t, "var/log/journal")
	logs := &streamtest.LogBuffer{}
	env := probes.Env{Host: probes.NewFS(root), Clock: clock.RealClock{}}
	s := newStream(t, env, probes.StreamOptions{Follow: true})
	s.log = slog.New(slog.NewTextHandler(logs, nil))
	s.dirPoll = 20 * time.Millisecond
	sink := streamtest.NewSink(sinkTimeout)
	stop := follow(t, s, sink)

	time.Sleep(10 * s.dirPoll) // ten polls of an empty directory
	if got := s.Sources(); len(got) != 0 {
		t.Errorf("Sources while there are no journal files = %v, want none", got)
	}
	if n := strings.Count(logs.String(), "no journal files yet"); n != 1 {
		t.Errorf("the wait was logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "journal directory /var/log/journal has no journal files (*.journal)") {
		t.Errorf("the log does not say which directory is empty:\n%s", logs.String())
	}

	dir := filepath.Join(root, "var/log/journal/1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "first entry after the flush")})
	sink.WaitForText(t, "first entry after the flush")
	if got := s.Sources(); !slices.Contains(got, probes.SourceKubelet) {
		t.Errorf("Sources once the journal is read = %v, want the kubelet among them", got)
	}
	writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "second entry")})
	sink.WaitForText(t, "second entry")
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestEmptyJournalIsAnErrorWithoutFollow: the check command (no follow)
// reports an empty journal directory instead of waiting for it.
func TestEmptyJournalIsAnErrorWithoutFollow(t *testing.T) {
	root := hostJournalDirs(t, "var/log/journal")
	s := newStream(t, probes.Env{Host: probes.NewFS(root)}, probes.StreamOptions{})
	err := s.Run(context.Background(), streamtest.NewSink(sinkTimeout))
	if want := "journal directory /var/log/journal has no journal files (*.journal)"; err == nil || err.Error() != want {
		t.Errorf("Run = %v, want %q", err, want)
	}
}

// TestFlushedJournalIsNotReadTwice: journald writes to /run/log/journal
// until it flushes into /var/log/journal, copying the runtime entries. The
// stream reads /var/log/journal once it has files, from after the newest
// entry it already read, so the copies are not read again.
func TestFlushedJournalIsNotReadTwice(t *testing.T) {
	root := hostJournalDirs(t, "var/log/journal", "run/log/journal/1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6")
	now := time.Now()
	runtimeEntries := []entry{kubeletEntry(now.Add(-2*time.Second), "runtime 1"), kubeletEntry(now.Add(-time.Second), "runtime 2")}
	writeJournal(t, filepath.Join(root, "run/log/journal/1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6/system.journal"), runtimeEntries)
	s := newStream(t, probes.Env{Host: probes.NewFS(root), Clock: clock.RealClock{}}, probes.StreamOptions{Follow: true})
	s.dirPoll = 20 * time.Millisecond
	sink := streamtest.NewSink(sinkTimeout)
	stop := follow(t, s, sink)
	sink.WaitForText(t, "runtime 2")

	persistent := filepath.Join(root, "var/log/journal/1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6")
	if err := os.Mkdir(persistent, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJournal(t, filepath.Join(persistent, "system.journal"), append(runtimeEntries, kubeletEntry(time.Now(), "after the flush")))
	sink.WaitForText(t, "after the flush")
	time.Sleep(5 * s.dirPoll)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"runtime 1", "runtime 2", "after the flush"}, sink.Texts()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// fullSink is the agent's queue filling up: it queues the first room lines
// and then waits (EmitWait) until ctx is done. Emit must not be used.
type fullSink struct {
	*streamtest.Sink
	room    int
	mu      sync.Mutex
	queued  int
	waiting chan struct{} // closed when a line first has to wait
	emits   atomic.Int32
}

func (s *fullSink) Emit(l probes.Line) {
	s.emits.Add(1)
	s.Sink.Emit(l)
}

func (s *fullSink) EmitWait(ctx context.Context, l probes.Line) error {
	s.mu.Lock()
	if s.queued < s.room {
		s.queued++
		s.mu.Unlock()
		s.Sink.Emit(l)
		return nil
	}
	if s.queued == s.room {
		s.queued++
		close(s.waiting)
	}
	s.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

// TestBlockingSinkKeepsTheCursorAtWhatWasQueued: with a sink that waits for
// room, nothing is dropped, and the persisted cursor stops at the last line
// queued, so a restart goes on from the first line that did not fit.
func TestBlockingSinkKeepsTheCursorAtWhatWasQueued(t *testing.T) {
	root := hostJournalDirs(t, "j")
	file := filepath.Join(root, "j", "system.journal")
	now := time.Now()
	var entries []entry
	var want []string
	for i := range 10 {
		text := fmt.Sprintf("entry %d", i)
		entries = append(entries, kubeletEntry(now.Add(time.Duration(i-10)*time.Second), text))
		want = append(want, text)
	}
	writeJournal(t, file, entries)
	env := probes.Env{
		Host: probes.NewFS(root), StateDir: t.TempDir(),
		Settings: probes.Settings{Raw: json.RawMessage(`{"directories":["/j"]}`)},
	}

	full := &fullSink{Sink: streamtest.NewSink(sinkTimeout), room: 4, waiting: make(chan struct{})}
	stop := follow(t, newStream(t, env, probes.StreamOptions{Follow: true}), full)
	select {
	case <-full.waiting:
	case <-time.After(sinkTimeout):
		t.Fatal("the stream never waited for room")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[:4], full.Texts()); diff != "" {
		t.Errorf("queued before the sink was full (-want +got):\n%s", diff)
	}
	if full.emits.Load() != 0 {
		t.Errorf("Emit called %d times: the stream must wait, not drop", full.emits.Load())
	}

	rest := streamtest.NewSink(sinkTimeout)
	follow(t, newStream(t, env, probes.StreamOptions{Follow: true}), rest)
	rest.WaitForText(t, "entry 9")
	if diff := cmp.Diff(want[4:], rest.Texts()); diff != "" {
		t.Errorf("after the restart (-want +got):\n%s", diff)
	}
}

// waitFor polls cond until it holds or sinkTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(sinkTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestJournalDirectoryGoneWhileFollowed: a host journal directory deleted
// or emptied while it is read is not re-opened (so never re-created) but
// reported the way a directory without journal files is at start — one
// warning, no source delivered — and read again from where it stopped once
// journal files are back. It is noticed at the idle reopen, and without one
// when libsystemd reports the files gone.
func TestJournalDirectoryGoneWhileFollowed(t *testing.T) {
	const machineID = "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6"
	tests := []struct {
		name   string
		reopen time.Duration
		// remove is what goes away, relative to the host root.
		remove string
	}{
		{"deleted, reopened whenever idle", time.Nanosecond, "var/log/journal"},
		{"deleted, never reopened", time.Hour, "var/log/journal"},
		{"emptied, reopened whenever idle", time.Nanosecond, "var/log/journal/" + machineID},
		{"emptied, never reopened", time.Hour, "var/log/journal/" + machineID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := hostJournalDirs(t, "var/log/journal/"+machineID)
			dir := filepath.Join(root, "var/log/journal", machineID)
			writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "before")})
			logs := &streamtest.LogBuffer{}
			env := probes.Env{
				Host: probes.NewFS(root), Clock: clock.RealClock{},
				Settings: probes.Settings{Raw: json.RawMessage(`{"directories":["/var/log/journal"]}`)},
			}
			s := newStream(t, env, probes.StreamOptions{Follow: true})
			s.log = slog.New(slog.NewTextHandler(logs, nil))
			s.cfg.ReopenInterval = metav1.Duration{Duration: tt.reopen}
			s.dirPoll = 20 * time.Millisecond
			sink := streamtest.NewSink(sinkTimeout)
			stop := follow(t, s, sink)
			sink.WaitForText(t, "before")
			waitFor(t, "the kubelet among the sources", func() bool { return slices.Contains(s.Sources(), probes.SourceKubelet) })

			if err := os.RemoveAll(filepath.Join(root, tt.remove)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "no source delivered", func() bool { return len(s.Sources()) == 0 })
			time.Sleep(10 * s.dirPoll) // polls (and, before the fix, reopens) of the gone directory
			if _, err := os.Stat(filepath.Join(root, tt.remove)); err == nil {
				t.Errorf("%s was re-created", tt.remove)
			}
			if n := strings.Count(logs.String(), "journal directory can no longer be read"); n != 1 {
				t.Errorf("the loss was logged %d times, want once:\n%s", n, logs.String())
			}
			if !strings.Contains(logs.String(), "journal directory /var/log/journal") {
				t.Errorf("the log does not name the directory:\n%s", logs.String())
			}

			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "after")})
			sink.WaitForText(t, "after")
			waitFor(t, "the kubelet among the sources again", func() bool { return slices.Contains(s.Sources(), probes.SourceKubelet) })
			writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "after 2")})
			sink.WaitForText(t, "after 2")
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff([]string{"before", "after", "after 2"}, sink.Texts()); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJournalDirGoneIsAnError: a --journal-dir that goes away while it is
// followed ends the stream with the error a missing directory gets at
// start, and is not re-created. It is moved away, in one step, so that no
// look sees it half deleted.
func TestJournalDirGoneIsAnError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "capture")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJournal(t, filepath.Join(dir, "system.journal"), []entry{kubeletEntry(time.Now(), "before")})
	s := newStream(t, probes.Env{Host: probes.NewFS(t.TempDir())}, probes.StreamOptions{Follow: true, Path: dir})
	s.cfg.ReopenInterval = metav1.Duration{Duration: time.Nanosecond}
	sink := streamtest.NewSink(sinkTimeout)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), sink) }()
	sink.WaitForText(t, "before")
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		want := "journal directory " + dir + ": stat " + dir + ": no such file or directory"
		if err == nil || err.Error() != want {
			t.Errorf("Run = %v, want %q", err, want)
		}
	case <-time.After(sinkTimeout):
		t.Fatal("Run went on after its directory was deleted")
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s was re-created", dir)
	}
}
