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
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// CleanupOptions say which pods to remove and how patiently.
type CleanupOptions struct {
	// Namespace to clean; "" means every namespace.
	Namespace string
	// Selector picks the pods: RunSelector for one run, ManagedSelector for
	// every run.
	Selector string
	// Wait is how long a graceful delete may take before the pod is
	// force-deleted (grace period 0): on a node whose runtime is frozen the
	// kubelet never confirms, and the pod would stay Terminating.
	Wait time.Duration
	// ForceNow names pods to force-delete at once, without a graceful try.
	ForceNow map[string]bool
}

// CleanupResult says what cleanup did.
type CleanupResult struct {
	// Found is how many pods matched; Forced how many needed grace 0.
	Found, Forced int
}

// Cleanup deletes every pod matching o.Selector and makes sure none is
// left: a graceful delete first (pods that already ended go at once), a
// wait on one watch, then a force delete of the pods still there. It
// returns an error naming the pods left, if any. ctx bounds all of it.
func Cleanup(ctx context.Context, client kubernetes.Interface, o CleanupOptions) (CleanupResult, error) {
	var res CleanupResult
	if o.Selector == "" {
		return res, errors.New("cleanup needs a label selector")
	}
	pods, _, err := listPods(ctx, client, o.Namespace, o.Selector)
	if err != nil {
		return res, err
	}
	res.Found = len(pods)
	if len(pods) == 0 {
		return res, nil
	}
	var (
		mu     sync.Mutex
		errs   []error
		forced []corev1.Pod
	)
	addErr := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	namespaces := map[string]bool{}
	for _, p := range pods {
		if o.ForceNow[p.Name] && p.Namespace == o.Namespace {
			forced = append(forced, p)
			continue
		}
		namespaces[p.Namespace] = true
	}
	res.Forced = len(forced)
	// The graceful deletecollection and the force deletes run at the same
	// time: measured at 1,000 nodes with 127 stuck pods, one after the
	// other they made cleanup take 7.5 s of a 50 s run (hack/scale-bench).
	var wg sync.WaitGroup
	for ns := range namespaces {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			defer cancel()
			err := client.CoreV1().Pods(ns).DeleteCollection(rctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: o.Selector})
			if err != nil && !apierrors.IsNotFound(err) {
				addErr(fmt.Errorf("delete pods %q in namespace %s: %w", o.Selector, ns, err))
			}
		})
	}
	forceDeleteAll(ctx, client, forced, addErr)
	wg.Wait()
	left, err := waitGone(ctx, client, o.Namespace, o.Selector, o.Wait)
	if err != nil {
		addErr(err)
	}
	forceDeleteAll(ctx, client, left, addErr)
	res.Forced += len(left)
	if len(left) > 0 {
		final, _, err := listPods(ctx, client, o.Namespace, o.Selector)
		if err != nil {
			errs = append(errs, err)
		} else if len(final) > 0 {
			errs = append(errs, fmt.Errorf("pods still present after force delete: %s", podNames(final)))
		}
	}
	return res, errors.Join(errs...)
}

// forceDeletes bounds force deletes in flight: one request per pod, and
// stuck pods are many on a cluster-wide incident (the client's QPS limit
// still applies).
const forceDeletes = 16

// forceDeleteAll force-deletes pods, forceDeletes at a time.
func forceDeleteAll(ctx context.Context, client kubernetes.Interface, pods []corev1.Pod, addErr func(error)) {
	var g errgroup.Group
	g.SetLimit(forceDeletes)
	for _, p := range pods {
		g.Go(func() error {
			if err := forceDelete(ctx, client, p); err != nil {
				addErr(err)
			}
			return nil
		})
	}
	_ = g.Wait()
}

func forceDelete(ctx context.Context, client kubernetes.Interface, p corev1.Pod) error {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	err := client.CoreV1().Pods(p.Namespace).Delete(rctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("force delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

// waitGone waits, on one watch, until no pod matches or wait elapses, and
// returns the pods still there. The watch starts (at the current version)
// before the list, so a deletion between the two is not missed.
func waitGone(ctx context.Context, client kubernetes.Interface, ns, selector string, wait time.Duration) ([]corev1.Pod, error) {
	if wait <= 0 {
		pods, _, err := listPods(ctx, client, ns, selector)
		return pods, err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	secs := int64(max(wait.Seconds(), 1))
	w, werr := client.CoreV1().Pods(ns).Watch(wctx, metav1.ListOptions{LabelSelector: selector, TimeoutSeconds: &secs})
	pods, _, err := listPods(ctx, client, ns, selector)
	if werr != nil || err != nil || len(pods) == 0 {
		if werr == nil {
			w.Stop()
		}
		return pods, err
	}
	defer w.Stop()
	left := map[string]bool{}
	for _, p := range pods {
		left[p.Namespace+"/"+p.Name] = true
	}
loop:
	for len(left) > 0 {
		select {
		case <-wctx.Done():
			break loop
		case ev, ok := <-w.ResultChan():
			if !ok {
				break loop
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type == watch.Deleted {
				delete(left, p.Namespace+"/"+p.Name)
			}
		}
	}
	if len(left) == 0 {
		return nil, nil
	}
	// Whatever the watch said, ask once more before forcing.
	pods, _, err = listPods(ctx, client, ns, selector)
	return pods, err
}

func listPods(ctx context.Context, client kubernetes.Interface, ns, selector string) ([]corev1.Pod, string, error) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	list, err := client.CoreV1().Pods(ns).List(rctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, "", fmt.Errorf("list pods %q: %w", selector, err)
	}
	return list.Items, list.ResourceVersion, nil
}

func podNames(pods []corev1.Pod) string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
