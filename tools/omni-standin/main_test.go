package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// start runs the program on a free port and returns its SCIM base URL; the
// program is stopped, and must exit cleanly, when the test ends.
func start(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("program did not stop after cancel")
		}
	})
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no base URL printed: %v", lines.Err())
	}
	base := lines.Text()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/api/scim/v2") {
		t.Fatalf("first line = %q, want the SCIM base URL", base)
	}
	return base
}

func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestServesSCIMAndAdmin(t *testing.T) {
	base := start(t, "-token", "secret", "-rpm", "3", "-retry-after")
	host := strings.TrimSuffix(base, "/api/scim/v2")

	if code, _ := call(t, "POST", host+"/_standin/users", "", `{"userName":"admin@example.com","displayName":"Admin","active":true}`); code != http.StatusCreated {
		t.Fatalf("seed: status %d", code)
	}
	if code, _ := call(t, "GET", base+"/users", "wrong", ""); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: status %d, want 401", code)
	}
	if code, body := call(t, "POST", base+"/Users", "secret", `{"userName":"ann@example.com","displayName":"Ann"}`); code != http.StatusCreated {
		t.Fatalf("create: status %d, body %s", code, body)
	}
	if code, _ := call(t, "POST", base+"/users", "secret", `{"userName":"admin@example.com","displayName":"A"}`); code != http.StatusConflict {
		t.Fatalf("duplicate: status %d, want 409", code)
	}
	if code, _ := call(t, "GET", base+"/users", "secret", ""); code != http.StatusOK {
		t.Fatalf("list: status %d", code)
	}
	// The fourth authenticated request in a minute passes -rpm 3.
	req, _ := http.NewRequest("GET", base+"/users", nil)
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over budget: status %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	_, body := call(t, "GET", host+"/_standin/users", "", "")
	var users []omnitest.User
	if err := json.Unmarshal(body, &users); err != nil || len(users) != 2 || users[1].UserName != "ann@example.com" {
		t.Fatalf("admin users = %s (%v), want admin then ann", body, err)
	}
	_, body = call(t, "GET", host+"/_standin/stats", "", "")
	var st omnitest.Stats
	if err := json.Unmarshal(body, &st); err != nil || st.Total != 5 || st.TooMany != 1 || st.ByMethodStatus["POST 201"] != 1 {
		t.Fatalf("admin stats = %s (%v)", body, err)
	}
}

func TestFaultFlags(t *testing.T) {
	base := start(t, "-rpm", "0", "-error-rate", "1", "-fault-methods", "post")
	code, body := call(t, "POST", base+"/users", omnitest.DefaultToken, `{"userName":"ann@example.com","displayName":"Ann"}`)
	if code != http.StatusInternalServerError && code != http.StatusServiceUnavailable {
		t.Fatalf("POST with -error-rate 1: status %d, body %s", code, body)
	}
	if code, _ := call(t, "GET", base+"/users", omnitest.DefaultToken, ""); code != http.StatusOK {
		t.Fatalf("GET outside -fault-methods: status %d", code)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-error-rate", "2"},
		{"-no-such-flag"},
		{"extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if err := run(context.Background(), args, io.Discard); err == nil {
				t.Fatal("run accepted bad arguments")
			}
		})
	}
}
