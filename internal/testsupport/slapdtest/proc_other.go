//go:build !linux

package slapdtest

import "syscall"

// dieWithParent has no portable equivalent outside Linux; Stop and
// StopShared remain the way to end slapd there.
func dieWithParent() *syscall.SysProcAttr { return nil }
