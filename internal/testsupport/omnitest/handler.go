package omnitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// reply is an answer computed before it is written, so that a lost-reply or
// hang fault can apply a request and then withhold the answer.
type reply struct {
	status      int
	body        any
	contentType string
	header      http.Header
}

// omniError is the non-SCIM error body Omni's docs show.
type omniError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// scimError is the standard SCIM error body (RFC 7644 §3.12).
type scimError struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail"`
}

func omniErr(status int, code, msg string) reply {
	return reply{status: status, body: omniError{Error: code, Message: msg}, contentType: "application/json"}
}

func scimErr(status int, scimType, detail string) reply {
	return reply{status: status, contentType: "application/scim+json", body: scimError{
		Schemas:  []string{ErrorSchema},
		Status:   strconv.Itoa(status),
		ScimType: scimType,
		Detail:   detail,
	}}
}

func badRequest(msg string) reply { return omniErr(http.StatusBadRequest, "bad_request", msg) }

// route splits a SCIM users or groups path. It accepts any prefix (Omni
// serves under /api) and both casings Omni's docs and spec use.
func route(path string) (prefix, id string, groups, ok bool) {
	for _, coll := range []string{"/scim/v2/users", "/scim/v2/Users", "/scim/v2/groups", "/scim/v2/Groups"} {
		groups := strings.HasSuffix(strings.ToLower(coll), "groups")
		if p, found := strings.CutSuffix(path, coll); found {
			return p + coll, "", groups, true
		}
		i := strings.LastIndex(path, coll+"/")
		if i < 0 {
			continue
		}
		rest := path[i+len(coll)+1:]
		if rest == "" || strings.Contains(rest, "/") {
			return "", "", false, false
		}
		return path[:i+len(coll)], rest, groups, true
	}
	return "", "", false, false
}

// ServeHTTP answers SCIM users and groups requests under any path ending in
// /scim/v2/users, /scim/v2/Users, /scim/v2/groups or /scim/v2/Groups (and
// /{id}); groups pass the same checks, budget and faults as users, and the
// rules they add are in groups.go. Where Omni's docs are silent
// the stand-in makes one choice and keeps to it, so a client meets it in
// tests:
//
//   - A request is checked in this order: latency fault, route (404, 405),
//     bearer token (401), rate budget (429), body size (413), other faults,
//     a Hold, then the request itself.
//   - userName is stored as sent; matching it (filter, conflicts) ignores
//     case. Any other user with the email, active or not, is a conflict
//     (409) unless Options.ReuseInactiveEmail.
//   - Listing is in creation order, deactivated users included; count is
//     capped at MaxCount, and count=0 answers totalResults only.
//   - Omni's {"error","message"} body answers 400 (POST/PUT validation and
//     refused reactivation), 401, 404, 405, 409, 413, 429, 500 and 503; the
//     standard SCIM error answers a bad filter, bad paging parameters, a body
//     that is not JSON, and any PatchOp problem.
//   - PATCH add/replace on the whole urn:omni:params:1.0:UserAttribute object
//     merges keys (RFC 7644 §3.5.2.3), and a null value removes a key; PUT
//     replaces the object. PATCH and PUT answer 200 with the resource.
//   - Setting active=true on a deactivated user answers 400 unless
//     Options.AllowReactivate.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	inScope := f.applies(method)

	if inScope && f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			s.count(method, "canceled", false)
			return
		case <-s.done:
			t.Stop()
		}
	}

	prefix, id, groups, ok := route(r.URL.Path)
	if !ok {
		s.finish(w, r, omniErr(http.StatusNotFound, "not_found", "Not found"), false)
		return
	}
	allowed := []string{http.MethodGet, http.MethodPost}
	if id != "" {
		allowed = []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete}
	}
	if !slices.Contains(allowed, method) {
		rep := omniErr(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
		rep.header = http.Header{"Allow": {strings.Join(allowed, ", ")}}
		s.finish(w, r, rep, false)
		return
	}
	token, ok := s.authorized(r)
	if !ok {
		s.finish(w, r, omniErr(http.StatusUnauthorized, "unauthorized", "Invalid or missing API key"), false)
		return
	}

	s.mu.Lock()
	now := s.opts.Now()
	admitted, wait := s.take(token, now)
	fault := faultNone
	if admitted && inScope {
		fault = s.drawFault()
	}
	s.mu.Unlock()
	if !admitted {
		s.finish(w, r, s.tooMany(wait), false)
		return
	}

	// Read the body before any fault: the server notices a client giving up
	// (and cancels r.Context) only once the body has been consumed.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.finish(w, r, omniErr(http.StatusRequestEntityTooLarge, "payload_too_large", "Request body too large"), false)
			return
		}
		s.finish(w, r, badRequest("Could not read request body"), false)
		return
	}

	switch fault {
	case faultError500:
		s.finish(w, r, omniErr(http.StatusInternalServerError, "internal_error", "Internal server error"), true)
		return
	case faultError503:
		s.finish(w, r, omniErr(http.StatusServiceUnavailable, "service_unavailable", "Service temporarily unavailable"), true)
		return
	case faultRateLimit:
		s.finish(w, r, s.tooMany(0), true)
		return
	case faultDrop:
		s.count(method, "dropped", true)
		abort(w, true)
		return
	case faultHang:
		s.count(method, "hung", true)
		s.hang(r)
		abort(w, false)
		return
	}

	if !s.wait(r) {
		return
	}
	handle := s.handle
	if groups {
		handle = s.handleGroup
	}
	rep, applied := handle(r, prefix, id, body, now)
	if applied {
		s.mu.Lock()
		s.stats.Applied++
		s.mu.Unlock()
	}
	switch fault {
	case faultLostReply:
		s.count(method, "lost", true)
		abort(w, false)
		return
	case faultHangApplied:
		s.count(method, "hung", true)
		s.hang(r)
		abort(w, false)
		return
	}
	s.finish(w, r, rep, false)
}

func (s *Server) tooMany(wait time.Duration) reply {
	rep := omniErr(http.StatusTooManyRequests, "rate_limited", "Rate limit exceeded, try again later")
	if s.opts.RetryAfter {
		rep.header = http.Header{"Retry-After": {strconv.Itoa(retryAfterSeconds(wait))}}
	}
	return rep
}

// hang holds a request until the client gives up or the server closes.
func (s *Server) hang(r *http.Request) {
	s.mu.Lock()
	hook := s.hangHook
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	select {
	case <-r.Context().Done():
	case <-s.done:
	}
}

// abort closes the connection without an answer. reset sends a TCP RST
// rather than a FIN, as a crashed proxy would.
func abort(w http.ResponseWriter, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 or a recorder: the server resets the stream instead.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func (s *Server) count(method, status string, fault bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Total++
	s.stats.ByMethodStatus[method+" "+status]++
	if method != http.MethodGet {
		s.stats.Writes++
	}
	if fault {
		s.stats.Faults++
	}
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request, rep reply, fault bool) {
	s.count(r.Method, strconv.Itoa(rep.status), fault)
	if rep.status == http.StatusTooManyRequests {
		s.mu.Lock()
		s.stats.TooMany++
		s.mu.Unlock()
	}
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep.body); err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", rep.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(rep.status)
	_, _ = w.Write(buf.Bytes())
}
