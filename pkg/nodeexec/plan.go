package nodeexec

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// requestTimeout bounds every single API request nodeexec makes.
const requestTimeout = 15 * time.Second

// Plan is the set of nodes a run targets, and the nodes it leaves out.
type Plan struct {
	// Targets get a probe pod, sorted by name.
	Targets []corev1.Node
	// Skipped are left out on purpose; each carries its SkipReason.
	Skipped []NodeResult
}

// Names returns the names of every node in the plan, targets first.
func (p *Plan) Names() []string {
	var out []string
	for _, n := range p.Targets {
		out = append(out, n.Name)
	}
	for _, s := range p.Skipped {
		out = append(out, s.Node)
	}
	return out
}

// NodeNotFoundError names every node that does not exist.
type NodeNotFoundError struct{ Names []string }

func (e *NodeNotFoundError) Error() string {
	return fmt.Sprintf("node(s) not found: %s", strings.Join(e.Names, ", "))
}

// NewPlan fetches the nodes to check: the named ones, those matching
// selector, or all. Unknown names are an error before any pod exists.
func NewPlan(ctx context.Context, client kubernetes.Interface, names []string, selector string) (*Plan, error) {
	if len(names) > 0 && selector != "" {
		return nil, errors.New("node names and a label selector are mutually exclusive")
	}
	var nodes []corev1.Node
	var err error
	if len(names) > 0 {
		nodes, err = getNodes(ctx, client, names)
	} else {
		nodes, err = listNodes(ctx, client, selector)
	}
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		if selector != "" {
			return nil, fmt.Errorf("no nodes match selector %q", selector)
		}
		return nil, errors.New("the cluster has no nodes")
	}
	return PlanFor(nodes), nil
}

// PlanFor splits nodes into targets and skipped nodes. It is pure.
func PlanFor(nodes []corev1.Node) *Plan {
	p := &Plan{}
	seen := map[string]bool{}
	for _, n := range nodes {
		if seen[n.Name] {
			continue
		}
		seen[n.Name] = true
		if reason := SkipReason(&n); reason != "" {
			p.Skipped = append(p.Skipped, NodeResult{Node: n.Name, SkipReason: reason})
			continue
		}
		p.Targets = append(p.Targets, n)
	}
	sort.Slice(p.Targets, func(i, j int) bool { return p.Targets[i].Name < p.Targets[j].Name })
	sort.Slice(p.Skipped, func(i, j int) bool { return p.Skipped[i].Node < p.Skipped[j].Node })
	return p
}

// SkipReason says why a node cannot be probed, or "" when it can. A node
// whose kubelet never reported a runtime is probed: its pod's fate is the
// evidence.
func SkipReason(n *corev1.Node) string {
	if n.Labels[corev1.LabelOSStable] == "windows" || n.Status.NodeInfo.OperatingSystem == "windows" {
		return "Windows node: the probe runs on Linux nodes only"
	}
	rt := n.Status.NodeInfo.ContainerRuntimeVersion
	if rt != "" && !strings.HasPrefix(rt, "containerd://") {
		return fmt.Sprintf("container runtime is %s, not containerd", rt)
	}
	return ""
}

func getNodes(ctx context.Context, client kubernetes.Interface, names []string) ([]corev1.Node, error) {
	var (
		mu       sync.Mutex
		nodes    []corev1.Node
		notFound []string
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(10)
	for _, name := range dedupe(names) {
		g.Go(func() error {
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			defer cancel()
			n, err := client.CoreV1().Nodes().Get(rctx, name, metav1.GetOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case apierrors.IsNotFound(err):
				notFound = append(notFound, name)
			case err != nil:
				return fmt.Errorf("get node %s: %w", name, err)
			default:
				nodes = append(nodes, *n)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(notFound) > 0 {
		sort.Strings(notFound)
		return nil, &NodeNotFoundError{Names: notFound}
	}
	return nodes, nil
}

// listNodes pages through the nodes so that a large cluster does not need
// one huge response.
func listNodes(ctx context.Context, client kubernetes.Interface, selector string) ([]corev1.Node, error) {
	var nodes []corev1.Node
	opts := metav1.ListOptions{LabelSelector: selector, Limit: 500}
	for {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		list, err := client.CoreV1().Nodes().List(rctx, opts)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		nodes = append(nodes, list.Items...)
		if list.Continue == "" {
			return nodes, nil
		}
		opts.Continue = list.Continue
	}
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
