// Command mysite is the sample web application under test in the lab: a JSON
// API over PostgreSQL. See internal/mysite for the API contract.
//
// Usage: mysite -db postgres://user:pass@host:5432/db [-listen :8080] [-db-timeout 2s] ...
// Run mysite -h for all flags and their environment variables.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/scalelab/scalelab/internal/mysite"
)

func main() {
	cfg, err := mysite.ParseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, mysite.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mysite: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := mysite.Run(ctx, cfg, log); err != nil {
		log.Error("mysite failed", "err", err)
		stop()
		os.Exit(1)
	}
}
