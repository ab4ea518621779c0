// Command scale-bench measures `kubectl cadvisor-doctor check` on a
// simulated cluster of --nodes nodes (see package scale). hack/scale-bench
// builds the plugin and runs it. Its last output line is
//
//	nodes=N wall=SECONDS requests_per_node=R rss_mib=M correct=C
//
// and it exits 1 when a node's verdict is wrong, a pod is left behind or
// the plugin made a request without a deadline.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/test/scale"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var (
		cfg               scale.Config
		svg, pngPath, raw string
		replot            string
	)
	flag.IntVar(&cfg.Nodes, "nodes", 1000, "Node objects to register")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "scenario seed (which node is which kind)")
	flag.StringVar(&cfg.Plugin, "plugin", "", "the kubectl-cadvisor_doctor binary (required)")
	flag.DurationVar(&cfg.NodeTimeout, "node-timeout", 30*time.Second, "check --node-timeout")
	flag.DurationVar(&cfg.Timeout, "timeout", 3*time.Minute, "check --timeout")
	flag.BoolVar(&cfg.KeepDir, "keep", false, "keep the daemons' directory (logs, audit log)")
	flag.StringVar(&svg, "svg", "", "write the completion plot (SVG) here")
	flag.StringVar(&pngPath, "png", "", "write the completion plot (PNG) here")
	flag.StringVar(&raw, "raw", "", "write the raw figures (JSON) here")
	flag.StringVar(&replot, "replot", "", "draw --svg/--png from the raw figures of an earlier run (a --raw file) and exit")
	flag.Parse()
	if replot != "" {
		b, err := os.ReadFile(replot)
		if err != nil {
			return err
		}
		var res scale.Result
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("%s: %w", replot, err)
		}
		return plots(&res, svg, pngPath)
	}
	cfg.CheckArgs = flag.Args()
	if cfg.Plugin == "" {
		return fmt.Errorf("--plugin is required")
	}
	cfg.Log = os.Stderr
	res, err := scale.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("load before=%s after=%s\n", res.LoadBefore, res.LoadAfter)
	fmt.Printf("targets=%d exit=%d pods_left=%d no_deadline=%d kubelet_errors=%d plugin_cpu=%.2fs\n",
		res.Targets, res.ExitCode, res.PodsLeft, res.NoDeadline, res.KubeletErrors, res.CPUSeconds)
	fmt.Printf("requests total=%d watches=%d: %s\n", res.Requests.Total, res.Requests.Watches, res.Requests)
	rq := res.Requests
	fmt.Printf("phases (API server clock): creates %.2fs (%d pods), last request %.2fs after the first\n",
		rq.Span("create pods").Seconds(), rq.ByCall["create pods"], rq.Span("").Seconds())
	for i, w := range res.Wrong {
		if i == 10 {
			fmt.Printf("wrong: and %d more\n", len(res.Wrong)-10)
			break
		}
		fmt.Println("wrong:", w)
	}
	if err := plots(res, svg, pngPath); err != nil {
		return err
	}
	if raw != "" {
		b, err := json.MarshalIndent(struct {
			*scale.Result
			WallSeconds     float64
			RequestsPerNode float64
		}{res, res.Wall.Seconds(), res.RequestsPerNode()}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(raw, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	failed := len(res.Wrong) > 0 || res.PodsLeft > 0 || res.NoDeadline > 0
	if failed {
		for _, l := range res.StderrTail {
			fmt.Println("plugin stderr:", l)
		}
	}
	fmt.Println(res.Line())
	if failed {
		os.Exit(1)
	}
	return nil
}

// plots writes the completion plot as SVG and/or PNG.
func plots(res *scale.Result, svg, pngPath string) error {
	if svg != "" {
		f, err := os.Create(svg)
		if err != nil {
			return err
		}
		title := fmt.Sprintf("check of %d nodes (%d targeted): nodes done over time", res.Nodes, res.Targets)
		if err := scale.WriteSVG(f, title, res.Completion, res.Targets, 60); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if pngPath != "" {
		f, err := os.Create(pngPath)
		if err != nil {
			return err
		}
		if err := scale.WritePNG(f, res.Completion, res.Targets, 60); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
