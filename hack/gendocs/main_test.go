package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedFilesAreCurrent fails while a generated file differs from
// what the code says, naming the command that regenerates it.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := generate(root)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	for _, path := range sortedPaths(files) {
		t.Run(path, func(t *testing.T) {
			onDisk, err := os.ReadFile(filepath.Join(root, path))
			if err != nil {
				t.Fatalf("%s: %v; run `go run ./hack/gendocs` from the repository root", path, err)
			}
			if !bytes.Equal(onDisk, files[path]) {
				t.Errorf("%s is stale: run `go run ./hack/gendocs` from the repository root and commit the result", path)
			}
		})
	}
}

// TestGenerateIsDeterministic: map iteration must not reorder the output.
func TestGenerateIsDeterministic(t *testing.T) {
	first, err := generate(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := generate(filepath.Join("..", ".."))
		if err != nil {
			t.Fatal(err)
		}
		for path := range first {
			if !bytes.Equal(first[path], again[path]) {
				t.Fatalf("%s differs between two runs", path)
			}
		}
	}
}
