//go:build !probeonly

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
)

func init() { subcommands = append(subcommands, newCleanupCmd) }

// CleanupOptions holds the cleanup command's flags and derived state.
type CleanupOptions struct {
	ConfigFlags *genericclioptions.ConfigFlags

	RunID   string
	Timeout time.Duration
	Wait    time.Duration

	// Set by Complete: "" means every namespace.
	namespace string
	client    kubernetes.Interface

	genericiooptions.IOStreams
}

// NewCleanupOptions returns options with the defaults.
func NewCleanupOptions(streams genericiooptions.IOStreams) *CleanupOptions {
	return &CleanupOptions{
		ConfigFlags: genericclioptions.NewConfigFlags(true),
		Timeout:     30 * time.Second,
		Wait:        5 * time.Second,
		IOStreams:   streams,
	}
}

func newCleanupCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewCleanupOptions(streams)
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete the pods that earlier check runs left behind",
		Long: `cleanup deletes every pod labeled app.kubernetes.io/managed-by=kubectl-cadvisor-doctor
(or only one run's, with --run-id), in every namespace unless -n is given.
A check run deletes its own pods on every exit path; cleanup is for a run
that was killed (SIGKILL, a lost laptop) or whose API server was
unreachable at the end. Pods stuck Terminating on a node whose runtime is
frozen are force-deleted (grace period 0) after --wait.`,
		Example: `  kubectl cadvisor-doctor cleanup
  kubectl cadvisor-doctor cleanup -n cadvisor-doctor --run-id 4x7kq2mz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd.Flags().Changed("namespace")); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// AddFlags binds every flag of cleanup to its field.
func (o *CleanupOptions) AddFlags(fs *pflag.FlagSet) {
	o.ConfigFlags.AddFlags(fs)
	for _, name := range []string{"cache-dir", "disable-compression", "tls-server-name", "username", "password"} {
		_ = fs.MarkHidden(name)
	}
	fs.StringVar(&o.RunID, "run-id", o.RunID, "delete only the pods of this run (label "+nodeexec.RunIDLabel+")")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "bound on the whole cleanup")
	fs.DurationVar(&o.Wait, "wait", o.Wait, "how long a graceful delete may take before the pod is force-deleted")
}

// Complete resolves the namespace (only an explicit -n narrows it) and
// builds the client.
func (o *CleanupOptions) Complete(namespaceSet bool) error {
	if namespaceSet {
		ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return kubeconfigError(err)
		}
		o.namespace = ns
	}
	if o.client != nil {
		return nil // injected by a test
	}
	cfg, err := restConfig(o.ConfigFlags)
	if err != nil {
		return err
	}
	if o.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return fmt.Errorf("build client: %w", err)
	}
	return nil
}

// Validate checks the flags without I/O and reports every problem.
func (o *CleanupOptions) Validate() error {
	var errs []error
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout must be positive, got %s", o.Timeout))
	}
	if o.Wait < 0 || (o.Timeout > 0 && o.Wait >= o.Timeout) {
		errs = append(errs, fmt.Errorf("--wait must be between 0 and --timeout %s, got %s", o.Timeout, o.Wait))
	}
	return errors.Join(errs...)
}

func (o *CleanupOptions) selector() string {
	if o.RunID != "" {
		return nodeexec.RunSelector(o.RunID)
	}
	return nodeexec.ManagedSelector()
}

// Run deletes the pods and says how many.
func (o *CleanupOptions) Run(ctx context.Context) error {
	// A fresh deadline of its own: cleanup must run even after Ctrl-C
	// interrupted the check it cleans up after.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.Timeout)
	defer cancel()
	where := "in all namespaces"
	if o.namespace != "" {
		where = "in namespace " + o.namespace
	}
	res, err := nodeexec.Cleanup(ctx, o.client, nodeexec.CleanupOptions{Namespace: o.namespace, Selector: o.selector(), Wait: o.Wait})
	if err != nil {
		return fmt.Errorf("cleanup %s: %w", where, err)
	}
	if res.Found == 0 {
		_, err = fmt.Fprintf(o.Out, "no cadvisor-doctor pods %s\n", where)
		return err
	}
	_, err = fmt.Fprintf(o.Out, "deleted %d pod(s) %s (%d force-deleted)\n", res.Found, where, res.Forced)
	return err
}
