// Package e2e holds the end-to-end tests that run on the local cluster of
// hack/e2e-cluster (docs/e2e-cluster.md). Every test file carries the build
// tag e2e: run them with
//
//	go test -tags e2e ./test/e2e/...
//
// as root. TestMain (main_test.go) brings one cluster up for the package
// and tears it down after the last test; tests reach it through Shared(t)
// and the Cluster methods.
package e2e
