package notify

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/syncd-dev/syncd/internal/textutil"
)

const (
	token    = "omni-org-key-0123456789"
	bindPW   = "bind-pass-s3cr3t"
	database = "postgres://syncd:db-pass-s3cr3t@db.internal/syncd"
)

var configured = []string{token, bindPW, database, "db-pass-s3cr3t"}

// leaky is a run whose every text field quotes every secret.
func leaky(url string) Run {
	all := strings.Join(append([]string{url, hookPath}, configured...), " | ")
	return Run{RunID: 7, Outcome: "failed", Failed: true, KeysRefused: []int{1},
		GuardTrips: []string{"trip quoting " + all}, Error: "error quoting " + all}
}

func assertNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the secret %q: %s", where, s, text)
		}
	}
}

func TestMessagesAndLogsCarryNoSecret(t *testing.T) {
	// The webhook answers 500 then 400, so the log has failures to tell.
	h := newHook(t, 500, 400)
	var log logBuf
	n := start(t, h, &log, func(c *Config) { c.Secrets = configured })
	n.Observe(leaky(h.url()))
	got := closeAndDrain(t, n, h)
	if len(got) == 0 {
		t.Fatal("nothing sent")
	}
	body, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	secrets := append([]string{h.url(), hookPath, strings.TrimPrefix(hookPath, "/")}, configured...)
	assertNoSecret(t, "message", string(body), secrets...)
	assertNoSecret(t, "log", log.String(), secrets...)
	if !strings.Contains(got[0].Error, textutil.Redacted) {
		t.Errorf("error %q shows no placeholder", got[0].Error)
	}
	if !strings.Contains(log.String(), "webhook") {
		t.Errorf("log does not say the webhook failed: %s", log.String())
	}
}

func TestUnreachableWebhookIsNotNamedInTheLog(t *testing.T) {
	srv := httptest.NewServer(nil)
	url := srv.URL + hookPath
	srv.Close() // connections are refused from here on
	var log logBuf
	h := &hook{}
	h.srv = srv
	n := start(t, h, &log, nil)
	n.Observe(failed)
	closeAndDrain(t, n, h)
	if !strings.Contains(log.String(), "giving up") {
		t.Fatalf("no failure logged: %s", log.String())
	}
	assertNoSecret(t, "log", log.String(), url, hookPath, srv.URL)
}

func TestLongErrorsAreScrubbedThenClipped(t *testing.T) {
	h := newHook(t)
	n := start(t, h, nil, func(c *Config) { c.Secrets = []string{token} })
	r := failed
	// The token straddles the bound: clipping first would send its start.
	r.Error = strings.Repeat("é", (maxError-5)/2) + token + strings.Repeat("x", 5000)
	n.Observe(r)
	got := closeAndDrain(t, n, h)
	if len(got) != 1 {
		t.Fatalf("got %d messages", len(got))
	}
	e := got[0].Error
	if len(e) > maxError+len("…") || !utf8.ValidString(e) {
		t.Errorf("error is %d bytes (valid UTF-8: %v), want at most %d", len(e), utf8.ValidString(e), maxError)
	}
	assertNoSecret(t, "error", e, token, token[:8])
	assertNoSecret(t, "text", got[0].Text, token, token[:8])
}

func TestShortValuesAreNotScrubbed(t *testing.T) {
	s := newScrubber([]string{"abc", "", "abcdef"})
	if got := s.text("abc abcdef"); got != "abc "+textutil.Redacted {
		t.Errorf("got %q", got)
	}
}
