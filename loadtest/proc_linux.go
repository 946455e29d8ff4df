package loadtest

import "syscall"

// childAttr makes the kernel kill a child if this process dies first, so an
// interrupted run leaves no instance behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
