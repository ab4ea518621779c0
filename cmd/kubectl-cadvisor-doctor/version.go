package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/version"
)

func init() { subcommands = append(subcommands, newVersionCmd) }

func newVersionCmd(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin version, Go version and default probe image",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(streams.Out, "kubectl-cadvisor_doctor %s\ngo: %s\nprobe image: %s\n",
				version.Version, version.GoVersion(), version.ProbeImage)
			return err
		},
	}
}
