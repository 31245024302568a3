package omnitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

type email struct {
	Primary bool   `json:"primary"`
	Value   string `json:"value"`
}

type group struct {
	Display string `json:"display"`
	Value   string `json:"value"`
}

type meta struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
	Location     string `json:"location"`
}

type resource struct {
	Schemas     []string       `json:"schemas"`
	ID          string         `json:"id"`
	UserName    string         `json:"userName"`
	DisplayName string         `json:"displayName"`
	Active      bool           `json:"active"`
	Emails      []email        `json:"emails"`
	Groups      []group        `json:"groups"`
	Attributes  map[string]any `json:"urn:omni:params:1.0:UserAttribute,omitempty"`
	Meta        meta           `json:"meta"`
}

// listOf is a SCIM ListResponse of users or groups.
type listOf[R any] struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []R      `json:"Resources"`
}

type listResponse = listOf[resource]

// pageOf answers one page of all (in creation order) from the 1-based
// start, at most count resources.
func pageOf[X, R any](all []X, start, count int, render func(X) R) listOf[R] {
	resp := listOf[R]{
		Schemas:      []string{ListSchema},
		TotalResults: len(all),
		StartIndex:   start,
		Resources:    []R{},
	}
	for i := start - 1; i < len(all) && len(resp.Resources) < count; i++ {
		resp.Resources = append(resp.Resources, render(all[i]))
	}
	resp.ItemsPerPage = len(resp.Resources)
	return resp
}

const timeFormat = "2006-01-02T15:04:05.000Z"

// location builds the absolute URL of a user from the request, so it is right
// whatever prefix and casing the client used.
func location(r *http.Request, prefix, id string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + prefix + "/" + id
}

func toResource(u User, loc string) resource {
	return resource{
		Schemas:     []string{UserSchema, AttributeSchema},
		ID:          u.ID,
		UserName:    u.UserName,
		DisplayName: u.DisplayName,
		Active:      u.Active,
		Emails:      []email{{Primary: true, Value: u.UserName}},
		Groups:      []group{},
		Attributes:  copyAttrs(u.Attributes),
		Meta: meta{
			ResourceType: "User",
			Created:      u.Created.UTC().Format(timeFormat),
			LastModified: u.Modified.UTC().Format(timeFormat),
			Location:     loc,
		},
	}
}

func ok(status int, body any) reply {
	return reply{status: status, body: body, contentType: "application/scim+json"}
}

// handle applies one admitted request and reports whether it changed the
// stored users.
func (s *Server) handle(r *http.Request, prefix, id string, body []byte, now time.Time) (reply, bool) {
	now = now.UTC()
	switch {
	case id == "" && r.Method == http.MethodGet:
		return s.list(r, prefix), false
	case id == "" && r.Method == http.MethodPost:
		return s.create(r, prefix, body, now)
	case r.Method == http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		rec, found := s.byID[id]
		if !found {
			return notFound(), false
		}
		return ok(http.StatusOK, toResource(rec.u, location(r, prefix, id))), false
	case r.Method == http.MethodPut:
		return s.replace(r, prefix, id, body, now)
	case r.Method == http.MethodPatch:
		return s.patch(r, prefix, id, body, now)
	default: // DELETE
		s.mu.Lock()
		defer s.mu.Unlock()
		rec, found := s.byID[id]
		if !found {
			return notFound(), false
		}
		s.remove(rec)
		return reply{status: http.StatusNoContent}, true
	}
}

func notFound() reply { return omniErr(http.StatusNotFound, "not_found", NotFoundMessage) }

func conflict() reply { return omniErr(http.StatusConflict, "conflict", ConflictMessage) }

// filterRE accepts the one filter Omni documents. SCIM attribute names and
// operators are case-insensitive (RFC 7644 §3.4.2.2).
var filterRE = regexp.MustCompile(`(?i)^\s*userName\s+eq\s+("(?:[^"\\]|\\.)*")\s*$`)

func (s *Server) list(r *http.Request, prefix string) reply {
	q := r.URL.Query()
	start, count, bad := paging(q)
	if bad != nil {
		return *bad
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.order
	if f, present := q["filter"]; present {
		m := filterRE.FindStringSubmatch(f[0])
		if m == nil {
			return scimErr(http.StatusBadRequest, "invalidFilter", `only filter=userName eq "<email>" is supported`)
		}
		var name string
		if err := json.Unmarshal([]byte(m[1]), &name); err != nil {
			return scimErr(http.StatusBadRequest, "invalidFilter", "filter value is not a valid string")
		}
		all = s.byName[strings.ToLower(name)]
	}
	return ok(http.StatusOK, pageOf(all, start, count, func(rec *record) resource {
		return toResource(rec.u, location(r, prefix, rec.u.ID))
	}))
}

// paging reads startIndex and count, as users and groups share them.
func paging(q url.Values) (start, count int, bad *reply) {
	start, count = 1, MaxCount
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			rep := scimErr(http.StatusBadRequest, "invalidValue", "startIndex must be an integer")
			return 0, 0, &rep
		}
		// RFC 7644 §3.4.2.4: a value below 1 is read as 1.
		start = max(n, 1)
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			rep := scimErr(http.StatusBadRequest, "invalidValue", "count must be an integer")
			return 0, 0, &rep
		}
		count = min(max(n, 0), MaxCount)
	}
	return start, count, nil
}

// userIn is a POST or PUT body. encoding/json matches names
// case-insensitively, as SCIM wants. Other attributes (externalId, name,
// emails, ...) are accepted and ignored: Omni documents none of them.
type userIn struct {
	UserName    *string         `json:"userName"`
	DisplayName *string         `json:"displayName"`
	Active      json.RawMessage `json:"active"`
	Attributes  json.RawMessage `json:"urn:omni:params:1.0:UserAttribute"`
}

// parseUser validates a POST or PUT body into the user it describes.
// Attributes left out get their defaults: active true, no user attributes.
func parseUser(body []byte) (User, *reply) {
	var in userIn
	if err := json.Unmarshal(body, &in); err != nil {
		rep := scimErr(http.StatusBadRequest, "invalidSyntax", "request body is not a valid JSON object")
		return User{}, &rep
	}
	u := User{Active: true}
	if in.UserName == nil || *in.UserName == "" {
		rep := badRequest("userName is required")
		return User{}, &rep
	}
	if !validEmail(*in.UserName) {
		rep := badRequest("userName must be a valid email address")
		return User{}, &rep
	}
	u.UserName = *in.UserName
	if in.DisplayName == nil || strings.TrimSpace(*in.DisplayName) == "" {
		rep := badRequest("displayName is required")
		return User{}, &rep
	}
	u.DisplayName = *in.DisplayName
	if len(in.Active) > 0 && string(in.Active) != "null" {
		a, err := parseActive(in.Active)
		if err != nil {
			rep := badRequest(err.Error())
			return User{}, &rep
		}
		u.Active = a
	}
	if len(in.Attributes) > 0 && string(in.Attributes) != "null" {
		attrs, err := parseAttrObject(in.Attributes)
		if err != nil {
			rep := badRequest(err.Error())
			return User{}, &rep
		}
		for k, v := range attrs {
			if v != nil {
				if u.Attributes == nil {
					u.Attributes = map[string]any{}
				}
				u.Attributes[k] = v
			}
		}
	}
	return u, nil
}

// validEmail is the stand-in's own rule for a userName, written from what
// Omni documents ("userName is the user's email address") rather than taken
// from syncd's parser: an oracle that shares the code under test can never
// disagree with it. The rule: exactly one "@", a non-empty local part, a
// domain of at least two non-empty dot-separated labels, valid UTF-8 and no
// space or control character anywhere. The stand-in stores userName as
// sent, so surrounding space is an error, not something to trim.
func validEmail(s string) bool {
	local, domain, found := strings.Cut(s, "@")
	if !found || local == "" || strings.Contains(domain, "@") || !utf8.ValidString(s) {
		return false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false
		}
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// parseActive accepts a boolean, or the strings "true"/"false" that some
// identity providers send.
func parseActive(raw json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		switch strings.ToLower(str) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fmt.Errorf("active must be a boolean")
}

// parseAttrObject decodes a user attribute object. A nil value in the result
// means the key was null, i.e. "remove".
func parseAttrObject(raw json.RawMessage) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("%s must be an object", AttributeSchema)
	}
	for k, v := range m {
		if k == "" {
			return nil, fmt.Errorf("%s: empty attribute reference", AttributeSchema)
		}
		nv, err := attrValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s:%s: %w", AttributeSchema, k, err)
		}
		m[k] = nv
	}
	return m, nil
}

func parseAttrValue(raw json.RawMessage) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid value")
	}
	return attrValue(v)
}

// attrValue checks a user attribute value: Omni documents strings, integers
// and lists of those. null passes through as nil (remove).
func attrValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, string:
		return x, nil
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return nil, fmt.Errorf("value must be a string or an integer")
		}
		return n, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			if e == nil {
				return nil, fmt.Errorf("list values must be strings or integers")
			}
			if _, isList := e.([]any); isList {
				return nil, fmt.Errorf("list values must be strings or integers")
			}
			ev, err := attrValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	default:
		return nil, fmt.Errorf("value must be a string, an integer or a list of those")
	}
}

func (s *Server) create(r *http.Request, prefix string, body []byte, now time.Time) (reply, bool) {
	u, rep := parseUser(body)
	if rep != nil {
		return *rep, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conflicts(strings.ToLower(u.UserName), u.Active, nil) {
		return conflict(), false
	}
	u.ID = newUUID()
	u.Created, u.Modified = now, now
	s.insert(u)
	return ok(http.StatusCreated, toResource(u, location(r, prefix, u.ID))), true
}

func (s *Server) replace(r *http.Request, prefix, id string, body []byte, now time.Time) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, found := s.byID[id]
	if !found {
		return notFound(), false
	}
	u, rep := parseUser(body)
	if rep != nil {
		return *rep, false
	}
	return s.commit(r, prefix, rec, u, now)
}

// commit stores next as the new state of rec after the checks every update
// shares; s.mu must be held.
func (s *Server) commit(r *http.Request, prefix string, rec *record, next User, now time.Time) (reply, bool) {
	prev := rec.u
	if !prev.Active && next.Active && !s.opts.AllowReactivate {
		return badRequest(ReactivateMessage), false
	}
	lower := strings.ToLower(next.UserName)
	if (lower != rec.lower || (next.Active && !prev.Active)) && s.conflicts(lower, next.Active, rec) {
		return conflict(), false
	}
	next.ID, next.Created, next.Modified = prev.ID, prev.Created, prev.Modified
	if len(next.Attributes) == 0 {
		next.Attributes = nil
	}
	changed := !sameUser(prev, next)
	if changed {
		next.Modified = now
	}
	name := next.UserName
	next.UserName = prev.UserName
	rec.u = next
	s.rename(rec, name)
	return ok(http.StatusOK, toResource(rec.u, location(r, prefix, rec.u.ID))), changed
}

func sameUser(a, b User) bool {
	if a.UserName != b.UserName || a.DisplayName != b.DisplayName || a.Active != b.Active || len(a.Attributes) != len(b.Attributes) {
		return false
	}
	for k, av := range a.Attributes {
		bv, found := b.Attributes[k]
		if !found || fmt.Sprint(av) != fmt.Sprint(bv) || fmt.Sprintf("%T", av) != fmt.Sprintf("%T", bv) {
			return false
		}
	}
	return true
}
