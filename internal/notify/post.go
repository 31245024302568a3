package notify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/textutil"
)

// Config is how a Notifier posts.
type Config struct {
	// URL is the webhook. It is a secret: it never appears in a log line or
	// an error, and is scrubbed from every message.
	URL string
	// Secrets are values scrubbed from every text field sent: API keys,
	// passwords, the database URL.
	Secrets []string
	Log     zerolog.Logger
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// MaxAttempts bounds the tries of one message (default 3).
	MaxAttempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one (default 2s).
	Backoff time.Duration
	// QueueSize bounds the messages waiting to be sent (default 16).
	QueueSize int
	// Client posts; when nil, one that follows no redirect.
	Client *http.Client
	// Sleep waits between attempts; a timer honouring ctx when nil. Tests
	// replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c Config) withDefaults() Config {
	c.Timeout = cmp.Or(c.Timeout, 10*time.Second)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 3)
	c.Backoff = cmp.Or(c.Backoff, 2*time.Second)
	c.QueueSize = cmp.Or(c.QueueSize, 16)
	if c.Client == nil {
		c.Client = defaultClient()
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
}

// defaultClient follows no redirect: a webhook that redirects is
// misconfigured, and following it would turn the POST into a GET and could
// carry the message somewhere else.
func defaultClient() *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// poster delivers messages to the webhook.
type poster struct {
	url         string
	client      *http.Client
	timeout     time.Duration
	maxAttempts int
	backoff     time.Duration
	sleep       func(ctx context.Context, d time.Duration) error
	scrub       *scrubber
	log         zerolog.Logger
}

func newPoster(c Config, s *scrubber) *poster {
	return &poster{url: c.URL, client: c.Client, timeout: c.Timeout, maxAttempts: c.MaxAttempts,
		backoff: c.Backoff, sleep: c.Sleep, scrub: s, log: c.Log}
}

// errPermanent marks an answer that another attempt cannot change.
var errPermanent = errors.New("permanent")

// deliver posts m, retrying a failed attempt with backoff until it
// succeeds, fails for good, or the attempts or ctx run out. It logs the
// outcome; it has nothing to return, since nothing waits for it.
func (p *poster) deliver(ctx context.Context, m Message) {
	body, err := json.Marshal(m)
	if err != nil {
		p.log.Error().Str("event", string(m.Event)).Str("error", err.Error()).Msg("webhook: encode notification")
		return
	}
	wait := p.backoff
	for attempt := 1; ; attempt++ {
		err := p.attempt(ctx, body)
		if err == nil {
			p.log.Debug().Str("event", string(m.Event)).Int("attempt", attempt).Msg("webhook: notification delivered")
			return
		}
		ev := p.log.Warn().Str("event", string(m.Event)).Int64("run", m.RunID).Int("attempt", attempt).
			Str("error", p.scrub.text(err.Error()))
		if errors.Is(err, errPermanent) || attempt >= p.maxAttempts || ctx.Err() != nil {
			ev.Msg("webhook: notification not delivered; giving up")
			return
		}
		ev.Dur("retry_in", wait).Msg("webhook: notification not delivered; retrying")
		if p.sleep(ctx, wait) != nil {
			return
		}
		wait *= 2
	}
}

// attempt makes one POST. Its errors never hold the URL.
func (p *poster) attempt(ctx context.Context, body []byte) error {
	actx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		// The URL was validated; still, url.Error would quote it.
		return fmt.Errorf("build request: %w", errPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("no answer within %s", p.timeout)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusTooManyRequests || s >= 500:
		return fmt.Errorf("status %d", s)
	default:
		return fmt.Errorf("status %d: %w", s, errPermanent)
	}
}

// scrubber replaces each secret in a text with textutil.Redacted.
type scrubber struct{ r *strings.Replacer }

// minSecret is the shortest value scrubbed: shorter ones are no secret and
// would garble ordinary words and numbers.
const minSecret = 4

func newScrubber(secrets []string) *scrubber {
	var values []string
	for _, s := range secrets {
		if len(s) >= minSecret && !slices.Contains(values, s) {
			values = append(values, s)
		}
	}
	// Longer first, so that a secret holding another is replaced whole.
	slices.SortFunc(values, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, v, textutil.Redacted)
	}
	return &scrubber{strings.NewReplacer(pairs...)}
}

func (s *scrubber) text(t string) string { return s.r.Replace(textutil.Clean(t)) }

// clip scrubs t, then bounds it: scrubbing first, so that a secret cut in
// two by the bound is not let through in part.
func (s *scrubber) clip(t string, n int) string { return textutil.Clip(s.text(t), n, "…") }

// webhookSecrets are the parts of the webhook URL that must not be sent or
// logged: the URL, its path and its query, where services put the token.
func webhookSecrets(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	out = append(out, strings.TrimSuffix(u.String(), "/"))
	if p := strings.Trim(u.EscapedPath(), "/"); p != "" {
		out = append(out, p, u.EscapedPath())
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
	}
	return out
}
