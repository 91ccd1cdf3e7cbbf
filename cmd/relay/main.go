// Command relay is the livestream and live-captioning relay.
//
//	relay [serve] [flags]          run the relay (the default)
//	relay token --room R --role X  print a signed token for RELAY_SECRET
//	relay load --viewers N ...     load a relay with pion viewers and report
//	relay captions replay ...      push a subtitle file to a room as a captioner
package main

import (
	"fmt"
	"os"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = runServe(args)
	case "token":
		err = runToken(args, os.Stdout)
	case "captions":
		err = runCaptions(args)
	case "load":
		err = runLoad(args, os.Stdout, os.Stderr)
	case "help":
		fmt.Println("usage: relay [serve|token|load|captions replay] [flags]; relay CMD -h for flags")
	default:
		err = fmt.Errorf("unknown command %q (want serve, token, load or captions)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(2)
	}
}
