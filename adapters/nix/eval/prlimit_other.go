//go:build !linux

package eval

// setAddressSpaceLimit is a no-op where prlimit(2) does not exist.
func setAddressSpaceLimit(pid int, limit uint64) error { return nil }
