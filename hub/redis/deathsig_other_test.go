//go:build !linux

package redis

import "os/exec"

// dieWithParent is a no-op where the system offers no parent-death signal:
// the test's cleanups stop the processes.
func dieWithParent(*exec.Cmd) {}
