package sink

import "errors"

var ErrHalt = errors.New("scim: halt")
