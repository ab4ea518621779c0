package nodeexec

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// nodeGetMax is how many pending nodes are fetched one by one; more than
// that and one node list is cheaper.
const nodeGetMax = 20

type evidence struct {
	events map[string][]corev1.Event // by pod name
	nodes  map[string]*corev1.Node
	gone   map[string]bool
}

// gatherEvidence makes one round of requests for the pods that did not
// finish: one event list for the namespace and, withNodes, the nodes (a
// get each for a few, else one list; the early rounds leave them out when
// many are due). It runs after the run's context may have ended, so it
// uses a fresh short context. Failures leave the evidence empty: the
// classifier then says it does not know.
func gatherEvidence(ctx context.Context, client kubernetes.Interface, ns string, due []*nodeState, withNodes bool) evidence {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), evidenceTimeout)
	defer cancel()
	ev := evidence{events: map[string][]corev1.Event{}, nodes: map[string]*corev1.Node{}, gone: map[string]bool{}}
	want := map[string]bool{}
	for _, st := range due {
		want[st.pod.Name] = true
	}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(10)
	g.Go(func() error {
		opts := metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod", Limit: 1000}
		for page := 0; page < 20; page++ {
			list, err := client.CoreV1().Events(ns).List(ctx, opts)
			if err != nil {
				return nil
			}
			mu.Lock()
			for _, e := range list.Items {
				if want[e.InvolvedObject.Name] {
					ev.events[e.InvolvedObject.Name] = append(ev.events[e.InvolvedObject.Name], e)
				}
			}
			mu.Unlock()
			if list.Continue == "" {
				return nil
			}
			opts.Continue = list.Continue
		}
		return nil
	})
	switch {
	case !withNodes:
	case len(due) <= nodeGetMax:
		for _, st := range due {
			g.Go(func() error {
				n, err := client.CoreV1().Nodes().Get(ctx, st.node, metav1.GetOptions{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case apierrors.IsNotFound(err):
					ev.gone[st.node] = true
				case err == nil:
					ev.nodes[st.node] = n
				}
				return nil
			})
		}
	default:
		g.Go(func() error {
			nodes, err := listNodes(ctx, client, "")
			if err != nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			seen := map[string]bool{}
			for i := range nodes {
				ev.nodes[nodes[i].Name] = &nodes[i]
				seen[nodes[i].Name] = true
			}
			for _, st := range due {
				ev.gone[st.node] = !seen[st.node]
			}
			return nil
		})
	}
	_ = g.Wait()
	return ev
}
