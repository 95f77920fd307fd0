//go:build !unix

package eval

import "os/exec"

// startNiced starts cmd: processes have no nice value here.
func startNiced(cmd *exec.Cmd, nice int) error { return cmd.Start() }
