package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SyntaxError means the file is not one YAML mapping: it does not parse, is
// empty, or holds several documents. Anything wrong inside a well-formed
// mapping is a *ValidationError instead.
type SyntaxError struct {
	// Line is where the problem is, when known.
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("parse configuration: line %d: %s", e.Line, e.Msg)
	}
	return "parse configuration: " + e.Msg
}

// Parse reads a configuration from YAML: defaults first, the file over them
// (an unknown key is an error that names its line), ${VAR} expanded from
// getenv in values, the flavor's defaults in fields left empty, then
// Validate. It reads no secret files; Load does. A nil getenv is an empty
// environment.
//
// The error is a *SyntaxError when data is not a single YAML mapping and a
// *ValidationError listing every problem otherwise.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	c, ps, err := parse(data, getenv)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, ps.err()
	}
	ps = mergeProblems(ps, c.Validate())
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Load reads the file at path, parses it as Parse does, then resolves the
// secrets given as files or as systemd credentials (see resolveSecrets), then
// validates. Errors are as for Parse, plus a plain error when the file cannot
// be read.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	if getenv == nil {
		getenv = noEnv
	}
	c, ps, err := parse(data, getenv)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, ps.err()
	}
	c.resolveSecrets(getenv("CREDENTIALS_DIRECTORY"), &ps)
	ps = mergeProblems(ps, c.Validate())
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func noEnv(string) string { return "" }

// mergeProblems adds Validate's problems to those found while decoding, leaving out
// a field already reported: a value that failed to decode or expand is also
// empty or wrong afterwards, and saying so twice only adds noise.
func mergeProblems(ps problems, verr error) problems {
	var ve *ValidationError
	if !errors.As(verr, &ve) {
		return ps
	}
	seen := make(map[string]bool, len(ps))
	for _, p := range ps {
		seen[p.Field] = true
	}
	for _, p := range ve.Problems {
		if !seen[p.Field] {
			ps = append(ps, p)
		}
	}
	return ps
}

// parse decodes data over the defaults and applies the flavor defaults. It
// returns the problems found in the file's content, or an error when the file
// is not a single YAML mapping. The configuration is nil when the file did
// not decode, and must not be validated then.
func parse(data []byte, getenv func(string) string) (*Config, problems, error) {
	if getenv == nil {
		getenv = noEnv
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, &SyntaxError{Msg: "the file is empty"}
		}
		return nil, nil, syntaxError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, nil, &SyntaxError{Line: extra.Line, Msg: "more than one YAML document; put the configuration in one"}
	case !errors.Is(err, io.EOF):
		return nil, nil, syntaxError(err)
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		if doc.Kind == yaml.ScalarNode && doc.ShortTag() == "!!null" {
			return nil, nil, &SyntaxError{Line: doc.Line, Msg: "the file is empty"}
		}
		return nil, nil, &SyntaxError{Line: doc.Line, Msg: "the configuration must be a mapping of keys to values"}
	}

	w := walker{
		getenv:   getenv,
		visited:  make(map[visit]bool),
		expanded: make(map[*yaml.Node]expandState),
	}
	w.walk(doc, reflect.TypeFor[Config](), "")

	c := base()
	// yaml.v3's Node.Decode does not check for unknown fields (only a
	// Decoder with KnownFields does, and a Decoder reads bytes, not the
	// expanded tree), so the walk above did that, along with type checks
	// that name the field.
	if err := doc.Decode(&c); err != nil {
		var te *yaml.TypeError
		switch {
		case len(w.ps) > 0:
		case errors.As(err, &te):
			for _, msg := range te.Errors {
				w.ps.add("", "%s", msg)
			}
		default:
			w.ps.add("", "decode configuration: %v", err)
		}
		// What did decode may be a fraction of the file (a repeated key
		// drops its whole mapping); validating it would only report
		// fields as missing that are not.
		return nil, w.ps, nil
	}
	c.applyFlavorDefaults()
	return &c, w.ps, nil
}

// yamlLine pulls the line out of yaml.v3's error text, which is the only
// place the parser puts it.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func syntaxError(err error) *SyntaxError {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &SyntaxError{Line: line, Msg: msg[len(m[0]):]}
	}
	return &SyntaxError{Msg: strings.TrimPrefix(msg, "yaml: ")}
}

type visit struct {
	n *yaml.Node
	t reflect.Type
}

// walker checks a YAML tree against the Go type it will decode into, and
// expands ${VAR} in the scalars it meets, so that expansion happens after
// parsing and a value with YAML-special characters stays one value.
type walker struct {
	getenv  func(string) string
	ps      problems
	visited map[visit]bool
	// expanded records the scalars already expanded, so that a scalar reached twice through an
	// alias is not expanded twice.
	expanded map[*yaml.Node]expandState
}

type expandState int8

const (
	expandUnchanged expandState = iota
	expandChanged
	expandFailed
)

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	secretType      = reflect.TypeFor[Secret]()
)

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	// An anchor may be referred to many times; checking each (node, type)
	// once keeps an alias bomb linear, and expands each scalar once.
	if w.visited[visit{n, t}] {
		return
	}
	w.visited[visit{n, t}] = true
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // leaves the default in place
	}

	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		w.leaf(n, t, path)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.ps.add(path, "line %d: must be a mapping, not %s", n.Line, kindName(n))
			return
		}
		w.mapping(n, path, func(key *yaml.Node, value *yaml.Node) {
			f, ok := fieldByTag(t, key.Value)
			if !ok {
				msg := fmt.Sprintf("line %d: unknown key", key.Line)
				if s := suggest(t, key.Value); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
				w.ps.add(join(path, key.Value), "%s", msg)
				return
			}
			w.walk(value, f.Type, join(path, key.Value))
		})
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.ps.add(path, "line %d: must be a mapping, not %s", n.Line, kindName(n))
			return
		}
		w.mapping(n, path, func(key *yaml.Node, value *yaml.Node) {
			w.walk(value, t.Elem(), path+keyPath(key.Value))
		})
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.ps.add(path, "line %d: must be a list, not %s", n.Line, kindName(n))
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		w.leaf(n, t, path)
	}
}

// mapping calls fn for each key of a mapping node, following merge keys (<<)
// and reporting keys that are not plain strings or that repeat.
func (w *walker) mapping(n *yaml.Node, path string, fn func(key, value *yaml.Node)) {
	first := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.ScalarNode && key.Value == "<<" && key.ShortTag() == "!!merge" {
			w.merge(value, path, fn)
			continue
		}
		if key.Kind != yaml.ScalarNode {
			w.ps.add(path, "line %d: keys must be plain strings, not %s", key.Line, kindName(key))
			continue
		}
		if line, dup := first[key.Value]; dup {
			w.ps.add(join(path, key.Value), "line %d: key repeated (first at line %d)", key.Line, line)
			continue
		}
		first[key.Value] = key.Line
		fn(key, value)
	}
}

func (w *walker) merge(n *yaml.Node, path string, fn func(key, value *yaml.Node)) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		w.mapping(n, path, fn)
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind == yaml.AliasNode {
				item = item.Alias
			}
			if item.Kind != yaml.MappingNode {
				w.ps.add(path, "line %d: a merge (<<) takes mappings only", item.Line)
				continue
			}
			w.mapping(item, path, fn)
		}
	default:
		w.ps.add(path, "line %d: a merge (<<) takes a mapping or a list of mappings", n.Line)
	}
}

// leaf expands a scalar and checks that it decodes into t, so a type error
// names its field rather than only a line.
func (w *walker) leaf(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		w.ps.add(path, "line %d: must be %s, not %s", n.Line, typeName(t), kindName(n))
		return
	}
	secret := t == secretType
	state, done := w.expanded[n]
	if !done {
		state = w.expand(n, path)
		w.expanded[n] = state
	}
	if state == expandFailed {
		return
	}
	expanded := state == expandChanged
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		// A secret, or a value that came from the environment (which may be
		// a secret put in the wrong place), is never repeated back.
		if secret || expanded {
			w.ps.add(path, "line %d: must be %s", n.Line, typeName(t))
		} else {
			w.ps.add(path, "line %d: must be %s, not %q", n.Line, typeName(t), clip(n.Value))
		}
	}
}

// expand replaces ${VAR} in a scalar's value and reports what happened.
func (w *walker) expand(n *yaml.Node, path string) expandState {
	if !strings.Contains(n.Value, "$") {
		return expandUnchanged
	}
	v, err := expandEnv(n.Value, w.getenv)
	if err != nil {
		w.ps.add(path, "line %d: %v", n.Line, err)
		n.Value = ""
		return expandFailed
	}
	if v == n.Value {
		return expandUnchanged
	}
	n.Value = v
	// The parser typed the scalar from its text before expansion ("${PORT}"
	// is a string); type it again from the expanded text, so that "${PORT}"
	// can fill an int, quoted or not. String fields take any scalar's text,
	// so this changes nothing for them, except that an expanded "~" must not
	// become null. An explicit tag (!!str) is kept.
	if n.Style&yaml.TaggedStyle == 0 {
		plain := yaml.Node{Kind: yaml.ScalarNode, Value: v}
		n.Tag = plain.ShortTag()
		if n.Tag == "!!null" {
			n.Tag = "!!str"
		}
	}
	return expandChanged
}

// expandEnv expands ${NAME} from getenv; $$ is a literal $, and a $ followed
// by anything else is kept as it is, so passwords with a $ need no escaping
// unless a { follows. An unset or empty variable is an error, because an
// empty value silently standing in for a missing one is how a token or a
// base DN goes missing. Errors name the variable, never the value.
func expandEnv(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errors.New("unterminated ${ (write $$ for a literal $)")
			}
			name := s[i+2 : i+2+end]
			if !envName.MatchString(name) {
				// Not echoed: a literal secret may hold "${" by chance.
				return "", errors.New("invalid environment variable name in ${...} (names are letters, digits and _; write $$ for a literal $)")
			}
			v := getenv(name)
			if v == "" {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// fieldByTag finds the struct field a YAML key names. Keys match the yaml
// tags exactly, as yaml.v3 matches them.
func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && yamlName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// suggest finds a key differing only in case (startTls for startTLS) or in
// separators (base_dns for baseDNs), the usual slips.
func suggest(t reflect.Type, key string) string {
	fold := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if name := yamlName(f); f.IsExported() && fold(name) == fold(key) {
			return name
		}
	}
	return ""
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// keyPath writes a map key as part of a field path: .name when the key is
// plain, ["quoted"] when it has dots, colons or spaces that would make the
// path ambiguous.
func keyPath(k string) string {
	if plainKey.MatchString(k) {
		return "." + k
	}
	return "[" + strconv.Quote(k) + "]"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[Duration]():
		return "a duration such as 30s, 15m or 24h"
	case t == secretType:
		return "a string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

// clip keeps a quoted value short enough for one line of an error.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
