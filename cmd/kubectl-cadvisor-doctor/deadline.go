//go:build !probeonly

package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
)

// requireDeadline wraps check's transport so that an API request whose
// context has no deadline is refused instead of sent: such a request could
// hang the run for ever on an API server that stops answering, and every
// request of check derives from the --timeout context or a fresh bounded
// one. A refusal is a bug; it is named on stderr (the scale harness counts
// these lines) and fails that request, which the run then reports.
func requireDeadline(errOut io.Writer) func(http.RoundTripper) http.RoundTripper {
	var mu sync.Mutex
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			if _, ok := r.Context().Deadline(); !ok {
				err := fmt.Errorf("internal error: API request %s %s has no deadline: refused", r.Method, r.URL.Path)
				mu.Lock()
				fmt.Fprintln(errOut, "error:", err)
				mu.Unlock()
				return nil, err
			}
			return rt.RoundTrip(r)
		})
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
