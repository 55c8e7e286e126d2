package redis

import (
	"os/exec"
	"syscall"
)

// dieWithParent has cmd killed when the test process dies.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
