package hostchecks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// certNow is the fake clock's time in these tests.
var certNow = time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC)

// testCert makes a PEM certificate (and its key, as the kubelet stores
// them) valid from notBefore to notAfter. Generated per test: never check in
// certificates that expire.
func testCert(t testing.TB, notBefore, notAfter time.Time, usage x509.ExtKeyUsage) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "system:node:node-a", Organization: []string{"system:nodes"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...)
}

// writeCert writes a rotated certificate and points the -current symlink at
// it, the way the kubelet's certificate store does.
func writeCert(t testing.TB, root, current string, data []byte) {
	t.Helper()
	dir := filepath.Join(root, "var/lib/kubelet/pki")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dated := strings.Replace(current, "current", "2026-01-01-00-00-00", 1)
	if err := os.WriteFile(filepath.Join(dir, dated), data, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, current)
	_ = os.Remove(link)
	if err := os.Symlink("/var/lib/kubelet/pki/"+dated, link); err != nil {
		t.Fatal(err)
	}
}

// certEnv is an Env for the kubelet-cert check at certNow.
func certEnv(t testing.TB, root, settings string) probes.Env {
	return hostTestEnv(t, KubeletCertCheckName, root, hostTestEnvOptions{settings: settings, clock: testingclock.NewFakePassiveClock(certNow)})
}

func TestKubeletCertCheck(t *testing.T) {
	year := 365 * 24 * time.Hour
	tests := []struct {
		name   string
		client time.Duration // time left on the client certificate; 0 = no file
		server time.Duration // time left on the serving certificate; 0 = no file
		// want: severity per subject
		want map[string]probes.Severity
	}{
		{name: "healthy client", client: 200 * 24 * time.Hour, want: map[string]probes.Severity{}},
		{name: "just over the warning threshold", client: 7*24*time.Hour + time.Minute, want: map[string]probes.Severity{}},
		{name: "client under 7 days", client: 6 * 24 * time.Hour,
			want: map[string]probes.Severity{"/var/lib/kubelet/pki/kubelet-client-current.pem": probes.SeverityWarning}},
		{name: "client under 1 day", client: 12 * time.Hour,
			want: map[string]probes.Severity{"/var/lib/kubelet/pki/kubelet-client-current.pem": probes.SeverityProblem}},
		{name: "client expired", client: -3 * 24 * time.Hour,
			want: map[string]probes.Severity{"/var/lib/kubelet/pki/kubelet-client-current.pem": probes.SeverityProblem}},
		{name: "serving expiring, client healthy", client: year / 2, server: 2 * 24 * time.Hour,
			want: map[string]probes.Severity{"/var/lib/kubelet/pki/kubelet-server-current.pem": probes.SeverityWarning}},
		{name: "only a serving certificate", server: 30 * time.Minute,
			want: map[string]probes.Severity{"/var/lib/kubelet/pki/kubelet-server-current.pem": probes.SeverityProblem}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.client != 0 {
				writeCert(t, root, "kubelet-client-current.pem", testCert(t, certNow.Add(-year), certNow.Add(tc.client), x509.ExtKeyUsageClientAuth))
			}
			if tc.server != 0 {
				writeCert(t, root, "kubelet-server-current.pem", testCert(t, certNow.Add(-year), certNow.Add(tc.server), x509.ExtKeyUsageServerAuth))
			}
			findings, err := hostTestCheck(t, KubeletCertSpec(), certEnv(t, root, ""))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			got := map[string]probes.Severity{}
			for _, f := range findings {
				got[f.Subject] = f.Severity
				if f.Condition != ConditionKubeletUnhealthy || f.Reason != ReasonKubeletCertificateExpiring || f.Check != KubeletCertCheckName {
					t.Errorf("finding identity = %s/%s/%s", f.Check, f.Condition, f.Reason)
				}
				if f.Remedy == "" || !strings.Contains(f.Message, f.Evidence["notAfter"]) {
					t.Errorf("finding lacks remedy or expiry: %+v", f)
				}
				if !strings.HasPrefix(f.Evidence["symlinkTarget"], "/var/lib/kubelet/pki/kubelet-") {
					t.Errorf("symlinkTarget evidence = %q", f.Evidence["symlinkTarget"])
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("severity by subject (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKubeletCertGolden pins the whole finding (message, remedy, evidence)
// for the three situations an operator meets.
func TestKubeletCertGolden(t *testing.T) {
	year := 365 * 24 * time.Hour
	for _, tc := range []struct {
		name string
		left time.Duration
	}{
		{"expiring", 5*24*time.Hour + 3*time.Hour},
		{"expires-soon", 11*time.Hour + 59*time.Minute},
		{"expired", -(2*time.Hour + 10*time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeCert(t, root, "kubelet-client-current.pem", testCert(t, certNow.Add(-year), certNow.Add(tc.left), x509.ExtKeyUsageClientAuth))
			findings := hostTestFindings(t, KubeletCertSpec(), certEnv(t, root, ""))
			hostTestGolden(t, filepath.Join("testdata", "kubeletcert", tc.name+".golden.json"), findings)
		})
	}
}

func TestKubeletCertMessageStableWithinTheHour(t *testing.T) {
	root := t.TempDir()
	notAfter := certNow.Add(11*time.Hour + 30*time.Minute)
	writeCert(t, root, "kubelet-client-current.pem", testCert(t, certNow.Add(-24*time.Hour), notAfter, x509.ExtKeyUsageClientAuth))
	env := certEnv(t, root, "")
	clk := testingclock.NewFakePassiveClock(certNow)
	env.Clock = clk
	first, err := hostTestCheck(t, KubeletCertSpec(), env)
	if err != nil || len(first) != 1 {
		t.Fatalf("first run: %v, %v", first, err)
	}
	clk.SetTime(certNow.Add(29 * time.Minute))
	second, err := hostTestCheck(t, KubeletCertSpec(), env)
	if err != nil || len(second) != 1 {
		t.Fatalf("second run: %v, %v", second, err)
	}
	if first[0].Message != second[0].Message {
		t.Errorf("message changed within the hour:\n%s\n%s", first[0].Message, second[0].Message)
	}
	clk.SetTime(certNow.Add(31 * time.Minute))
	third, _ := hostTestCheck(t, KubeletCertSpec(), env)
	if len(third) != 1 || !strings.Contains(third[0].Message, "(in 10h)") {
		t.Errorf("after the hour boundary: %v", third)
	}
}

func TestKubeletCertNotApplicableAndErrors(t *testing.T) {
	t.Run("no certificate at all", func(t *testing.T) {
		_, err := hostTestCheck(t, KubeletCertSpec(), certEnv(t, t.TempDir(), ""))
		if !errors.Is(err, probes.ErrNotApplicable) {
			t.Fatalf("err = %v, want ErrNotApplicable", err)
		}
	})
	t.Run("corrupt PEM names the file", func(t *testing.T) {
		_, err := hostTestCheck(t, KubeletCertSpec(), certEnv(t, "testdata/kubeletcert/corrupt", ""))
		if err == nil || errors.Is(err, probes.ErrNotApplicable) || !strings.Contains(err.Error(), "/var/lib/kubelet/pki/kubelet-client-current.pem") {
			t.Fatalf("err = %v, want an error naming the file", err)
		}
	})
	t.Run("dangling symlink", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "var/lib/kubelet/pki")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/var/lib/kubelet/pki/kubelet-client-gone.pem", filepath.Join(dir, "kubelet-client-current.pem")); err != nil {
			t.Fatal(err)
		}
		_, err := hostTestCheck(t, KubeletCertSpec(), certEnv(t, root, ""))
		if err == nil || errors.Is(err, probes.ErrNotApplicable) || !strings.Contains(err.Error(), "kubelet-client-gone.pem") {
			t.Fatalf("err = %v, want an error naming the missing target", err)
		}
	})
}

func TestKubeletCertSettings(t *testing.T) {
	tests := []struct {
		settings string
		wantErr  string
	}{
		{`{"warningBefore": "72h", "problemBefore": "12h"}`, ""},
		{`{"paths": ["/etc/kubernetes/pki/kubelet.crt"]}`, ""},
		{`{"warningBefore": "7d"}`, `checks.kubelet-cert.settings.warningBefore: not a duration (like "90s" or "10m"): "7d"`},
		{`{"warningBefore": "0s"}`, `checks.kubelet-cert.settings.warningBefore: must be a positive duration like "168h", got 0s`},
		{`{"problemBefore": "-24h"}`, `checks.kubelet-cert.settings.problemBefore: must not be negative, got -24h0m0s`},
		{`{"problemBefore": "200h"}`, `checks.kubelet-cert.settings.problemBefore: must not be longer than warningBefore (168h), got 200h`},
		{`{"paths": []}`, `checks.kubelet-cert.settings.paths: must list at least one certificate file`},
		{`{"paths": ["kubelet.crt"]}`, `checks.kubelet-cert.settings.paths[0]: must be an absolute host path, got "kubelet.crt"`},
		{`{"warnBefore": "1h"}`, `checks.kubelet-cert.settings.warnBefore: unknown field`},
	}
	for _, tc := range tests {
		t.Run(tc.settings, func(t *testing.T) {
			_, err := KubeletCertSpec().New(certEnv(t, t.TempDir(), tc.settings))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Errorf("error = %q, want %q", got, tc.wantErr)
			}
		})
	}
}

func TestKubeletCertCustomThresholds(t *testing.T) {
	root := t.TempDir()
	writeCert(t, root, "kubelet-client-current.pem", testCert(t, certNow.Add(-time.Hour), certNow.Add(10*24*time.Hour), x509.ExtKeyUsageClientAuth))
	findings, err := hostTestCheck(t, KubeletCertSpec(), certEnv(t, root, `{"warningBefore": "720h", "problemBefore": "240h"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Severity != probes.SeverityWarning {
		t.Fatalf("findings = %+v, want one warning at 10 days left with warningBefore 30d", findings)
	}
}

func TestParseCertificatePEM(t *testing.T) {
	good := testCert(t, certNow, certNow.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	keyFirst := good[strings.Index(string(good), "-----BEGIN EC PRIVATE KEY"):]
	keyFirst = append(keyFirst, good[:strings.Index(string(good), "-----BEGIN EC PRIVATE KEY")]...)
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"certificate then key", good, ""},
		{"key then certificate", keyFirst, ""},
		{"empty", nil, "no PEM CERTIFICATE block"},
		{"only a key", good[strings.Index(string(good), "-----BEGIN EC PRIVATE KEY"):], "no PEM CERTIFICATE block"},
		{"garbage DER", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "parse certificate:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := parseCertificatePEM(tc.data)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr == "" && !cert.NotAfter.Equal(certNow.Add(time.Hour)):
				t.Fatalf("NotAfter = %v", cert.NotAfter)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestRoughDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "under 1h"},
		{59 * time.Minute, "under 1h"},
		{time.Hour, "1h"},
		{11*time.Hour + 59*time.Minute, "11h"},
		{47 * time.Hour, "47h"},
		{48 * time.Hour, "2d"},
		{6*24*time.Hour + 23*time.Hour, "6d"},
	} {
		if got := roughDuration(tc.d); got != tc.want {
			t.Errorf("roughDuration(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestKubeletCertWatchPaths(t *testing.T) {
	check, err := KubeletCertSpec().New(certEnv(t, t.TempDir(), ""))
	if err != nil {
		t.Fatal(err)
	}
	got := check.(probes.Watched).WatchPaths()
	if diff := cmp.Diff([]string{"/var/lib/kubelet/pki"}, got); diff != "" {
		t.Errorf("WatchPaths (-want +got):\n%s", diff)
	}
}
