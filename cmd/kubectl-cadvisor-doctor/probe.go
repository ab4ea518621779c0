package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

func init() { subcommands = append(subcommands, newProbeCmd) }

// probeOutputFormats are the -o values; "" is the human summary.
var probeOutputFormats = []string{"json", "yaml"}

// ProbeOptions holds the probe command's flags and derived state.
type ProbeOptions struct {
	Socket                 string
	CadvisorSocket         string
	HostRoot               string
	Proc                   string
	Namespace              string
	CallTimeout            time.Duration
	Slow                   time.Duration
	Timeout                time.Duration
	Concurrency            int
	Output                 string
	TerminationMessagePath string
	NodeName               string

	genericiooptions.IOStreams
}

// NewProbeOptions returns options with the defaults cAdvisor and the kubelet use.
func NewProbeOptions(streams genericiooptions.IOStreams) *ProbeOptions {
	d := checks.NewConfig()
	return &ProbeOptions{
		CadvisorSocket: cadvisorSocketAuto,
		Proc:           d.Proc,
		Namespace:      d.Namespace,
		CallTimeout:    d.CallTimeout,
		Slow:           d.Slow,
		Timeout:        d.Timeout,
		Concurrency:    d.Concurrency,
		IOStreams:      streams,
	}
}

func newProbeCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewProbeOptions(streams)
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Make the calls cAdvisor makes to this node's containerd, under deadlines, and give a verdict",
		Long: `probe runs on a node (directly, or inside the check pod). It finds containerd's
socket, connects, calls Version, lists the containers of the namespace with
the streaming list, and makes cAdvisor's per-container calls (Containers/Get
and Tasks/Get) for every one, each under --call-timeout. It also calls the
kubelet's CRI path on the same socket and reads containerd's and the shims'
state from /proc. When the socket cAdvisor dials (--cadvisor-socket) is not
--socket, it checks that one too and whether the same containerd serves both.

Verdicts: Healthy, Slow, AtRisk, Unresponsive, Unreachable, Inconclusive.
Exit status: 0 Healthy; 1 Slow, AtRisk, Unresponsive or Unreachable;
2 Inconclusive or a usage error.`,
		Example: `  # On a node
  kubectl-cadvisor_doctor probe

  # In the check pod (hostPID, socket dir mounted at /host/run/containerd)
  kubectl-cadvisor_doctor probe --host-root /host --socket /run/containerd/containerd.sock \
    -o json --termination-message-path /dev/termination-log --timeout 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
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

// AddFlags binds every flag to its field; the field's value is its default.
func (o *ProbeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Socket, "socket", o.Socket, "containerd socket as the host sees it (default: discover "+
		"/run/containerd/containerd.sock, k3s/RKE2, microk8s, k0s)")
	fs.StringVar(&o.CadvisorSocket, "cadvisor-socket", o.CadvisorSocket, "the socket cAdvisor dials, as the host sees it; when it is not --socket, "+
		"check it too, whether the same containerd serves both, and sweep it with cAdvisor's calls where it is another daemon. "+
		"\""+cadvisorSocketAuto+"\": the --containerd flag of this node's kubelet when its command line has one (kubelets before 1.37), else "+
		checks.DefaultCadvisorSocket+" (empty: skip)")
	fs.StringVar(&o.HostRoot, "host-root", o.HostRoot, "where the host's filesystem is mounted (e.g. /host in the check pod); prefixes --socket and --cadvisor-socket")
	fs.StringVar(&o.Proc, "proc", o.Proc, "the host's /proc, for daemon and shim evidence")
	fs.StringVar(&o.Namespace, "containerd-namespace", o.Namespace, "containerd namespace cAdvisor reads")
	fs.DurationVar(&o.CallTimeout, "call-timeout", o.CallTimeout, "deadline of every single call (cAdvisor uses 2s)")
	fs.DurationVar(&o.Slow, "slow", o.Slow, "a call slower than this makes the verdict Slow")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "bound on the whole probe")
	fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "calls in flight during the per-container sweep")
	fs.StringVarP(&o.Output, "output", "o", o.Output, "output format: one of json|yaml (default: a readable summary)")
	fs.StringVar(&o.TerminationMessagePath, "termination-message-path", o.TerminationMessagePath,
		fmt.Sprintf("also write the result as compact JSON (at most %d bytes) to this file", checks.TerminationMessageBytes))
	fs.StringVar(&o.NodeName, "node-name", o.NodeName, "node name recorded in the result (default: $NODE_NAME)")
}

// Complete fills what the flags left open.
func (o *ProbeOptions) Complete() error {
	// Accept crictl's endpoint form too.
	o.Socket = strings.TrimPrefix(o.Socket, "unix://")
	o.CadvisorSocket = strings.TrimPrefix(o.CadvisorSocket, "unix://")
	if o.NodeName == "" {
		o.NodeName = os.Getenv("NODE_NAME")
	}
	return nil
}

// Validate reports every invalid flag at once; it does no I/O.
func (o *ProbeOptions) Validate() error {
	var errs []error
	if o.Output != "" && o.Output != "json" && o.Output != "yaml" {
		errs = append(errs, fmt.Errorf("unknown output format %q for -o: want one of json, yaml", o.Output))
	}
	if err := o.config().Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Proc == "" {
		errs = append(errs, errors.New("--proc must not be empty"))
	}
	return errors.Join(errs...)
}

// cadvisorSocketAuto is --cadvisor-socket's default: find out.
const cadvisorSocketAuto = "auto"

func (o *ProbeOptions) config() checks.Config {
	cs, fromKubelet := o.CadvisorSocket, false
	if cs == cadvisorSocketAuto {
		cs, fromKubelet = checks.DefaultCadvisorSocket, true
	}
	return checks.Config{
		Socket: o.Socket, CadvisorSocket: cs, CadvisorFromKubelet: fromKubelet, HostRoot: o.HostRoot, Proc: o.Proc, Namespace: o.Namespace,
		CallTimeout: o.CallTimeout, Slow: o.Slow, Timeout: o.Timeout, Concurrency: o.Concurrency,
		Node: o.NodeName,
	}
}

// Run probes, prints the result, writes the termination message and maps
// the verdict to the exit status.
func (o *ProbeOptions) Run(ctx context.Context) error {
	// The probe pod has a small memory limit. A 10k-container sweep keeps
	// little but allocates briskly: a soft limit makes the GC work harder
	// only if the heap ever gets near it.
	debug.SetMemoryLimit(32 << 20)
	r := checks.Run(ctx, o.config())

	var werr error
	if o.TerminationMessagePath != "" {
		b, err := checks.EncodeCompact(r, checks.TerminationMessageBytes)
		if err == nil {
			err = os.WriteFile(o.TerminationMessagePath, b, 0o644)
		}
		if err != nil {
			werr = fmt.Errorf("write termination message %s: %w", o.TerminationMessagePath, err)
		}
	}
	if err := o.print(r); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	if code := exitCode(r.Verdict); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func (o *ProbeOptions) print(r checks.Result) error {
	switch o.Output {
	case "json":
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.Out, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(b)
		return err
	}
	return printProbeSummary(o.Out, r)
}

// exitCode: 0 Healthy; 1 a finding; 2 Inconclusive.
func exitCode(v checks.Verdict) int {
	switch v {
	case checks.Healthy:
		return 0
	case checks.Slow, checks.AtRisk, checks.Unresponsive, checks.Unreachable:
		return 1
	}
	return 2
}
