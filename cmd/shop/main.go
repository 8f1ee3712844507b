// Command shop is mysite split into services (stage 12): started as users,
// orders or payments with -service. See internal/shop for the API.
//
// Usage: shop -service orders -db postgres://... -users http://... -payments http://... [-call-timeout 500ms] ...
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

	"github.com/scalelab/scalelab/internal/shop"
)

func main() {
	cfg, err := shop.ParseConfig(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "shop: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := shop.Run(ctx, cfg, log); err != nil {
		log.Error("shop failed", "err", err)
		stop()
		os.Exit(1)
	}
}
