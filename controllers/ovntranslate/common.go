package ovntranslate

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// retryAfter: how soon an object that waits for something outside the
// API's events (a parent row, a transit address) is looked at again.
const retryAfter = 5 * time.Second

// patchCondition sets the Ready condition (status subresource) and records
// a Warning event when it turns False with a new reason. The patch carries
// the resourceVersion: a merge patch replaces the whole conditions list, and
// the node agent writes conditions of the same object.
func patchCondition(ctx context.Context, c client.Client, rec recorder.EventRecorder, obj client.Object, conds *[]metav1.Condition, status metav1.ConditionStatus, reason, msg string) error {
	before := obj.DeepCopyObject().(client.Object)
	old := apinetv1alpha1.ConditionCopy(*conds, apinetv1alpha1.ConditionReady)
	if !meta.SetStatusCondition(conds, metav1.Condition{Type: apinetv1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: obj.GetGeneration()}) {
		return nil
	}
	if status == metav1.ConditionFalse && old.Reason != reason && reason != "Pending" {
		rec.Eventf(obj, nil, "Warning", reason, "Translate", "%s", msg)
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}), fieldOwner); err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}
