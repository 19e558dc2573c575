package containerdtest

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestWriteOCIArchive checks the layout: every blob is stored under its own
// sha256, and index → manifest → config/layer references resolve.
func TestWriteOCIArchive(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hello")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "img.tar")
	if err := WriteOCIArchive(ImageSpec{Ref: "localhost/x/hello:v1", Binary: bin, Entrypoint: []string{"/hello"}}, out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = data
	}
	for name, data := range files {
		if hexDigest, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && hexDigest != "" {
			sum := sha256.Sum256(data)
			if got := hex.EncodeToString(sum[:]); got != hexDigest {
				t.Errorf("blob %s has sha256 %s", name, got)
			}
		}
	}
	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != "localhost/x/hello:v1" {
		t.Fatalf("index.json = %s", files["index.json"])
	}
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(files["blobs/sha256/"+strings.TrimPrefix(index.Manifests[0].Digest, "sha256:")], &manifest); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	for _, d := range append([]string{manifest.Config.Digest}, manifest.Layers[0].Digest) {
		if _, ok := files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")]; !ok {
			t.Errorf("manifest references missing blob %s", d)
		}
	}
}

// TestHarness starts the real containerd, imports the locally built images,
// runs a host-network pod and a container that exits 3, and survives a
// restart.
func TestHarness(t *testing.T) {
	imgs := BuildTestImages(t)
	c := Start(t, Options{})
	c.ImportTestImages(t, imgs)
	pod := c.RunPod(t, "default", "harness")
	id := c.RunContainer(t, pod, ContainerSpec{Name: "app", Args: []string{"exit", "3"}})
	st := c.WaitExited(t, id, 30*time.Second)
	if st.ExitCode != 3 {
		t.Errorf("exit code = %d, want 3 (reason %q)", st.ExitCode, st.Reason)
	}
	// runc keeps its state under the harness's state dir, not the host's
	// /run/containerd/runc.
	if _, err := os.Stat(filepath.Join(c.State, "runc", "k8s.io", pod.ID)); err != nil {
		t.Errorf("runc state of the sandbox is not under %s: %v", c.State, err)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Runtime.ListPodSandbox(t.Context(), &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Items) != 1 || resp.Items[0].State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Errorf("after restart: sandboxes = %v", resp.Items)
	}
	t.Logf("snapshotter %s, cgroup prefix %s", c.Snapshotter, c.CgroupPrefix)
}
