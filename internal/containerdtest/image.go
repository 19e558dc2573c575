package containerdtest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image references of the test images. localhost/ keeps containerd from
// ever trying a registry.
const (
	PauseRef    = "localhost/nodetriage/pause:test"
	WorkloadRef = "localhost/nodetriage/workload:test"
)

// Program is one of the test programs under images/.
type Program string

const (
	// ProgramPause sleeps until SIGTERM: a sandbox image.
	ProgramPause Program = "pause"
	// ProgramWorkload exits, allocates or sleeps as its arguments say.
	ProgramWorkload Program = "workload"
)

// BuildProgram compiles a test program as a static linux binary into dir and
// returns its path. The go command's build cache makes repeats cheap.
func BuildProgram(t testing.TB, program Program, dir string) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("containerdtest: cannot locate its own source directory")
	}
	src := filepath.Join(filepath.Dir(self), "images", string(program))
	out := filepath.Join(dir, string(program))
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("containerdtest: go build %s: %v\n%s", src, err, output)
	}
	return out
}

// ImageSpec describes a one-layer image holding a single static binary.
type ImageSpec struct {
	// Ref is the image name containerd records, e.g. PauseRef.
	Ref string
	// Binary is the local path of the executable to put in the image.
	Binary string
	// Entrypoint is the image's entrypoint; the binary sits at /<basename>.
	Entrypoint []string
}

// WriteOCIArchive packs spec into an OCI image layout tarball (oci-layout,
// index.json, blobs/sha256/...) at out, the format `ctr images import`
// reads. Everything is built in memory with sha256 digests; no external tool
// is involved.
func WriteOCIArchive(spec ImageSpec, out string) error {
	binary, err := os.ReadFile(spec.Binary)
	if err != nil {
		return fmt.Errorf("read image binary: %w", err)
	}
	layer, err := singleFileLayer("/"+filepath.Base(spec.Binary), binary)
	if err != nil {
		return err
	}
	layerDigest := digest.FromBytes(layer)

	created := time.Unix(0, 0).UTC()
	config := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		Config: ocispec.ImageConfig{
			Entrypoint: spec.Entrypoint,
			Env:        []string{"PATH=/"},
			WorkingDir: "/",
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDigest}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("encode image config: %w", err)
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageConfig,
			Digest:    digest.FromBytes(configJSON),
			Size:      int64(len(configJSON)),
		},
		Layers: []ocispec.Descriptor{{
			MediaType: ocispec.MediaTypeImageLayer,
			Digest:    layerDigest,
			Size:      int64(len(layer)),
		}},
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return fmt.Errorf("encode image manifest: %w", err)
	}
	tag := spec.Ref[strings.LastIndex(spec.Ref, ":")+1:]
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{
			MediaType: ocispec.MediaTypeImageManifest,
			Digest:    digest.FromBytes(manifestJSON),
			Size:      int64(len(manifestJSON)),
			Platform:  &ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
			Annotations: map[string]string{
				// containerd names the imported image after this annotation.
				"io.containerd.image.name": spec.Ref,
				ocispec.AnnotationRefName:  tag,
			},
		}},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("encode image index: %w", err)
	}
	layoutJSON, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return fmt.Errorf("encode oci-layout: %w", err)
	}

	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	files := []struct {
		name string
		data []byte
	}{
		{ocispec.ImageLayoutFile, layoutJSON},
		{ocispec.ImageIndexFile, indexJSON},
		{blobPath(layerDigest), layer},
		{blobPath(manifest.Config.Digest), configJSON},
		{blobPath(index.Manifests[0].Digest), manifestJSON},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: created}); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: created}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	if err := os.WriteFile(out, archive.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write image archive: %w", err)
	}
	return nil
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// singleFileLayer is an uncompressed layer tar holding one executable.
func singleFileLayer(name string, data []byte) ([]byte, error) {
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     strings.TrimPrefix(name, "/"),
		Mode:     0o755,
		Size:     int64(len(data)),
		ModTime:  time.Unix(0, 0),
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	if _, err := tw.Write(data); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	return layer.Bytes(), nil
}
