//go:build unix

package remote_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) used by this process so
// far: in-process benchmarks report it per op, a figure that the other
// work on a shared machine disturbs far less than the wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
