package sink

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from Omni ends up in PostgreSQL (the state, the audit log), which
// refuses NUL in text and invalid UTF-8 (SQLSTATE 22021, 22P05): one such
// value stored, or failing to store, could wedge every later run. So every
// string decoded from an answer passes cleanText before it leaves the
// package.

// maxIDLen bounds a user or group id; Omni's are UUIDs and short strings.
const maxIDLen = 256

// checkID refuses a user id syncd could not store and address the user by.
func checkID(id string) error { return checkIDOf("user", id) }

// checkIDOf refuses an id of kind ("user", "group") that syncd could not
// store and address the resource by. It is checked as Omni sent it, not
// cleaned: an id changed by cleaning would name another resource. U+FFFD is where JSON decoding already replaced
// invalid UTF-8.
func checkIDOf(kind, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("decode %s: no id", kind)
	case len(id) > maxIDLen:
		return fmt.Errorf("decode %s: id of %d bytes, longer than %d", kind, len(id), maxIDLen)
	case strings.ContainsFunc(id, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }):
		return fmt.Errorf("decode %s: unusable id %.40q: control characters or invalid UTF-8", kind, id)
	default:
		return nil
	}
}
