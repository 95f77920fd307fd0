//go:build unix && !linux

package priority

import (
	"os/exec"
	"syscall"
)

// Start starts cmd and sets its nice value, which on these systems
// belongs to the whole process. Failing to set it (raising a priority
// needs privilege) is not fatal.
func Start(cmd *exec.Cmd, nice int) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, nice)
	return nil
}
