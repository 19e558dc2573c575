package cri

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMemcgPath(t *testing.T) {
	const (
		uid = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
		usc = "6f1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d"
		id  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	)
	tests := []struct {
		name, path string
		want       memcgOwner
		ok         bool
	}{
		{"cgroupfs burstable", "/kubepods/burstable/pod" + uid + "/" + id, memcgOwner{uid, id, "Burstable"}, true},
		{"cgroupfs besteffort", "/kubepods/besteffort/pod" + uid + "/" + id, memcgOwner{uid, id, "BestEffort"}, true},
		{"cgroupfs guaranteed", "/kubepods/pod" + uid + "/" + id, memcgOwner{uid, id, "Guaranteed"}, true},
		{"cgroupfs with --cgroup-root prefix", "/nodetriage-test-1a2b/kubepods/burstable/pod" + uid + "/" + id, memcgOwner{uid, id, "Burstable"}, true},
		{"cgroupfs CRI-O", "/kubepods/burstable/pod" + uid + "/crio-" + id, memcgOwner{uid, id, "Burstable"}, true},
		{"cgroupfs pod level", "/kubepods/burstable/pod" + uid, memcgOwner{uid, "", "Burstable"}, true},
		{"systemd containerd burstable",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + usc + ".slice/cri-containerd-" + id + ".scope",
			memcgOwner{uid, id, "Burstable"}, true},
		{"systemd containerd besteffort",
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + usc + ".slice/cri-containerd-" + id + ".scope",
			memcgOwner{uid, id, "BestEffort"}, true},
		{"systemd guaranteed", "/kubepods.slice/kubepods-pod" + usc + ".slice/cri-containerd-" + id + ".scope",
			memcgOwner{uid, id, "Guaranteed"}, true},
		{"systemd crio", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + usc + ".slice/crio-" + id + ".scope",
			memcgOwner{uid, id, "Burstable"}, true},
		{"systemd crio conmon", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + usc + ".slice/crio-conmon-" + id + ".scope",
			memcgOwner{uid, id, "Burstable"}, true},
		{"systemd crio v2 sub-cgroup", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + usc + ".slice/crio-" + id + ".scope/container",
			memcgOwner{uid, id, "Burstable"}, true},
		{"systemd docker", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + usc + ".slice/docker-" + id + ".scope",
			memcgOwner{uid, id, "Burstable"}, true},
		{"static pod hash uid", "/kubepods/burstable/pod0c3f9a1e5b7d4c2a8e6f1b3d5a7c9e0f/" + id,
			memcgOwner{"0c3f9a1e5b7d4c2a8e6f1b3d5a7c9e0f", id, "Burstable"}, true},
		{"system service", "/system.slice/containerd.service", memcgOwner{}, false},
		{"root", "/", memcgOwner{}, false},
		{"pod-looking dir outside kubepods", "/user.slice/pod" + uid + "/" + id, memcgOwner{}, false},
		{"not a uid", "/kubepods/burstable/podnotauid/" + id, memcgOwner{}, false},
		{"container part not hex", "/kubepods/burstable/pod" + uid + "/init.scope", memcgOwner{uid, "", "Burstable"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseMemcgPath(tt.path)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
