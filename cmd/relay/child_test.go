package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// serveChild runs serve with c in a child test process started by
// testkit.StartChild: it prints the address, serves until its stdin
// closes, then exits the process.
func serveChild(c serveConfig) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, c, slog.New(slog.DiscardHandler), io.Discard, started)
	}()
	select {
	case addr := <-started:
		fmt.Printf("ADDR %s\n", addr)
	case err := <-done:
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(2)
	}
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "serve ended:", err)
	}
	os.Exit(0)
}
