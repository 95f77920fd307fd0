package priority

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Start starts cmd at nice value nice. On Linux a nice value belongs
// to a thread, and a process's threads take theirs from the thread that
// starts them: setting it on the child's pid once it runs leaves the
// threads it has started by then (Nix's garbage collector's markers) at
// the parent's. So cmd is started from a thread of its own that has the
// value, which the child's first thread, and through it all others (and
// its children), inherit. The thread ends with the goroutine, locked to
// it, so no other goroutine ever runs at that value. Failing to set the
// value (raising a priority needs privilege) is not fatal: cmd then starts
// at the caller's.
func Start(cmd *exec.Cmd, nice int) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
		done <- cmd.Start()
	}()
	return <-done
}
