package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// InstanceTemplate describes the Instances a DaemonSet or LoadBalancer creates.
type InstanceTemplate struct {
	// Metadata of the created instances (labels and annotations).
	// +optional
	Metadata TemplateMetadata `json:"metadata,omitzero"`
	// Spec of the created instances.
	// +optional
	Spec InstanceSpec `json:"spec,omitzero"`
}

// DaemonSetSpec is the desired state of a DaemonSet.
// +kubebuilder:validation:XValidation:rule=`!has(self.nodeSelector.matchLabels) || self.nodeSelector.matchLabels.all(k, has(self.template.metadata) && has(self.template.metadata.labels) && k in self.template.metadata.labels && self.template.metadata.labels[k] == self.nodeSelector.matchLabels[k])`,message="spec.nodeSelector does not match spec.template.metadata.labels",fieldPath=".template.metadata.labels"
// +kubebuilder:validation:XValidation:rule=`!has(self.nodeSelector.matchExpressions) || self.nodeSelector.matchExpressions.all(e, e.operator == 'In' ? (has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels && self.template.metadata.labels[e.key] in e.values) : e.operator == 'NotIn' ? !(has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels && self.template.metadata.labels[e.key] in e.values) : e.operator == 'Exists' ? (has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels) : !(has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels))`,message="spec.nodeSelector does not match spec.template.metadata.labels",fieldPath=".template.metadata.labels"
type DaemonSetSpec struct {
	// Selector of the Instances this DaemonSet manages (JSON name kept from
	// ironcore-net: it selects instances, not nodes).
	Selector *LabelSelector `json:"nodeSelector"`
	// Template of the Instances, one per eligible node.
	Template InstanceTemplate `json:"template"`
}

// DaemonSetStatus is the observed state of a DaemonSet.
type DaemonSetStatus struct {
	// CollisionCount takes part in the revision hash.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
}

// DaemonSet runs one Instance on every eligible Node.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=apinet,shortName=apds
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
type DaemonSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec DaemonSetSpec `json:"spec"`
	// +optional
	Status DaemonSetStatus `json:"status,omitempty"`
}

// DaemonSetList is a list of DaemonSets.
// +kubebuilder:object:root=true
type DaemonSetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DaemonSet `json:"items"`
}

func init() { SchemeBuilder.Register(&DaemonSet{}, &DaemonSetList{}) }
