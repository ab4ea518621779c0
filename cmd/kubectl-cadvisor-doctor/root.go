package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// exitError carries a specific exit code out of a command's RunE. Commands
// whose exit code reports a finding (probe, check) return one; any other
// error is a usage or run failure and exits 2.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// run builds the command tree, executes it and maps the outcome to an exit
// code. It is kept apart from main so tests can call it.
func run(ctx context.Context, streams genericiooptions.IOStreams, args []string) int {
	root := newRootCmd(streams)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ee.err != nil {
			printError(streams.ErrOut, ee.err)
		}
		return ee.code
	default:
		printError(streams.ErrOut, err)
		return 2
	}
}

// printError writes one "error: ..." line per problem: Validate reports
// every bad flag at once (errors.Join), and each gets its own prefix, as
// kubectl prints them.
func printError(w io.Writer, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			printError(w, e)
		}
		return
	}
	fmt.Fprintln(w, "error:", err)
}

func newRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-cadvisor_doctor",
		Short: "Find the nodes where containerd would stall cAdvisor, and why",
		Long: `cadvisor-doctor finds nodes whose containerd would make cAdvisor (standalone or
inside the kubelet) block: it makes the calls cAdvisor makes, each under a
deadline, and reports a verdict, a reason and evidence per node.`,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl cadvisor-doctor",
		},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	// Usage only for flag errors: cobra prints it for those when we ask.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: 2, err: fmt.Errorf("%w\nSee '%s --help' for usage.", err, c.CommandPath())}
	})
	for _, add := range subcommands {
		root.AddCommand(add(streams))
	}
	return root
}

// subcommands is filled by each subcommand's file (probe.go, check.go, ...)
// so that adding a command touches only its own file.
//
// The files of the commands that talk to the API server (check, cleanup)
// carry `//go:build !probeonly`. The probe image is built with
// `-tags probeonly`: without client-go and the API types the in-pod agent's
// peak RSS is ~23 MiB instead of ~67 MiB (docs/performance.md), and its
// binary is a third of the size. The plugin users run is the full build.
var subcommands []func(genericiooptions.IOStreams) *cobra.Command
