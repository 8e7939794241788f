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

// parseFlagsOnly parses args into fs for a subcommand that takes no
// positional arguments. When ok is false the command returns code: -h
// (exitOK), a bad flag, or stray arguments, reported to w through
// extraFormat (e.g. "sim plc: unexpected arguments %v\n", given fs.Args()).
func parseFlagsOnly(fs *flag.FlagSet, args []string, w io.Writer, extraFormat string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		return parseExit(err), false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(w, extraFormat, fs.Args())
		return exitUsage, false
	}
	return exitOK, true
}
