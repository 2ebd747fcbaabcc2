// Command starter is kamflow's operations tool: it onboards accounts (one,
// or thousands from a CSV file), feeds business events, looks up status,
// lists accounts, works task inboxes, adds managers, checks policy files
// and registers kamflow's search attributes on a Temporal cluster.
//
// Exit codes: 0 when everything asked for was done, 1 when some of it
// failed (bad rows, an unreachable server), 2 for usage errors.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kamflow/kamflow/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first Ctrl-C the default handling comes back, so a second
	// one stops the process at once instead of waiting for requests in flight.
	go func() { <-ctx.Done(); stop() }()
	err := run(ctx, os.Args[1:], config.Env(os.Environ()), os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode is the one place that turns an error into the exit status and
// prints it: 2 for usage errors, 1 for everything else.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	diag(stderr, "starter: %v\n", err)
	var usage usageError
	var cfgUsage config.UsageError
	if errors.As(err, &usage) || errors.As(err, &cfgUsage) {
		cmd := "starter"
		if usage.cmd != "" {
			cmd = usage.cmd
		}
		diag(stderr, "run `%s --help` for usage\n", cmd)
		return 2
	}
	return 1
}

// usageError marks a mistake in how the command was called. cmd is the
// command path whose help explains it.
type usageError struct {
	err error
	cmd string
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{err: fmt.Errorf(format, args...)}
}
