//go:build !unix

package priority

import "os/exec"

// Start starts cmd: processes have no nice value here.
func Start(cmd *exec.Cmd, nice int) error { return cmd.Start() }
