package nodeexec

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPlanFor(t *testing.T) {
	nodes := []corev1.Node{
		newNode("node-b").V(),
		newNode("win-label").label(corev1.LabelOSStable, "windows").V(),
		newNode("win-info").os("windows").V(),
		newNode("crio").runtime("cri-o://1.30.1").V(),
		newNode("docker").runtime("docker://24.0.7").V(),
		newNode("never-reported").runtime("").V(),
		newNode("node-a").V(),
		newNode("node-a").V(), // listed twice: one pod only
	}
	p := PlanFor(nodes)
	var targets []string
	for _, n := range p.Targets {
		targets = append(targets, n.Name)
	}
	if diff := cmp.Diff([]string{"never-reported", "node-a", "node-b"}, targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	wantSkipped := []NodeResult{
		{Node: "crio", SkipReason: "container runtime is cri-o://1.30.1, not containerd"},
		{Node: "docker", SkipReason: "container runtime is docker://24.0.7, not containerd"},
		{Node: "win-info", SkipReason: "Windows node: the probe runs on Linux nodes only"},
		{Node: "win-label", SkipReason: "Windows node: the probe runs on Linux nodes only"},
	}
	if diff := cmp.Diff(wantSkipped, p.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

func TestNewPlan(t *testing.T) {
	objs := []runtime.Object{
		newNode("node-1").label("pool", "a").P(),
		newNode("node-2").label("pool", "b").P(),
		newNode("node-3").label("pool", "a").P(),
	}
	tests := []struct {
		name     string
		names    []string
		selector string
		want     []string
		wantErr  string
	}{
		{name: "all nodes", want: []string{"node-1", "node-2", "node-3"}},
		{name: "by name", names: []string{"node-3", "node-1", "node-3"}, want: []string{"node-1", "node-3"}},
		{name: "by selector", selector: "pool=a", want: []string{"node-1", "node-3"}},
		{name: "unknown names are all named", names: []string{"node-1", "nope", "gone"}, wantErr: "node(s) not found: gone, nope"},
		{name: "selector matches nothing", selector: "pool=z", wantErr: `no nodes match selector "pool=z"`},
		{name: "names and selector", names: []string{"node-1"}, selector: "pool=a", wantErr: "node names and a label selector are mutually exclusive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(objs...)
			p, err := NewPlan(context.Background(), client, tc.names, tc.selector)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				for _, a := range client.Actions() {
					if a.GetVerb() == "create" {
						t.Errorf("a %s was created despite the error", a.GetResource().Resource)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p.Names()); diff != "" {
				t.Errorf("planned nodes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewPlanNotFoundIsTyped(t *testing.T) {
	_, err := NewPlan(context.Background(), fake.NewClientset(), []string{"x"}, "")
	var nf *NodeNotFoundError
	if !errors.As(err, &nf) || len(nf.Names) != 1 || nf.Names[0] != "x" {
		t.Fatalf("want NodeNotFoundError for x, got %v", err)
	}
}
