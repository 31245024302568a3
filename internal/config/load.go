package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
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
