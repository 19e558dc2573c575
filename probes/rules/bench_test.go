package rules

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodetriage/nodetriage/probes"
)

// The benchmark mix: 1,000,000 lines from a seeded RNG, shaped like a busy
// node's logs (kubelet 40 %, containerd 25 %, kernel 15 %, systemd 15 %,
// kube-proxy 5 %), with about 1 % of the lines taken from the positive lines
// of the default-pack tests. Benign lines are filled with random pod names,
// UIDs, container IDs and times so no two are alike.
const benchMixLines = 1_000_000

var (
	benchMixOnce sync.Once
	benchMixData []probes.Line
)

func benchMix() []probes.Line {
	benchMixOnce.Do(func() { benchMixData = generateMix(benchMixLines, 1) })
	return benchMixData
}

type lineGen func(r *rand.Rand) string

func hexN(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

func uid(r *rand.Rand) string {
	return hexN(r, 8) + "-" + hexN(r, 4) + "-" + hexN(r, 4) + "-" + hexN(r, 4) + "-" + hexN(r, 12)
}

func pod(r *rand.Rand) string {
	names := []string{"web", "api", "worker", "redis", "nginx-ingress", "coredns", "fluent-bit", "metrics-server", "payments", "search"}
	nss := []string{"default", "kube-system", "prod", "staging", "monitoring"}
	return nss[r.IntN(len(nss))] + "/" + names[r.IntN(len(names))] + "-" + hexN(r, 5)
}

func klogHead(r *rand.Rand, sev byte, file string) string {
	return fmt.Sprintf("%c0102 %02d:%02d:%02d.%06d    2310 %s] ", sev, r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000000), file)
}

func ctdHead(r *rand.Rand, level string) string {
	return fmt.Sprintf(`time="2026-01-02T%02d:%02d:%02d.%09dZ" level=%s msg=`, r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000000000), level)
}

var benignLines = map[probes.Source][]lineGen{
	probes.SourceKubelet: {
		func(r *rand.Rand) string {
			return klogHead(r, 'I', "kubelet.go:2451") + fmt.Sprintf(`"SyncLoop (PLEG): event for pod" pod=%q event={"ID":%q,"Type":"ContainerStarted","Data":%q}`, pod(r), uid(r), hexN(r, 64))
		},
		func(r *rand.Rand) string {
			id := uid(r)
			return klogHead(r, 'I', "reconciler_common.go:245") + fmt.Sprintf(`"operationExecutor.VerifyControllerAttachedVolume started for volume \"kube-api-access-%s\" (UniqueName: \"kubernetes.io/projected/%s-kube-api-access-%s\") pod \"web\" (UID: \"%s\") " pod=%q`, hexN(r, 5), id, hexN(r, 5), id, pod(r))
		},
		func(r *rand.Rand) string {
			return klogHead(r, 'I', "kuberuntime_container.go:770") + fmt.Sprintf(`"Killing container with a grace period" pod=%q podUID=%q containerName="app" containerID="containerd://%s" gracePeriod=30`, pod(r), uid(r), hexN(r, 64))
		},
		func(r *rand.Rand) string {
			return klogHead(r, 'I', "prober.go:107") + fmt.Sprintf(`"Probe failed" probeType="Readiness" pod=%q podUID=%q containerName="app" probeResult="failure" output="Get \"http://10.244.%d.%d:8080/healthz\": dial tcp 10.244.%d.%d:8080: connect: connection refused"`, pod(r), uid(r), r.IntN(255), r.IntN(255), r.IntN(255), r.IntN(255))
		},
		func(r *rand.Rand) string {
			return klogHead(r, 'E', "pod_workers.go:1301") + fmt.Sprintf(`"Error syncing pod, skipping" err="failed to \"StartContainer\" for \"app\" with CrashLoopBackOff: \"back-off 5m0s restarting failed container=app pod=web_default(%s)\"" pod=%q podUID=%q`, uid(r), pod(r), uid(r))
		},
		func(r *rand.Rand) string {
			return klogHead(r, 'I', "scope.go:117") + fmt.Sprintf(`"RemoveContainer" containerID=%q`, hexN(r, 64))
		},
		func(r *rand.Rand) string {
			return klogHead(r, 'I', "kubelet.go:2449") + fmt.Sprintf(`"SyncLoop UPDATE" source="api" pods=[%q]`, pod(r))
		},
		func(r *rand.Rand) string {
			return klogHead(r, 'W', "watcher.go:93") + fmt.Sprintf(`Error while processing event ("/sys/fs/cgroup/devices/kubepods/besteffort/pod%s/%s": 0x40000100 == IN_CREATE|IN_ISDIR): open /sys/fs/cgroup/devices/kubepods/besteffort/pod%s/%s: no such file or directory`, uid(r), hexN(r, 64), uid(r), hexN(r, 64))
		},
		func(r *rand.Rand) string {
			return klogHead(r, 'I', "kuberuntime_image.go:60") + fmt.Sprintf(`"Pulling image" image="registry.example.com/team/app:%s"`, hexN(r, 7))
		},
	},
	probes.SourceContainerd: {
		func(r *rand.Rand) string {
			return ctdHead(r, "info") + fmt.Sprintf(`"CreateContainer within sandbox \"%s\" for container &ContainerMetadata{Name:app,Attempt:%d,}"`, hexN(r, 64), r.IntN(9))
		},
		func(r *rand.Rand) string {
			return ctdHead(r, "info") + fmt.Sprintf(`"StartContainer for \"%s\" returns successfully"`, hexN(r, 64))
		},
		func(r *rand.Rand) string {
			return ctdHead(r, "info") + fmt.Sprintf(`"shim disconnected" id=%s namespace=k8s.io`, hexN(r, 64))
		},
		func(r *rand.Rand) string {
			return ctdHead(r, "warning") + fmt.Sprintf(`"cleaning up after shim disconnected" id=%s namespace=k8s.io`, hexN(r, 64))
		},
		func(r *rand.Rand) string {
			return ctdHead(r, "info") + fmt.Sprintf(`"ImageUpdate event name:\"docker.io/library/nginx:1.%d\" labels:{key:\"io.cri-containerd.image\" value:\"managed\"}"`, r.IntN(30))
		},
		func(r *rand.Rand) string {
			return ctdHead(r, "info") + fmt.Sprintf(`"PullImage \"registry.example.com/team/app:%s\""`, hexN(r, 7))
		},
		func(r *rand.Rand) string {
			return ctdHead(r, "info") + fmt.Sprintf(`"TearDown network for sandbox \"%s\" successfully"`, hexN(r, 64))
		},
	},
	probes.SourceKernel: {
		func(r *rand.Rand) string {
			return fmt.Sprintf("IPv6: ADDRCONF(NETDEV_CHANGE): veth%s: link becomes ready", hexN(r, 8))
		},
		func(r *rand.Rand) string {
			return fmt.Sprintf("cni0: port %d(veth%s) entered forwarding state", r.IntN(64), hexN(r, 8))
		},
		func(r *rand.Rand) string { return fmt.Sprintf("device veth%s entered promiscuous mode", hexN(r, 8)) },
		func(r *rand.Rand) string { return fmt.Sprintf("eth0: renamed from tmp%d", r.IntN(99999)) },
		func(r *rand.Rand) string {
			return fmt.Sprintf(`audit: type=1400 audit(1767300000.%03d:%d): apparmor="STATUS" operation="profile_load" profile="unconfined" name="cri-containerd.apparmor.d" pid=%d comm="apparmor_parser"`, r.IntN(1000), r.IntN(100000), r.IntN(99999))
		},
		func(r *rand.Rand) string {
			return fmt.Sprintf("EXT4-fs (dm-%d): mounted filesystem with ordered data mode. Quota mode: none.", r.IntN(9))
		},
		func(r *rand.Rand) string {
			return "overlayfs: upperdir is in-use as upperdir/workdir of another mount, accessing files from both mounts will result in undefined behavior."
		},
		func(r *rand.Rand) string {
			return fmt.Sprintf("TCP: request_sock_TCP: Possible SYN flooding on port %d. Sending cookies.  Check SNMP counters.", 443+r.IntN(3))
		},
	},
	probes.SourceSystemd: {
		func(r *rand.Rand) string {
			id := hexN(r, 64)
			return fmt.Sprintf("Started cri-containerd-%s.scope - libcontainer container %s.", id, id)
		},
		func(r *rand.Rand) string {
			return fmt.Sprintf("cri-containerd-%s.scope: Deactivated successfully.", hexN(r, 64))
		},
		func(r *rand.Rand) string { return fmt.Sprintf("Started Session %d of User root.", r.IntN(9999)) },
		func(r *rand.Rand) string {
			return fmt.Sprintf("session-%d.scope: Deactivated successfully.", r.IntN(9999))
		},
		func(r *rand.Rand) string {
			p := strings.ReplaceAll(uid(r), "-", "_")
			return fmt.Sprintf("Created slice kubepods-besteffort-pod%s.slice - libcontainer container kubepods-besteffort-pod%s.slice.", p, p)
		},
		func(r *rand.Rand) string {
			return fmt.Sprintf("run-containerd-runc-k8s.io-%s-runc.%s.mount: Deactivated successfully.", hexN(r, 64), hexN(r, 6))
		},
	},
	probes.SourceKubeProxy: {
		func(r *rand.Rand) string { return klogHead(r, 'I', "proxier.go:796") + `"Syncing iptables rules"` },
		func(r *rand.Rand) string {
			return klogHead(r, 'I', "proxier.go:1494") + fmt.Sprintf(`"Reloading service iptables data" numServices=%d numEndpoints=%d numFilterChains=6 numFilterRules=12 numNATChains=30 numNATRules=%d`, r.IntN(200), r.IntN(900), r.IntN(2000))
		},
		func(r *rand.Rand) string {
			return klogHead(r, 'I', "proxier.go:790") + fmt.Sprintf(`"SyncProxyRules complete" elapsed="%d.%dms"`, r.IntN(200), r.IntN(10))
		},
	},
}

var benchSourceWeights = []struct {
	source probes.Source
	weight int
}{
	{probes.SourceKubelet, 40}, {probes.SourceContainerd, 25}, {probes.SourceKernel, 15}, {probes.SourceSystemd, 15}, {probes.SourceKubeProxy, 5},
}

// generateMix builds n lines; one in 100 is a positive line from the pack
// tests (for its own source).
func generateMix(n int, seed uint64) []probes.Line {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	positives := map[probes.Source][]string{}
	for _, tc := range allPackCases() {
		if len(tc.want) > 0 {
			positives[tc.source] = append(positives[tc.source], tc.line)
		}
	}
	lines := make([]probes.Line, n)
	at := testStart
	for i := range lines {
		w := r.IntN(100)
		var src probes.Source
		for _, sw := range benchSourceWeights {
			if w < sw.weight {
				src = sw.source
				break
			}
			w -= sw.weight
		}
		var text string
		if pos := positives[src]; r.IntN(100) == 0 && len(pos) > 0 {
			text = pos[r.IntN(len(pos))]
		} else {
			gens := benignLines[src]
			text = gens[r.IntN(len(gens))](r)
		}
		at = at.Add(time.Duration(r.IntN(2000)) * time.Microsecond)
		lines[i] = probes.Line{Source: src, Text: text, Time: at, BootID: "bench-boot", Origin: "bench"}
	}
	return lines
}

// BenchmarkEngineDefaultPack: one op is the whole 1M-line mix through the
// default packs. Run with -cpu 1 -benchtime 3x; lines/s is the number to
// compare with the ≥ 1,000,000 lines/s target.
func BenchmarkEngineDefaultPack(b *testing.B) {
	mix := benchMix()
	e, err := NewEngine(DefaultRules(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	matched := 0
	for _, l := range mix {
		if len(e.Match(l)) > 0 {
			matched++
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, l := range mix {
			e.Match(l)
		}
	}
	b.ReportMetric(float64(len(mix))*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(100*float64(matched)/float64(len(mix)), "%matched")
}

// BenchmarkEngineNonMatching: one op is one line that no rule matches (from
// the benign generators of every source); allocs/op must be 0.
func BenchmarkEngineNonMatching(b *testing.B) {
	lines := nonMatchingLines(b)
	e, err := NewEngine(DefaultRules(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		e.Match(lines[i%len(lines)])
		i++
	}
}

func nonMatchingLines(tb testing.TB) []probes.Line {
	tb.Helper()
	e, err := NewEngine(DefaultRules(), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []probes.Line
	for _, l := range generateMix(20000, 7) {
		if len(e.Match(l)) == 0 {
			out = append(out, l)
		}
	}
	return out
}

// TestNonMatchingLinesDoNotAllocate pins the zero-allocation promise of
// Match for lines no rule matches, including lines that pass the prefilter
// but not the regexp ("Started cri-containerd-…scope", "PullImage …").
func TestNonMatchingLinesDoNotAllocate(t *testing.T) {
	lines := nonMatchingLines(t)
	e := newTestEngine(t, DefaultRules())
	i := 0
	allocs := testing.AllocsPerRun(len(lines), func() {
		e.Match(lines[i%len(lines)])
		i++
	})
	if allocs != 0 {
		t.Errorf("Match allocates %.2f times per non-matching line, want 0", allocs)
	}
}

// BenchmarkPrefilterStrategies compares finding the candidate rules of a
// line with the Aho–Corasick scanner against one strings.Index (or a
// case-folding search) per literal, over the first 100,000 mix lines.
func BenchmarkPrefilterStrategies(b *testing.B) {
	mix := benchMix()[:100_000]
	e, err := NewEngine(DefaultRules(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("aho-corasick", func(b *testing.B) {
		for b.Loop() {
			for _, l := range mix {
				idx := e.sources[l.Source]
				var cand [8]uint64
				idx.scan.scan(l.Text, cand[:idx.words])
			}
		}
		b.ReportMetric(float64(len(mix))*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
	b.Run("index-per-literal", func(b *testing.B) {
		for b.Loop() {
			for _, l := range mix {
				idx := e.sources[l.Source]
				var cand [8]uint64
				for id, lit := range idx.scan.lits {
					if indexLiteral(l.Text, lit) {
						for _, m := range idx.scan.hits[id] {
							cand[m>>6] |= 1 << (uint(m) & 63)
						}
					}
				}
			}
		}
		b.ReportMetric(float64(len(mix))*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
	b.Run("no-prefilter", func(b *testing.B) {
		slow, err := NewEngine(DefaultRules(), Options{noPrefilter: true})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			for _, l := range mix {
				slow.Match(l)
			}
		}
		b.ReportMetric(float64(len(mix))*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
}

// indexLiteral is the simple alternative to the scanner: strings.Index for
// exact literals, and a first-byte search with byte folding otherwise.
func indexLiteral(text string, l literal) bool {
	if !strings.Contains(l.fold, "1") {
		return strings.Contains(text, l.text)
	}
	first := l.text[0]
	for i := 0; i+len(l.text) <= len(text); i++ {
		c := text[i]
		if foldByte(c) != first {
			continue
		}
		ok := true
		for j := 0; j < len(l.text) && ok; j++ {
			tc := text[i+j]
			if l.fold[j] == '1' {
				ok = foldByte(tc) == l.text[j]
			} else {
				ok = tc == l.text[j]
			}
		}
		if ok {
			return true
		}
	}
	return false
}
