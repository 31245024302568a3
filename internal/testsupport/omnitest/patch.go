package omnitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

// patchError is a PATCH failure answered in the standard SCIM error format,
// which PatchOp problems use (RFC 7644 §3.5.2), so a client meets it as well
// as Omni's own body.
type patchError struct {
	status   int
	scimType string
	detail   string
}

func invalidPath(format string, a ...any) *patchError {
	return &patchError{http.StatusBadRequest, "invalidPath", fmt.Sprintf(format, a...)}
}

func invalidValue(format string, a ...any) *patchError {
	return &patchError{http.StatusBadRequest, "invalidValue", fmt.Sprintf(format, a...)}
}

func (s *Server) patch(r *http.Request, prefix, id string, body []byte, now time.Time) (reply, bool) {
	// The whole PATCH runs under the lock, so concurrent PATCHes to one user
	// cannot lose each other's changes.
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, found := s.byID[id]
	if !found {
		return notFound(), false
	}
	var req patchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return scimErr(http.StatusBadRequest, "invalidSyntax", "request body is not a valid PatchOp"), false
	}
	if !slices.Contains(req.Schemas, PatchOpSchema) {
		return scimErr(http.StatusBadRequest, "invalidSyntax", "schemas must contain "+PatchOpSchema), false
	}
	if len(req.Operations) == 0 {
		return scimErr(http.StatusBadRequest, "invalidSyntax", "Operations must not be empty"), false
	}
	// Operations apply to a copy, so a failing one leaves the user untouched.
	next := cloneUser(rec.u)
	for i, op := range req.Operations {
		if err := applyOp(&next, op); err != nil {
			return scimErr(err.status, err.scimType, fmt.Sprintf("Operations[%d]: %s", i, err.detail)), false
		}
	}
	return s.commit(r, prefix, rec, next, now)
}

func applyOp(u *User, op patchOp) *patchError {
	kind := strings.ToLower(op.Op)
	switch kind {
	case "add", "replace", "remove":
	default:
		return &patchError{http.StatusBadRequest, "invalidSyntax", fmt.Sprintf("unknown op %q", op.Op)}
	}
	if op.Path == "" {
		if kind == "remove" {
			return &patchError{http.StatusBadRequest, "noTarget", "remove needs a path"}
		}
		var values map[string]json.RawMessage
		if err := json.Unmarshal(op.Value, &values); err != nil || values == nil {
			return invalidValue("an op without path needs an object value")
		}
		// Sorted, so that a body naming a key twice in different cases
		// applies the same way every time.
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := setPath(u, kind, k, values[k]); err != nil {
				return err
			}
		}
		return nil
	}
	return setPath(u, kind, op.Path, op.Value)
}

// setPath applies one add, replace or remove to one path. Attribute names are
// case-insensitive, as SCIM wants.
func setPath(u *User, kind, path string, value json.RawMessage) *patchError {
	remove := kind == "remove"
	switch {
	case strings.EqualFold(path, "active"):
		if remove {
			return &patchError{http.StatusBadRequest, "mutability", "active cannot be removed"}
		}
		a, err := parseActive(value)
		if err != nil {
			return invalidValue("%v", err)
		}
		u.Active = a
	case strings.EqualFold(path, "displayName"):
		if remove {
			return &patchError{http.StatusBadRequest, "mutability", "displayName is required"}
		}
		var name string
		if err := json.Unmarshal(value, &name); err != nil || strings.TrimSpace(name) == "" {
			return invalidValue("displayName must be a non-empty string")
		}
		u.DisplayName = name
	case strings.EqualFold(path, "userName"):
		if remove {
			return &patchError{http.StatusBadRequest, "mutability", "userName is required"}
		}
		var name string
		if err := json.Unmarshal(value, &name); err != nil || !validEmail(name) {
			return invalidValue("userName must be a valid email address")
		}
		u.UserName = name
	case strings.EqualFold(path, AttributeSchema):
		if remove {
			u.Attributes = nil
			return nil
		}
		// RFC 7644 §3.5.2.3: add or replace on a complex attribute merges the
		// given sub-attributes and leaves the others; null removes one.
		attrs, err := parseAttrObject(value)
		if err != nil {
			return invalidValue("%v", err)
		}
		for k, v := range attrs {
			setAttr(u, k, v)
		}
	case len(path) > len(AttributeSchema)+1 && strings.EqualFold(path[:len(AttributeSchema)+1], AttributeSchema+":"):
		ref := path[len(AttributeSchema)+1:]
		if remove {
			setAttr(u, ref, nil)
			return nil
		}
		v, err := parseAttrValue(value)
		if err != nil {
			return invalidValue("%s: %v", path, err)
		}
		setAttr(u, ref, v)
	default:
		return invalidPath("unsupported path %q", path)
	}
	return nil
}

func setAttr(u *User, ref string, v any) {
	if v == nil {
		delete(u.Attributes, ref)
		return
	}
	if u.Attributes == nil {
		u.Attributes = map[string]any{}
	}
	u.Attributes[ref] = v
}
