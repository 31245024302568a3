package config

import (
	"cmp"
	"slices"
	"strings"
)

// redactions maps each value that must never appear in a message to what is
// written in its place. Any field may hold a value from the environment, and
// the environment is where secrets live: `schedule: ${SCIM_TOKEN}` would
// otherwise have the token quoted back in the schedule's error.
type redactions map[string]string

// minRedacted is the shortest value redacted. Shorter ones (a port, a
// count, a flag) are no secret, and replacing them would garble ordinary
// words and numbers in every message.
const minRedacted = 4

func (r *redactions) add(value, placeholder string) {
	if len(value) < minRedacted {
		return
	}
	if *r == nil {
		*r = make(map[string]string)
	}
	if _, ok := (*r)[value]; !ok {
		(*r)[value] = placeholder
	}
}

// redact rewrites the messages in ps in place. Longer values go first, so
// that a value holding another is replaced whole; one pass, so that a
// placeholder is never rewritten.
func (r redactions) redact(ps problems) problems {
	if len(r) == 0 {
		return ps
	}
	values := make([]string, 0, len(r))
	for v := range r {
		values = append(values, v)
	}
	slices.SortFunc(values, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, v, r[v])
	}
	rep := strings.NewReplacer(pairs...)
	for i := range ps {
		ps[i].Message = rep.Replace(ps[i].Message)
	}
	return ps
}
