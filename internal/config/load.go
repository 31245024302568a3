package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

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
// *ValidationError listing every problem otherwise. No value that came from
// the environment appears in a problem's message: each is written as the
// ${NAME} it came from.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	return load(context.Background(), data, getenv, false)
}

// Load is LoadContext without a way to stop it.
func Load(path string, getenv func(string) string) (*Config, error) {
	return LoadContext(context.Background(), path, getenv)
}

// LoadContext reads the file at path, parses it as Parse does, then resolves
// the secrets given as files or as systemd credentials (see resolveSecrets),
// then validates. Errors are as for Parse, plus a plain error when the file
// cannot be read or is larger than 1 MiB, and ctx.Err() wrapped when ctx is
// done first: a signal during a slow load stops it.
func LoadContext(ctx context.Context, path string, getenv func(string) string) (*Config, error) {
	if err := ctx.Err(); err != nil {
		return nil, stopped(err)
	}
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return load(ctx, data, getenv, true)
}

// maxFile bounds the configuration file. A real one is a few KiB; anything
// near this is the wrong file, and the parser holds all of it in memory.
const maxFile = 1 << 20

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	if len(data) > maxFile {
		return nil, errors.New("read configuration: configuration file is larger than 1 MiB")
	}
	return data, nil
}

func noEnv(string) string { return "" }

// stopped wraps the context's error so callers can test it with errors.Is.
func stopped(err error) error {
	return fmt.Errorf("load configuration: %w", err)
}

// load runs the stages after reading: parse, secrets (when resolve is set),
// Validate. It checks ctx between them, and the walker checks it inside the
// one stage whose work grows with the file.
func load(ctx context.Context, data []byte, getenv func(string) string, resolve bool) (*Config, error) {
	if getenv == nil {
		getenv = noEnv
	}
	p, err := parse(ctx, data, getenv)
	if err != nil {
		return nil, err
	}
	if p.c != nil {
		if resolve {
			p.c.resolveSecrets(getenv("CREDENTIALS_DIRECTORY"), &p.ps)
		}
		if err := ctx.Err(); err != nil {
			return nil, stopped(err)
		}
		p.ps = mergeProblems(p.ps, p.dropped, p.c.Validate())
	}
	if err := p.secrets.redact(p.ps).Err(); err != nil {
		return nil, err
	}
	return p.c, nil
}

// mergeProblems adds Validate's problems to those found while decoding,
// leaving out a field already reported (a value that failed to decode or
// expand is also empty or wrong afterwards, and saying so twice only adds
// noise) and every field under a dropped path, where the decoder left
// defaults or shifted list items and Validate would report fields as missing
// or wrong that are not.
func mergeProblems(ps problems, dropped []string, verr error) problems {
	var ve *ValidationError
	if !errors.As(verr, &ve) {
		return ps
	}
	seen := make(map[string]bool, len(ps))
	for _, p := range ps {
		seen[p.Field] = true
	}
	for _, p := range ve.Problems {
		if !seen[p.Field] && !underAny(p.Field, dropped) {
			ps = append(ps, p)
		}
	}
	return ps
}

// underAny says whether field is one of paths or inside one of them; the
// empty path is the whole file.
func underAny(field string, paths []string) bool {
	for _, p := range paths {
		if p == "" || field == p || strings.HasPrefix(field, p+".") || strings.HasPrefix(field, p+"[") {
			return true
		}
	}
	return false
}

// parsed is what parse found: the configuration (nil when the file did not
// decode, and must not be validated then), the problems in the file's
// content, the paths Validate must not report under, and the values from the
// environment that messages must not show.
type parsed struct {
	c       *Config
	ps      problems
	dropped []string
	secrets redactions
}

// parse decodes data over the defaults and applies the flavor defaults. It
// returns an error when the file is not a single, reasonably sized, YAML
// mapping, or when ctx is done.
func parse(ctx context.Context, data []byte, getenv func(string) string) (parsed, error) {
	doc, err := parseYAML(data)
	if err != nil {
		return parsed{}, err
	}
	if err := checkExpansion(doc); err != nil {
		return parsed{}, err
	}
	w := walker{
		ctx:      ctx,
		getenv:   getenv,
		visited:  make(map[visit]bool),
		expanded: make(map[*yaml.Node]expandState),
	}
	w.walk(doc, reflect.TypeFor[Config](), "")
	if w.err != nil {
		return parsed{}, w.err
	}
	p := parsed{ps: w.ps, dropped: w.dropped, secrets: w.secrets}
	if err := ctx.Err(); err != nil {
		return parsed{}, stopped(err)
	}

	c := base()
	// yaml.v3's Node.Decode does not check for unknown fields (only a
	// Decoder with KnownFields does, and a Decoder reads bytes, not the
	// expanded tree), so the walk above did that, along with type checks
	// that name the field.
	if err := doc.Decode(&c); err != nil {
		var te *yaml.TypeError
		switch {
		case errors.As(err, &te) && len(p.ps) > 0:
			// The walker named each of these by field and dropped the
			// paths the decoder gave up on; the rest decoded and is worth
			// validating now rather than after the next edit.
		case len(p.ps) > 0:
			return p, nil
		case te != nil:
			// Not foreseen by the walker, so which fields it spoiled is
			// unknown: report it and validate nothing.
			for _, msg := range te.Errors {
				p.ps.Add("", "%s", msg)
			}
			return p, nil
		default:
			p.ps.Add("", "decode configuration: %v", err)
			return p, nil
		}
	}
	c.applyFlavorDefaults()
	p.c = &c
	return p, nil
}

// parseYAML returns the one mapping in data, or a *SyntaxError.
func parseYAML(data []byte) (*yaml.Node, error) {
	if err := checkUTF8(data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &SyntaxError{Msg: "the file is empty"}
		}
		return nil, syntaxError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &SyntaxError{Line: extra.Line, Msg: "more than one YAML document; put the configuration in one"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err)
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		if doc.Kind == yaml.ScalarNode && doc.ShortTag() == "!!null" {
			return nil, &SyntaxError{Line: doc.Line, Msg: "the file is empty"}
		}
		return nil, &SyntaxError{Line: doc.Line, Msg: "the configuration must be a mapping of keys to values"}
	}
	return doc, nil
}

// checkUTF8 refuses bytes that are not UTF-8 before the parser sees them:
// yaml.v3 reports them without a line or column.
func checkUTF8(data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	line, col := 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size == 1 {
			return &SyntaxError{Line: line, Msg: fmt.Sprintf("not valid UTF-8 (column %d); save the file as UTF-8", col)}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return nil
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
