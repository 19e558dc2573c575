package daemonset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/cri"
	"github.com/nodetriage/nodetriage/hostchecks"
	"github.com/nodetriage/nodetriage/internal/kubetest"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/journal"
	"github.com/nodetriage/nodetriage/probes/kmsg"
	"github.com/nodetriage/nodetriage/probes/logfile"
	"github.com/nodetriage/nodetriage/probes/rules"
)

// kustomizations are every directory `kubectl apply -k` is documented for.
var kustomizations = []string{".", "overlays/kmsg", "overlays/monitoring", "overlays/local"}

// render runs `kubectl kustomize dir` with the kubectl hack/build-kube.sh
// builds (its kustomize is the one `kubectl apply -k` of that release uses)
// and decodes every object.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(kubetest.KubectlPath(t), "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decode kubectl kustomize %s output: %v", dir, err)
		}
		if obj != nil {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
}

// find returns the one rendered object of kind/name, converted into out.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string, out any) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
				t.Fatalf("convert %s %s: %v", kind, name, err)
			}
			return
		}
	}
	t.Fatalf("no %s %s in the rendered manifests", kind, name)
}

func kindsAndNames(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		ref := o.GetKind() + " " + o.GetName()
		if ns := o.GetNamespace(); ns != "" {
			ref = o.GetKind() + " " + ns + "/" + o.GetName()
		}
		out = append(out, ref)
	}
	sort.Strings(out)
	return out
}

var baseObjects = []string{
	"ClusterRole nodetriage",
	"ClusterRoleBinding nodetriage",
	"ConfigMap nodetriage/nodetriage-config",
	"DaemonSet nodetriage/nodetriage",
	"Namespace nodetriage",
	"Role default/nodetriage-events",
	"RoleBinding default/nodetriage-events",
	"ServiceAccount nodetriage/nodetriage",
	"ValidatingAdmissionPolicy nodetriage-node-events",
	"ValidatingAdmissionPolicy nodetriage-node-status",
	"ValidatingAdmissionPolicyBinding nodetriage-node-events",
	"ValidatingAdmissionPolicyBinding nodetriage-node-status",
}

func TestKustomizationsRender(t *testing.T) {
	monitoring := append(slices.Clone(baseObjects),
		"PrometheusRule nodetriage/nodetriage", "Service nodetriage/nodetriage", "ServiceMonitor nodetriage/nodetriage")
	sort.Strings(monitoring)
	want := map[string][]string{
		".":                   baseObjects,
		"overlays/kmsg":       baseObjects,
		"overlays/monitoring": monitoring,
		"overlays/local":      baseObjects,
	}
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			if diff := cmp.Diff(want[dir], kindsAndNames(render(t, dir))); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRBACIsWhatTheAgentCalls compares the ClusterRole and the Events Role
// with the requests the agent's API client makes: a new call (a List, a
// Watch, an Update) fails here until the RBAC grants it, and a grant nothing
// uses fails too.
func TestRBACIsWhatTheAgentCalls(t *testing.T) {
	called := agentAPICalls(t)
	want := []string{"/nodes get", "/nodes/status patch", "events.k8s.io/events create", "events.k8s.io/events patch"}
	if diff := cmp.Diff(want, called); diff != "" {
		t.Fatalf("the agent's API calls changed (-expected +found); update daemonset/base/rbac.yaml and this test:\n%s", diff)
	}

	objs := render(t, ".")
	var granted []string
	var role rbacv1.ClusterRole
	find(t, objs, "ClusterRole", "nodetriage", &role)
	var events rbacv1.Role
	find(t, objs, "Role", "nodetriage-events", &events)
	if events.Namespace != "default" {
		t.Errorf("the Events Role is in namespace %q; the agent writes Events to \"default\"", events.Namespace)
	}
	for _, rule := range append(role.Rules, events.Rules...) {
		if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
			t.Errorf("unexpected rule %+v", rule)
		}
		for _, g := range rule.APIGroups {
			for _, r := range rule.Resources {
				for _, v := range rule.Verbs {
					granted = append(granted, g+"/"+r+" "+v)
				}
			}
		}
	}
	sort.Strings(granted)
	if diff := cmp.Diff(called, granted); diff != "" {
		t.Errorf("RBAC grants (-calls in agent/ +granted):\n%s", diff)
	}

	var binding rbacv1.ClusterRoleBinding
	find(t, objs, "ClusterRoleBinding", "nodetriage", &binding)
	wantSubject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "nodetriage", Namespace: "nodetriage"}}
	if diff := cmp.Diff(wantSubject, binding.Subjects); diff != "" {
		t.Errorf("ClusterRoleBinding subjects (-want +got):\n%s", diff)
	}
}

// agentAPICalls returns the API requests the agent can make, as "group/resource
// verb" in RBAC's terms, sorted. Every request the agent makes goes through
// agent.KubeAPI; this calls each of its methods on the real implementation
// (agent.NewKubeAPI) against a server that records the requests.
func agentAPICalls(t *testing.T) []string {
	t.Helper()
	var mu sync.Mutex
	set := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attr, kind, apiVersion, err := rbacAttributes(r.Method, r.URL.Path)
		if err != nil {
			t.Errorf("the agent sent %s %s: %v", r.Method, r.URL.Path, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		set[attr] = true
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"kind":%q,"apiVersion":%q,"metadata":{"name":"n"}}`, kind, apiVersion)
	}))
	defer srv.Close()
	api, err := agent.NewKubeAPI(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"GetNode": func() error { _, err := api.GetNode(ctx, "n"); return err },
		"PatchNodeStatus": func() error {
			_, err := api.PatchNodeStatus(ctx, "n", []byte(`{}`))
			return err
		},
		"CreateEvent": func() error {
			_, err := api.CreateEvent(ctx, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"}})
			return err
		},
		"PatchEvent": func() error { _, err := api.PatchEvent(ctx, "default", "e", []byte(`{}`)); return err },
	}
	iface := reflect.TypeFor[agent.KubeAPI]()
	for i := range iface.NumMethod() {
		name := iface.Method(i).Name
		call, ok := calls[name]
		if !ok {
			t.Fatalf("agent.KubeAPI has a method this test does not call: %s; call it here, then update daemonset/base/rbac.yaml", name)
		}
		if err := call(); err != nil {
			t.Fatalf("KubeAPI.%s: %v", name, err)
		}
	}
	if len(calls) != iface.NumMethod() {
		t.Fatalf("the test calls %d KubeAPI methods, the interface has %d", len(calls), iface.NumMethod())
	}
	mu.Lock()
	defer mu.Unlock()
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rbacAttributes maps a request on a core or events.k8s.io resource to
// "group/resource[/subresource] verb", with the kind and apiVersion a
// response carries.
func rbacAttributes(method, path string) (attr, kind, apiVersion string, err error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var group, version string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		version, parts = parts[1], parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, version, parts = parts[1], parts[2], parts[3:]
	default:
		return "", "", "", fmt.Errorf("not an API resource path")
	}
	apiVersion = version
	if group != "" {
		apiVersion = group + "/" + version
	}
	if len(parts) >= 2 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	if len(parts) == 0 || len(parts) > 3 {
		return "", "", "", fmt.Errorf("unexpected resource path")
	}
	resource := parts[0]
	named := len(parts) >= 2
	if len(parts) == 3 {
		resource += "/" + parts[2]
	}
	verbs := map[string]string{"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
	verb, ok := verbs[method]
	if !ok {
		return "", "", "", fmt.Errorf("unexpected method")
	}
	if method == "GET" && !named {
		verb = "list"
	}
	kinds := map[string]string{"nodes": "Node", "events": "Event"}
	kind = kinds[parts[0]]
	if kind == "" {
		return "", "", "", fmt.Errorf("unexpected resource %s", parts[0])
	}
	return group + "/" + resource + " " + verb, kind, apiVersion, nil
}

// TestConfigMapIsTheAgentDefaults: the base ConfigMap carries exactly the
// agent's built-in defaults (agent/defaults.yaml), so the two cannot drift.
func TestConfigMapIsTheAgentDefaults(t *testing.T) {
	var cm corev1.ConfigMap
	find(t, render(t, "."), "ConfigMap", "nodetriage-config", &cm)
	if diff := cmp.Diff(string(agent.DefaultConfigYAML()), cm.Data["config.yaml"]); diff != "" {
		t.Errorf("daemonset/base/config.yaml differs from agent/defaults.yaml; run `go run ./hack/gendocs` (-defaults +configmap):\n%s", diff)
	}
}

// catalog is what cmd/nodetriage wires: every check and log source.
func catalog() agent.Catalog {
	return agent.Catalog{
		Checks:  append(hostchecks.Specs(), cri.Specs()...),
		Streams: []probes.StreamSpec{kmsg.Spec(), journal.Spec(), logfile.Spec()},
	}
}

// TestOverlayConfigsAreValid parses every rendered AgentConfig the way the
// agent does at start.
func TestOverlayConfigsAreValid(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			var cm corev1.ConfigMap
			find(t, render(t, dir), "ConfigMap", "nodetriage-config", &cm)
			cfg, err := agent.ParseConfig([]byte(cm.Data["config.yaml"]), catalog())
			if err != nil {
				t.Fatalf("the agent rejects the ConfigMap's config.yaml: %v", err)
			}
			var ds appsv1.DaemonSet
			find(t, render(t, dir), "DaemonSet", "nodetriage", &ds)
			if !hasMountAt(ds.Spec.Template.Spec.Containers[0], cfg.StateDir, false) {
				t.Errorf("stateDir %s is not a read-write mount of the agent container", cfg.StateDir)
			}
		})
	}
}

func hasMountAt(c corev1.Container, path string, readOnly bool) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path && m.ReadOnly == readOnly {
			return true
		}
	}
	return false
}

// ownConditionTypes is every condition type the built-in checks and rules
// can set.
func ownConditionTypes() []string {
	set := map[string]bool{}
	for _, s := range catalog().Checks {
		if s.Condition != "" {
			set[s.Condition] = true
		}
		for _, r := range s.Reasons {
			if r.Condition != "" {
				set[r.Condition] = true
			}
		}
	}
	for _, r := range rules.DefaultRules() {
		if r.Condition != "" {
			set[r.Condition] = true
		}
	}
	var out []string
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// TestAdmissionPolicyListsOwnConditionTypes keeps the policy's list equal to
// the condition types the code can set: a new condition would otherwise be
// denied in every cluster.
func TestAdmissionPolicyListsOwnConditionTypes(t *testing.T) {
	var policy admissionregistrationv1.ValidatingAdmissionPolicy
	find(t, render(t, "."), "ValidatingAdmissionPolicy", "nodetriage-node-status", &policy)
	var expr string
	for _, v := range policy.Spec.Variables {
		if v.Name == "ownConditionTypes" {
			expr = v.Expression
		}
	}
	if expr == "" {
		t.Fatal("the policy has no variable ownConditionTypes")
	}
	var listed []string
	for _, m := range regexp.MustCompile(`'(\w+)'`).FindAllStringSubmatch(expr, -1) {
		listed = append(listed, m[1])
	}
	sort.Strings(listed)
	if diff := cmp.Diff(ownConditionTypes(), listed); diff != "" {
		t.Errorf("daemonset/base/admission-policy.yaml ownConditionTypes (-code +policy):\n%s", diff)
	}
}

// TestDaemonSetLeastPrivilege pins the privilege decisions documented in
// daemonset/base/daemonset.yaml and docs/install.md.
func TestDaemonSetLeastPrivilege(t *testing.T) {
	var ds appsv1.DaemonSet
	find(t, render(t, "."), "DaemonSet", "nodetriage", &ds)
	pod := ds.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want exactly one container, got %d (+%d init)", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext = %+v, want privileged=false, allowPrivilegeEscalation=false, readOnlyRootFilesystem=true", sc)
	}
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities = %+v, want drop [ALL] and nothing added", sc.Capabilities)
	}
	if psc := pod.SecurityContext; psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want runAsUser 0 and seccomp RuntimeDefault", psc)
	}
	if !pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("hostNetwork=%v hostPID=%v hostIPC=%v, want only hostNetwork", pod.HostNetwork, pod.HostPID, pod.HostIPC)
	}
	if pod.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName = %q", pod.PriorityClassName)
	}
	if diff := cmp.Diff([]corev1.Toleration{{Operator: corev1.TolerationOpExists}}, pod.Tolerations); diff != "" {
		t.Errorf("tolerations (-want +got):\n%s", diff)
	}

	// Host paths: the host root read-only (recursively where possible) at
	// the --host-root, the state directory read-write; nothing else.
	hostPaths := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	var mounts []string
	for _, m := range c.VolumeMounts {
		if p, ok := hostPaths[m.Name]; ok {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
				if m.RecursiveReadOnly != nil {
					mode += ",recursive=" + string(*m.RecursiveReadOnly)
				}
			}
			mounts = append(mounts, p+" -> "+m.MountPath+" "+mode)
		}
	}
	wantMounts := []string{"/ -> /host ro,recursive=IfPossible", "/var/lib/nodetriage -> /var/lib/nodetriage rw"}
	if diff := cmp.Diff(wantMounts, mounts); diff != "" {
		t.Errorf("hostPath mounts (-want +got):\n%s", diff)
	}
	if !slices.Contains(c.Args, "--host-root=/host") {
		t.Errorf("args %q do not point --host-root at the /host mount", c.Args)
	}
	if !slices.Contains(c.Args, "--config=/etc/nodetriage/config.yaml") || !hasMountAt(c, "/etc/nodetriage", true) {
		t.Errorf("args %q / mounts: the config must come from the ConfigMap mounted at /etc/nodetriage", c.Args)
	}

	var nodeName *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "NODE_NAME" {
			nodeName = &c.Env[i]
		}
	}
	if nodeName == nil || nodeName.ValueFrom == nil || nodeName.ValueFrom.FieldRef == nil || nodeName.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME = %+v, want the downward API spec.nodeName", nodeName)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe = %+v, want GET /healthz", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe = %+v, want GET /readyz", c.ReadinessProbe)
	}
	req := c.Resources.Requests.Memory()
	limit := c.Resources.Limits.Memory()
	if req.Cmp(*limit) > 0 || req.Value() > 32<<20 || limit.IsZero() {
		t.Errorf("memory request %s, limit %s: want a request of at most 32Mi and a limit above it", req, limit)
	}
}

// TestKmsgOverlay: the one overlay that raises privileges changes nothing
// else.
func TestKmsgOverlay(t *testing.T) {
	var base, kmsgDS appsv1.DaemonSet
	find(t, render(t, "."), "DaemonSet", "nodetriage", &base)
	find(t, render(t, "overlays/kmsg"), "DaemonSet", "nodetriage", &kmsgDS)
	sc := kmsgDS.Spec.Template.Spec.Containers[0].SecurityContext
	if sc == nil || sc.Privileged == nil || !*sc.Privileged || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("kmsg overlay securityContext = %+v, want privileged with a read-only root filesystem", sc)
	}
	base.Spec.Template.Spec.Containers[0].SecurityContext = nil
	kmsgDS.Spec.Template.Spec.Containers[0].SecurityContext = nil
	if diff := cmp.Diff(base, kmsgDS); diff != "" {
		t.Errorf("the kmsg overlay changes more than the securityContext (-base +kmsg):\n%s", diff)
	}
}
