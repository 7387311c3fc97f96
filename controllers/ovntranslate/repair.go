package ovntranslate

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
)

// repair deletes, once at start, the OVN rows of Networks,
// NetworkInterfaces, NATGateways, LoadBalancers or NetworkPolicies that no
// longer exist (matched by UID): objects deleted while no controller ran,
// whose NotFound reconcile never came. Only rows carrying ovnet's ownership
// keys are considered; other rows are never touched.
type repair struct {
	reader client.Reader
	nb     *ovn.Client
	log    logr.Logger
}

func (r *repair) Start(ctx context.Context) error {
	for _, o := range r.nb.Owners() {
		var obj client.Object
		switch o.Kind {
		case "Network":
			obj = &apinetv1alpha1.Network{}
		case "NetworkInterface":
			obj = &apinetv1alpha1.NetworkInterface{}
		case "NATGateway":
			obj = &apinetv1alpha1.NATGateway{}
		case "LoadBalancer":
			obj = &apinetv1alpha1.LoadBalancer{}
		case "NetworkPolicy":
			obj = &apinetv1alpha1.NetworkPolicy{}
		default:
			continue // e.g. the provider network, written at start
		}
		err := r.reader.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, obj)
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("repair: get %s: %w", o, err)
		}
		if err == nil && string(obj.GetUID()) == o.UID {
			continue
		}
		r.log.Info("deleting OVN rows of an object that no longer exists", "owner", o.String())
		if _, err := r.nb.Delete(ctx, o); err != nil {
			return fmt.Errorf("repair: delete rows of %s: %w", o, err)
		}
	}
	return nil
}
