package nodeexec

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// watchTimeout is the server-side lifetime of one watch request; a run
// that outlives it re-lists once and watches on.
const watchTimeout = 5 * time.Minute

// podEvent is one change to one pod of the run.
type podEvent struct {
	deleted bool
	pod     *corev1.Pod
}

// watchPods follows every pod matching selector with ONE watch, and
// nothing polls per pod: it lists once for a resource version (and the
// pods that exist already), then watches from there, as an informer does.
// A watch that closes resumes from the last version seen; an error event
// (410 Gone, or a watch cache that is behind: "Too large resource
// version", common on etcd without progress notifications) re-lists, which
// re-sends the current state, so no change is lost. Retries back off so
// that a failing API server is not hammered. It returns when ctx ends.
func watchPods(ctx context.Context, client kubernetes.Interface, ns, selector string, out chan<- podEvent) {
	send := func(e podEvent) bool {
		select {
		case out <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	rv := ""
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if rv == "" {
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			list, err := client.CoreV1().Pods(ns).List(rctx, metav1.ListOptions{LabelSelector: selector})
			cancel()
			if err != nil {
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(backoff*2, 2*time.Second)
				continue
			}
			for i := range list.Items {
				if !send(podEvent{pod: &list.Items[i]}) {
					return
				}
			}
			rv = list.ResourceVersion
		}
		secs := int64(watchTimeout.Seconds())
		started := time.Now()
		w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{
			LabelSelector: selector, ResourceVersion: rv, TimeoutSeconds: &secs, AllowWatchBookmarks: true,
		})
		if err == nil {
			rv = drain(ctx, w, rv, send)
		} else {
			rv = ""
		}
		if time.Since(started) > 5*time.Second {
			backoff = 100 * time.Millisecond
			continue
		}
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// drain forwards a watch's events until it closes and returns the
// resource version to resume from ("" to re-list).
func drain(ctx context.Context, w watch.Interface, rv string, send func(podEvent) bool) string {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			switch {
			case ev.Type == watch.Error || !isPod:
				// Usually 410 Gone: our resource version is too old.
				return ""
			case ev.Type == watch.Bookmark:
				rv = pod.ResourceVersion
			default:
				rv = pod.ResourceVersion
				if !send(podEvent{deleted: ev.Type == watch.Deleted, pod: pod}) {
					return rv
				}
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
