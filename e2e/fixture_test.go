package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Fixture identities. The boot ID is what the agent reads from
// /proc/sys/kernel/random/boot_id under the host root; journal entries
// carry the same boot (without dashes, as journald writes _BOOT_ID).
const (
	fixtureBootID    = "9d5b3c2e-8f1a-4b6c-9e0d-7f2a1b3c4d5e"
	fixtureMachineID = "4f6a2b8c1d3e4f5a6b7c8d9e0f1a2b3c"
	kubeletCertPath  = "/var/lib/kubelet/pki/kubelet-client-current.pem"
	kubeletLogPath   = "/var/log/kubelet.log"
	journalDirPath   = "/var/log/journal"
	journalRemote    = "/lib/systemd/systemd-journal-remote"
)

// hostRoot is a fixture host filesystem, passed to the agent as its host
// root. It starts with only the boot ID: every other host path the agent
// looks at is missing unless a test puts it there, so no check reads
// anything of the real host.
type hostRoot struct {
	t   testing.TB
	dir string
}

func newHostRoot(t testing.TB) *hostRoot {
	t.Helper()
	h := &hostRoot{t: t, dir: t.TempDir()}
	h.writeFile("/proc/sys/kernel/random/boot_id", []byte(fixtureBootID+"\n"))
	return h
}

// path is the local path of a host path.
func (h *hostRoot) path(hostPath string) string {
	return filepath.Join(h.dir, filepath.FromSlash(hostPath))
}

func (h *hostRoot) writeFile(hostPath string, data []byte) {
	h.t.Helper()
	p := h.path(hostPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatalf("fixture: %v", err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		h.t.Fatalf("fixture: %v", err)
	}
}

// appendFile appends lines (each ending in a newline) in one write, as a
// logger does.
func (h *hostRoot) appendFile(hostPath string, lines ...string) {
	h.t.Helper()
	p := h.path(hostPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatalf("fixture: %v", err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatalf("fixture: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		h.t.Fatalf("fixture: append %s: %v", hostPath, err)
	}
}

// certSerial makes each installed certificate file name unique.
var certSerial atomic.Int64

// installKubeletCert installs a kubelet client certificate valid until
// notAfter the way the kubelet's certificate manager does: a new
// kubelet-client-<time>.pem (certificate and key), then the
// kubelet-client-current.pem symlink swapped to it with a rename, so the
// agent's directory watch sees one atomic change.
func (h *hostRoot) installKubeletCert(node string, notAfter time.Time) {
	h.t.Helper()
	data, err := kubeletClientCertPEM(node, notAfter.Add(-365*24*time.Hour), notAfter)
	if err != nil {
		h.t.Fatalf("fixture: kubelet certificate: %v", err)
	}
	dir := path.Dir(kubeletCertPath)
	name := fmt.Sprintf("kubelet-client-%s-%d.pem", time.Now().UTC().Format("2006-01-02-15-04-05"), certSerial.Add(1))
	h.writeFile(dir+"/"+name, data)
	tmp := h.path(dir + "/.current.tmp")
	os.Remove(tmp)
	// Absolute target, as the kubelet writes it; it resolves inside the
	// host root for the agent.
	if err := os.Symlink(dir+"/"+name, tmp); err != nil {
		h.t.Fatalf("fixture: %v", err)
	}
	if err := os.Rename(tmp, h.path(kubeletCertPath)); err != nil {
		h.t.Fatalf("fixture: %v", err)
	}
}

// kubeletClientCertPEM returns a PEM certificate and key for the kubelet of
// node, signed by a throw-away cluster CA, valid from notBefore to notAfter
// (x509 keeps whole seconds).
func kubeletClientCertPEM(node string, notBefore, notAfter time.Time) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubernetes"},
		NotBefore:             notBefore,
		NotAfter:              notAfter.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...), nil
}

// importJournal writes the entries of an export-format file from testdata
// into a real journal file under the host's /var/log/journal/<machine-id>/
// with systemd-journal-remote, moved in time so that the newest entry is at
// newest (see retimeExport).
func (h *hostRoot) importJournal(exportFile string, newest time.Time) {
	h.t.Helper()
	dir := h.path(journalDirPath + "/" + fixtureMachineID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatalf("fixture: %v", err)
	}
	writeJournal(h.t, dir, newest, exportFile)
}

// writeJournal turns the testdata/ export files, concatenated in order and
// retimed as one stream (their entries keep their spacing across files),
// into dir/system.journal.
func writeJournal(t testing.TB, dir string, newest time.Time, exportFiles ...string) {
	t.Helper()
	if _, err := os.Stat(journalRemote); err != nil {
		t.Fatalf("%s is missing: apt-get install systemd-journal-remote", journalRemote)
	}
	var raw []byte
	for _, f := range exportFiles {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		// An empty line ends the previous file's last entry.
		raw = append(append(raw, data...), "\n\n"...)
	}
	export, err := retimeExport(raw, newest)
	if err != nil {
		t.Fatalf("testdata/%s: %v", strings.Join(exportFiles, " + "), err)
	}
	tmp := filepath.Join(t.TempDir(), "entries.export")
	if err := os.WriteFile(tmp, export, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(journalRemote, "-o", filepath.Join(dir, "system.journal"), tmp).CombinedOutput()
	if err != nil {
		t.Fatalf("%s -o %s/system.journal %s: %v\n%s", journalRemote, dir, tmp, err, out)
	}
}

// mountTmpfs mounts a tmpfs with the given options (e.g. "size=8m") on
// hostPath in the host root and unmounts it when the test ends, whatever
// happens; it returns the local path. The mount is inside the test's temp
// dir, so the filesystem a check statfs's there is the test's own, not the
// machine's disk.
func (h *hostRoot) mountTmpfs(hostPath, options string) string {
	h.t.Helper()
	p := h.path(hostPath)
	if err := os.MkdirAll(p, 0o755); err != nil {
		h.t.Fatalf("fixture: %v", err)
	}
	if err := unix.Mount("tmpfs", p, "tmpfs", 0, options); err != nil {
		h.t.Fatalf("fixture: mount -t tmpfs -o %s on %s: %v (needs root)", options, p, err)
	}
	// Registered after the host root's TempDir, so it runs before the
	// directory is removed.
	h.t.Cleanup(func() {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			h.t.Errorf("fixture: unmount %s: %v", p, err)
		}
	})
	return p
}

// mknodKmsg creates dev/kmsg in the host root as a character device with
// the kernel log's numbers (1, 11): the agent reads the real kernel log
// through it while everything else it looks at stays inside the fixture. A
// device node rather than a symlink, because the agent resolves symlinks
// inside the host root, and rather than a bind mount, because it needs no
// unmount and disappears with the temp dir.
func (h *hostRoot) mknodKmsg() {
	h.t.Helper()
	p := h.path("/dev/kmsg")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatalf("fixture: %v", err)
	}
	if err := unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11))); err != nil {
		h.t.Fatalf("fixture: mknod %s c 1 11 (needs root with CAP_MKNOD and a filesystem without nodev): %v", p, err)
	}
}

// klogLine formats a kubelet log line with a klog header at at, as the
// kubelet writes to /var/log/kubelet.log.
func klogLine(at time.Time, severity byte, pid int, source, msg string) string {
	at = at.Local()
	return fmt.Sprintf("%c%s %7d %s] %s", severity, at.Format("0102 15:04:05.000000"), pid, source, msg)
}
