package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// fixtureRoot builds a small root filesystem like one extracted from .debs.
func fixtureRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	mkdir := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, data string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	mkdir("usr/lib/x86_64-linux-gnu")
	mkdir("usr/local/bin")
	mkdir("etc/ssl/certs")
	write("usr/lib/x86_64-linux-gnu/libsystemd.so.0.35.0", "ELF library", 0o644)
	write("usr/local/bin/nodetriage", "ELF binary", 0o755)
	write("etc/ssl/certs/ca-certificates.crt", "-----BEGIN CERTIFICATE-----\n", 0o644)
	if err := os.Symlink("libsystemd.so.0.35.0", filepath.Join(root, "usr/lib/x86_64-linux-gnu/libsystemd.so.0")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
	return root
}

var testSpec = imageSpec{
	Ref:        "localhost/nodetriage:dev",
	Entrypoint: []string{"/usr/local/bin/nodetriage"},
	Cmd:        []string{"run"},
	Labels:     map[string]string{"org.opencontainers.image.title": "nodetriage"},
	Created:    time.Unix(0, 0).UTC(),
	Arch:       "amd64",
}

// archive is an OCI layout tarball read back into memory.
type archive map[string][]byte

func readArchive(t *testing.T, data []byte) archive {
	t.Helper()
	files := archive{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("read archive: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read %s: %v", hdr.Name, err)
		}
		files[hdr.Name] = body
	}
}

// blob returns a blob after checking that its content matches its digest.
func (a archive) blob(t *testing.T, d ocispec.Descriptor) []byte {
	t.Helper()
	data, ok := a[blobPath(d.Digest)]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	if got := digest.FromBytes(data); got != d.Digest || int64(len(data)) != d.Size {
		t.Fatalf("blob %s: content digest %s, size %d, descriptor size %d", d.Digest, got, len(data), d.Size)
	}
	return data
}

func decodeJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

type layerEntry struct {
	Name     string
	Type     byte
	Mode     int64
	Linkname string
	Body     string
	UID, GID int
}

func TestWriteArchive(t *testing.T) {
	root := fixtureRoot(t)
	var out bytes.Buffer
	if err := writeArchive(&out, os.DirFS(root), testSpec); err != nil {
		t.Fatalf("writeArchive: %v", err)
	}
	a := readArchive(t, out.Bytes())

	var layout ocispec.ImageLayout
	decodeJSON(t, a[ocispec.ImageLayoutFile], &layout)
	if layout.Version != ocispec.ImageLayoutVersion {
		t.Errorf("oci-layout version = %q", layout.Version)
	}
	var index ocispec.Index
	decodeJSON(t, a[ocispec.ImageIndexFile], &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(index.Manifests))
	}
	md := index.Manifests[0]
	wantAnnotations := map[string]string{"io.containerd.image.name": "localhost/nodetriage:dev", ocispec.AnnotationRefName: "dev"}
	if diff := cmp.Diff(wantAnnotations, md.Annotations); diff != "" {
		t.Errorf("manifest annotations (-want +got):\n%s", diff)
	}
	var manifest ocispec.Manifest
	decodeJSON(t, a.blob(t, md), &manifest)
	var config ocispec.Image
	decodeJSON(t, a.blob(t, manifest.Config), &config)
	if diff := cmp.Diff(testSpec.Entrypoint, config.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(testSpec.Labels, config.Config.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if config.OS != "linux" || config.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", config.OS, config.Architecture)
	}
	if len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("layers = %+v, want one gzip layer", manifest.Layers)
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.blob(t, manifest.Layers[0])))
	if err != nil {
		t.Fatalf("layer is not gzip: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("decompress layer: %v", err)
	}
	if got := digest.FromBytes(raw); len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != got {
		t.Errorf("config diff IDs = %v, uncompressed layer digest %s", config.RootFS.DiffIDs, got)
	}

	var entries []layerEntry
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		body, _ := io.ReadAll(tr)
		entries = append(entries, layerEntry{hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Linkname, string(body), hdr.Uid, hdr.Gid})
	}
	want := []layerEntry{
		{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "etc/ssl/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "etc/ssl/certs/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "etc/ssl/certs/ca-certificates.crt", Type: tar.TypeReg, Mode: 0o644, Body: "-----BEGIN CERTIFICATE-----\n"},
		{Name: "lib", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "usr/lib"},
		{Name: "usr/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "usr/lib/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "usr/lib/x86_64-linux-gnu/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "usr/lib/x86_64-linux-gnu/libsystemd.so.0", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "libsystemd.so.0.35.0"},
		{Name: "usr/lib/x86_64-linux-gnu/libsystemd.so.0.35.0", Type: tar.TypeReg, Mode: 0o644, Body: "ELF library"},
		{Name: "usr/local/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "usr/local/bin/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "usr/local/bin/nodetriage", Type: tar.TypeReg, Mode: 0o755, Body: "ELF binary"},
	}
	if diff := cmp.Diff(want, entries); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
}

func TestWriteArchiveIsReproducible(t *testing.T) {
	root := fixtureRoot(t)
	var first, second bytes.Buffer
	if err := writeArchive(&first, os.DirFS(root), testSpec); err != nil {
		t.Fatal(err)
	}
	// Touching the files must not change the image: times are not recorded.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(root, "usr/local/bin/nodetriage"), later, later); err != nil {
		t.Fatal(err)
	}
	if err := writeArchive(&second, os.DirFS(root), testSpec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("two builds of the same tree differ")
	}
}

func TestWriteArchiveRejectsSpecialFiles(t *testing.T) {
	root := fixtureRoot(t)
	if err := os.MkdirAll(filepath.Join(root, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(root, "run", "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	err := writeArchive(io.Discard, os.DirFS(root), testSpec)
	if err == nil {
		t.Fatal("writeArchive accepted a fifo")
	}
	if want := "run/fifo: unsupported file type"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
}

func TestRunFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing ref", []string{"-rootfs", "x", "-out", "y"}, "-rootfs, -ref and -out are required"},
		{"untagged ref", []string{"-rootfs", "x", "-out", "y", "-ref", "localhost/nodetriage"}, `-ref "localhost/nodetriage" needs a tag`},
		{"bad label", []string{"-rootfs", "x", "-out", "y", "-ref", "a:b", "-label", "novalue"}, `-label "novalue": want KEY=VALUE`},
		{"missing rootfs", []string{"-rootfs", "/nonexistent-rootfs", "-out", filepath.Join(t.TempDir(), "o.tar"), "-ref", "a:b"}, "walk root filesystem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args, io.Discard)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestSourceDateEpoch(t *testing.T) {
	got, err := sourceDateEpoch("1700000000")
	if err != nil || !got.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("sourceDateEpoch(1700000000) = %v, %v", got, err)
	}
	if _, err := sourceDateEpoch("yesterday"); err == nil {
		t.Error("sourceDateEpoch accepted a non-number")
	}
}
