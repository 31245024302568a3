package testenv

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestFreePortCanBeListenedOn(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("listen on returned port %d: %v", port, err)
	}
	l.Close()
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "15", "bin")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "syncd-test-tool"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "not-executable"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, bin string
		dirs      []string
		want      string
	}{
		{"found through glob", "syncd-test-tool", []string{filepath.Join(dir, "*", "bin")}, filepath.Join(sub, "syncd-test-tool")},
		{"found in plain dir", "syncd-test-tool", []string{sub}, filepath.Join(sub, "syncd-test-tool")},
		{"not executable", "not-executable", []string{sub}, ""},
		{"missing", "syncd-no-such-tool", []string{sub}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LookPath(tt.bin, tt.dirs...)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("LookPath(%q) = %q, want an error", tt.bin, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("LookPath(%q) = %q, %v; want %q", tt.bin, got, err, tt.want)
			}
		})
	}
}

func TestDockerAvailable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Write([]byte("OK"))
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	t.Run("engine answers", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", "unix://"+sock)
		if !DockerAvailable(context.Background()) {
			t.Fatal("DockerAvailable = false for a socket that answers _ping")
		}
	})
	t.Run("rootless socket", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", "")
		t.Setenv("XDG_RUNTIME_DIR", filepath.Dir(sock))
		t.Setenv("HOME", t.TempDir())
		if !DockerAvailable(context.Background()) {
			t.Fatal("DockerAvailable = false with an engine at $XDG_RUNTIME_DIR/docker.sock")
		}
	})
	t.Run("nothing listens", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "none.sock"))
		if DockerAvailable(context.Background()) {
			t.Fatal("DockerAvailable = true with no engine")
		}
	})
}
