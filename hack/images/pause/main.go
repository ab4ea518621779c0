// Command pause is the sandbox ("pause") image of the local e2e cluster
// (hack/e2e-cluster), so that the cluster needs no registry: containerd runs
// it as every pod sandbox's process. It does what registry.k8s.io/pause does:
// it sleeps until SIGINT or SIGTERM and, when it is PID 1 of a pod's PID
// namespace, reaps the zombies re-parented to it.
//
// Build it static (CGO_ENABLED=0): the image holds nothing else.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Buffered so that a burst of SIGCHLDs is not lost while we reap.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return
		}
		reap()
	}
}

// reap collects every exited child without blocking: one SIGCHLD may stand
// for several children.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
