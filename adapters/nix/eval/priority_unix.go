//go:build unix

package eval

import "syscall"

// setNice sets the nice value of process pid.
func setNice(pid, nice int) error { return syscall.Setpriority(syscall.PRIO_PROCESS, pid, nice) }
