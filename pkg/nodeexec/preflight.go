package nodeexec

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PodSecurityEnforceLabel is the namespace label the PodSecurity admission
// enforces.
const PodSecurityEnforceLabel = "pod-security.kubernetes.io/enforce"

// Permission is one thing a run needs to be allowed to do.
type Permission struct {
	Verb, Resource, Subresource string
	// Namespaced permissions are checked in the run's namespace.
	Namespaced bool
	// Optional permissions only weaken the evidence when missing.
	Optional bool
}

func (p Permission) String() string {
	r := p.Resource
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	return p.Verb + " " + r
}

// Permissions lists what a run needs; docs/rbac.yaml grants exactly these.
func Permissions() []Permission {
	return []Permission{
		{Verb: "list", Resource: "nodes"},
		{Verb: "get", Resource: "nodes"},
		{Verb: "create", Resource: "pods", Namespaced: true},
		{Verb: "list", Resource: "pods", Namespaced: true},
		{Verb: "watch", Resource: "pods", Namespaced: true},
		{Verb: "delete", Resource: "pods", Namespaced: true},
		{Verb: "deletecollection", Resource: "pods", Namespaced: true},
		{Verb: "get", Resource: "pods", Subresource: "log", Namespaced: true, Optional: true},
		{Verb: "list", Resource: "events", Namespaced: true, Optional: true},
	}
}

// PreflightError lists every reason the run cannot start.
type PreflightError struct{ Problems []error }

func (e *PreflightError) Error() string {
	var lines []string
	for _, p := range e.Problems {
		lines = append(lines, p.Error())
	}
	return "preflight failed: " + strings.Join(lines, "; ")
}

func (e *PreflightError) Unwrap() []error { return e.Problems }

// Preflight checks, before anything is created, that the run can work:
// the namespace exists and does not enforce a PodSecurity level that
// rejects the probe pod, the user has the permissions Permissions lists,
// and the API server accepts the pod in a server-side dry run (which runs
// every admission: PodSecurity, quota, webhooks, priority class). It
// returns warnings for what only weakens the run.
func Preflight(ctx context.Context, client kubernetes.Interface, o Options, sampleNode string) (warnings []string, err error) {
	var problems []error
	ns := o.Namespace
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	nsObj, err := client.CoreV1().Namespaces().Get(rctx, ns, metav1.GetOptions{})
	cancel()
	switch {
	case apierrors.IsNotFound(err):
		return nil, &PreflightError{[]error{fmt.Errorf("namespace %q not found: create it (kubectl create namespace %s) or choose another with -n", ns, ns)}}
	case apierrors.IsForbidden(err):
		warnings = append(warnings, fmt.Sprintf("cannot read namespace %q to check its PodSecurity labels: relying on the dry run", ns))
	case err != nil:
		return nil, fmt.Errorf("get namespace %s: %w", ns, err)
	default:
		if level := nsObj.Labels[PodSecurityEnforceLabel]; level == "baseline" || level == "restricted" {
			problems = append(problems, fmt.Errorf("namespace %q enforces PodSecurity %q, which rejects the probe pod (privileged, hostPID, hostNetwork, hostPath): "+
				"label it privileged (kubectl label namespace %s %s=privileged --overwrite) or choose another namespace with -n",
				ns, level, ns, PodSecurityEnforceLabel))
		}
	}

	denied, optional, err := checkAccess(ctx, client, ns)
	if err != nil {
		return warnings, err
	}
	if len(denied) > 0 {
		problems = append(problems, fmt.Errorf("you cannot %s in namespace %q: grant the RBAC in docs/rbac.yaml", strings.Join(denied, ", "), ns))
	}
	for _, p := range optional {
		warnings = append(warnings, fmt.Sprintf("you cannot %s: evidence for nodes whose pod does not finish will be weaker", p))
	}
	if len(problems) == 0 {
		problems = append(problems, dryRun(ctx, client, o, sampleNode)...)
	}
	if len(problems) > 0 {
		return warnings, &PreflightError{Problems: problems}
	}
	return warnings, nil
}

func checkAccess(ctx context.Context, client kubernetes.Interface, ns string) (denied, optional []string, err error) {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	perms := Permissions()
	allowed := make([]bool, len(perms))
	for i, p := range perms {
		g.Go(func() error {
			ra := &authzv1.ResourceAttributes{Verb: p.Verb, Resource: p.Resource, Subresource: p.Subresource}
			if p.Namespaced {
				ra.Namespace = ns
			}
			rctx, cancel := context.WithTimeout(gctx, requestTimeout)
			defer cancel()
			r, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(rctx,
				&authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: ra}}, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("check permission to %s: %w", p, err)
			}
			mu.Lock()
			allowed[i] = r.Status.Allowed
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	for i, p := range perms {
		switch {
		case allowed[i]:
		case p.Optional:
			optional = append(optional, p.String())
		default:
			denied = append(denied, p.String())
		}
	}
	return denied, optional, nil
}

func dryRun(ctx context.Context, client kubernetes.Interface, o Options, node string) []error {
	pod := PodFor(node, o)
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	_, err := client.CoreV1().Pods(o.Namespace).Create(rctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	switch {
	case err == nil:
		return nil
	case strings.Contains(err.Error(), "violates PodSecurity"):
		return []error{fmt.Errorf("the API server rejects the probe pod in namespace %q: %s: use a namespace whose PodSecurity level is privileged (-n)", o.Namespace, firstLine(err.Error()))}
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		return []error{fmt.Errorf("the API server rejects the probe pod in namespace %q: %s", o.Namespace, firstLine(err.Error()))}
	}
	return []error{fmt.Errorf("dry-run create of the probe pod: %w", err)}
}
