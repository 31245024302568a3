package config

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/syncd-dev/syncd/internal/validate"
)

type visit struct {
	n *yaml.Node
	t reflect.Type
}

// walker checks a YAML tree against the Go type it will decode into, and
// expands ${VAR} in the scalars it meets, so that expansion happens after
// parsing and a value with YAML-special characters stays one value.
type walker struct {
	ctx    context.Context
	getenv func(string) string
	ps     problems
	// dropped are the paths yaml.v3 will not decode as written (it leaves
	// defaults, or closes up a list over a bad item), so Validate's view of
	// them says nothing about the file.
	dropped []string
	// secrets are the values expansion put in, to keep out of messages.
	secrets redactions
	visited map[visit]bool
	// expanded records the scalars already expanded, so that a scalar reached twice through an
	// alias is not expanded twice.
	expanded map[*yaml.Node]expandState
	// steps counts nodes visited; err, once set, stops the walk: the
	// budget is spent or the context is done.
	steps int
	err   error
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

// step counts a visit to n and says whether to go on. checkExpansion bounds
// the document first, so the budget here is a second line; the context is
// the reason to count.
func (w *walker) step(n *yaml.Node) bool {
	if w.err != nil {
		return false
	}
	w.steps++
	if w.steps > maxNodes {
		w.err = &SyntaxError{Line: n.Line, Msg: fmt.Sprintf("the document expands to more than %d values through aliases and merge keys (<<)", maxNodes)}
	} else if w.steps%checkEvery == 0 {
		if err := w.ctx.Err(); err != nil {
			w.err = stopped(err)
		}
	}
	return w.err == nil
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if !w.step(n) {
		return
	}
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
			w.wrongKind(n, path, "a mapping")
			return
		}
		w.mapping(n, path, func(key *yaml.Node, value *yaml.Node) {
			f, ok := fieldByTag(t, key.Value)
			if !ok {
				msg := fmt.Sprintf("line %d: unknown key", key.Line)
				if s := suggest(t, key.Value); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
				w.ps.Add(join(path, key.Value), "%s", msg)
				return
			}
			w.walk(value, f.Type, join(path, key.Value))
		})
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.wrongKind(n, path, "a mapping")
			return
		}
		w.mapping(n, path, func(key *yaml.Node, value *yaml.Node) {
			w.walk(value, t.Elem(), path+validate.KeyPath(key.Value))
		})
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.wrongKind(n, path, "a list")
			return
		}
		before := len(w.ps)
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
		if len(w.ps) > before {
			// yaml.v3 leaves a bad item out and moves the rest up, so
			// the indexes Validate would name are not the file's.
			w.dropped = append(w.dropped, path)
		}
	default:
		w.leaf(n, t, path)
	}
}

// wrongKind reports a value that is not the mapping or list its field wants;
// the decoder leaves the field's default, which Validate must not judge.
func (w *walker) wrongKind(n *yaml.Node, path, want string) {
	w.ps.Add(path, "line %d: must be %s, not %s", n.Line, want, kindName(n))
	w.dropped = append(w.dropped, path)
}

// mapping calls fn for each key of a mapping node, following merge keys (<<)
// and reporting keys that are not plain strings or that repeat.
func (w *walker) mapping(n *yaml.Node, path string, fn func(key, value *yaml.Node)) {
	first := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if !w.step(key) {
			return
		}
		if key.Kind == yaml.ScalarNode && key.Value == "<<" && key.ShortTag() == "!!merge" {
			w.merge(value, path, fn)
			continue
		}
		if key.Kind != yaml.ScalarNode {
			w.ps.Add(path, "line %d: keys must be plain strings, not %s", key.Line, kindName(key))
			continue
		}
		if line, dup := first[key.Value]; dup {
			w.ps.Add(join(path, key.Value), "line %d: key repeated (first at line %d)", key.Line, line)
			// yaml.v3 drops the whole mapping that repeats a key.
			w.dropped = append(w.dropped, path)
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
				w.ps.Add(path, "line %d: a merge (<<) takes mappings only", item.Line)
				continue
			}
			w.mapping(item, path, fn)
		}
	default:
		w.ps.Add(path, "line %d: a merge (<<) takes a mapping or a list of mappings", n.Line)
	}
}

// leaf expands a scalar and checks that it decodes into t, so a type error
// names its field rather than only a line.
func (w *walker) leaf(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		w.ps.Add(path, "line %d: must be %s, not %s", n.Line, typeName(t), kindName(n))
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
			w.ps.Add(path, "line %d: must be %s", n.Line, typeName(t))
		} else {
			w.ps.Add(path, "line %d: must be %s, not %q", n.Line, typeName(t), clip(n.Value))
		}
	}
}

// expand replaces ${VAR} in a scalar's value and reports what happened.
func (w *walker) expand(n *yaml.Node, path string) expandState {
	if !strings.Contains(n.Value, "$") {
		return expandUnchanged
	}
	v, err := expandEnv(n.Value, func(name string) string {
		v := w.getenv(name)
		w.secrets.add(v, "${"+name+"}")
		return v
	})
	if err != nil {
		w.ps.Add(path, "line %d: %v", n.Line, err)
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
