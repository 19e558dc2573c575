// Command ociimage packs a root filesystem directory into a single-layer OCI
// image layout tarball (oci-layout, index.json, blobs/sha256/…), the format
// `ctr images import` and `docker load` read. It is how `make image` and
// `make demo` build the agent image without a Docker engine: hack/demo/
// build-image.sh fills the directory from Debian packages and the agent
// binary, this program writes the image.
//
// The output is reproducible: entries are sorted, owned by root, dated at
// the Unix epoch (or $SOURCE_DATE_EPOCH), and the layer is gzip-compressed
// with a fixed header, so the same tree always gives the same digests.
//
// Usage:
//
//	ociimage -rootfs DIR -ref localhost/nodetriage:dev -out image.tar \
//	    -entrypoint /usr/local/bin/nodetriage -cmd run \
//	    -label org.opencontainers.image.version=v0.1.0
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	// go-digest hashes with sha256 only when something imports it.
	_ "crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageSpec is what goes into the image besides the layer.
type imageSpec struct {
	// Ref is the name containerd records on import, e.g. localhost/nodetriage:dev.
	Ref        string
	Entrypoint []string
	Cmd        []string
	Env        []string
	Labels     map[string]string
	// Created dates the image config and every layer entry.
	Created time.Time
	// Arch is the image platform's architecture (GOARCH naming).
	Arch string
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rootfs := fs.String("rootfs", "", "directory holding the image's root filesystem")
	ref := fs.String("ref", "", "image reference recorded on import, e.g. localhost/nodetriage:dev")
	out := fs.String("out", "", "output OCI archive (.tar)")
	arch := fs.String("arch", runtime.GOARCH, "image architecture")
	var entrypoint, cmd, env, labels listFlag
	fs.Var(&entrypoint, "entrypoint", "entrypoint argument (repeatable)")
	fs.Var(&cmd, "cmd", "default argument (repeatable)")
	fs.Var(&env, "env", "KEY=VALUE in the image config (repeatable)")
	fs.Var(&labels, "label", "KEY=VALUE image label (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rootfs == "" || *ref == "" || *out == "" {
		return errors.New("-rootfs, -ref and -out are required")
	}
	if !strings.Contains(*ref, ":") {
		return fmt.Errorf("-ref %q needs a tag (name:tag)", *ref)
	}
	created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	spec := imageSpec{
		Ref: *ref, Entrypoint: entrypoint, Cmd: cmd, Env: env,
		Labels: map[string]string{}, Created: created, Arch: *arch,
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("-label %q: want KEY=VALUE", l)
		}
		spec.Labels[k] = v
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("create %s: %w", *out, err)
	}
	if err := writeArchive(f, os.DirFS(*rootfs), spec); err != nil {
		f.Close()
		os.Remove(*out)
		return fmt.Errorf("write %s from %s: %w", *out, *rootfs, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", *out, err)
	}
	return nil
}

// sourceDateEpoch parses $SOURCE_DATE_EPOCH (reproducible-builds.org); empty
// means the Unix epoch.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds", v)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// writeArchive writes the OCI image layout tarball for the tree in rootfs.
func writeArchive(w io.Writer, rootfs fs.FS, spec imageSpec) error {
	var raw bytes.Buffer
	if err := writeLayer(&raw, rootfs, spec.Created); err != nil {
		return err
	}
	diffID := digest.FromBytes(raw.Bytes())
	var compressed bytes.Buffer
	zw, err := gzip.NewWriterLevel(&compressed, gzip.BestSpeed)
	if err != nil {
		return err
	}
	// A zero header (no name, no mtime) keeps the digest reproducible.
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return fmt.Errorf("compress layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress layer: %w", err)
	}
	layer := compressed.Bytes()

	created := spec.Created
	config := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: spec.Arch, OS: "linux"},
		Config: ocispec.ImageConfig{
			Entrypoint: spec.Entrypoint,
			Cmd:        spec.Cmd,
			Env:        spec.Env,
			Labels:     spec.Labels,
			WorkingDir: "/",
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("encode image config: %w", err)
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    descriptor(ocispec.MediaTypeImageConfig, configJSON),
		Layers:    []ocispec.Descriptor{descriptor(ocispec.MediaTypeImageLayerGzip, layer)},
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return fmt.Errorf("encode image manifest: %w", err)
	}
	manifestDesc := descriptor(ocispec.MediaTypeImageManifest, manifestJSON)
	manifestDesc.Platform = &ocispec.Platform{Architecture: spec.Arch, OS: "linux"}
	manifestDesc.Annotations = map[string]string{
		// containerd names the imported image after this annotation.
		"io.containerd.image.name": spec.Ref,
		ocispec.AnnotationRefName:  spec.Ref[strings.LastIndex(spec.Ref, ":")+1:],
	}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("encode image index: %w", err)
	}
	layoutJSON, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return fmt.Errorf("encode oci-layout: %w", err)
	}

	tw := tar.NewWriter(w)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: spec.Created}); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{ocispec.ImageLayoutFile, layoutJSON},
		{ocispec.ImageIndexFile, indexJSON},
		{blobPath(manifestDesc.Digest), manifestJSON},
		{blobPath(manifest.Config.Digest), configJSON},
		{blobPath(manifest.Layers[0].Digest), layer},
	} {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: spec.Created}
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
	return nil
}

func descriptor(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// writeLayer writes the tree as an uncompressed layer tar: directories,
// regular files and symlinks, sorted by path, owned by 0:0, dated created.
// Anything else (devices, sockets, fifos) is an error: a root filesystem
// extracted from packages has none.
func writeLayer(w io.Writer, rootfs fs.FS, created time.Time) error {
	var paths []string
	err := fs.WalkDir(rootfs, ".", func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk root filesystem: %w", err)
	}
	slices.Sort(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		if err := writeEntry(tw, rootfs, p, created); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	return nil
}

func writeEntry(tw *tar.Writer, rootfs fs.FS, p string, created time.Time) error {
	fi, err := fs.Lstat(rootfs, p)
	if err != nil {
		return fmt.Errorf("stat %s: %w", p, err)
	}
	hdr := &tar.Header{Name: p, Mode: int64(fi.Mode().Perm()), ModTime: created, Format: tar.FormatPAX}
	if fi.Mode()&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	var body fs.File
	switch mode := fi.Mode(); {
	case mode.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, p+"/"
	case mode.IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		if body, err = rootfs.Open(p); err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer body.Close()
	case mode&fs.ModeSymlink != 0:
		hdr.Typeflag = tar.TypeSymlink
		if hdr.Linkname, err = fs.ReadLink(rootfs, p); err != nil {
			return fmt.Errorf("read link %s: %w", p, err)
		}
	default:
		return fmt.Errorf("%s: unsupported file type %s in the root filesystem", p, mode.Type())
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write layer entry %s: %w", p, err)
	}
	if body != nil {
		if _, err := io.Copy(tw, body); err != nil {
			return fmt.Errorf("write layer entry %s: %w", p, err)
		}
	}
	return nil
}
