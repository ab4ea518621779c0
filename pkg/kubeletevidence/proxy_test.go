package kubeletevidence

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// proxied builds the error client-go returns for a non-Status text body
// (rest.Request.newUnstructuredResponseError).
func proxied(code int, body string) error {
	return apierrors.NewGenericServerResponse(code, "GET", schema.GroupResource{Resource: "nodes"}, "node-1", body, 0, true)
}

func TestClassifyProxyError(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "node-1",
		errors.New(`User "oncall-without-rbac" cannot get resource "nodes/proxy" in API group "" at the cluster scope`))
	tests := []struct {
		name, path string
		err        error
		want       string
	}{
		{"forbidden", PathGoroutines, forbidden, UnavailableForbidden},
		{"debug handlers off (pprof)", PathGoroutines, proxied(405, "Debug endpoints are disabled."), UnavailableDebugHandlersOff},
		{"debug handlers off (configz not installed)", PathConfigz, proxied(404, "404 page not found"), UnavailableDebugHandlersOff},
		{"profiling off", PathGoroutines, proxied(405, "profiling endpoint is disabled."), UnavailableProfilingOff},
		{"kubelet down", PathCAdvisorMetrics, proxied(503, "error trying to reach service: dial tcp 10.250.0.11:10250: connect: connection refused"), UnavailableKubeletUnreachable},
		{"no address to dial", PathConfigz, proxied(500, "no preferred addresses found; known addresses: []"), UnavailableKubeletUnreachable},
		{"deadline", PathStatsSummary, fmt.Errorf("get: %w", context.DeadlineExceeded), UnavailableTimeout},
		{"gateway timeout", PathStatsSummary, proxied(504, ""), UnavailableTimeout},
		{"404 elsewhere", PathCAdvisorMetrics, proxied(404, "404 page not found"), UnavailableError},
		{"plain error", PathConfigz, errors.New("connection reset by peer"), UnavailableError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ClassifyProxyError(tc.path, tc.err)
			if got.Code != tc.want || got.Path != tc.path || got.Reason == "" {
				t.Errorf("ClassifyProxyError = %+v, want code %s", got, tc.want)
			}
		})
	}
	got := ClassifyProxyError(PathGoroutines, forbidden)
	want := Unavailable{Path: PathGoroutines, Code: UnavailableForbidden,
		Reason: `kubelet debug/pprof/goroutine not readable: nodes "node-1" is forbidden: User "oncall-without-rbac" cannot get resource "nodes/proxy" in API group "" at the cluster scope (needs get on nodes/proxy, see docs/kubelet-evidence.md)`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("forbidden finding (-want +got):\n%s", diff)
	}
}
