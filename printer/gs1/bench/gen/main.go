// Command gen writes N generated GS1 pharma payloads, one per line in
// bracketed form, for printer/gs1/bench/zint-compare.sh.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"

	"github.com/serialine/serialine/printer/gs1/corpus"
)

func main() {
	n := 100000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "usage: gen [N]")
			os.Exit(2)
		}
		n = v
	}
	g := corpus.New(2026)
	w := bufio.NewWriter(os.Stdout)
	for i := 0; i < n; i++ {
		w.WriteString(g.Pharma())
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
