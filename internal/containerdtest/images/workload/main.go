// Command workload is the test workload of nodetriage's containerd tests. Its
// first argument picks what it does, so one image serves every test:
//
//	workload exit N      exit with status N at once (a crash-looping container)
//	workload alloc MIB   allocate and touch MIB mebibytes, then sleep (an
//	                     OOM kill when MIB exceeds the memory limit)
//	workload sleep       sleep until SIGTERM
//
// Built static (CGO_ENABLED=0) and packed into an OCI image by package
// containerdtest.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: workload exit N | alloc MIB | sleep")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "exit":
		code := 0
		if len(os.Args) > 2 {
			n, err := strconv.Atoi(os.Args[2])
			if err != nil {
				fmt.Fprintf(os.Stderr, "exit code %q: %v\n", os.Args[2], err)
				os.Exit(2)
			}
			code = n
		}
		fmt.Printf("workload: exiting with %d\n", code)
		os.Exit(code)
	case "alloc":
		if len(os.Args) < 3 {
			fmt.Fprintln(os.Stderr, "usage: workload alloc MIB")
			os.Exit(2)
		}
		mib, err := strconv.Atoi(os.Args[2])
		if err != nil || mib <= 0 {
			fmt.Fprintf(os.Stderr, "mebibytes %q: want a positive number\n", os.Args[2])
			os.Exit(2)
		}
		fmt.Printf("workload: allocating %d MiB\n", mib)
		var chunks [][]byte
		for i := 0; i < mib; i++ {
			chunk := make([]byte, 1<<20)
			// Touch every page so the memory is really charged to the cgroup.
			for off := 0; off < len(chunk); off += 4096 {
				chunk[off] = 1
			}
			chunks = append(chunks, chunk)
		}
		fmt.Printf("workload: holding %d MiB\n", len(chunks))
		waitForSignal()
	case "sleep":
		waitForSignal()
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

func waitForSignal() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
