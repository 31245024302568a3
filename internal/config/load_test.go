package config

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// mergeBomb is ten lines of merge keys, each merging the one above ten
// times: about 600 bytes that expand to ten billion keys. tail uses the last
// anchor, *a9.
func mergeBomb(tail string) string {
	var b strings.Builder
	b.WriteString("a0: &a0 {x: 1}\n")
	for i := 1; i < 10; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", ")
		fmt.Fprintf(&b, "a%d: &a%d {<<: [%s]}\n", i, i, refs)
	}
	return b.String() + tail
}

// wantSyntax checks that err is a *SyntaxError whose message says msg, on
// line when line is above zero.
func wantSyntax(t *testing.T, err error, line int, msg string) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("got %T %v, want a *SyntaxError", err, err)
	}
	if line > 0 && se.Line != line {
		t.Errorf("line %d, want %d (%v)", se.Line, line, err)
	}
	if !strings.Contains(se.Msg, msg) {
		t.Errorf("message %q does not say %q", se.Msg, msg)
	}
}

func TestParseRefusesMergeBombs(t *testing.T) {
	for _, tc := range []struct{ name, tail string }{
		{"anchors alone", ""},
		{"merged into a section", "log: {<<: *a9}\n"},
		{"a section as an alias", "log: *a9\n"},
		{"merged into the root", "<<: *a9\n"},
		{"under a map field", "ldap:\n  omniAttributes: {<<: *a9}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := mergeBomb(tc.tail)
			_, err := Parse([]byte(data), nil)
			// Anchor k expands to about 4·10^k nodes; a6, on line 7, is the
			// first past the bound.
			wantSyntax(t, err, 7, "expand to more than")
			if _, err := loadFile(t, data, nil); err == nil {
				t.Error("Load accepted it")
			}
		})
	}
}

func TestParseRefusesAliasBombs(t *testing.T) {
	var b strings.Builder
	b.WriteString("ldap:\n  users:\n    memberOf: &l0 [cn=x, cn=x, cn=x, cn=x, cn=x, cn=x, cn=x, cn=x, cn=x, cn=x]\n")
	for i := 1; i < 9; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", ")
		fmt.Fprintf(&b, "    baseDNs: &l%d [%s]\n", i, refs)
	}
	_, err := Parse([]byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "alias") {
		t.Fatalf("got %v, want the aliases refused", err)
	}
}

func TestParseRefusesAnchorsInsideThemselves(t *testing.T) {
	for _, data := range []string{
		"log: &l {<<: *l}\n",
		"ldap:\n  users:\n    baseDNs: &b [dc=x, *b]\n",
		"a: &a [*a]\n",
	} {
		_, err := Parse([]byte(data), nil)
		wantSyntax(t, err, 0, "alias to itself")
	}
}

func TestParseRefusesWideMappings(t *testing.T) {
	wide := func(keys int) string {
		var b strings.Builder
		b.WriteString("  omniAttributes:\n")
		for i := range keys {
			fmt.Fprintf(&b, "    a%d: mail\n", i)
		}
		return doc(b.String(), "", "")
	}
	mustParse(t, wide(maxKeys), nil)
	_, err := Parse([]byte(wide(maxKeys+1)), nil)
	wantSyntax(t, err, 4, "more than 1000 keys")
}

// A configuration may use anchors and merges as much as a person would.
func TestParseAcceptsModestMerges(t *testing.T) {
	data := "ldap:\n  url: ldaps://h\n  users: &u\n    baseDNs: &dns [dc=x, dc=y]\n    memberOf: *dns\n" +
		"scim:\n  <<: [{token: abc}, {url: 'https://h/scim'}]\n  timeout: 10s\n" +
		"safety:\n  canaryDNs: *dns\n"
	c := mustParse(t, data, nil)
	if !reflect.DeepEqual(c.Safety.CanaryDNs, []string{"dc=x", "dc=y"}) || c.SCIM.Token.Reveal() != "abc" {
		t.Errorf("aliases or merges not applied: %+v", c)
	}
}

func TestLoadRefusesLargeFiles(t *testing.T) {
	pad := func(size int) string {
		line := "# " + strings.Repeat("x", 77) + "\n"
		s := minimal + strings.Repeat(line, (size-len(minimal))/len(line))
		return s + strings.Repeat("#", size-len(s))
	}
	if _, err := loadFile(t, pad(maxFile), nil); err != nil {
		t.Fatalf("a file of exactly 1 MiB: %v", err)
	}
	_, err := loadFile(t, pad(maxFile+1), nil)
	if err == nil || !strings.Contains(err.Error(), "configuration file is larger than 1 MiB") {
		t.Fatalf("got %v, want the file refused as larger than 1 MiB", err)
	}
}

func TestLoadContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := writeFile(t, t.TempDir(), "syncd.yaml", minimal)
	_, err := LoadContext(ctx, path, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := LoadContext(context.Background(), path, nil); err != nil {
		t.Fatalf("LoadContext: %v", err)
	}
}

// stopAfter is a context that turns done after its Err has said nil n times,
// to stop a load in the middle of a stage.
type stopAfter struct {
	context.Context
	n int
}

func (c *stopAfter) Err() error {
	if c.n == 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

func TestWalkStopsWhenTheContextIsDone(t *testing.T) {
	var b strings.Builder
	b.WriteString("ldap:\n  omniAttributes:\n")
	for i := range 10 * checkEvery {
		fmt.Fprintf(&b, "    a%d: mail\n", i)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatal(err)
	}
	w := walker{
		ctx:      &stopAfter{Context: context.Background(), n: 1},
		getenv:   noEnv,
		visited:  make(map[visit]bool),
		expanded: make(map[*yaml.Node]expandState),
	}
	w.walk(doc.Content[0], reflect.TypeFor[Config](), "")
	if !errors.Is(w.err, context.Canceled) {
		t.Fatalf("walk ended with %v, want context.Canceled", w.err)
	}
	if w.steps != 2*checkEvery {
		t.Errorf("walk stopped after %d nodes, want %d: the second check", w.steps, 2*checkEvery)
	}
}

func TestParseRefusesInvalidUTF8(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		line       int
		column     string
	}{
		{"in a value", "schedule: '@hourly'\nlog:\n  level: in\xffo\n", 3, "column 12"},
		{"in a comment", minimal + "# caf\xe9\n", 8, "column 6"},
		{"in a key", "l\xc3og: {}\n", 1, "column 2"},
		{"after other characters", "ldap:\n  bindDN: cn=Jürgen\xed\xa0\x80,dc=x\n", 2, "column 20"},
		{"Latin-1 file", "schedule: '@hourly'\nldap:\n  bindDN: cn=J\xfcrgen,dc=x\n", 3, "column 15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), nil)
			wantSyntax(t, err, tc.line, "not valid UTF-8")
			if !strings.Contains(err.Error(), tc.column) {
				t.Errorf("%q does not say %s", err, tc.column)
			}
		})
	}
}

func TestParseReportsTypeAndValidationProblemsTogether(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		fields     []string
	}{
		{"a type error and a bad URL", "ldap:\n  url: ldaps://h\n  pageSize: many\n  users: {baseDNs: [dc=x]}\n" +
			"scim:\n  url: http://acme.omniapp.co/scim\n  token: t\n",
			[]string{"ldap.pageSize", "scim.url"}},
		{"a duration and a schedule", "schedule: often\n" + minimal + "  timeout: 30\n",
			[]string{"schedule", "scim.timeout"}},
		{"a repeated key drops its mapping only", minimal + "  timeout: 10s\n  timeout: 20s\nlog: {level: loud}\n",
			[]string{"scim.timeout", "log.level"}},
		{"a repeated key at the top drops everything", minimal + "log: {level: loud}\nlog: {}\n",
			[]string{"log"}},
		{"a section of the wrong kind", "ldap: ldaps://h\nscim:\n  url: http://acme.omniapp.co/scim\n  token: t\n",
			[]string{"ldap", "scim.url"}},
		{"a bad list item shifts the rest", "ldap:\n  url: ldaps://h\n  users:\n    baseDNs: [dc=x, {dn: dc=y}, dc=z, people]\n" +
			"scim:\n  url: https://h/scim\n  token: t\n  maxAttempts: 0\n",
			[]string{"ldap.users.baseDNs[1]", "scim.maxAttempts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), nil)
			wantFields(t, err, tc.fields...)
		})
	}
}

func TestProblemsNeverShowExpandedValues(t *testing.T) {
	const token = "tok-9f3e-S3CRET-b81c"
	getenv := env(map[string]string{"SCIM_TOKEN": token, "TOKEN": token, "PART": "S3CRET-b81c"})
	for _, tc := range []struct {
		name, data, field, name2 string
	}{
		{"schedule", "schedule: ${SCIM_TOKEN}\n" + minimal, "schedule", "${SCIM_TOKEN}"},
		{"ldap url", strings.Replace(minimal, "ldaps://ldap.example.com", "${TOKEN}", 1), "ldap.url", ""},
		{"ldap url with a scheme", strings.Replace(minimal, "ldaps://ldap.example.com", "ldaps://h:${TOKEN}", 1), "ldap.url", ""},
		{"bind DN", doc("  bindDN: ${TOKEN}\n  bindPassword: x\n", "", ""), "ldap.bindDN", ""},
		{"base DN", strings.Replace(minimal, "ou=people,dc=example,dc=com", "${TOKEN}", 1), "ldap.users.baseDNs[0]", ""},
		{"attribute", doc("  attributes: {id: \"x ${TOKEN}\"}\n", "", ""), "ldap.attributes.id", "x ${TOKEN}"},
		{"filter", strings.Replace(minimal, "  users:\n", "  users:\n    filter: \"(${TOKEN}\"\n", 1), "ldap.users.filter", ""},
		{"omni attribute", doc("  omniAttributes: {dept: \"${TOKEN}!\"}\n", "", ""), "ldap.omniAttributes.dept", "${TOKEN}!"},
		{"part of a value", "schedule: tok-9f3e-${PART}\n" + minimal, "schedule", "tok-9f3e-${PART}"},
		{"http listen", minimal + "http: {listen: \"${TOKEN}\"}\n", "http.listen", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), getenv)
			ps := wantFields(t, err, tc.field)
			noLeak(t, "error", err.Error(), token, "S3CRET")
			if !strings.Contains(ps[0].Message, tc.name2) {
				t.Errorf("message %q does not say %s", ps[0].Message, tc.name2)
			}
			_, err = loadFile(t, tc.data, getenv)
			noLeak(t, "Load error", err.Error(), token, "S3CRET")
		})
	}
}

// Secret files fill Secret fields only, which no message shows.
func TestProblemsNeverShowSecretFiles(t *testing.T) {
	dir := t.TempDir()
	db := writeFile(t, dir, "db", "password=db-F1LE-S3CRET port=x\n")
	_, err := loadFile(t, minimal+"state:\n  databaseURLFile: "+db+"\n", nil)
	wantFields(t, err, "state.databaseURL")
	noLeak(t, "error", err.Error(), "S3CRET")
}

func TestRedactions(t *testing.T) {
	var r redactions
	r.add("", "${EMPTY}")
	r.add("abcd", "${SHORT}")
	r.add("abcdef", "${LONG}")
	r.add("abcd", "${AGAIN}")
	r.add("10", "${TOO_SHORT}")
	ps := r.redact(problems{{Field: "abcd", Message: "abcdef abcd ${SHORT} 10"}})
	if want := "${LONG} ${SHORT} ${SHORT} 10"; ps[0].Message != want || ps[0].Field != "abcd" {
		t.Errorf("got %+v, want message %q and the field kept", ps[0], want)
	}
}
