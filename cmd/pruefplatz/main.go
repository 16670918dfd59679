// Command pruefplatz is the Prüfplatz inspection station: camera, classifier,
// verdict store and web UI, plus the tools engineers use around it
// (demo data, datasets, augmentation, training, model versions).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pruefplatz:", err)
		os.Exit(1)
	}
}
