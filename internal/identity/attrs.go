package identity

import (
	"sort"
	"strconv"
)

// AttributeSet interns users' attribute maps: the users of a directory
// share a handful of departments and sites, so most of their maps are
// equal, and one map per distinct set is all a read or a load of state
// needs to hold. The maps it returns are shared and must not be modified,
// which holds for User.Attributes everywhere. It is not safe for
// concurrent use; a read or a load keeps its own.
type AttributeSet struct {
	m   map[string]map[string]string
	key []byte
}

const (
	// maxInterned bounds the distinct maps one set holds; past it, maps
	// are kept as they come.
	maxInterned = 1 << 14
	// maxInternedKeys: larger maps are rare and kept as they come.
	maxInternedKeys = 8
)

// Intern returns the set's map equal to a, adding a when it has none.
func (s *AttributeSet) Intern(a map[string]string) map[string]string {
	if len(a) == 0 || len(a) > maxInternedKeys {
		return a
	}
	var keys [maxInternedKeys]string
	ks := keys[:0]
	for k := range a {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var pairs [2 * maxInternedKeys]string
	kv := pairs[:0]
	for _, k := range ks {
		kv = append(kv, k, a[k])
	}
	return s.pairs(kv, a)
}

// Pairs returns the set's map of the key and value pairs kv (key, value,
// key, value, ... with the keys sorted), making it when the set has none:
// a reader builds no map for a user whose attributes it has seen before.
func (s *AttributeSet) Pairs(kv []string) map[string]string {
	if len(kv) == 0 {
		return nil
	}
	return s.pairs(kv, nil)
}

// pairs looks kv up; a, when not nil, is the map kv was taken from.
func (s *AttributeSet) pairs(kv []string, a map[string]string) map[string]string {
	if len(kv) > 2*maxInternedKeys {
		return orMap(a, kv) // rare and large: kept as it comes
	}
	b := s.key[:0]
	for _, f := range kv {
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
	}
	s.key = b
	if m, ok := s.m[string(b)]; ok {
		return m
	}
	a = orMap(a, kv)
	if s.m == nil {
		s.m = make(map[string]map[string]string)
	}
	if len(s.m) < maxInterned {
		s.m[string(b)] = a
	}
	return a
}

// orMap is a, or when nil a new map of the pairs kv.
func orMap(a map[string]string, kv []string) map[string]string {
	if a != nil {
		return a
	}
	a = make(map[string]string, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		a[kv[i]] = kv[i+1]
	}
	return a
}
