package ipam

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// Field indexes the allocation controllers register.
const (
	indexIPAddress     = "spec.ip"
	indexRequestedIP   = "ovnet.requestedIPs"
	actionAllocate     = "Allocate"
	actionClaim        = "Claim"
	fieldOwner         = client.FieldOwner("ovnet-controller")
	conditionIPsClaims = apinetv1alpha1.ConditionPublicIPsClaimed
)

// retryWaiting is how often an object that waits for a free value (a full
// pool, a value held by another object) is retried even without an event:
// a safety net for wake-ups lost between a release and the waiter's status.
const retryWaiting = 20 * time.Second

// recheckPending is how soon a lock whose claimer has not recorded an
// address yet is looked at again.
const recheckPending = 2 * time.Second

// releaseGrace: a lock younger than this is not released because its
// claimer was not found. A just-created claimer can be missing from a read
// that lags the write that created it, and releasing its lock then would let
// the value be handed out twice.
const releaseGrace = 10 * time.Second

// tooYoungToRelease returns how long to wait before a lock created at
// created may be released for a missing claimer (0: it may be now).
func tooYoungToRelease(created metav1.Time) time.Duration {
	if age := time.Since(created.Time); age < releaseGrace {
		return releaseGrace - age
	}
	return 0
}

// claimRefGroup is the API group claimers write into claim references.
var claimRefGroup = apinetv1alpha1.GroupVersion.Group

// exactly makes a delete apply only to the object that was judged: names of
// locks are reused as soon as a value is released, and a cached object can
// be an older holder of the name. A conflict then means "already gone".
func exactly(obj client.Object) client.Preconditions {
	uid := obj.GetUID()
	return client.Preconditions{UID: &uid}
}

// Exists reports whether an object with this key and UID exists in reader.
// A "gone" verdict deletes things, so it must come from the API server (a
// cache may not have seen a new object yet); "exists" may come from the
// cache, as the object's deletion is an event of its own.
func Exists(ctx context.Context, reader client.Reader, obj client.Object, key client.ObjectKey, uid string) (bool, error) {
	if err := reader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("get %s: %w", key, err)
	}
	return string(obj.GetUID()) == uid, nil
}
