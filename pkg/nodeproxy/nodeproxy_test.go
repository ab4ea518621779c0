package nodeproxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
)

// fakeAPI answers /api/v1/nodes/NODE/proxy/PATH like an API server in front
// of kubelets: handlers by "NODE/PATH".
func fakeAPI(t *testing.T, handlers map[string]http.HandlerFunc) rest.Interface {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/nodes/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		node, path, _ := strings.Cut(rest, "/proxy/")
		h := handlers[node+"/"+path]
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return cs.CoreV1().RESTClient()
}

func forbidden(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"nodes \"node-1\" is forbidden: User \"x\" cannot get resource \"nodes/proxy\" in API group \"\" at the cluster scope","reason":"Forbidden","code":403}`))
}

func TestFetch(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var gotQuery atomic.Value
	client := fakeAPI(t, map[string]http.HandlerFunc{
		"node-1/debug/pprof/goroutine": func(w http.ResponseWriter, r *http.Request) {
			gotQuery.Store(r.URL.RawQuery)
			_, _ = w.Write([]byte("goroutine 1 [running]:\nmain.main()\n\t/x.go:1\n"))
		},
		"node-1/metrics/cadvisor": forbidden,
		"node-2/debug/pprof/goroutine": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write([]byte("Debug endpoints are disabled.\n"))
		},
		"node-2/metrics/cadvisor": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat("x", 100)))
		},
		"node-3/stats/summary": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		},
		"node-3/configz": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("dial tcp 10.0.0.3:10250: connect: connection refused"))
		},
	})
	f := &Fetcher{Client: client}
	ctx := context.Background()
	small := CAdvisorMetrics()
	small.MaxBytes = 10
	hung := StatsSummary()
	hung.Timeout = 300 * time.Millisecond
	tests := []struct {
		name      string
		node      string
		req       Request
		wantBody  string
		wantTrunc bool
		wantCode  string
	}{
		{"dump", "node-1", Goroutines(), "goroutine 1 [running]:\nmain.main()\n\t/x.go:1\n", false, ""},
		{"forbidden", "node-1", CAdvisorMetrics(), "", false, kubeletevidence.UnavailableForbidden},
		{"debug handlers off", "node-2", Goroutines(), "", false, kubeletevidence.UnavailableDebugHandlersOff},
		{"byte limit", "node-2", small, "xxxxxxxxxx", true, ""},
		{"hung kubelet", "node-3", hung, "", false, kubeletevidence.UnavailableTimeout},
		{"unreachable", "node-3", Configz(), "", false, kubeletevidence.UnavailableKubeletUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := f.Fetch(ctx, tt.node, tt.req)
			code := ""
			if got.Err != nil {
				code = got.Err.Code
			}
			if diff := cmp.Diff(tt.wantCode, code); diff != "" {
				t.Errorf("code (-want +got):\n%s (err %+v)", diff, got.Err)
			}
			if diff := cmp.Diff(tt.wantBody, string(got.Body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if got.Truncated != tt.wantTrunc {
				t.Errorf("Truncated = %v, want %v", got.Truncated, tt.wantTrunc)
			}
			if got.Node != tt.node || got.Path != tt.req.Path {
				t.Errorf("response names %s %s, want %s %s", got.Node, got.Path, tt.node, tt.req.Path)
			}
		})
	}
	if q, _ := gotQuery.Load().(string); q != "debug=2" {
		t.Errorf("goroutine query = %q, want debug=2", q)
	}
}

func TestFetchHungIsBoundedByTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	client := fakeAPI(t, map[string]http.HandlerFunc{
		"n/metrics/cadvisor": func(w http.ResponseWriter, r *http.Request) {
			// Headers, some body, then nothing: a kubelet stuck mid-body.
			_, _ = w.Write([]byte("container_scrape_error 0\n"))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		},
	})
	req := CAdvisorMetrics()
	req.Timeout = 200 * time.Millisecond
	got := (&Fetcher{Client: client}).Fetch(context.Background(), "n", req)
	if got.Err == nil || got.Err.Code != kubeletevidence.UnavailableTimeout {
		t.Fatalf("Err = %+v, want %s", got.Err, kubeletevidence.UnavailableTimeout)
	}
	if got.Latency < 200*time.Millisecond || got.Latency > 5*time.Second {
		t.Errorf("Latency = %s, want about the 200ms deadline", got.Latency)
	}
}

func TestForEachNodeBoundsConcurrency(t *testing.T) {
	var mu sync.Mutex
	inFlight, peak := 0, 0
	var seen []string
	nodes := []string{"a", "b", "c", "d", "e", "f", "g"}
	ForEachNode(context.Background(), nodes, 3, func(_ context.Context, n string) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		seen = append(seen, n)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	if peak > 3 {
		t.Errorf("peak concurrency %d, want <= 3", peak)
	}
	if len(seen) != len(nodes) {
		t.Errorf("ran %d nodes, want %d", len(seen), len(nodes))
	}
}
