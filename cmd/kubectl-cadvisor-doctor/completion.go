package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func init() { subcommands = append(subcommands, newCompletionCmd) }

// completionShells are the shells cobra generates completion code for.
var completionShells = []string{"bash", "zsh", "fish", "powershell"}

// CompletionOptions holds the completion command's argument.
type CompletionOptions struct {
	Shell string
	// root is the command tree the code completes.
	root *cobra.Command

	genericiooptions.IOStreams
}

// NewCompletionOptions returns empty options writing to streams.
func NewCompletionOptions(streams genericiooptions.IOStreams) *CompletionOptions {
	return &CompletionOptions{IOStreams: streams}
}

func newCompletionCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewCompletionOptions(streams)
	cmd := &cobra.Command{
		Use:   "completion SHELL",
		Short: "Print the shell completion code for bash, zsh, fish or powershell",
		Long: `completion prints code that makes your shell complete kubectl-cadvisor_doctor's
subcommands, flags and arguments (node names for check come from your
cluster). Load it into the shell, as in the examples.

Through kubectl (kubectl cadvisor-doctor <TAB>, kubectl 1.26 or later) you
do not need this: put the kubectl_complete-cadvisor_doctor script from the
release archive on your PATH instead (docs/install.md).`,
		Example: `  # bash, this shell only
  source <(kubectl-cadvisor_doctor completion bash)

  # bash, for every new shell
  kubectl-cadvisor_doctor completion bash > /etc/bash_completion.d/kubectl-cadvisor_doctor

  # zsh
  kubectl-cadvisor_doctor completion zsh > "${fpath[1]}/_kubectl-cadvisor_doctor"

  # fish
  kubectl-cadvisor_doctor completion fish > ~/.config/fish/completions/kubectl-cadvisor_doctor.fish

  # PowerShell
  kubectl-cadvisor_doctor completion powershell | Out-String | Invoke-Expression`,
		ValidArgs:             completionShells,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	return cmd
}

// Complete takes the shell argument and the command tree.
func (o *CompletionOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("completion needs exactly one shell argument (one of %s), got %d", strings.Join(completionShells, ", "), len(args))
	}
	o.Shell = args[0]
	o.root = cmd.Root()
	return nil
}

// Validate checks the shell name.
func (o *CompletionOptions) Validate() error {
	if !slices.Contains(completionShells, o.Shell) {
		return fmt.Errorf("unsupported shell %q: want one of %s", o.Shell, strings.Join(completionShells, ", "))
	}
	return nil
}

// Run writes the completion code to Out.
func (o *CompletionOptions) Run(_ context.Context) error {
	switch o.Shell {
	case "bash":
		return o.root.GenBashCompletionV2(o.Out, true)
	case "zsh":
		return o.root.GenZshCompletion(o.Out)
	case "fish":
		return o.root.GenFishCompletion(o.Out, true)
	default:
		return o.root.GenPowerShellCompletionWithDesc(o.Out)
	}
}
