package checks

import (
	"context"
	"testing"
	"time"
)

func TestInterrupted(t *testing.T) {
	ours := time.Now().Add(time.Hour)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	later, cancel2 := context.WithDeadline(context.Background(), ours.Add(time.Hour))
	defer cancel2()
	earlierPast, cancel3 := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel3()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"running, no deadline", context.Background(), false},
		{"cancelled (a signal)", cancelled, true},
		{"caller deadline after ours: --timeout ends it", later, false},
		{"caller deadline before ours, passed", earlierPast, true},
	} {
		if got := interrupted(tc.ctx, ours); got != tc.want {
			t.Errorf("%s: interrupted = %v, want %v", tc.name, got, tc.want)
		}
	}
}
