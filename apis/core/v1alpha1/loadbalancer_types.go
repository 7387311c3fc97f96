package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LoadBalancerSpec is the desired state of a LoadBalancer.
// +kubebuilder:validation:XValidation:rule="self.type != 'Internal' || !has(self.ips) || self.ips.all(e, has(e.ip))",message="spec.ips: every entry of an Internal load balancer needs an ip (internal IPs are never allocated)",fieldPath=".ips"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.networkRef) == has(self.networkRef) && (!has(self.networkRef) || oldSelf.networkRef == self.networkRef)",message="spec.networkRef is immutable"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.selector) || (has(self.selector) && self.selector == oldSelf.selector)",message="spec.selector is immutable once set"
// +kubebuilder:validation:XValidation:rule=`!has(self.selector) || !has(self.selector.matchLabels) || self.selector.matchLabels.all(k, has(self.template.metadata) && has(self.template.metadata.labels) && k in self.template.metadata.labels && self.template.metadata.labels[k] == self.selector.matchLabels[k])`,message="spec.selector does not match spec.template.metadata.labels",fieldPath=".template.metadata.labels"
// +kubebuilder:validation:XValidation:rule=`!has(self.selector) || !has(self.selector.matchExpressions) || self.selector.matchExpressions.all(e, e.operator == 'In' ? (has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels && self.template.metadata.labels[e.key] in e.values) : e.operator == 'NotIn' ? !(has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels && self.template.metadata.labels[e.key] in e.values) : e.operator == 'Exists' ? (has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels) : !(has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels))`,message="spec.selector does not match spec.template.metadata.labels",fieldPath=".template.metadata.labels"
type LoadBalancerSpec struct {
	// Type: Public (IPs from the public pools) or Internal (IPs given by the user).
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.type is immutable"
	Type LoadBalancerType `json:"type"`
	// NetworkRef is the Network served (same namespace).
	// +optional
	NetworkRef corev1.LocalObjectReference `json:"networkRef,omitempty"`
	// IPs are the VIPs; a Public entry without ip gets a new IP allocated.
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge,retainKeys
	// +kubebuilder:validation:MaxItems=16
	// +optional
	IPs []PublicIPRequest `json:"ips,omitempty" patchStrategy:"merge,retainKeys" patchMergeKey:"name"`
	// Ports served; none means all ports and protocols.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Ports []LoadBalancerPort `json:"ports,omitempty"`
	// Selector of the load balancer's Instances; defaults to the template's labels.
	// +optional
	Selector *LabelSelector `json:"selector,omitempty"`
	// Template of the load balancer's Instances.
	Template InstanceTemplate `json:"template"`
	// TargetSelector, when set, selects the LoadBalancer's backends: the
	// NetworkInterfaces of its namespace and network whose labels match.
	// ovnet then writes the LoadBalancerRouting of the same name itself;
	// without it, the routing is written by users (or a higher layer).
	// +optional
	TargetSelector *LabelSelector `json:"targetSelector,omitempty"`
}

// LoadBalancerStatus is the observed state of a LoadBalancer.
type LoadBalancerStatus struct {
	// CollisionCount is reserved.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// Conditions: Ready once the load balancer serves its VIPs.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LoadBalancer spreads traffic to its VIPs over the backends of its LoadBalancerRouting.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=apinet
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Network",type=string,JSONPath=`.spec.networkRef.name`
// +kubebuilder:printcolumn:name="IPs",type=string,JSONPath=`.spec.ips[*].ip`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
type LoadBalancer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec LoadBalancerSpec `json:"spec"`
	// +optional
	Status LoadBalancerStatus `json:"status,omitempty"`
}

// LoadBalancerList is a list of LoadBalancers.
// +kubebuilder:object:root=true
type LoadBalancerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LoadBalancer `json:"items"`
}

func init() { SchemeBuilder.Register(&LoadBalancer{}, &LoadBalancerList{}) }
