package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// setUsage gives fs the usage text every subcommand shares:
// "usage: serialine NAME SYNOPSIS", then the flag list.
func setUsage(fs *flag.FlagSet, w io.Writer, synopsis string) {
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: serialine %s %s\n", fs.Name(), synopsis)
		fmt.Fprintln(w, "flags:")
		fs.PrintDefaults()
	}
}

// parseExit is the exit status of a failed fs.Parse: -h/--help asked for
// the usage (exitOK); anything else is bad usage (exitUsage).
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
