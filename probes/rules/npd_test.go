package rules

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

// npdVector is one row of testdata/npd/npd-vectors.tsv: NPD's own test line
// with the type and condition/reason NPD gives it.
type npdVector struct {
	source, line string
	outcomes     []string // "temporary/Reason" or "permanent/Condition/Reason"; empty = none
}

// readVectors groups the TSV rows by (source, line): NPD lists a line once
// per outcome (a hung docker task is both TaskHung and DockerHung).
func readVectors(t *testing.T) []npdVector {
	t.Helper()
	f, err := os.Open("testdata/npd/npd-vectors.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []npdVector
	index := map[string]int{}
	sc := bufio.NewScanner(f)
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 4 {
			t.Fatalf("vector row has %d columns: %q", len(cols), sc.Text())
		}
		key := cols[0] + "\t" + cols[1]
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, npdVector{source: cols[0], line: cols[1]})
		}
		switch cols[2] {
		case "none":
		case "temporary":
			out[i].outcomes = appendUnique(out[i].outcomes, "temporary/"+cols[3])
		case "permanent":
			out[i].outcomes = appendUnique(out[i].outcomes, "permanent/"+cols[3])
		default:
			t.Fatalf("unknown type %q", cols[2])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// outcomes turns findings into the vectors' notation.
func outcomes(fs []probes.Finding) []string {
	var out []string
	for _, f := range fs {
		if f.Condition == "" {
			out = appendUnique(out, "temporary/"+f.Reason)
		} else {
			out = appendUnique(out, "permanent/"+f.Condition+"/"+f.Reason)
		}
	}
	slices.Sort(out)
	return out
}

// vectorSources says which NPD files would see a vector's line and on which
// nodetriage source the line arrives.
var vectorSources = map[string]struct {
	source probes.Source
	files  []string
}{
	"kmsg":                       {probes.SourceKernel, []string{"kernel-monitor.json", "readonly-monitor.json"}},
	"filelog-kern.log":           {probes.SourceKernel, []string{"kernel-monitor-filelog.json"}},
	"filelog-messages":           {"", []string{"disk-log-message-filelog.json"}},
	"journald-dockerd":           {probes.SourceDockerd, []string{"docker-monitor.json"}},
	"journald-systemd":           {probes.SourceSystemd, []string{"systemd-monitor.json"}},
	"journald-abrt-notification": {"", []string{"abrt-adaptor.json"}},
	"filelog-windows-containerd": {probes.SourceContainerd, []string{"windows-containerd-monitor-filelog.json"}},
	// NPD ships no kubelet or containerd journal monitor.
	"journald-kubelet":    {probes.SourceKubelet, nil},
	"journald-containerd": {probes.SourceContainerd, nil},
}

// npdRejected are the NPD files ParseNPD refuses, with why.
var npdRejected = map[string]string{
	"disk-log-message-filelog.json": "npd disk-log-message-filelog.json: invalid JSON at line 19",
	"abrt-adaptor.json":             `npd abrt-adaptor.json: pluginConfig.source: journald identifier "abrt-notification" is not one nodetriage reads`,
	"systemd-monitor-counter.json":  `npd systemd-monitor-counter.json: plugin: "custom" is not a system-log-monitor plugin`,
}

func loadNPD(t *testing.T, file string) ([]Rule, error) {
	t.Helper()
	return LoadNPDFile(filepath.Join("testdata", "npd", file))
}

// TestNPDVectors imports NPD's own config files and checks that every
// vector line gets exactly NPD's type and reason. Where nodetriage cannot
// import the file, the test says so and expects nothing.
func TestNPDVectors(t *testing.T) {
	notImportable := map[string]string{
		"journald-abrt-notification": "abrt-adaptor.json reads the abrt-notification journal, which nodetriage does not read; ParseNPD rejects it (NPD: CCPPCrash/VMcore events)",
	}
	for _, v := range readVectors(t) {
		t.Run(v.source+"/"+v.line, func(t *testing.T) {
			vs, ok := vectorSources[v.source]
			if !ok {
				t.Fatalf("no mapping for vector source %q", v.source)
			}
			var rules []Rule
			for _, file := range vs.files {
				rs, err := loadNPD(t, file)
				if why, rejected := npdRejected[file]; rejected {
					if err == nil || !strings.HasPrefix(err.Error(), why) {
						t.Fatalf("ParseNPD(%s) error = %v, want prefix %q", file, err, why)
					}
					continue
				}
				if err != nil {
					t.Fatalf("ParseNPD(%s): %v", file, err)
				}
				rules = append(rules, rs...)
			}
			want := slices.Clone(v.outcomes)
			slices.Sort(want)
			if note, ok := notImportable[v.source]; ok {
				t.Logf("difference: %s", note)
				want = nil
			}
			var got []string
			if len(rules) > 0 {
				e := newTestEngine(t, rules)
				got = outcomes(e.Match(testLine(vs.source, v.line, testStart)))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outcomes (-want NPD +got):\n%s", diff)
			}
		})
	}
}

// TestNPDVectorsDefaultPacks runs NPD's vector lines through nodetriage's
// own default packs. Lines NPD and nodetriage judge differently are listed
// with the reason; everything else must agree with NPD.
func TestNPDVectorsDefaultPacks(t *testing.T) {
	type difference struct {
		got []string
		why string
	}
	differences := map[string]difference{
		"kmsg\tOops: 0000 [#1] SMP ": {
			[]string{"temporary/KernelOops"},
			"an oops line is a kernel bug whatever preceded it; NPD has no rule for it"},
		"kmsg\tXFS (dm-4): I/O Error Detected. Shutting down filesystem": {
			[]string{"permanent/ReadonlyFilesystem/XfsShutdown"},
			"a shut-down XFS is reported under ReadonlyFilesystem (see kernel.go), not NPD's XfsShutdown condition"},
		"kmsg\tXFS (nvme0n1p1): Corruption of in-memory data detected.  Shutting down filesystem": {
			[]string{"permanent/ReadonlyFilesystem/XfsShutdown"},
			"same as above"},
		"kmsg\tEDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x3ee0b4 offset:0x0 grain:32 syndrome:0x0)": {
			nil, "hardware (EDAC/CPER) errors are not in the default packs; import NPD's kernel-monitor.json for them"},
		"kmsg\tkernel: {37}[Hardware Error]: event severity: corrected":  {nil, "hardware errors: not in the default packs"},
		"kmsg\tkernel: {3}[Hardware Error]: event severity: recoverable": {nil, "hardware errors: not in the default packs"},
		"kmsg\tkernel: [Hardware Error]: event severity: fatal":          {nil, "hardware errors: not in the default packs"},
		"kmsg\tmce: [Hardware Error]: event severity: fatal":             {nil, "hardware errors: not in the default packs"},
		"filelog-kern.log\tJan  2 03:04:05 node1 kernel: [ 1234.567892] INFO: task airflow scheduler:1234 blocked for more than 120 seconds.": {
			[]string{"temporary/TaskHung"},
			"NPD's kern.log pattern (task \\S+:) rejects task names with spaces; the kmsg rule (and ours) accepts them"},
		"filelog-kern.log\tJan  2 03:04:05 node1 kernel: [ 1234.567893] divide error: 0000 [#1] SMP": {
			[]string{"temporary/KernelOops"},
			"NPD's kern.log message regexp `kernel: \\[.*\\] (.*)` is greedy and keeps only \"SMP\"; our rules search the whole line"},
		"journald-dockerd\tError trying v2 registry: failed to register layer: rename /var/lib/docker/image/overlay2/layerdb/tmp/write-set-091 /var/lib/docker/image/overlay2/layerdb/sha256/3b1e: directory not empty": {
			nil, "there is no Docker engine pack (dockershim is gone since Kubernetes 1.24); import NPD's docker-monitor.json"},
		"journald-dockerd\tHandler for GET /containers/abc/json returned error: readlink /var/lib/docker/overlay2/l/X5EKA2: invalid argument": {
			nil, "no Docker engine pack"},
		"journald-dockerd\tOCI runtime start failed: container process is already dead: unknown": {
			nil, "no Docker engine pack"},
		"journald-systemd\tStarted Kubernetes kubelet.": {
			nil, "one start is not a fault: the systemd pack reports KubeletRestartLoop at 5 starts in 20m (TestDefaultPacks)"},
		"journald-systemd\tStarted kubelet.service - Kubernetes kubelet.":                 {nil, "same: counted, not reported per start"},
		"journald-systemd\tStarting containerd.service - containerd container runtime...": {nil, "same: counted, not reported per start"},
		"journald-systemd\tStarting Docker Application Container Engine...":               {nil, "no Docker engine pack"},
		`filelog-windows-containerd` + "\t" + `time="2024-01-01T00:00:00.000000000Z" level=error msg="PullImage failed" error="failed to pull and unpack image \"mcr.microsoft.com/x:1\": failed to extract layer sha256:ab: archive/tar: invalid tar header"`: {
			nil, "a corrupt layer is one image's problem, not the node's; the containerd pack reports pull failures only for the sandbox image"},
		`journald-kubelet` + "\t" + `I1122 07:40:01.123456    2310 kubelet.go:2385] "Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 3m0.5s ago; threshold is 3m0s"`: {
			[]string{"permanent/KubeletUnhealthy/PLEGUnhealthy"},
			"NPD has no kubelet log monitor; PLEG is the kubelet pack's KubeletUnhealthy condition"},
	}
	notASource := map[string]bool{"filelog-messages": true, "journald-abrt-notification": true}

	used := map[string]bool{}
	for _, v := range readVectors(t) {
		key := v.source + "\t" + v.line
		t.Run(v.source+"/"+v.line, func(t *testing.T) {
			if notASource[v.source] {
				t.Logf("skipped for the default packs: %s is not a log nodetriage reads", v.source)
				return
			}
			vs := vectorSources[v.source]
			e := newTestEngine(t, DefaultRules())
			got := outcomes(e.Match(testLine(vs.source, v.line, testStart)))
			want := slices.Clone(v.outcomes)
			slices.Sort(want)
			if d, ok := differences[key]; ok {
				used[key] = true
				t.Logf("intentional difference from NPD (%v): %s", want, d.why)
				want = d.got
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
		})
	}
	for k := range differences {
		if !used[k] {
			t.Errorf("difference for %q matches no vector", k)
		}
	}
}

func TestParseNPDMapping(t *testing.T) {
	tests := []struct {
		file      string
		source    probes.Source
		check     string
		rules     int
		permanent []string
	}{
		{"kernel-monitor.json", probes.SourceKernel, "npd:kernel-monitor.json", 15, []string{"XfsShutdown/XfsHasShutdown", "CperHardwareErrorFatal/CperHardwareErrorFatal", "KernelDeadlock/DockerHung", "ReadonlyFilesystem/FilesystemIsReadOnly"}},
		{"readonly-monitor.json", probes.SourceKernel, "npd:readonly-monitor.json", 1, []string{"ReadonlyFilesystem/FilesystemIsReadOnly"}},
		{"docker-monitor.json", probes.SourceDockerd, "npd:docker-monitor.json", 3, []string{"CorruptDockerOverlay2/CorruptDockerOverlay2"}},
		{"systemd-monitor.json", probes.SourceSystemd, "npd:systemd-monitor.json", 3, nil},
		{"kernel-monitor-filelog.json", probes.SourceKernel, "npd:kernel-monitor-filelog.json", 8, []string{"KernelDeadlock/DockerHung"}},
		{"windows-containerd-monitor-filelog.json", probes.SourceContainerd, "npd:windows-containerd-monitor-filelog.json", 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			rules, err := loadNPD(t, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if len(rules) != tc.rules {
				t.Errorf("got %d rules, want %d", len(rules), tc.rules)
			}
			var permanent []string
			for _, r := range rules {
				if r.Check != tc.check || len(r.Sources) != 1 || r.Sources[0] != tc.source {
					t.Errorf("rule %s: check %q sources %v, want %q [%s]", r.Name, r.Check, r.Sources, tc.check, tc.source)
				}
				if !strings.HasSuffix(r.Pattern, `\z`) {
					t.Errorf("rule %s pattern %q is not anchored like NPD's", r.Name, r.Pattern)
				}
				if r.npd == nil || r.npd.multiLine {
					t.Errorf("rule %s: stock NPD patterns are single-line, got npd=%+v", r.Name, r.npd)
				}
				if r.Kind == KindPermanent {
					permanent = append(permanent, r.Condition+"/"+r.Reason)
					if r.Severity != probes.SeverityProblem {
						t.Errorf("permanent rule %s severity %s", r.Name, r.Severity)
					}
				} else if r.Severity != probes.SeverityWarning {
					t.Errorf("temporary rule %s severity %s", r.Name, r.Severity)
				}
			}
			if diff := cmp.Diff(tc.permanent, permanent); diff != "" {
				t.Errorf("permanent rules (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNPDFindings checks what an imported rule's finding carries: NPD's
// message (matched text + suffix), our clear policies and evidence.
func TestNPDFindings(t *testing.T) {
	rules, err := loadNPD(t, "kernel-monitor.json")
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t, rules)
	line := testLine(probes.SourceKernel, "  INFO: task docker:20744 blocked for more than 120 seconds.  ", testStart)
	got := e.Match(line)
	if len(got) != 2 {
		t.Fatalf("got %d findings, want TaskHung and DockerHung: %+v", len(got), got)
	}
	perm := got[1]
	if perm.Reason != "DockerHung" || perm.Condition != "KernelDeadlock" || perm.Check != "npd:kernel-monitor.json" {
		t.Errorf("second finding = %s/%s from %s", perm.Condition, perm.Reason, perm.Check)
	}
	if perm.Message != "INFO: task docker:20744 blocked for more than 120 seconds." {
		t.Errorf("message = %q, want the trimmed kmsg text as NPD reports it", perm.Message)
	}
	if perm.Clear != (probes.ClearPolicy{Mode: probes.ClearOnReboot, BootID: testBootID}) {
		t.Errorf("kernel permanent clear = %+v, want on reboot", perm.Clear)
	}
	if perm.Evidence["line"] != line.Text || !strings.Contains(perm.Remedy, "journalctl -k") {
		t.Errorf("evidence line %q remedy %q", perm.Evidence["line"], perm.Remedy)
	}

	docker, err := loadNPD(t, "docker-monitor.json")
	if err != nil {
		t.Fatal(err)
	}
	e = newTestEngine(t, docker)
	got = e.Match(testLine(probes.SourceDockerd, "Handler for GET /containers/abc/json returned error: readlink /var/lib/docker/overlay2/l/X5: invalid argument", testStart))
	if len(got) != 1 || got[0].Clear != (probes.ClearPolicy{Mode: probes.ClearAfterQuiet}) {
		t.Errorf("journald permanent finding = %+v, want ClearAfterQuiet with the agent's window", got)
	}
	if len(got) == 1 && !strings.Contains(got[0].Remedy, "journalctl -t dockerd") {
		t.Errorf("remedy %q does not say where to look", got[0].Remedy)
	}
}

// TestNPDBufferSemantics covers the patterns for which searching only the
// newest line would differ from NPD's joined buffer.
func TestNPDBufferSemantics(t *testing.T) {
	const head = `{"plugin":"journald","pluginConfig":{"source":"kubelet"},"bufferSize":3,"conditions":[{"type":"KubeletStuck","reason":"Fine","message":"ok"}],"rules":[`
	tests := []struct {
		name      string
		rule      string
		multiLine bool
		lines     []string
		// fires[i] is the outcome after line i ("" = none).
		fires []string
		msg   string // the message of the last finding
	}{
		{
			name:      "multi-line pattern spans two messages",
			rule:      `{"type":"temporary","reason":"TwoLine","pattern":"first\\nsecond"}`,
			multiLine: true,
			lines:     []string{"noise", "first", "second", "third"},
			fires:     []string{"", "", "TwoLine", ""},
			msg:       "first | second",
		},
		{
			name:      "floating branch matches anywhere in the buffer until it scrolls out",
			rule:      `{"type":"temporary","reason":"Float","pattern":"boom|end"}`,
			multiLine: true,
			lines:     []string{"boom here", "x", "y", "z"},
			fires:     []string{"Float", "Float", "Float", ""},
		},
		{
			name:      "begin-of-text anchor matches only at the buffer start",
			rule:      `{"type":"temporary","reason":"Anchored","pattern":"^start"}`,
			multiLine: true,
			lines:     []string{"start", "a", "b"},
			fires:     []string{"", "", ""},
		},
		{
			name:  "plain pattern is anchored at the end of the newest message",
			rule:  `{"type":"temporary","reason":"Tail","pattern":"tail"}`,
			lines: []string{"tail", "tail not", "  tail  "},
			fires: []string{"Tail", "", "Tail"},
			msg:   "tail",
		},
		{
			name:  "suffix is appended like NPD's patternGeneratedMessageSuffix",
			rule:  `{"type":"permanent","condition":"KubeletStuck","reason":"Stuck","pattern":"stuck .*","patternGeneratedMessageSuffix":"see runbook 42"}`,
			lines: []string{"kubelet stuck for 5m"},
			fires: []string{"KubeletStuck/Stuck"},
			msg:   "kubelet stuck for 5m; see runbook 42",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := ParseNPD([]byte(head+tc.rule+`]}`), "test.json")
			if err != nil {
				t.Fatal(err)
			}
			if rules[0].npd.multiLine != tc.multiLine {
				t.Fatalf("multiLine = %v, want %v", rules[0].npd.multiLine, tc.multiLine)
			}
			e := newTestEngine(t, rules)
			var last probes.Finding
			for i, l := range tc.lines {
				got := e.Match(testLine(probes.SourceKubelet, l, testStart.Add(time.Duration(i)*time.Second)))
				var out string
				if len(got) > 0 {
					last = got[0]
					out = got[0].Reason
					if got[0].Condition != "" {
						out = got[0].Condition + "/" + out
					}
				}
				if out != tc.fires[i] {
					t.Errorf("after line %d %q: got %q, want %q", i, l, out, tc.fires[i])
				}
			}
			if tc.msg != "" && last.Message != tc.msg {
				t.Errorf("message = %q, want %q", last.Message, tc.msg)
			}
		})
	}
}

func TestParseNPDErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"lookahead", `{"plugin":"kmsg","rules":[{"type":"temporary","reason":"A","pattern":"a"},{"type":"temporary","reason":"B","pattern":"x"},{"type":"temporary","reason":"C","pattern":"c"},{"type":"temporary","reason":"D","pattern":"d"},{"type":"temporary","reason":"E","pattern":"foo(?=bar)"}]}`,
			"npd x.json: rules[4].pattern: RE2 does not support lookahead `(?=`"},
		{"lookbehind", `{"plugin":"kmsg","rules":[{"type":"temporary","reason":"A","pattern":"(?<=a)b"}]}`, "npd x.json: rules[0].pattern: RE2 does not support lookbehind `(?<=`"},
		{"custom plugin", `{"plugin":"custom","pluginConfig":{"concurrency":1}}`, `npd x.json: plugin: "custom" is not a system-log-monitor plugin (want kmsg, journald or filelog)`},
		{"no plugin", `{"rules":[]}`, "npd x.json: plugin: missing (want kmsg, journald or filelog)"},
		{"not JSON", `{"plugin": "kmsg",}`, "npd x.json: invalid JSON at line 1: invalid character '}' looking for beginning of object key string"},
		{"wrong type", `{"plugin":"kmsg","bufferSize":"10"}`, "npd x.json: bufferSize: cannot use JSON string as int"},
		{"journald without source", `{"plugin":"journald","pluginConfig":{}}`, "npd x.json: pluginConfig.source: missing: journald needs the SYSLOG_IDENTIFIER to read"},
		{"journald unknown identifier", `{"plugin":"journald","pluginConfig":{"source":"sshd"}}`,
			`npd x.json: pluginConfig.source: journald identifier "sshd" is not one nodetriage reads (want one of containerd, crio, docker, dockerd, kernel, kube-proxy, kubelet, systemd)`},
		{"filelog unknown file", `{"plugin":"filelog","logPath":"/var/log/syslog","pluginConfig":{"message":"(.*)"}}`,
			`npd x.json: logPath: "/var/log/syslog" is not a log nodetriage reads (want a file named one of containerd.log, crio.log, docker.log, dockerd.log, kern.log, kube-proxy.log, kubelet.log)`},
		{"filelog without message regexp", `{"plugin":"filelog","logPath":"/var/log/kubelet.log","pluginConfig":{"timestamp":"^.{15}"}}`,
			"npd x.json: pluginConfig.message: missing: filelog needs the regexp that extracts the message"},
		{"filelog bad message regexp", `{"plugin":"filelog","logPath":"/var/log/kubelet.log","pluginConfig":{"message":"(unclosed"}}`,
			"npd x.json: pluginConfig.message: error parsing regexp: missing closing ): `(unclosed`"},
		{"bad rule type", `{"plugin":"kmsg","rules":[{"type":"sometimes","reason":"A","pattern":"a"}]}`, `npd x.json: rules[0].type: "sometimes" is neither temporary nor permanent`},
		{"undeclared condition", `{"plugin":"kmsg","rules":[{"type":"permanent","condition":"Nope","reason":"A","pattern":"a"}]}`,
			`npd x.json: rules[0].condition: "Nope" is not declared in conditions (NPD would never set it)`},
		{"permanent without condition", `{"plugin":"kmsg","rules":[{"type":"permanent","reason":"A","pattern":"a"}]}`, "npd x.json: rules[0].condition: a permanent rule must name a condition"},
		{"empty pattern", `{"plugin":"kmsg","rules":[{"type":"temporary","reason":"A","pattern":""}]}`, "npd x.json: rules[0].pattern: must not be empty"},
		{"bad reason", `{"plugin":"kmsg","rules":[{"type":"temporary","reason":"oom killing","pattern":"a"}]}`, `npd x.json: rules[0].reason: "oom killing" must be CamelCase starting with an upper-case letter`},
		{"reserved condition", `{"plugin":"kmsg","conditions":[{"type":"KernelReady"}]}`, `npd x.json: conditions[0].type: "KernelReady" is reserved (cluster autoscalers replace nodes on it)`},
		{"buffer too large", `{"plugin":"kmsg","bufferSize":100000}`, "npd x.json: bufferSize: must be between 1 and 1000, got 100000"},
		{"pluginConfig not strings", `{"plugin":"journald","pluginConfig":{"source":5}}`, "npd x.json: pluginConfig: want an object of strings: cannot use JSON number as string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNPD([]byte(tc.json), "/etc/npd/x.json")
			if err == nil {
				t.Fatalf("ParseNPD succeeded, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := LoadNPDFile(filepath.Join(t.TempDir(), "absent.json"))
		if err == nil || !strings.HasPrefix(err.Error(), "read npd rules file: open ") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("unknown fields are ignored like NPD", func(t *testing.T) {
		_, err := ParseNPD([]byte(`{"plugin":"kmsg","metricsReporting":true,"future":{"x":1},"rules":[{"type":"temporary","reason":"A","pattern":"a","taintEnabled":true}]}`), "x.json")
		if err != nil {
			t.Errorf("ParseNPD: %v", err)
		}
	})
}

// FuzzParseNPD: arbitrary input never panics, errors are one line naming
// the file, and whatever is accepted builds an engine that matches lines.
func FuzzParseNPD(f *testing.F) {
	for _, file := range []string{"kernel-monitor.json", "docker-monitor.json", "systemd-monitor.json", "kernel-monitor-filelog.json", "windows-containerd-monitor-filelog.json", "disk-log-message-filelog.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "npd", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"plugin":"journald","pluginConfig":{"source":"kubelet"},"bufferSize":2,"rules":[{"type":"temporary","reason":"A","pattern":"a\\nb"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := ParseNPD(data, "fuzz.json")
		if err != nil {
			if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "npd fuzz.json: ") {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		e, err := NewEngine(rules, Options{Logger: discardLogger})
		if err != nil {
			t.Fatalf("ParseNPD accepted rules NewEngine rejects: %v", err)
		}
		for _, src := range ruleSources {
			for _, l := range []string{"", "a", "b", "Killed process 1 (x) total-vm:1kB, anon-rss:1kB, file-rss:1kB", string(data)} {
				e.Match(probes.Line{Source: src, Text: l})
			}
		}
	})
}

// TestNPDBuffersPerFile: each imported file keeps one buffer, fed once per
// line, even when its rules are interleaved with another file's.
func TestNPDBuffersPerFile(t *testing.T) {
	a, err := ParseNPD([]byte(`{"plugin":"journald","pluginConfig":{"source":"kubelet"},"bufferSize":2,"rules":[
		{"type":"temporary","reason":"PairA","pattern":"x\\ny"},{"type":"temporary","reason":"OtherA","pattern":"q\\nq"}]}`), "a.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseNPD([]byte(`{"plugin":"journald","pluginConfig":{"source":"kubelet"},"bufferSize":3,"rules":[
		{"type":"temporary","reason":"TripleB","pattern":"x\\ny\\nz"}]}`), "b.json")
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t, []Rule{a[0], b[0], a[1]})
	var got []string
	for i, l := range []string{"x", "y", "z"} {
		for _, f := range e.Match(testLine(probes.SourceKubelet, l, testStart.Add(time.Duration(i)*time.Second))) {
			got = append(got, f.Check+":"+f.Reason)
		}
	}
	if diff := cmp.Diff([]string{"npd:a.json:PairA", "npd:b.json:TripleB"}, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}
