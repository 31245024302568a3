package scimcontract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/sink"
)

// HTTP is an Omni reached with nothing but net/http and encoding/json,
// written from Omni's documented API (reference/omni-scim.md): one request
// per call, no retries, no rate limit, no second look at what the server
// answers. It exists so that the stand-in can be held to the contract
// without going through syncd's SCIM client, which would make the client and
// its oracle agree by construction. Only sink's value types (User, and Error
// for a status) are borrowed, because Omni's method set is written in them.
type HTTP struct {
	// Base is the SCIM base URL, e.g. http://127.0.0.1:1234/api/scim/v2.
	Base   string
	Token  string
	Client *http.Client
}

const (
	coreSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	attrSchema  = "urn:omni:params:1.0:UserAttribute"
	patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// wireUser is a user as Omni writes it; attribute values may be strings or
// integers, so they are read as JSON and turned into strings.
type wireUser struct {
	ID          string                     `json:"id"`
	UserName    string                     `json:"userName"`
	DisplayName string                     `json:"displayName"`
	Active      bool                       `json:"active"`
	Attributes  map[string]json.RawMessage `json:"urn:omni:params:1.0:UserAttribute"`
}

func (w wireUser) user() sink.User {
	u := sink.User{ID: w.ID, UserName: w.UserName, DisplayName: w.DisplayName, Active: w.Active}
	for k, raw := range w.Attributes {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw) // an integer, written as Omni wrote it
		}
		if u.Attributes == nil {
			u.Attributes = map[string]string{}
		}
		u.Attributes[k] = s
	}
	return u
}

type listPage struct {
	TotalResults int        `json:"totalResults"`
	Resources    []wireUser `json:"Resources"`
}

func userBody(u identity.User) map[string]any {
	b := map[string]any{"schemas": []string{coreSchema}, "userName": u.UserName,
		"displayName": u.DisplayName, "active": true}
	if len(u.Attributes) > 0 {
		b["schemas"] = []string{coreSchema, attrSchema}
		b[attrSchema] = u.Attributes
	}
	return b
}

// Create POSTs u, active.
func (h *HTTP) Create(ctx context.Context, u identity.User) (sink.User, error) {
	var out wireUser
	err := h.do(ctx, http.MethodPost, "/users", "", userBody(u), &out)
	return out.user(), err
}

// Patch PATCHes the changes to id, with the paths Omni's docs give for
// userName, displayName and a user attribute.
func (h *HTTP) Patch(ctx context.Context, id string, changes []sink.Change) error {
	ops := make([]map[string]any, 0, len(changes))
	for _, c := range changes {
		switch {
		case c.Field != "":
			ops = append(ops, map[string]any{"op": "replace", "path": c.Field, "value": c.Value})
		case c.Remove:
			ops = append(ops, map[string]any{"op": "remove", "path": "urn:omni:params:1.0:UserAttribute:" + c.Attribute})
		default:
			ops = append(ops, map[string]any{"op": "replace", "path": "urn:omni:params:1.0:UserAttribute:" + c.Attribute, "value": c.Value})
		}
	}
	body := map[string]any{"schemas": []string{patchSchema}, "Operations": ops}
	return h.do(ctx, http.MethodPatch, "/users/"+url.PathEscape(id), "", body, nil)
}

// SetActive PATCHes the active flag, as Omni's docs show it.
func (h *HTTP) SetActive(ctx context.Context, id string, active bool) error {
	body := map[string]any{"schemas": []string{patchSchema},
		"Operations": []map[string]any{{"op": "replace", "path": "active", "value": active}}}
	return h.do(ctx, http.MethodPatch, "/users/"+url.PathEscape(id), "", body, nil)
}

// Delete DELETEs id.
func (h *HTTP) Delete(ctx context.Context, id string) error {
	return h.do(ctx, http.MethodDelete, "/users/"+url.PathEscape(id), "", nil, nil)
}

// Get GETs id.
func (h *HTTP) Get(ctx context.Context, id string) (sink.User, error) {
	var out wireUser
	err := h.do(ctx, http.MethodGet, "/users/"+url.PathEscape(id), "", nil, &out)
	return out.user(), err
}

// FindByUserName sends the one filter Omni documents and takes the server's
// first match as it is.
func (h *HTTP) FindByUserName(ctx context.Context, userName string) (sink.User, bool, error) {
	quoted, _ := json.Marshal(userName) // a string always marshals
	var page listPage
	if err := h.do(ctx, http.MethodGet, "/users", "filter="+url.QueryEscape("userName eq "+string(quoted)), nil, &page); err != nil {
		return sink.User{}, false, err
	}
	if len(page.Resources) == 0 {
		return sink.User{}, false, nil
	}
	return page.Resources[0].user(), true, nil
}

// List pages through every user, 100 at a time, until totalResults.
func (h *HTTP) List(ctx context.Context, fn func(sink.User) error) error {
	for start := 1; ; {
		var page listPage
		if err := h.do(ctx, http.MethodGet, "/users", "startIndex="+strconv.Itoa(start)+"&count=100", nil, &page); err != nil {
			return err
		}
		for _, u := range page.Resources {
			if err := fn(u.user()); err != nil {
				return err
			}
		}
		start += len(page.Resources)
		if len(page.Resources) == 0 || start > page.TotalResults {
			return nil
		}
	}
}

// do sends one request and decodes a 2xx answer into out; any other answer
// is a *sink.Error carrying the status and Omni's message.
func (h *HTTP) do(ctx context.Context, method, path, query string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := h.Base + path
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.Token)
	req.Header.Set("Content-Type", "application/scim+json")
	hc := h.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct{ Error, Message, Detail string }
		_ = json.Unmarshal(raw, &e)
		return &sink.Error{Method: method, Path: path, Status: resp.StatusCode, Code: e.Error, Message: e.Message + e.Detail, Body: string(raw)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return nil
}
