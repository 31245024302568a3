package slapdtest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Entry is one LDIF record: a DN and its attributes in file order.
type Entry struct {
	DN         string
	Attributes []ldap.Attribute
}

// ParseLDIF reads the content records of an LDIF file (RFC 2849): comments,
// folded lines, "name: value", "name:: base64" and an optional
// "changetype: add". URL values ("name:< file://...") and change records
// other than add are rejected, since fixtures have no use for them.
func ParseLDIF(data []byte) ([]Entry, error) {
	var (
		entries []Entry
		cur     *Entry
		lines   []string
	)
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		defer func() { lines = lines[:0] }()
		for _, line := range lines {
			name, value, err := parseLine(line)
			if err != nil {
				return err
			}
			switch {
			case cur == nil && strings.EqualFold(name, "version"):
				continue
			case cur == nil && strings.EqualFold(name, "dn"):
				cur = &Entry{DN: value}
			case cur == nil:
				return fmt.Errorf("record starts with %q, want dn", name)
			case strings.EqualFold(name, "changetype"):
				if !strings.EqualFold(value, "add") {
					return fmt.Errorf("entry %q: changetype %q is not supported", cur.DN, value)
				}
			default:
				cur.add(name, value)
			}
		}
		if cur != nil {
			entries = append(entries, *cur)
			cur = nil
		}
		return nil
	}

	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	n := 0
	inComment := false // comments can be folded too
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		switch {
		case line == "":
			inComment = false
			if err := flush(); err != nil {
				return nil, fmt.Errorf("parse ldif before line %d: %w", n, err)
			}
		case line[0] == '#':
			inComment = true
		case line[0] == ' ' && inComment:
		case line[0] == ' ':
			if len(lines) == 0 {
				return nil, fmt.Errorf("parse ldif line %d: continuation without a line", n)
			}
			lines[len(lines)-1] += line[1:]
		default:
			inComment = false
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ldif: %w", err)
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("parse ldif at end: %w", err)
	}
	return entries, nil
}

func (e *Entry) add(name, value string) {
	for i := range e.Attributes {
		if strings.EqualFold(e.Attributes[i].Type, name) {
			e.Attributes[i].Vals = append(e.Attributes[i].Vals, value)
			return
		}
	}
	e.Attributes = append(e.Attributes, ldap.Attribute{Type: name, Vals: []string{value}})
}

func parseLine(line string) (name, value string, err error) {
	name, rest, ok := strings.Cut(line, ":")
	if !ok || name == "" {
		return "", "", fmt.Errorf("line %q has no attribute name", line)
	}
	switch {
	case strings.HasPrefix(rest, ":"):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest[1:]))
		if err != nil {
			return "", "", fmt.Errorf("decode base64 value of %s: %w", name, err)
		}
		return name, string(raw), nil
	case strings.HasPrefix(rest, "<"):
		return "", "", fmt.Errorf("url value of %s is not supported", name)
	default:
		return name, strings.TrimLeft(rest, " "), nil
	}
}
