package slapdtest

import "syscall"

// dieWithParent makes the kernel kill slapd when the test binary dies, so an
// interrupted run leaves no server behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
