package main

import (
	"flag"
	"fmt"
	"runtime"
)

func (c *cli) version(args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if code, done := c.parse(fs, "version", args); done {
		return code
	}
	fmt.Fprintf(c.stdout, "nodetriage %s\ngo: %s\ncommit: %s\n", version, runtime.Version(), commit)
	return exitOK
}
