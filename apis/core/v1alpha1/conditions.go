package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConditionCopy returns a copy of the condition of type typ (the zero
// Condition when there is none). A copy, because meta.SetStatusCondition
// updates the listed condition in place: a pointer taken before it would
// show the new values.
func ConditionCopy(conds []metav1.Condition, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}
