package config

import (
	"bufio"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// referenceDoc is the configuration reference, relative to this package.
const referenceDoc = "../../docs/configuration.md"

// configKeys lists the YAML path of every key a file may set: the fields of
// nested structs by their own keys, and everything else (scalars, lists,
// maps, and types that read themselves, such as Duration) as one key.
func configKeys(t reflect.Type, path string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("yaml") == "-" {
			continue
		}
		key := join(path, yamlName(f))
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(unmarshalerType) {
			keys = append(keys, configKeys(f.Type, key)...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// documentedKeys reads the keys of the reference's tables: those whose
// header's first cell is "key", each row naming its key in backticks in its
// first cell. Other tables (the credentials, say) are not keys.
func documentedKeys(t *testing.T, name string) map[string]int {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]int{}
	inTable, isKeys := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		first := strings.TrimSpace(strings.Split(line, "|")[1])
		switch {
		case !inTable:
			inTable, isKeys = true, first == "key"
		case !isKeys || strings.HasPrefix(first, "---"):
		case strings.HasPrefix(first, "`") && strings.HasSuffix(first, "`") && len(first) > 2:
			if _, seen := keys[first[1:len(first)-1]]; !seen {
				keys[first[1:len(first)-1]] = n
			}
		default:
			t.Errorf("%s:%d: the first cell of a key table must be a key in backticks, not %q", name, n, first)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// The reference lists every key of Config, and no key Config lacks.
func TestReferenceListsEveryKey(t *testing.T) {
	keys := configKeys(reflect.TypeFor[Config](), "")
	documented := documentedKeys(t, referenceDoc)
	for _, k := range keys {
		if _, ok := documented[k]; !ok {
			t.Errorf("%s is a key of Config but is missing from docs/configuration.md: add a row for it", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(documented)) {
		if !slices.Contains(keys, k) {
			t.Errorf("docs/configuration.md:%d lists %s, which Config does not have: remove the row or fix its name", documented[k], k)
		}
	}
}

// configKeys is what the reference test rests on: it must see into nested
// sections and stop at the types that read themselves.
func TestConfigKeys(t *testing.T) {
	keys := configKeys(reflect.TypeFor[Config](), "")
	for _, want := range []string{"schedule", "ldap.users.baseDNs", "ldap.groups.memberAttribute", "ldap.omniAttributes",
		"ldap.timeout", "scim.tokens", "safety.protectedUsers", "http.listen"} {
		if !slices.Contains(keys, want) {
			t.Errorf("configKeys misses %s: %v", want, keys)
		}
	}
	for _, k := range keys {
		if k == "ldap" || k == "ldap.users" || strings.HasPrefix(k, "ldap.timeout.") {
			t.Errorf("configKeys lists %s, which is not a leaf", k)
		}
	}
}
