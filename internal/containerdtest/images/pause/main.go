// Command pause is the sandbox ("pause") image of nodetriage's containerd
// tests: like registry.k8s.io/pause it holds the pod's namespaces open and
// does nothing until it is told to stop. Built static (CGO_ENABLED=0) and
// packed into an OCI image by package containerdtest.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// As PID 1 in its PID namespace the process ignores signals it has no
	// handler for, so it must ask for them explicitly to be stoppable.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
