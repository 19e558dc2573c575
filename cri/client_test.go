package cri

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSocketPath(t *testing.T) {
	tests := []struct {
		endpoint, want, wantErr string
	}{
		{endpoint: "unix:///run/containerd/containerd.sock", want: "/run/containerd/containerd.sock"},
		{endpoint: "unix:/run/crio/crio.sock", want: "/run/crio/crio.sock"},
		{endpoint: "/var/run/cri-dockerd.sock", want: "/var/run/cri-dockerd.sock"},
		{endpoint: "unix:///run//k3s/containerd/../containerd/containerd.sock", want: "/run/k3s/containerd/containerd.sock"},
		{endpoint: "tcp://127.0.0.1:1234", wantErr: `CRI endpoint "tcp://127.0.0.1:1234": only unix sockets are supported (unix:///path/to.sock)`},
		{endpoint: "npipe:////./pipe/containerd-containerd", wantErr: "only unix sockets are supported"},
		{endpoint: "unix://relative.sock", wantErr: `CRI endpoint "unix://relative.sock": socket path must be absolute`},
		{endpoint: "containerd.sock", wantErr: "only unix sockets are supported"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			got, err := socketPath(tt.endpoint)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("socketPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// Dial does not need the socket; calls then fail fast, naming it.
func TestClientMissingSocketFailsFast(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	c, err := Dial("unix://"+sock, WithTimeout(3*time.Second))
	if err != nil {
		t.Fatalf("Dial of a missing socket: %v", err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		start := time.Now()
		_, err = c.Version(t.Context())
		if took := time.Since(start); took > time.Second {
			t.Errorf("call %d took %v; a missing socket must fail fast", i, took)
		}
		want := "CRI Version on unix://" + sock + ": socket " + sock + " does not exist"
		if err == nil || err.Error() != want {
			t.Fatalf("call %d: error = %v, want %q", i, err, want)
		}
		if !IsUnreachable(err) {
			t.Errorf("IsUnreachable(%v) = false", err)
		}
	}
	if got := c.Calls(); got != 3 {
		t.Errorf("Calls = %d, want 3", got)
	}
}

// A socket that accepts but never answers is bounded by the per-call timeout.
func TestClientTimeout(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mute.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	acceptorDone := make(chan struct{})
	go func() {
		defer close(acceptorDone)
		var held []net.Conn // never answers the HTTP/2 handshake
		defer func() {
			for _, conn := range held {
				conn.Close()
			}
		}()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, conn)
		}
	}()
	defer func() {
		ln.Close()
		<-acceptorDone
	}()
	c, err := Dial(sock, WithTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Status(t.Context(), false)
	took := time.Since(start)
	if err == nil || !IsUnreachable(err) {
		t.Fatalf("error = %v, want unreachable", err)
	}
	if took > 2*time.Second {
		t.Errorf("call took %v with a 300ms timeout", took)
	}
	if !strings.HasPrefix(err.Error(), "CRI Status on unix://"+sock+": ") {
		t.Errorf("error %q does not name the call and endpoint", err)
	}
}
