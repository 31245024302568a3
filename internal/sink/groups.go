package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

const (
	schemaGroup = "urn:ietf:params:scim:schemas:core:2.0:Group"
	// maxGroupName is Omni's documented limit ("Names must be 64
	// characters or less"); a longer name is refused here, unsent, since
	// Omni would only refuse it too.
	maxGroupName = 64
	// maxPatchOps bounds what one group PATCH carries. Omni documents no
	// limit, but peers report 400s past about 100 membership operations,
	// and it is not said whether an add naming many users counts as one
	// operation or many, nor whether a rename counts. So every user added,
	// every user removed and the rename each count as one here, and no
	// request carries more than this many: within the limit whichever way
	// Omni counts.
	maxPatchOps = 100
)

// Group is a user group as Omni returns it. Omni groups hold users only.
type Group struct {
	ID          string
	DisplayName string
	// Members are the members' Omni user ids.
	Members []string
}

// GroupPatch is one change to a group: a rename, members to add and
// members to remove, all optional. Members are Omni user ids.
type GroupPatch struct {
	// Rename, when not empty, is the group's new displayName.
	Rename string
	Add    []string
	Remove []string
}

type groupMemberRef struct {
	Value string `json:"value"`
}

type groupBody struct {
	Schemas     []string         `json:"schemas"`
	DisplayName string           `json:"displayName"`
	Members     []groupMemberRef `json:"members"`
}

func checkGroupName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("group name is empty: %w", ErrInvalid)
	case utf8.RuneCountInString(name) > maxGroupName:
		return fmt.Errorf("group name %.80q is longer than Omni's %d characters: %w", name, maxGroupName, ErrInvalid)
	}
	return nil
}

// memberRefs renders user ids as SCIM member references, refusing an
// empty id, which would name no user.
func memberRefs(ids []string) ([]groupMemberRef, error) {
	refs := make([]groupMemberRef, 0, len(ids))
	for _, id := range ids {
		if id == "" {
			return nil, errors.New("empty member id")
		}
		refs = append(refs, groupMemberRef{Value: id})
	}
	return refs, nil
}

// CreateGroup makes a group named name with the given members (Omni user
// ids, which must exist: pushing a group creates no users) and returns the
// group Omni made. A 409 (the name is taken, as Omni is believed to answer)
// comes back as an *Error matching ErrExists; Omni may instead accept the
// duplicate, so callers that must not make two groups of one name look
// first. When an attempt's fate is unknown, the groups are listed once and
// a group of that name (ignoring case) is taken as the create having landed,
// before the create is ever sent again. Omni has no group filter, so that
// listing may cost several requests.
func (c *Client) CreateGroup(ctx context.Context, name string, members []string) (Group, error) {
	if err := checkGroupName(name); err != nil {
		return Group{}, fmt.Errorf("create group: %w", err)
	}
	refs, err := memberRefs(members)
	if err != nil {
		return Group{}, fmt.Errorf("create group %s: %w", name, err)
	}
	body, err := json.Marshal(groupBody{Schemas: []string{schemaGroup}, DisplayName: name, Members: refs})
	if err != nil {
		return Group{}, fmt.Errorf("create group %s: %w", name, err)
	}
	o := &op{method: http.MethodPost, write: true}
	var out Group
	err = c.retry(ctx, o, func(ctx context.Context) error {
		if o.unknown {
			found, ok, err := c.findGroupOnce(ctx, name)
			if err != nil {
				return err
			}
			o.unknown = false
			if ok {
				c.log.Info().Str("scim_id", found.ID).Msg("scim group create had landed; using the existing group")
				out = found
				return nil
			}
		}
		resp, err := c.send(ctx, http.MethodPost, c.groupsPath, "", body)
		if err != nil {
			o.settle(err)
			return err
		}
		if out, err = decodeGroupResponse(resp); err != nil {
			// Omni accepted the create but its answer is unreadable: look
			// the group up rather than create it twice.
			return &unsettledError{fmt.Errorf("read created group: %w", err)}
		}
		return nil
	})
	if err != nil {
		return Group{}, fmt.Errorf("create group %s: %w", name, err)
	}
	return out, nil
}

// findGroupOnce lists every group, without retries of its own (it runs
// inside CreateGroup's), and returns the newest whose name matches ignoring
// case: where Omni allows duplicate names, the newest is the one a create
// just made.
func (c *Client) findGroupOnce(ctx context.Context, name string) (Group, bool, error) {
	var (
		found Group
		ok    bool
	)
	err := walkPages("groups", func(start int) (resourcePage[Group], error) {
		return getPage(ctx, c, c.groupsPath, pageQuery(start), decodeGroupList)
	}, groupID, func(g Group) error {
		if strings.EqualFold(g.DisplayName, name) {
			found, ok = g, true
		}
		return nil
	})
	return found, ok, err
}

// PatchGroup renames the group and adds and removes members with PATCH,
// leaving everything it does not name alone. The changes go in as few
// PATCHes as carry at most 100 operations each (see maxPatchOps), the
// rename in the first; they are sent in order and the first failure stops
// the rest, the error saying how many went through. Adding a member already
// there and removing one that is not are no-ops in SCIM, so a repeat is
// harmless and each PATCH is retried like any idempotent write. An empty
// patch sends nothing.
func (c *Client) PatchGroup(ctx context.Context, id string, p GroupPatch) error {
	if id == "" {
		return errors.New("patch group: empty id")
	}
	bodies, err := encodeGroupPatch(p)
	if err != nil {
		return fmt.Errorf("patch group %s: %w", id, err)
	}
	for i, body := range bodies {
		if err := c.write(ctx, http.MethodPatch, c.groupPath(id), body, nil); err != nil {
			if len(bodies) > 1 {
				return fmt.Errorf("patch group %s: request %d of %d failed, %d applied before it: %w", id, i+1, len(bodies), i, err)
			}
			return fmt.Errorf("patch group %s: %w", id, err)
		}
	}
	return nil
}

// encodeGroupPatch renders p as PatchOp bodies of at most maxPatchOps
// operations each, counting each member and the rename as one. Adds go as
// one operation per body naming its users, as Omni documents; removes as
// one operation per user, the only form Omni documents.
func encodeGroupPatch(p GroupPatch) ([][]byte, error) {
	if p.Rename != "" {
		if err := checkGroupName(p.Rename); err != nil {
			return nil, err
		}
	}
	add, err := memberRefs(dedupe(p.Add))
	if err != nil {
		return nil, fmt.Errorf("add: %w", err)
	}
	if _, err := memberRefs(p.Remove); err != nil {
		return nil, fmt.Errorf("remove: %w", err)
	}
	for _, id := range p.Remove {
		if slices.Contains(p.Add, id) {
			return nil, fmt.Errorf("user %s is both added and removed", id)
		}
	}
	var (
		bodies [][]byte
		rename []patchOp // the rename, until the first body takes it
		adds   []groupMemberRef
		ops    []patchOp // the removes
		used   int
	)
	if p.Rename != "" {
		rename = []patchOp{{Op: "replace", Path: "displayName", Value: p.Rename}}
		used = 1
	}
	flush := func() error {
		all := rename
		if len(adds) > 0 {
			all = append(all, patchOp{Op: "add", Path: "members", Value: adds})
		}
		all = append(all, ops...)
		if len(all) == 0 {
			return nil
		}
		b, err := json.Marshal(patchBody{Schemas: []string{schemaPatchOp}, Operations: all})
		if err != nil {
			return err
		}
		bodies = append(bodies, b)
		rename, adds, ops, used = nil, nil, nil, 0
		return nil
	}
	// take makes room for one more operation, starting a new body when
	// this one is full.
	take := func() error {
		if used == maxPatchOps {
			if err := flush(); err != nil {
				return err
			}
		}
		used++
		return nil
	}
	for _, ref := range add {
		if err := take(); err != nil {
			return nil, err
		}
		adds = append(adds, ref)
	}
	for _, id := range dedupe(p.Remove) {
		if err := take(); err != nil {
			return nil, err
		}
		ops = append(ops, patchOp{Op: "remove", Path: `members[value eq "` + scimQuote(id) + `"]`})
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return bodies, nil
}

// dedupe drops repeats, keeping first places, so a user named twice spends
// one operation.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// scimQuote escapes a value for a SCIM filter's double-quoted string.
func scimQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// DeleteGroup deletes the group; its members stay. A group already gone
// comes back as an *Error matching ErrNotFound, which callers count as done.
func (c *Client) DeleteGroup(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("delete group: empty id")
	}
	if err := c.write(ctx, http.MethodDelete, c.groupPath(id), nil, nil); err != nil {
		return fmt.Errorf("delete group %s: %w", id, err)
	}
	return nil
}

// GetGroup reads one group; a missing one is an *Error matching ErrNotFound.
func (c *Client) GetGroup(ctx context.Context, id string) (Group, error) {
	if id == "" {
		return Group{}, errors.New("get group: empty id")
	}
	out, err := getOne(ctx, c, c.groupPath(id), decodeGroupResponse)
	if err != nil {
		return Group{}, fmt.Errorf("get group %s: %w", id, err)
	}
	return out, nil
}

// ListGroups calls fn for every group in Omni, paged as List pages users
// (see listAll). An error from fn stops the listing and is returned as is.
func (c *Client) ListGroups(ctx context.Context, fn func(Group) error) error {
	return listAll(ctx, c, "groups", c.groupsPath, decodeGroupList, groupID, fn)
}

func groupID(g Group) string { return g.ID }

func (c *Client) groupPath(id string) string {
	return c.groupsPath + "/" + url.PathEscape(id)
}

func decodeGroupResponse(r *response) (Group, error) {
	if err := checkJSON(r); err != nil {
		return Group{}, err
	}
	fields, err := decodeObject(r.body, "group")
	if err != nil {
		return Group{}, err
	}
	return groupFromFields(fields)
}

func decodeGroupList(data []byte) (resourcePage[Group], error) {
	return decodeListOf(data, "group", groupFromFields)
}

// groupFromFields reads one group resource as leniently as a user: names
// ignore case and strings are cleaned for storage, but the group's id, and
// each member's, is checked as sent, since cleaning would name another.
// Members without a value are skipped: they name no user.
func groupFromFields(fields map[string]json.RawMessage) (Group, error) {
	id, err := readID(fields, "group")
	if err != nil {
		return Group{}, err
	}
	g := Group{ID: id, DisplayName: cleanField(fields, "displayName")}
	raw, ok := lookupFold(fields, "members")
	if !ok || isNull(raw) {
		return g, nil
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return Group{}, fmt.Errorf("decode group %s: members: %w", id, err)
	}
	for i, it := range items {
		v, ok := lookupFold(it, "value")
		if !ok || isNull(v) {
			continue
		}
		member, _ := looseString(v)
		if err := checkIDOf("user", member); err != nil {
			return Group{}, fmt.Errorf("decode group %s: member %d: %w", id, i, err)
		}
		g.Members = append(g.Members, member)
	}
	return g, nil
}
