package hostchecks

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Kubelet certificate check: names, condition and reason.
const (
	KubeletCertCheckName             = "kubelet-cert"
	ConditionKubeletUnhealthy        = "KubeletUnhealthy"
	ReasonKubeletCertificateExpiring = "KubeletCertificateExpiring"
)

// KubeletCertConfig is checks.kubelet-cert.settings.
type KubeletCertConfig struct {
	// Paths are host paths of kubelet certificates (PEM); files that do not
	// exist are skipped. The client certificate authenticates the kubelet
	// to the API server, the serving certificate is what the API server
	// sees on kubectl logs/exec.
	Paths []string `json:"paths"`
	// WarningBefore: a certificate expiring sooner is a warning ("168h" =
	// 7 days).
	WarningBefore metav1.Duration `json:"warningBefore"`
	// ProblemBefore: sooner, or already expired, is a problem.
	ProblemBefore metav1.Duration `json:"problemBefore"`
}

// DefaultKubeletCertConfig: the kubelet's certificate directory
// (--cert-dir, default /var/lib/kubelet/pki) and thresholds a working
// rotation never comes near.
func DefaultKubeletCertConfig() KubeletCertConfig {
	return KubeletCertConfig{
		Paths: []string{
			"/var/lib/kubelet/pki/kubelet-client-current.pem",
			"/var/lib/kubelet/pki/kubelet-server-current.pem",
		},
		WarningBefore: metav1.Duration{Duration: 7 * 24 * time.Hour},
		ProblemBefore: metav1.Duration{Duration: 24 * time.Hour},
	}
}

// KubeletCertSpec is the kubelet-cert check.
//
// It reads the NotAfter of the kubelet's client certificate
// (/var/lib/kubelet/pki/kubelet-client-current.pem, a symlink the kubelet
// moves to each new certificate) and, when present, its serving certificate
// (kubelet-server-current.pem), under the host root. It sets KubeletUnhealthy
// with reason KubeletCertificateExpiring, one finding per certificate:
// warning under 7 days left, problem under 1 day or expired. It does not
// apply when none of the files exists (a kubelet with a static
// --tls-cert-file and a kubeconfig holding inline credentials); a file that
// is not a PEM certificate is an error naming it.
//
// Thresholds: the kubelet's certificate manager (client-go
// util/certificate) requests a new certificate at a jittered 70–90 % of the
// old one's lifetime, and kube-controller-manager signs for one year by
// default (--cluster-signing-duration 8760h), so with rotation working a
// client certificate never gets within ~36 days of expiry. Seven days left
// means rotation is off (rotateCertificates: false) or its CSRs are not
// being approved. See
// https://kubernetes.io/docs/reference/access-authn-authz/kubelet-tls-bootstrapping/
// and https://kubernetes.io/docs/tasks/tls/certificate-rotation/.
// Certificates signed for less than ~8 days always sit under the warning
// threshold; raise nothing for them by lowering warningBefore.
//
// The check watches the certificate directory, so a renewed certificate
// clears the condition at once instead of at the next interval.
func KubeletCertSpec() probes.Spec {
	return probes.Spec{
		Name:           KubeletCertCheckName,
		Condition:      ConditionKubeletUnhealthy,
		Interval:       10 * time.Minute,
		Timeout:        10 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{{
			Reason:    ReasonKubeletCertificateExpiring,
			Condition: ConditionKubeletUnhealthy,
			Severity:  probes.SeverityProblem,
			Summary:   "A kubelet client or serving certificate expires within 7 days (warning), within 1 day or already expired (problem): rotation is not working.",
		}},
		New: newKubeletCert,
	}
}

type kubeletCert struct {
	env           probes.Env
	paths         []string
	warningBefore time.Duration
	problemBefore time.Duration
}

func newKubeletCert(env probes.Env) (probes.Check, error) {
	cfg := DefaultKubeletCertConfig()
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Paths) == 0 {
		return nil, env.Settings.Fieldf("paths", "must list at least one certificate file")
	}
	if err := config.HostPaths(env.Settings, "paths", cfg.Paths); err != nil {
		return nil, err
	}
	warn, problem := cfg.WarningBefore.Duration, cfg.ProblemBefore.Duration
	if warn <= 0 {
		return nil, env.Settings.Fieldf("warningBefore", "must be a positive duration like \"168h\", got %s", config.FormatDuration(warn))
	}
	if problem <= 0 {
		return nil, env.Settings.Fieldf("problemBefore", "must be a positive duration like \"24h\", got %s", config.FormatDuration(problem))
	}
	if problem > warn {
		return nil, env.Settings.Fieldf("problemBefore", "must not be longer than warningBefore (%s), got %s", config.FormatDuration(warn), config.FormatDuration(problem))
	}
	return &kubeletCert{env: env, paths: cfg.Paths, warningBefore: warn, problemBefore: problem}, nil
}

// WatchPaths implements probes.Watched: the directories holding the
// certificates, where the kubelet swaps the -current symlink on rotation.
func (k *kubeletCert) WatchPaths() []string {
	var dirs []string
	for _, p := range k.paths {
		dirs = append(dirs, path.Dir(p))
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// Check implements probes.Check.
func (k *kubeletCert) Check(ctx context.Context) ([]probes.Finding, error) {
	now := k.env.Clock.Now()
	var findings []probes.Finding
	found := 0
	for _, p := range k.paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := k.env.Host.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			if target, lerr := k.env.Host.Readlink(p); lerr == nil {
				return nil, fmt.Errorf("kubelet certificate %s is a symlink to %s, which does not exist", p, target)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read kubelet certificate: %w", err)
		}
		found++
		cert, err := parseCertificatePEM(data)
		if err != nil {
			return nil, fmt.Errorf("kubelet certificate %s: %w", p, err)
		}
		f, ok := assessCertificate(p, cert, now, k.warningBefore, k.problemBefore)
		if !ok {
			continue
		}
		if target, err := k.env.Host.Readlink(p); err == nil {
			f.Evidence["symlinkTarget"] = target
		}
		findings = append(findings, f)
	}
	if found == 0 {
		return nil, fmt.Errorf("no kubelet certificate at %s: %w", strings.Join(k.paths, ", "), probes.ErrNotApplicable)
	}
	return findings, nil
}

// parseCertificatePEM returns the first CERTIFICATE block of a PEM file
// (the kubelet's -current.pem holds the certificate and its key).
func parseCertificatePEM(data []byte) (*x509.Certificate, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		return cert, nil
	}
}

// certRole says whether a kubelet certificate is its client or its serving
// certificate: by extended key usage, else by file name.
func certRole(hostPath string, cert *x509.Certificate) string {
	client, server := false, false
	for _, u := range cert.ExtKeyUsage {
		client = client || u == x509.ExtKeyUsageClientAuth
		server = server || u == x509.ExtKeyUsageServerAuth
	}
	switch {
	case client && !server:
		return "client"
	case server && !client:
		return "serving"
	case strings.Contains(path.Base(hostPath), "server"):
		return "serving"
	}
	return "client"
}

// assessCertificate turns a certificate's expiry into a finding, or false
// when it has more than warningBefore left.
func assessCertificate(hostPath string, cert *x509.Certificate, now time.Time, warningBefore, problemBefore time.Duration) (probes.Finding, bool) {
	left := cert.NotAfter.Sub(now)
	if left >= warningBefore {
		return probes.Finding{}, false
	}
	severity := probes.SeverityWarning
	if left < problemBefore {
		severity = probes.SeverityProblem
	}
	role := certRole(hostPath, cert)
	expiry := cert.NotAfter.UTC().Format(time.RFC3339)
	var msg, remedy string
	switch {
	case left <= 0 && role == "client":
		msg = fmt.Sprintf("kubelet client certificate %s expired %s (%s ago): the kubelet can no longer authenticate to the API server.", hostPath, expiry, roughDuration(-left))
		remedy = fmt.Sprintf("Move the expired certificate aside so the kubelet falls back to its bootstrap kubeconfig: mv %s %s.expired && systemctl restart kubelet; then approve its CSR: kubectl get csr, kubectl certificate approve <name>. Without a valid bootstrap token, re-join the node (kubeadm token create --print-join-command, then kubeadm join).", hostPath, hostPath)
	case role == "client":
		msg = fmt.Sprintf("kubelet client certificate %s expires %s (in %s); automatic rotation should have renewed it weeks ago.", hostPath, expiry, roughDuration(left))
		remedy = "Turn on client certificate rotation (rotateCertificates: true in the kubelet config, then systemctl restart kubelet) and make sure its CSR gets approved: kubectl get csr | grep Pending, kubectl certificate approve <name> (check that kube-controller-manager's csrapproving controller runs). On kubeadm nodes you can also run kubeadm certs renew or re-join the node with kubeadm join."
	case left <= 0:
		msg = fmt.Sprintf("kubelet serving certificate %s expired %s (%s ago): kubectl logs, exec and port-forward to this node fail TLS verification.", hostPath, expiry, roughDuration(-left))
		remedy = servingRemedy
	default:
		msg = fmt.Sprintf("kubelet serving certificate %s expires %s (in %s); after that kubectl logs, exec and port-forward to this node fail.", hostPath, expiry, roughDuration(left))
		remedy = servingRemedy
	}
	return probes.Finding{
		Check:     KubeletCertCheckName,
		Condition: ConditionKubeletUnhealthy,
		Reason:    ReasonKubeletCertificateExpiring,
		Severity:  severity,
		Message:   msg,
		Remedy:    remedy,
		Subject:   hostPath,
		Evidence: map[string]string{
			"path":      hostPath,
			"role":      role,
			"notBefore": cert.NotBefore.UTC().Format(time.RFC3339),
			"notAfter":  expiry,
			"subject":   cert.Subject.String(),
			"issuer":    cert.Issuer.String(),
		},
	}, true
}

const servingRemedy = "Enable serving certificate rotation (serverTLSBootstrap: true in the kubelet config, restart the kubelet) and approve its kubernetes.io/kubelet-serving CSR: kubectl get csr | grep Pending, kubectl certificate approve <name>. For a self-signed kubelet.crt, delete kubelet.crt and kubelet.key from the kubelet's cert dir and restart the kubelet to regenerate them."

// roughDuration rounds down to hours (under 2 days) or days, so a message
// changes at most once an hour: every change is an API write.
func roughDuration(d time.Duration) string {
	switch {
	case d < time.Hour:
		return "under 1h"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}
