package omnitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// response is one answer as a client sees it.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode body %q: %v", r.body, err)
	}
	return m
}

// resource decodes a SCIM user answer.
func (r response) resource(t *testing.T) resource {
	t.Helper()
	var res resource
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("decode user %q: %v", r.body, err)
	}
	return res
}

func (r response) list(t *testing.T) listResponse {
	t.Helper()
	var l listResponse
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode list %q: %v", r.body, err)
	}
	return l
}

// wantOmniError checks Omni's non-SCIM error body.
func (r response) wantOmniError(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	m := r.json(t)
	if m["error"] != code || m["message"] == "" || m["message"] == nil {
		t.Fatalf("body = %s, want error %q with a message", r.body, code)
	}
}

// wantSCIMError checks the standard SCIM error body.
func (r response) wantSCIMError(t *testing.T, status int, scimType string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	var e scimError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decode SCIM error %q: %v", r.body, err)
	}
	if len(e.Schemas) != 1 || e.Schemas[0] != ErrorSchema || e.Status != strconv.Itoa(status) || e.ScimType != scimType || e.Detail == "" {
		t.Fatalf("body = %s, want SCIM error status %d scimType %q", r.body, status, scimType)
	}
}

// client sends requests to a stand-in with a bearer token.
type client struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
}

func newClient(t *testing.T, base string) *client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, base: base, token: DefaultToken, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// do sends method to base+path with body (JSON-encoded unless a string or
// nil) and returns the answer; a transport error fails the test.
func (c *client) do(method, path string, body any) response {
	c.t.Helper()
	resp, err := c.try(context.Background(), method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

func (c *client) try(ctx context.Context, method, path string, body any) (response, error) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		c.t.Fatalf("new request: %v", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// create POSTs a user and fails the test unless it gets 201.
func (c *client) create(userName, displayName string) resource {
	c.t.Helper()
	r := c.do("POST", "/users", map[string]any{
		"schemas":     []string{UserSchema},
		"userName":    userName,
		"displayName": displayName,
	})
	if r.status != http.StatusCreated {
		c.t.Fatalf("create %s: status %d, body %s", userName, r.status, r.body)
	}
	return r.resource(c.t)
}

func patchBody(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{PatchOpSchema}, "Operations": ops}
}

// fakeClock is a settable clock for the rate limit and timestamps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
