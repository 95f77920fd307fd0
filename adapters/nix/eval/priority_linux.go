package eval

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startNiced starts cmd at nice value nice. On Linux a nice value belongs
// to a thread, and a process's threads take theirs from the thread that
// starts them: setting it on Nix's pid once Nix runs leaves the threads
// Nix has started by then (its garbage collector's markers) at the
// evaluator's. So cmd is started from a thread of its own that has the
// value, which Nix's first thread, and through it all others, inherit.
// The thread ends with the goroutine, locked to it, so no other goroutine
// ever runs at that value. Failing to set the value (raising a priority
// needs privilege) is not fatal: cmd then starts at the evaluator's.
func startNiced(cmd *exec.Cmd, nice int) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
		done <- cmd.Start()
	}()
	return <-done
}
