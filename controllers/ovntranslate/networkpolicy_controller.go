package ovntranslate

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// NetworkPolicyReconciler writes a policy's address set and ACLs
// (ovn/rows/policy.go) from its NetworkPolicyRule onto its Network's
// switch. NetworkPolicy has no status: the rule shows what is enforced.
type NetworkPolicyReconciler struct {
	client.Client
	NB *ovn.Client
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkpolicies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkpolicyrules,verbs=get;list;watch

func (r *NetworkPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	np := &apinetv1alpha1.NetworkPolicy{}
	if err := r.Get(ctx, req.NamespacedName, np); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !np.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, np)
	}
	return r.reconcile(ctx, np)
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
	if written, err := writeRows(ctx, r.Client, r.NB, np, "NetworkPolicy", want); err != nil || !written {
		return ctrl.Result{RequeueAfter: retryAfter}, err
	}
	return ctrl.Result{}, nil
}

func (r *NetworkPolicyReconciler) reconcileDelete(ctx context.Context, np *apinetv1alpha1.NetworkPolicy) error {
	return removeRows(ctx, r.Client, r.NB, np, "NetworkPolicy")
}
