package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LabelSelector has the shape of metav1.LabelSelector with bounds, so the
// API server can check "selector matches template labels" in CEL within its
// cost budget. AsMeta converts it for label matching in Go.
type LabelSelector struct {
	// MatchLabels: every label must be present with this value.
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	MatchLabels map[string]LabelValue `json:"matchLabels,omitempty"`
	// MatchExpressions: every requirement must hold.
	// +kubebuilder:validation:MaxItems=8
	// +optional
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement relates a label key to values.
type LabelSelectorRequirement struct {
	// Key of the label.
	// +kubebuilder:validation:MaxLength=317
	Key string `json:"key"`
	// Operator: In, NotIn, Exists or DoesNotExist.
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
	Operator metav1.LabelSelectorOperator `json:"operator"`
	// Values for In and NotIn.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +optional
	Values []string `json:"values,omitempty"`
}

// AsMeta returns the selector as a metav1.LabelSelector (nil stays nil).
func (s *LabelSelector) AsMeta() *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	out := &metav1.LabelSelector{}
	if len(s.MatchLabels) > 0 {
		out.MatchLabels = make(map[string]string, len(s.MatchLabels))
		for k, v := range s.MatchLabels {
			out.MatchLabels[k] = string(v)
		}
	}
	for _, e := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: e.Key, Operator: e.Operator, Values: append([]string(nil), e.Values...),
		})
	}
	return out
}

// LabelValue is a label value; Kubernetes allows at most 63 characters.
// +kubebuilder:validation:MaxLength=63
type LabelValue string

// StringLabels returns labels as a plain map (nil stays nil).
func StringLabels(labels map[string]LabelValue) map[string]string {
	if labels == nil {
		return nil
	}
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		out[k] = string(v)
	}
	return out
}

// TemplateMetadata is the metadata of the objects a template creates.
type TemplateMetadata struct {
	// Labels of the created objects.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Labels map[string]LabelValue `json:"labels,omitempty"`
	// Annotations of the created objects.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}
