package sshdtest

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// signalTree sends sig to root and, repeatedly until no new process shows
// up, to every descendant of root found in /proc. It returns all the pids it
// signalled. Sending SIGSTOP this way freezes a whole tree without racing
// against forks, because a stopped process cannot fork.
func signalTree(root int, sig syscall.Signal) []int {
	seen := map[int]bool{root: true}
	order := []int{root}
	_ = syscall.Kill(root, sig)
	for {
		added := false
		for pid, ppid := range parentMap() {
			if seen[pid] || !seen[ppid] {
				continue
			}
			seen[pid] = true
			order = append(order, pid)
			_ = syscall.Kill(pid, sig)
			added = true
		}
		if !added {
			return order
		}
	}
}

// parentMap returns pid → parent pid for every process in /proc.
func parentMap() map[int]int {
	m := map[int]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return m
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name in field 2 may contain spaces and parentheses;
		// fields after the last ')' are "state ppid ...".
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			m[pid] = ppid
		}
	}
	return m
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
