// Package testenv gives tests anywhere in the module a real kube-apiserver
// and etcd with ovnet's CRDs installed (devstack runs them), and
// small helpers around it.
package testenv

import (
	"testing"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/apis/scheme"
	"github.com/ovnet-dev/ovnet/devstack"
)

// Env is a running API server with the CRDs installed.
type Env = devstack.Env

// RepoRoot is the module's root directory.
func RepoRoot() string { return devstack.RepoRoot() }

// Assets is the directory holding kube-apiserver, etcd and kubectl.
func Assets() string { return devstack.Assets() }

// Scheme holds the Kubernetes core kinds and ovnet's kinds.
func Scheme() *k8sruntime.Scheme { return scheme.New() }

// Start brings up the API server for one test (or TestMain) and stops it
// when t ends. It fails the test when the binaries are missing: run
// `make test`, which builds them.
func Start(t testing.TB) *Env {
	t.Helper()
	env, err := devstack.StartEnv()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	return env
}

// GVK is the GroupVersionKind of an ovnet kind.
func GVK(kind string) schema.GroupVersionKind {
	return apinetv1alpha1.GroupVersion.WithKind(kind)
}
