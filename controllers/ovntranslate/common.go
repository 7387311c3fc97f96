package ovntranslate

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
)

// retryAfter: how soon an object that waits for something outside the
// API's events (a parent row, a transit address) is looked at again.
const retryAfter = 5 * time.Second

// ReasonPublicIPNotHeld: a NIC, Public LoadBalancer or NAT gateway names a
// public address it does not hold (its PublicIPsClaimed condition says why);
// the rows of the addresses it holds are written.
const ReasonPublicIPNotHeld = "PublicIPNotHeld"

// notHeldReason is the Ready reason of an object some of whose public IPs
// have no rows: PublicIPNotHeld once its claims have failed, Pending while
// they are in flight (the claim's event wakes the object).
func notHeldReason(conds []metav1.Condition) string {
	c := apinetv1alpha1.ConditionCopy(conds, conditionPublicIPsClaimed)
	if c.Status == metav1.ConditionFalse && c.Reason != "Pending" {
		return ReasonPublicIPNotHeld
	}
	return "Pending"
}

// removeRows deletes the rows of obj, which is being deleted, and the
// finalizer that earlier versions put on it (so that their objects can
// still go). No finalizer is needed for the rows: a reconcile of a gone
// object removes them by name (translator.go), and at start the repair
// removes those of owners gone while the controller was down.
func removeRows(ctx context.Context, c client.Client, nb *ovn.Client, obj client.Object, kind string) error {
	if _, err := nb.Delete(ctx, ownerOf(obj, kind)); err != nil {
		return err
	}
	if controllerutil.RemoveFinalizer(obj, legacyFinalizer) {
		return c.Update(ctx, obj, fieldOwner)
	}
	return nil
}

// networkOf gets the Network an object of namespace ns refers to; when it
// does not exist, missing says so (for a Pending condition).
func networkOf(ctx context.Context, c client.Client, ns, name string) (nw *apinetv1alpha1.Network, missing string, err error) {
	nw = &apinetv1alpha1.Network{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, nw); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("network %q does not exist", name), nil
		}
		return nil, "", err
	}
	return nw, "", nil
}

// writeRows applies obj's rows in one transaction, after removing those of
// an earlier object of the same name; false (and no error) when a parent
// row, its Network's, does not exist yet.
func writeRows(ctx context.Context, nb *ovn.Client, obj client.Object, kind string, rows []ovn.Row) (bool, error) {
	owner := ownerOf(obj, kind)
	if _, err := nb.DeleteOthers(ctx, owner); err != nil {
		return false, err
	}
	if _, err := nb.Apply(ctx, owner, rows); err != nil {
		if errors.Is(err, ovn.ErrParentMissing) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
