//go:build !probeonly

package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRequireDeadline(t *testing.T) {
	tests := []struct {
		name     string
		deadline bool
		wantSent bool
	}{
		{name: "with a deadline", deadline: true, wantSent: true},
		{name: "without a deadline", deadline: false, wantSent: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent := false
			next := roundTripperFunc(func(*http.Request) (*http.Response, error) {
				sent = true
				return &http.Response{StatusCode: http.StatusOK}, nil
			})
			var errOut strings.Builder
			ctx := context.Background()
			if tt.deadline {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Minute)
				defer cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://127.0.0.1/api/v1/pods", nil)
			_, err := requireDeadline(&errOut)(next).RoundTrip(req)
			if sent != tt.wantSent {
				t.Errorf("request sent = %v, want %v", sent, tt.wantSent)
			}
			if tt.wantSent && (err != nil || errOut.Len() != 0) {
				t.Errorf("err = %v, stderr %q; want neither", err, errOut.String())
			}
			if !tt.wantSent && (err == nil || !strings.Contains(errOut.String(), "GET /api/v1/pods has no deadline")) {
				t.Errorf("err = %v, stderr %q; want the request named as refused", err, errOut.String())
			}
		})
	}
}
