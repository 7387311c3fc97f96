// Package scheme builds the runtime.Scheme of ovnet's binaries and tests:
// the Kubernetes built-in kinds and the ironcore-net kinds.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// New returns a scheme with the built-in and the ironcore-net kinds.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := apinetv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}
