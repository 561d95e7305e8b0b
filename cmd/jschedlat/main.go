// Command jschedlat reports which Java thread waited for a CPU, when, for
// how long and why: eBPF run-queue latency joined with Java thread names.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/internal/sighup"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/sink"
)

func main() {
	// SIGHUP's default action ends the process, and logrotate or an init
	// system may send it at any instant (start-up, shutdown): it is caught
	// from package initialization on (sighup), and reopens the record file
	// while there is one, ignored otherwise, until the very end.
	go sink.ReopenOnHUP(sighup.C)
	code := run()
	sink.RemoveTemps()
	os.Exit(code)
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		// A second signal exits at once.
		<-ctx.Done()
		stop()
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
		<-c
		fmt.Fprintln(os.Stderr, "jschedlat: second signal, exiting now")
		sink.RemoveTemps()
		jvm.RemoveTriggers()
		os.Exit(130)
	}()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))

	root := &cobra.Command{
		Use:   "jschedlat",
		Short: "Run-queue latency per Java thread: which thread waited for a CPU, when, how long, why",
		Long: `jschedlat traces CPU run-queue latency with eBPF and names each waiting thread
with its exact Java thread name, read from the JVM's memory without stopping it
(HotSpot's own probes name threads as they start or rename themselves; thread
dumps only where a read fails).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newAttachCmd(), newReplayCmd(), newThreadsCmd(), newReportCmd(), newVersionCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "jschedlat: %v\n", err)
		return 1
	}
	return 0
}
