package ovntranslate

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// NetworkPolicyReconciler writes a policy's address set and ACLs
// (ovn/rows/policy.go) from its NetworkPolicyRule onto its Network's
// switch. NetworkPolicy has no status: the rule shows what is enforced.
type NetworkPolicyReconciler struct {
	translator[*apinetv1alpha1.NetworkPolicy]
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkpolicies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkpolicyrules,verbs=get;list;watch

func setupNetworkPolicy(d deps) error {
	r := &NetworkPolicyReconciler{}
	r.translator = translatorFor(d, "NetworkPolicy", func() *apinetv1alpha1.NetworkPolicy { return &apinetv1alpha1.NetworkPolicy{} }, nil)
	r.translate = r.reconcile
	return ctrl.NewControllerManagedBy(d.mgr).Named("networkpolicy-ovn").For(&apinetv1alpha1.NetworkPolicy{}).
		// The rule of the same name holds the resolved targets and peers.
		Watches(&apinetv1alpha1.NetworkPolicyRule{}, handler.EnqueueRequestsFromMapFunc(sameName)).
		Watches(&apinetv1alpha1.Network{}, handler.EnqueueRequestsFromMapFunc(policiesOfNamespace(d.c))).
		WatchesRawSource(d.drift.source("NetworkPolicy")).
		Complete(patch.RequeueConflicts(r))
}

func (r *NetworkPolicyReconciler) reconcile(ctx context.Context, np *apinetv1alpha1.NetworkPolicy) (ctrl.Result, error) {
	nw, missing, err := networkOf(ctx, r.Client, np.Namespace, np.Spec.NetworkRef.Name)
	if err != nil || missing != "" {
		return ctrl.Result{}, err // the Network's creation wakes us
	}
	rule := &apinetv1alpha1.NetworkPolicyRule{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(np), rule); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil // its creation wakes us
		}
		return ctrl.Result{}, err
	}
	want := rows.PolicyRows(rows.PolicyInput{Policy: np, Rule: rule, Network: nw})
	res, _, err := r.write(ctx, np, nw.Name, want)
	return res, err
}
