// Command pgfailover is scalelab's small PostgreSQL failover controller
// (stage 4): it promotes the most advanced replica when the primary is gone,
// points the other replicas at it, and fences a second primary. See
// internal/failover.
//
// Usage: pgfailover -primary NAME -node NAME=DSN ... [-follow A->B=host:port ...]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/scalelab/scalelab/internal/failover"
)

func main() {
	cfg, err := failover.ParseConfig(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgfailover: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := failover.New(cfg, log).Run(ctx); err != nil {
		log.Error("pgfailover failed", "err", err)
		os.Exit(1)
	}
}
