package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

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
