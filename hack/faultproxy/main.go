// Command faultproxy runs internal/faultproxy between a gRPC client and a
// real containerd, for tests and demos: it forwards every call and can
// delay, hang or fail chosen methods and container ids.
//
//	go build -o /tmp/faultproxy ./hack/faultproxy
//	faultproxy --listen /run/containerd/containerd.sock \
//	    --upstream /run/k3s/containerd/containerd.sock --rules rules.json
//
// The rules file is re-read on SIGHUP, so a running test switches faults
// without restarting the proxy (clients keep their connections):
//
//	echo '{"rules":[{"method":"/containerd.services.tasks.v1.Tasks/Get","action":"hang"}]}' > rules.json
//	kill -HUP $PID
//
// Format (see faultproxy.ParseRules): {"rules": [RULE, ...]} or [RULE, ...];
// RULE is {"method": full method or absent for any, "match": substring of the
// raw request bytes (e.g. a container id) or absent, "action": "pass" |
// "delay" | "hang" | "fail", "delay": "1.5s" (delay), "code": "Unavailable"
// or 14 (fail), "message": "..." (fail)}. The first matching rule decides;
// unmatched calls pass. A file that fails to parse keeps the old rules.
// A missing --rules file or an empty list passes everything.
//
// Every call is logged to stderr at its start and at its end. SIGINT or
// SIGTERM closes the proxy (hung calls are released with Unavailable) and
// removes the socket. SIGSTOP of this process freezes "containerd" for every
// client without touching the real daemon.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/faultproxy"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("faultproxy", flag.ContinueOnError)
	listen := fs.String("listen", "", "unix socket to serve on (required)")
	upstream := fs.String("upstream", "", "unix socket of the real containerd (required)")
	rulesFile := fs.String("rules", "", "JSON rules file, re-read on SIGHUP (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var errs []error
	if *listen == "" {
		errs = append(errs, errors.New("--listen is required"))
	}
	if *upstream == "" {
		errs = append(errs, errors.New("--upstream is required"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	rules, err := loadRules(*rulesFile)
	if err != nil {
		return err
	}

	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	p, err := faultproxy.Start(*listen, *upstream)
	if err != nil {
		return err
	}
	p.SetLogf(logger.Printf)
	p.SetRules(rules...)
	logger.Printf("faultproxy: pid %d serving %s -> %s", os.Getpid(), *listen, *upstream)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			logger.Printf("faultproxy: shutting down")
			return p.Close()
		case <-hup:
			rules, err := loadRules(*rulesFile)
			if err != nil {
				logger.Printf("faultproxy: SIGHUP: keeping the old rules: %v", err)
				continue
			}
			p.SetRules(rules...)
		}
	}
}

// loadRules reads the rules file; no file name or a missing file means no
// rules, so a test can start the proxy first and write the file later.
func loadRules(path string) ([]faultproxy.Rule, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	rules, err := faultproxy.ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rules, nil
}
