//go:build !probeonly

package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// IncludeLive also deletes the pods of runs that may still be going.
	IncludeLive bool

	// Set by Complete: "" means every namespace.
	namespace string
	client    kubernetes.Interface

	// now is the clock pods' ages are read against; tests fix it.
	now func() time.Time

	genericiooptions.IOStreams
}

// NewCleanupOptions returns options with the defaults.
func NewCleanupOptions(streams genericiooptions.IOStreams) *CleanupOptions {
	return &CleanupOptions{
		ConfigFlags: genericclioptions.NewConfigFlags(true),
		Timeout:     30 * time.Second,
		Wait:        5 * time.Second,
		now:         time.Now,
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
frozen are force-deleted (grace period 0) after --wait.

A run whose newest pod is younger than that pod's activeDeadlineSeconds
(--node-timeout + 30s) may still be in progress (someone else's check):
its pods are left alone and named, unless --run-id names that run or
--include-live is given.`,
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
	fs.BoolVar(&o.IncludeLive, "include-live", o.IncludeLive, "also delete the pods of runs that may still be in progress (pods younger than their activeDeadlineSeconds)")
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
	if o.namespace != "" {
		// A namespace that does not exist has no leftovers either, but a
		// mistyped -n must not read as "all clean".
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := o.client.CoreV1().Namespaces().Get(rctx, o.namespace, metav1.GetOptions{})
		cancel()
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace %q not found: check -n (cleanup without -n looks in every namespace)", o.namespace)
		}
	}
	selector, skipped := o.selector(), 0
	if o.RunID == "" && !o.IncludeLive {
		var err error
		if selector, skipped, err = o.finishedRuns(ctx); err != nil {
			return fmt.Errorf("cleanup %s: %w", where, err)
		}
	}
	res, err := nodeexec.Cleanup(ctx, o.client, nodeexec.CleanupOptions{Namespace: o.namespace, Selector: selector, Wait: o.Wait})
	if err != nil {
		return fmt.Errorf("cleanup %s: %w", where, err)
	}
	switch {
	case res.Found == 0 && skipped > 0:
		_, err := fmt.Fprintf(o.Out, "deleted no pod %s: %d pod(s) of runs that may be in progress left alone\n", where, skipped)
		return err
	case res.Found == 0:
		_, err := fmt.Fprintf(o.Out, "no cadvisor-doctor pods %s\n", where)
		return err
	}
	_, err = fmt.Fprintf(o.Out, "deleted %d pod(s) %s (%d force-deleted)\n", res.Found, where, res.Forced)
	return err
}

// finishedRuns lists the managed pods and returns the selector of those
// whose run cannot still be in progress (one selector, so one cleanup
// round, however many runs), and says on stderr which runs it leaves
// alone. A run's pod lives at most its activeDeadlineSeconds (the
// kubelet ends it then, and the run deletes it at --node-timeout), so a run
// whose pods are all older than theirs is over: a check that is still
// going never keeps a pod that long. Pods of a live run, deleted under it,
// would turn its nodes Inconclusive (PodDeleted).
func (o *CleanupOptions) finishedRuns(ctx context.Context) (selector string, skipped int, err error) {
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	list, err := o.client.CoreV1().Pods(o.namespace).List(rctx, metav1.ListOptions{LabelSelector: nodeexec.ManagedSelector()})
	if err != nil {
		return "", 0, fmt.Errorf("list pods: %w", err)
	}
	type run struct {
		pods   int
		live   bool
		newest time.Duration
		where  map[string]bool
	}
	runs := map[string]*run{}
	var ids []string
	now := o.now()
	for _, p := range list.Items {
		id := p.Labels[nodeexec.RunIDLabel]
		r := runs[id]
		if r == nil {
			r = &run{newest: -1, where: map[string]bool{}}
			runs[id] = r
			ids = append(ids, id)
		}
		r.pods++
		r.where[p.Namespace] = true
		age := now.Sub(p.CreationTimestamp.Time)
		if r.newest < 0 || age < r.newest {
			r.newest = age
		}
		if d := p.Spec.ActiveDeadlineSeconds; d != nil && age < time.Duration(*d)*time.Second && p.DeletionTimestamp == nil {
			r.live = true
		}
	}
	sort.Strings(ids)
	var live []string
	for _, id := range ids {
		// Pods without a run id are not from a check: nothing says they
		// are in use ("notin" keeps them).
		if r := runs[id]; id != "" && r.live {
			skipped += r.pods
			live = append(live, id)
			fmt.Fprintf(o.ErrOut, "skipped run %s: %d pod(s) in %s, the newest %s old, may still be in use by a check in progress; "+
				"pass --run-id %s (or --include-live) to delete them anyway\n", id, r.pods, strings.Join(slices.Sorted(maps.Keys(r.where)), ", "), r.newest.Round(time.Second), id)
		}
	}
	selector = nodeexec.ManagedSelector()
	if len(live) > 0 {
		selector += "," + nodeexec.RunIDLabel + " notin (" + strings.Join(live, ",") + ")"
	}
	return selector, skipped, nil
}
