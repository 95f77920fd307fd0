//go:build !unix

package eval

// setNice is a no-op where processes have no nice value.
func setNice(pid, nice int) error { return nil }
