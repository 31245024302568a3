package omnitest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Group wire constants and the rules the stand-in keeps for groups.
const (
	GroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
	// MaxGroupName is Omni's documented limit: "Names must be 64
	// characters or less". Characters, not bytes.
	MaxGroupName = 64
	// MaxPatchOps is the most operations one group PATCH may carry, each
	// member an add names counting as one. Omni documents no limit; peers
	// report 400s past about 100 membership operations, and the stand-in
	// models that report as a hard 400 past 100, so a client that does not
	// chunk fails here before it fails against Omni.
	MaxPatchOps = 100
	// GroupConflictMessage answers a duplicate group name, the answer the
	// project assumes (Omni does not document one).
	GroupConflictMessage = "Group with this name already exists"
	// GroupNotFoundMessage answers an unknown group id.
	GroupNotFoundMessage = "Group not found"
	// groupIDLen and groupIDChars make ids shaped like Omni's (mEhXj6ZI),
	// so a client that assumes UUIDs meets the difference in tests.
	groupIDLen   = 8
	groupIDChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// Group is a user group as the stand-in stores it.
type Group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	// Members are user ids, in the order they joined.
	Members  []string  `json:"members"`
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
}

type groupRecord struct {
	seq uint64
	g   Group
}

type groupMember struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
}

type groupResource struct {
	Schemas     []string      `json:"schemas"`
	ID          string        `json:"id"`
	DisplayName string        `json:"displayName"`
	Members     []groupMember `json:"members"`
	Meta        meta          `json:"meta"`
}

type groupListResponse = listOf[groupResource]

// AddGroup seeds a group as if made in Omni by hand. It assigns ID when
// empty and Created (and Modified) when zero, and stores the group as given
// otherwise: no name or member checks, so tests can seed what an
// organisation really holds. It panics on a repeated id.
func (s *Server) AddGroup(g Group) Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.ID == "" {
		g.ID = s.newGroupID()
	}
	if _, dup := s.groups[g.ID]; dup {
		panic("omnitest: seed group: id " + g.ID + " already exists")
	}
	if g.Created.IsZero() {
		g.Created = s.opts.Now().UTC()
	}
	if g.Modified.IsZero() {
		g.Modified = g.Created
	}
	g.Members = slices.Clone(g.Members)
	s.insertGroup(g)
	return cloneGroup(g)
}

// Groups returns a snapshot of every group in creation order.
func (s *Server) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Group, len(s.groupOrder))
	for i, r := range s.groupOrder {
		out[i] = cloneGroup(r.g)
	}
	return out
}

// Group returns the group with the given id.
func (s *Server) Group(id string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, found := s.groups[id]
	if !found {
		return Group{}, false
	}
	return cloneGroup(r.g), true
}

func cloneGroup(g Group) Group {
	g.Members = slices.Clone(g.Members)
	return g
}

// insertGroup stores g; s.mu must be held.
func (s *Server) insertGroup(g Group) {
	s.groupSeq++
	r := &groupRecord{seq: s.groupSeq, g: g}
	s.groups[g.ID] = r
	s.groupOrder = append(s.groupOrder, r)
}

// newGroupID draws a fresh id; s.mu must be held.
func (s *Server) newGroupID() string {
	for {
		var b [groupIDLen]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		for i := range b {
			b[i] = groupIDChars[int(b[i])%len(groupIDChars)]
		}
		if _, taken := s.groups[string(b[:])]; !taken {
			return string(b[:])
		}
	}
}

// dropMember takes a deleted user out of every group; s.mu must be held.
func (s *Server) dropMember(userID string) {
	for _, r := range s.groupOrder {
		r.g.Members = slices.DeleteFunc(r.g.Members, func(m string) bool { return m == userID })
	}
}

// groupNameTaken reports whether another group than self has the name,
// ignoring case; s.mu must be held.
func (s *Server) groupNameTaken(name string, self *groupRecord) bool {
	if s.opts.AllowDuplicateGroupNames {
		return false
	}
	for _, r := range s.groupOrder {
		if r != self && strings.EqualFold(r.g.DisplayName, name) {
			return true
		}
	}
	return false
}

func checkGroupName(name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("displayName is required")
	}
	if n := utf8.RuneCountInString(name); n > MaxGroupName || !utf8.ValidString(name) {
		return fmt.Errorf("displayName must be %d characters or less (got %d)", MaxGroupName, n)
	}
	return nil
}

// parseMembers reads a members list ([{"value": "<userId>"}]) and checks
// that each names an existing user; s.mu must be held. A user named twice
// joins once.
func (s *Server) parseMembers(raw json.RawMessage) ([]string, error) {
	var in []struct {
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf(`members must be a list of {"value": "<userId>"}`)
	}
	out := make([]string, 0, len(in))
	for i, m := range in {
		if m.Value == nil || *m.Value == "" {
			return nil, fmt.Errorf("members[%d]: value is required", i)
		}
		if _, found := s.byID[*m.Value]; !found {
			return nil, fmt.Errorf("members[%d]: no user with id %q", i, *m.Value)
		}
		if !slices.Contains(out, *m.Value) {
			out = append(out, *m.Value)
		}
	}
	return out, nil
}

func (s *Server) toGroupResource(g Group, loc string) groupResource {
	members := make([]groupMember, 0, len(g.Members))
	for _, id := range g.Members {
		m := groupMember{Value: id}
		if u, found := s.byID[id]; found {
			m.Display = u.u.UserName
		}
		members = append(members, m)
	}
	return groupResource{
		Schemas:     []string{GroupSchema},
		ID:          g.ID,
		DisplayName: g.DisplayName,
		Members:     members,
		Meta: meta{
			ResourceType: "Group",
			Created:      g.Created.UTC().Format(timeFormat),
			LastModified: g.Modified.UTC().Format(timeFormat),
			Location:     loc,
		},
	}
}

func groupNotFound() reply { return omniErr(http.StatusNotFound, "not_found", GroupNotFoundMessage) }

func groupConflict() reply { return omniErr(http.StatusConflict, "conflict", GroupConflictMessage) }

// handleGroup applies one admitted groups request and reports whether it
// changed the stored groups. The whole request runs under the lock, so
// member checks and the change they allow see the same users.
func (s *Server) handleGroup(r *http.Request, prefix, id string, body []byte, now time.Time) (reply, bool) {
	now = now.UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		if r.Method == http.MethodGet {
			return s.listGroups(r, prefix), false
		}
		return s.createGroup(r, prefix, body, now)
	}
	rec, found := s.groups[id]
	if !found {
		return groupNotFound(), false
	}
	var next Group
	switch r.Method {
	case http.MethodGet:
		return ok(http.StatusOK, s.toGroupResource(rec.g, location(r, prefix, id))), false
	case http.MethodDelete:
		delete(s.groups, id)
		s.groupOrder = slices.DeleteFunc(s.groupOrder, func(x *groupRecord) bool { return x == rec })
		return reply{status: http.StatusNoContent}, true
	case http.MethodPut:
		g, rep := s.parseGroup(body, true)
		if rep != nil {
			return *rep, false
		}
		next = g
	default: // PATCH
		g, rep := s.patchGroup(rec.g, body)
		if rep != nil {
			return *rep, false
		}
		next = g
	}
	if !strings.EqualFold(next.DisplayName, rec.g.DisplayName) && s.groupNameTaken(next.DisplayName, rec) {
		return groupConflict(), false
	}
	changed := next.DisplayName != rec.g.DisplayName || !slices.Equal(next.Members, rec.g.Members)
	next.ID, next.Created, next.Modified = rec.g.ID, rec.g.Created, rec.g.Modified
	if changed {
		next.Modified = now
	}
	rec.g = next
	return ok(http.StatusOK, s.toGroupResource(rec.g, location(r, prefix, id))), changed
}

func (s *Server) listGroups(r *http.Request, prefix string) reply {
	start, count, bad := paging(r.URL.Query())
	if bad != nil {
		return *bad
	}
	return ok(http.StatusOK, pageOf(s.groupOrder, start, count, func(g *groupRecord) groupResource {
		return s.toGroupResource(g.g, location(r, prefix, g.g.ID))
	}))
}

// parseGroup validates a POST or PUT body; s.mu must be held. Omni's PUT
// page marks members required, as the whole membership is replaced; POST
// may leave them out.
func (s *Server) parseGroup(body []byte, put bool) (Group, *reply) {
	var in struct {
		DisplayName *string         `json:"displayName"`
		Members     json.RawMessage `json:"members"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		rep := scimErr(http.StatusBadRequest, "invalidSyntax", "request body is not a valid JSON object")
		return Group{}, &rep
	}
	var g Group
	if in.DisplayName != nil {
		g.DisplayName = *in.DisplayName
	}
	if err := checkGroupName(g.DisplayName); err != nil {
		rep := badRequest(err.Error())
		return Group{}, &rep
	}
	g.Members = []string{}
	switch {
	case len(in.Members) > 0 && string(in.Members) != "null":
		m, err := s.parseMembers(in.Members)
		if err != nil {
			rep := badRequest(err.Error())
			return Group{}, &rep
		}
		g.Members = m
	case put:
		rep := badRequest("members is required")
		return Group{}, &rep
	}
	return g, nil
}

func (s *Server) createGroup(r *http.Request, prefix string, body []byte, now time.Time) (reply, bool) {
	g, rep := s.parseGroup(body, false)
	if rep != nil {
		return *rep, false
	}
	if s.groupNameTaken(g.DisplayName, nil) {
		return groupConflict(), false
	}
	g.ID = s.newGroupID()
	g.Created, g.Modified = now, now
	s.insertGroup(g)
	return ok(http.StatusCreated, s.toGroupResource(g, location(r, prefix, g.ID))), true
}

// removeMemberRE is the one remove path Omni documents: one user per
// operation. Attribute names and the operator ignore case, as in SCIM.
var removeMemberRE = regexp.MustCompile(`(?i)^\s*members\s*\[\s*value\s+eq\s+("(?:[^"\\]|\\.)*")\s*\]\s*$`)

// patchGroup applies a PatchOp to a copy of g; s.mu must be held. It
// supports what Omni documents: add path members, remove path
// members[value eq "<id>"], replace path displayName or members, and
// replace without a path. Adding a member already there and removing one
// that is not are no-ops, as SCIM asks.
func (s *Server) patchGroup(g Group, body []byte) (Group, *reply) {
	var req patchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		rep := scimErr(http.StatusBadRequest, "invalidSyntax", "request body is not a valid PatchOp")
		return Group{}, &rep
	}
	if !slices.Contains(req.Schemas, PatchOpSchema) {
		rep := scimErr(http.StatusBadRequest, "invalidSyntax", "schemas must contain "+PatchOpSchema)
		return Group{}, &rep
	}
	if len(req.Operations) == 0 {
		rep := scimErr(http.StatusBadRequest, "invalidSyntax", "Operations must not be empty")
		return Group{}, &rep
	}
	next := cloneGroup(g)
	units := 0
	for i, op := range req.Operations {
		n, err := s.applyGroupOp(&next, op)
		if err != nil {
			rep := scimErr(err.status, err.scimType, fmt.Sprintf("Operations[%d]: %s", i, err.detail))
			return Group{}, &rep
		}
		units += n
	}
	if units > MaxPatchOps {
		rep := scimErr(http.StatusBadRequest, "invalidValue",
			fmt.Sprintf("a PATCH may carry at most %d operations, each member added counting as one; got %d", MaxPatchOps, units))
		return Group{}, &rep
	}
	return next, nil
}

// applyGroupOp applies one operation and returns how many operations it
// counts as toward MaxPatchOps.
func (s *Server) applyGroupOp(g *Group, op patchOp) (int, *patchError) {
	kind := strings.ToLower(op.Op)
	switch {
	case kind == "add" && strings.EqualFold(op.Path, "members"):
		m, err := s.parseMembers(op.Value)
		if err != nil {
			return 0, invalidValue("%v", err)
		}
		for _, id := range m {
			if !slices.Contains(g.Members, id) {
				g.Members = append(g.Members, id)
			}
		}
		return max(len(m), 1), nil
	case kind == "remove":
		sub := removeMemberRE.FindStringSubmatch(op.Path)
		if sub == nil {
			return 0, invalidPath(`remove supports only path members[value eq "<userId>"], got %q`, op.Path)
		}
		var id string
		if err := json.Unmarshal([]byte(sub[1]), &id); err != nil {
			return 0, invalidPath("remove: bad value in %q", op.Path)
		}
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == id })
		return 1, nil
	case kind == "replace" && strings.EqualFold(op.Path, "displayName"):
		var name string
		if err := json.Unmarshal(op.Value, &name); err != nil {
			return 0, invalidValue("displayName must be a string")
		}
		if err := checkGroupName(name); err != nil {
			return 0, invalidValue("%v", err)
		}
		g.DisplayName = name
		return 1, nil
	case kind == "replace" && strings.EqualFold(op.Path, "members"):
		m, err := s.parseMembers(op.Value)
		if err != nil {
			return 0, invalidValue("%v", err)
		}
		g.Members = m
		return max(len(m), 1), nil
	case kind == "replace" && op.Path == "":
		var values map[string]json.RawMessage
		if err := json.Unmarshal(op.Value, &values); err != nil || values == nil {
			return 0, invalidValue("an op without path needs an object value")
		}
		units := 0
		for _, path := range []string{"displayName", "members"} {
			for k, v := range values {
				if strings.EqualFold(k, path) {
					n, err := s.applyGroupOp(g, patchOp{Op: "replace", Path: path, Value: v})
					if err != nil {
						return 0, err
					}
					units += n
				}
			}
		}
		return max(units, 1), nil
	case kind == "add" || kind == "replace":
		return 0, invalidPath("unsupported path %q for %s", op.Path, kind)
	default:
		return 0, &patchError{http.StatusBadRequest, "invalidSyntax", fmt.Sprintf("unknown op %q", op.Op)}
	}
}
