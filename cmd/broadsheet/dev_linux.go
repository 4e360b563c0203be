package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel stop the composer child if the dev process
// dies without stopping it (SIGKILL, a crash).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
