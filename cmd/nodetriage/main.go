// Command nodetriage finds the node-local faults that make pods fail on a
// Kubernetes node and reports them as NodeConditions, Events, Prometheus
// metrics (nodetriage run) or a one-shot report (nodetriage check).
//
// This package only parses flags and wires the parts together; everything
// else lives in agent, probes, hostchecks and cri.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/agent"
)

// Set at build time: go build -ldflags "-X main.version=v0.1.0 -X main.commit=$(git rev-parse HEAD)".
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes.
const (
	exitOK       = 0
	exitProblems = 1 // check: problems found; run: failed while running
	exitUsage    = 2 // could not run: bad flags, bad config, unknown check
)

// cli is the process environment, injected so tests run the commands
// in-process.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	hostname       func() (string, error)
	clock          clock.WithTicker
	// ctx is cancelled on SIGINT/SIGTERM.
	ctx context.Context
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c := &cli{
		stdout: os.Stdout, stderr: os.Stderr,
		getenv: os.Getenv, hostname: os.Hostname,
		clock: clock.RealClock{}, ctx: ctx,
	}
	code := c.main(os.Args[1:])
	stop()
	os.Exit(code)
}

const usage = `usage:
  nodetriage run   [--config FILE] [--kubeconfig FILE] [--node-name NAME] [--host-root DIR]
                   [--cri-endpoint EP] [--listen-address :9710] [--standalone]
  nodetriage check [--config FILE] [--host-root DIR] [--cri-endpoint EP] [--since 1h]
                   [--kmsg-file FILE] [--journal-dir DIR] [--checks a,b] [--output table|json]
  nodetriage version
`

func (c *cli) main(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return c.run(args[1:])
	case "check":
		return c.check(args[1:])
	case "version":
		return c.version(args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(c.stdout, usage)
		return exitOK
	}
	return c.usageError("", fmt.Errorf("unknown command %q (want run, check or version)", args[0]))
}

// usageError prints one line and returns exitUsage.
func (c *cli) usageError(cmd string, err error) int {
	prefix := "nodetriage"
	if cmd != "" {
		prefix += " " + cmd
	}
	fmt.Fprintf(c.stderr, "%s: %s\n", prefix, oneLine(err.Error()))
	return exitUsage
}

// nodeName is --node-name, else $NODE_NAME (the downward API in the
// DaemonSet), else the hostname.
func (c *cli) nodeName(flagValue string) (string, error) {
	return agent.ResolveNodeName(flagValue, c.getenv, c.hostname)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
