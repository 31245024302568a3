package config

import (
	"reflect"
	"strings"

	"github.com/syncd-dev/syncd/internal/textutil"
	"go.yaml.in/yaml/v3"
)

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
func clip(s string) string { return textutil.Clip(s, 64, "…") }
