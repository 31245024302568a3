package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// defaultHTTPClient keeps connections alive: the rate limit, not the
// connection count, is the bottleneck, so a handful of idle connections
// saves a TLS handshake per request. Redirects are not followed: a SCIM
// endpoint that redirects is misconfigured, and following a redirect would
// turn a POST into a GET.
// roots, when set, replaces the system roots the server's certificate is
// checked against.
func defaultHTTPClient(roots *x509.CertPool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if roots != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	t.MaxIdleConns = 32
	t.MaxIdleConnsPerHost = 16
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// send makes one attempt unless the breaker refuses it, and tells the
// breaker how it went.
func (c *Client) send(ctx context.Context, method, rel, query string, body []byte) (*response, error) {
	if err := c.brk.allow(c.now()); err != nil {
		return nil, err
	}
	resp, err := c.attempt(ctx, method, rel, query, body)
	c.brk.record(c.now(), judge(ctx, err), err)
	return resp, err
}

// attempt makes one attempt: wait for the soonest key's bucket, send under
// the per-attempt timeout, read a bounded body. Non-2xx answers come back as
// *Error, failed exchanges as *transportError. A request Omni refused for
// its key goes out again at once with another key, so the caller sees one
// attempt; each refusal drops a key, which bounds the loop.
func (c *Client) attempt(ctx context.Context, method, rel, query string, body []byte) (*response, error) {
	for {
		k, err := c.waitKey(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := c.exchange(ctx, k, method, rel, query, body)
		if err != nil && c.keyRefused(k, err) {
			continue
		}
		return resp, err
	}
}

// waitKey chooses the key to send with and waits for its bucket.
func (c *Client) waitKey(ctx context.Context) (*key, error) {
	check := func(pause time.Duration) error { return c.checkWait(ctx, pause, nil) }
	if stopping(ctx) {
		return nil, ErrStopped
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, s, err := c.keys.take(c.now())
	if err != nil {
		return nil, err
	}
	wctx, wcancel := untilStop(ctx)
	err = s.wait(wctx, c.now, c.sleep, check)
	wcancel()
	if stopping(ctx) {
		return nil, ErrStopped
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// exchange sends one request with k and reads its answer, telling k's
// bucket how it went.
func (c *Client) exchange(ctx context.Context, k *key, method, rel, query string, body []byte) (*response, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	target := c.base + "/" + rel
	if query != "" {
		target += "?" + query
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("build scim request: %w", err)
	}
	path := req.URL.EscapedPath()
	req.Header.Set("Authorization", k.auth)
	req.Header.Set("Accept", contentTypeSCIM+", application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", contentTypeSCIM)
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		d := time.Since(start)
		c.observe(method, 0, d)
		terr := &transportError{Method: method, Path: path, Err: c.cleanErr(ctx, actx, err), Sent: !dialFailed(err)}
		if why := tlsFailure(err); why != "" {
			terr = tlsError(method, path, why, terr.Err)
		}
		c.log.Debug().Str("method", method).Str("path", path).Int("key", k.pos).Int("status", 0).
			Dur("duration", d).Str("error", terr.Err.Error()).Msg("scim request")
		return nil, terr
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	d := time.Since(start)
	c.observe(method, resp.StatusCode, d)
	c.log.Debug().Str("method", method).Str("path", path).Int("key", k.pos).Int("status", resp.StatusCode).
		Dur("duration", d).Msg("scim request")
	if err != nil {
		return nil, &transportError{Method: method, Path: path, Err: fmt.Errorf("read answer: %w", c.cleanErr(ctx, actx, err)), Sent: true}
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	now := c.now()
	if ok {
		k.lim.succeeded(now)
		if len(data) > maxBody {
			return nil, tooLarge(method, path)
		}
		return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
	}
	data = data[:min(len(data), maxBody)]
	e := parseError(method, path, resp.StatusCode, resp.Header, data, now, c.red)
	if e.Status == http.StatusTooManyRequests {
		k.lim.throttled(now, e.RetryAfter)
	} else {
		k.lim.succeeded(now)
	}
	return nil, e
}

// tooLarge is a 2xx answer past maxBody. A write it answers was accepted,
// so its outcome is unsettled: a create is looked up before it is sent
// again, another write ends as an unknown outcome if retries cannot read an
// answer. A read would only get the same answer again.
func tooLarge(method, path string) error {
	err := fmt.Errorf("scim %s %s: answer exceeds %d bytes", method, path, maxBody)
	if method == http.MethodGet {
		return err
	}
	return &unsettledError{err}
}

// cleanErr strips the URL (whose query may hold an email) from a transport
// error and names a per-attempt timeout as such.
func (c *Client) cleanErr(ctx, actx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s: %w", c.timeout, err)
	}
	return err
}

// dialFailed reports whether the request surely never reached the server.
func dialFailed(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de)
}
