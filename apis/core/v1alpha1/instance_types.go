package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InstanceType is the kind of network function an Instance runs.
// +kubebuilder:validation:Enum=LoadBalancer
type InstanceType string

const InstanceTypeLoadBalancer InstanceType = "LoadBalancer"

// LoadBalancerType says whether a load balancer is reachable from outside.
// +kubebuilder:validation:Enum=Public;Internal
type LoadBalancerType string

const (
	LoadBalancerTypePublic   LoadBalancerType = "Public"
	LoadBalancerTypeInternal LoadBalancerType = "Internal"
)

// InstanceSpec is the desired state of an Instance.
// +kubebuilder:validation:XValidation:rule="self.type != 'LoadBalancer' || has(self.loadBalancerType)",message="spec.loadBalancerType is required when spec.type is LoadBalancer"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.loadBalancerType) == has(self.loadBalancerType) && (!has(self.loadBalancerType) || oldSelf.loadBalancerType == self.loadBalancerType)",message="spec.loadBalancerType is immutable"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.networkRef) == has(self.networkRef) && (!has(self.networkRef) || oldSelf.networkRef == self.networkRef)",message="spec.networkRef is immutable"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.nodeRef) || (has(self.nodeRef) && self.nodeRef == oldSelf.nodeRef)",message="spec.nodeRef is immutable once set"
type InstanceSpec struct {
	// Type of the instance; only LoadBalancer.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.type is immutable"
	Type InstanceType `json:"type"`
	// LoadBalancerType of a load balancer instance.
	// +optional
	LoadBalancerType LoadBalancerType `json:"loadBalancerType,omitempty"`
	// NetworkRef is the Network served (same namespace).
	// +optional
	NetworkRef corev1.LocalObjectReference `json:"networkRef,omitempty"`
	// IPs are the VIPs the instance serves.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:XValidation:rule="isIP(self)",message="must be a valid IP address"
	// +optional
	IPs []IPAddr `json:"ips,omitempty"`
	// LoadBalancerPorts are the ports served; none means all.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	LoadBalancerPorts []LoadBalancerPort `json:"loadBalancerPorts,omitempty"`
	// Affinity constrains the nodes the instance may be scheduled on.
	// +optional
	Affinity *Affinity `json:"affinity,omitempty"`
	// TopologySpreadConstraints spread instances over topology domains.
	// +kubebuilder:validation:MaxItems=8
	// +optional
	TopologySpreadConstraints []TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// NodeRef is the node the instance runs on; set by the scheduler when empty.
	// +optional
	NodeRef *corev1.LocalObjectReference `json:"nodeRef,omitempty"`
}

// Affinity holds scheduling constraints.
type Affinity struct {
	// NodeAffinity selects nodes by labels and fields.
	// +optional
	NodeAffinity *NodeAffinity `json:"nodeAffinity,omitempty"`
	// InstanceAntiAffinity keeps instances apart.
	// +optional
	InstanceAntiAffinity *InstanceAntiAffinity `json:"instanceAntiAffinity,omitempty"`
}

// NodeAffinity constrains instances to nodes.
type NodeAffinity struct {
	// RequiredDuringSchedulingIgnoredDuringExecution must hold when the instance is placed.
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution *NodeSelector `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// NodeSelector is a set of terms, ORed.
type NodeSelector struct {
	// NodeSelectorTerms, ORed.
	// +kubebuilder:validation:MaxItems=64
	NodeSelectorTerms []NodeSelectorTerm `json:"nodeSelectorTerms"`
}

// NodeSelectorTerm is a set of requirements, ANDed.
type NodeSelectorTerm struct {
	// MatchExpressions on node labels.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	MatchExpressions []NodeSelectorRequirement `json:"matchExpressions,omitempty"`
	// MatchFields on node fields; only metadata.name with In or NotIn and one value.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	MatchFields []NodeSelectorRequirement `json:"matchFields,omitempty"`
}

// NodeSelectorOperator relates a key to values.
// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist;Gt;Lt
type NodeSelectorOperator string

const (
	NodeSelectorOpIn           NodeSelectorOperator = "In"
	NodeSelectorOpNotIn        NodeSelectorOperator = "NotIn"
	NodeSelectorOpExists       NodeSelectorOperator = "Exists"
	NodeSelectorOpDoesNotExist NodeSelectorOperator = "DoesNotExist"
	NodeSelectorOpGt           NodeSelectorOperator = "Gt"
	NodeSelectorOpLt           NodeSelectorOperator = "Lt"
)

// NodeSelectorRequirement is one requirement on a node.
type NodeSelectorRequirement struct {
	// Key of the label or field.
	Key string `json:"key"`
	// Operator relating key and values.
	Operator NodeSelectorOperator `json:"operator"`
	// Values to compare with.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Values []string `json:"values,omitempty"`
}

// InstanceAntiAffinity keeps instances out of topology domains of others.
type InstanceAntiAffinity struct {
	// RequiredDuringSchedulingIgnoredDuringExecution terms must hold when the instance is placed.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution []InstanceAffinityTerm `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// InstanceAffinityTerm selects instances in a topology domain.
type InstanceAffinityTerm struct {
	// LabelSelector of the instances to keep apart from.
	// +optional
	LabelSelector *LabelSelector `json:"labelSelector,omitempty"`
	// TopologyKey is the node label whose values are the domains.
	// +kubebuilder:validation:MinLength=1
	TopologyKey string `json:"topologyKey"`
}

// UnsatisfiableConstraintAction says what to do when a spread constraint cannot hold.
// +kubebuilder:validation:Enum=DoNotSchedule
type UnsatisfiableConstraintAction string

// TopologySpreadConstraint spreads matching instances over topology domains.
type TopologySpreadConstraint struct {
	// MaxSkew is the largest allowed difference of counts between domains.
	// +kubebuilder:validation:Minimum=1
	MaxSkew int32 `json:"maxSkew"`
	// TopologyKey is the node label whose values are the domains.
	// +kubebuilder:validation:MinLength=1
	TopologyKey string `json:"topologyKey"`
	// WhenUnsatisfiable: only DoNotSchedule.
	WhenUnsatisfiable UnsatisfiableConstraintAction `json:"whenUnsatisfiable"`
	// LabelSelector of the instances counted.
	// +optional
	LabelSelector *LabelSelector `json:"labelSelector,omitempty"`
}

// InstanceStatus is the observed state of an Instance.
type InstanceStatus struct {
	// IPs as realized.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	IPs []IPAddr `json:"ips,omitempty"`
	// CollisionCount is bumped on dataplane name collisions.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// Conditions: Ready once the instance serves.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Instance is a network function (a load balancer) placed on a Node.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=apinet
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="LBType",type=string,JSONPath=`.spec.loadBalancerType`
// +kubebuilder:printcolumn:name="Network",type=string,JSONPath=`.spec.networkRef.name`
// +kubebuilder:printcolumn:name="IPs",type=string,JSONPath=`.spec.ips[*]`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeRef.name`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
type Instance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec InstanceSpec `json:"spec"`
	// +optional
	Status InstanceStatus `json:"status,omitempty"`
}

// InstanceList is a list of Instances.
// +kubebuilder:object:root=true
type InstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Instance `json:"items"`
}

func init() { SchemeBuilder.Register(&Instance{}, &InstanceList{}) }
