package omnitest

import (
	"net/http"
	"strings"
	"sync"
)

// Hold stops one request just before the stand-in applies it, so that a test
// can act while exactly that request is in flight (signal the client, say)
// and then let it finish, without sleeping and hoping the timing is right.
type Hold struct {
	method  string
	arrived chan struct{}
	release chan struct{}
	left    chan struct{}
	once    sync.Once
	path    string // set before arrived is closed
}

// Hold holds the next SCIM request with the given method that is admitted
// (right route and token, within the rate budget, body read, no fault drawn)
// until Release is called, the client gives up, or the Server closes. Holds
// for the same method catch successive requests in the order they were made.
func (s *Server) Hold(method string) *Hold {
	h := &Hold{method: strings.ToUpper(method), arrived: make(chan struct{}), release: make(chan struct{}), left: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds = append(s.holds, h)
	return h
}

// Arrived is closed once the held request has reached the stand-in; it is
// then waiting for Release and has not been counted in Stats yet.
func (h *Hold) Arrived() <-chan struct{} { return h.arrived }

// Left is closed once the held request has left the hold: released (it
// then goes on to be applied and answered), or given up by its client
// (nothing applied; counted in Stats as canceled).
func (h *Hold) Left() <-chan struct{} { return h.left }

// Path is the held request's URL path; it is set once Arrived is closed.
func (h *Hold) Path() string {
	<-h.arrived
	return h.path
}

// Release lets the held request go on to be applied and answered. It may be
// called more than once, and before the request arrives (it then passes
// straight through).
func (h *Hold) Release() { h.once.Do(func() { close(h.release) }) }

// wait holds r if a Hold is waiting for its method, and reports whether the
// request should go on: false when the client gave up meanwhile, which is
// then counted as canceled.
func (s *Server) wait(r *http.Request) bool {
	s.mu.Lock()
	var h *Hold
	for i, x := range s.holds {
		if x.method == r.Method {
			h = x
			s.holds = append(s.holds[:i], s.holds[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	if h == nil {
		return true
	}
	h.path = r.URL.Path
	close(h.arrived)
	defer close(h.left)
	select {
	case <-h.release:
	case <-s.done:
	case <-r.Context().Done():
		s.count(r.Method, "canceled", false)
		return false
	}
	return true
}
