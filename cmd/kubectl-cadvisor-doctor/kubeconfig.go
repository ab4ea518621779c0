//go:build !probeonly

package main

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
)

// errNoCluster names the fix when nothing says which cluster to talk to:
// without it client-go falls back to http://localhost:8080 and the user
// reads "connection refused" on a port they never asked for.
var errNoCluster = errors.New("no cluster configured: no kubeconfig found (KUBECONFIG, ~/.kube/config) and not running in a pod; pass --kubeconfig PATH, set KUBECONFIG, or pass --server URL")

// kubeconfigError wraps a kubeconfig problem (a --kubeconfig that does not
// exist, an unknown --context) with the fix.
func kubeconfigError(err error) error {
	return fmt.Errorf("load kubeconfig: %w (pass --kubeconfig PATH or set KUBECONFIG; --context picks a context)", err)
}

// checkClusterConfigured fails with errNoCluster when neither a kubeconfig
// with a cluster, nor --server, nor an in-cluster environment is there, and
// with kubeconfigError when the kubeconfig cannot be read.
func checkClusterConfigured(cf *genericclioptions.ConfigFlags) error {
	raw, err := cf.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return kubeconfigError(err)
	}
	if len(raw.Clusters) > 0 || (cf.APIServer != nil && *cf.APIServer != "") || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return nil
	}
	return errNoCluster
}

// restConfig is the client config of check and cleanup, with the errors
// above instead of client-go's.
func restConfig(cf *genericclioptions.ConfigFlags) (*rest.Config, error) {
	if err := checkClusterConfigured(cf); err != nil {
		return nil, err
	}
	cfg, err := cf.ToRESTConfig()
	if err != nil {
		return nil, kubeconfigError(err)
	}
	return cfg, nil
}
