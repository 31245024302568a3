package sink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/textutil"
)

const (
	schemaUser     = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaOmniAttr = "urn:omni:params:1.0:UserAttribute"
	schemaPatchOp  = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

	contentTypeSCIM = "application/scim+json"
)

// User is a user as Omni returns it.
type User struct {
	ID          string
	UserName    string
	DisplayName string
	Active      bool
	// Attributes are the urn:omni:params:1.0:UserAttribute values, read as
	// strings whatever JSON type Omni used.
	Attributes map[string]string
}

// userBody is the wire form of a create or replace. It carries only what
// identity.User.Hash covers plus active, so that what syncd remembers having
// pushed is exactly what Omni was sent; name parts and externalId are not
// documented by Omni and are left out.
type userBody struct {
	Schemas     []string          `json:"schemas"`
	UserName    string            `json:"userName"`
	DisplayName string            `json:"displayName"`
	Active      bool              `json:"active"`
	Attributes  map[string]string `json:"urn:omni:params:1.0:UserAttribute,omitempty"`
}

var (
	schemasPlain = []string{schemaUser}
	schemasAttrs = []string{schemaUser, schemaOmniAttr}
)

// encodeUser renders the body of a create or replace. The user is always
// sent active: deactivation is a separate, guarded PATCH, and creating a user
// already deactivated would make an account that can never be revived.
// Omni requires a displayName, so an empty one falls back to the userName.
func encodeUser(u identity.User) ([]byte, error) {
	if u.UserName == "" {
		return nil, errors.New("user has no userName")
	}
	b := userBody{
		Schemas:     schemasPlain,
		UserName:    u.UserName,
		DisplayName: u.DisplayName,
		Active:      true,
		Attributes:  u.Attributes,
	}
	if b.DisplayName == "" {
		b.DisplayName = u.UserName
	}
	if len(u.Attributes) > 0 {
		b.Schemas = schemasAttrs
	}
	return json.Marshal(b)
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

type patchBody struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

// Change is one field an update sets or removes: "userName",
// "displayName", or an Omni user attribute by its key. A PATCH carries only
// the changes, so attributes and fields syncd does not own are never sent,
// and so never reset, whatever reading of Omni's PUT is right.
type Change struct {
	// Field is "userName", "displayName" or "" for an attribute.
	Field string
	// Attribute is the user attribute's key when Field is "".
	Attribute string
	Value     string
	// Remove removes the attribute (Value is ignored).
	Remove bool
}

func (c Change) String() string {
	name := c.Field
	if name == "" {
		name = "attribute " + c.Attribute
	}
	if c.Remove {
		return "remove " + name
	}
	return "set " + name
}

func encodePatch(changes []Change) ([]byte, error) {
	ops := make([]patchOp, 0, len(changes))
	for _, c := range changes {
		switch {
		case c.Field == "userName" || c.Field == "displayName":
			ops = append(ops, patchOp{Op: "replace", Path: c.Field, Value: c.Value})
		case c.Field != "":
			return nil, fmt.Errorf("patch: %q is not a field syncd sets", c.Field)
		case c.Attribute == "":
			return nil, errors.New("patch: an attribute change without a key")
		case c.Remove:
			ops = append(ops, patchOp{Op: "remove", Path: schemaOmniAttr + ":" + c.Attribute})
		default:
			ops = append(ops, patchOp{Op: "replace", Path: schemaOmniAttr + ":" + c.Attribute, Value: c.Value})
		}
	}
	if len(ops) == 0 {
		return nil, errors.New("patch: no change")
	}
	return json.Marshal(patchBody{Schemas: []string{schemaPatchOp}, Operations: ops})
}

func encodeSetActive(active bool) ([]byte, error) {
	return json.Marshal(patchBody{
		Schemas:    []string{schemaPatchOp},
		Operations: []patchOp{{Op: "replace", Path: "active", Value: active}},
	})
}

// decodeUser reads one user resource. SCIM attribute names are
// case-insensitive and Omni's attribute values may be strings, numbers or
// lists, so it reads leniently; but a user without an id is useless to the
// caller and is an error, as is one whose id could not be stored (see
// checkID). Every other string is cleaned of NUL and invalid UTF-8.
func decodeUser(data []byte) (User, error) {
	fields, err := decodeObject(data, "user")
	if err != nil {
		return User{}, err
	}
	return userFromFields(fields)
}

func userFromFields(fields map[string]json.RawMessage) (User, error) {
	id, err := readID(fields, "user")
	if err != nil {
		return User{}, err
	}
	u := User{ID: id, UserName: cleanField(fields, "userName"), DisplayName: cleanField(fields, "displayName")}
	if raw, ok := lookupFold(fields, "active"); ok {
		s, _ := looseString(raw)
		u.Active, _ = strconv.ParseBool(s)
	}
	if raw, ok := lookupFold(fields, schemaOmniAttr); ok {
		var attrs map[string]json.RawMessage
		if json.Unmarshal(raw, &attrs) == nil {
			for k, v := range attrs {
				u.setAttr(k, v)
			}
		}
	}
	// IdPs address one attribute as "<urn>:<reference>"; accept that
	// flattened form too.
	prefix := schemaOmniAttr + ":"
	for k, v := range fields {
		if len(k) > len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			u.setAttr(k[len(prefix):], v)
		}
	}
	return u, nil
}

func (u *User) setAttr(k string, raw json.RawMessage) {
	v, ok := looseString(raw)
	if !ok {
		return
	}
	if u.Attributes == nil {
		u.Attributes = make(map[string]string)
	}
	u.Attributes[textutil.Clean(k)] = textutil.Clean(v)
}

// listPage is one page of a users ListResponse.
type listPage = resourcePage[User]

func decodeList(data []byte) (listPage, error) {
	return decodeListOf(data, "user", userFromFields)
}

// lookupFold finds a member by exact name first, then ignoring case, as SCIM
// attribute names are case-insensitive.
func lookupFold(fields map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if v, ok := fields[name]; ok {
		return v, true
	}
	for k, v := range fields {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// looseString renders a JSON value as a string: strings as they are, numbers
// and booleans as written, lists as their elements joined by commas (sorted
// for a stable result), objects as compact JSON. ok is false for null and
// for invalid JSON.
func looseString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return "", false
		}
		parts := make([]string, 0, len(items))
		for _, it := range items {
			if s, ok := looseString(it); ok {
				parts = append(parts, s)
			}
		}
		sort.Strings(parts)
		return strings.Join(parts, ","), true
	case '{':
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil {
			return "", false
		}
		return b.String(), true
	default:
		if !json.Valid(raw) {
			return "", false
		}
		return string(raw), true
	}
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// jsonContentType reports whether a response may be read as JSON. A missing
// type is given the benefit of the doubt; an explicit other type (an HTML
// login page from a proxy, say) is not.
func jsonContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == contentTypeSCIM || strings.HasSuffix(mt, "+json")
}

// userNameFilter builds the SCIM filter for one userName. The value is
// quoted, so only quotes and backslashes need escaping.
func userNameFilter(userName string) string {
	return `userName eq "` + scimQuote(userName) + `"`
}

// redactor removes the API key from text that came from the server, which may
// echo request headers back in an error body. It also catches the forms the
// key takes once escaped inside JSON.
type redactor struct {
	forms []string
}

const redacted = textutil.Redacted

func newRedactor(token string) redactor {
	if token == "" {
		return redactor{}
	}
	var forms []string
	add := func(f string) {
		for _, have := range forms {
			if have == f {
				return
			}
		}
		forms = append(forms, f)
	}
	// JSON encoders differ: Go escapes <, > and & as \u003c, others as
	// \u003C, and some escape "/" as "\/" as well.
	html := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "<", `\u003c`, ">", `\u003e`, "&", `\u0026`).Replace(token)
	for _, f := range []string{token, html, upperEscapes(html)} {
		add(f)
		add(strings.ReplaceAll(f, "/", `\/`))
	}
	// Longest first, so a form is never half-replaced by a shorter one.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return redactor{forms: forms}
}

func upperEscapes(s string) string {
	return strings.NewReplacer(`\u003c`, `\u003C`, `\u003e`, `\u003E`).Replace(s)
}

func (r redactor) bytes(b []byte) []byte {
	for _, f := range r.forms {
		if bytes.Contains(b, []byte(f)) {
			b = bytes.ReplaceAll(b, []byte(f), []byte(redacted))
		}
	}
	return b
}

func (r redactor) string(s string) string {
	for _, f := range r.forms {
		s = strings.ReplaceAll(s, f, redacted)
	}
	return s
}
