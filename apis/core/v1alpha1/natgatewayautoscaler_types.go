package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NATGatewayAutoscalerSpec is the desired state of a NATGatewayAutoscaler.
// +kubebuilder:validation:XValidation:rule="!has(self.minPublicIPs) || (has(self.maxPublicIPs) && self.maxPublicIPs >= self.minPublicIPs)",message="spec.maxPublicIPs must be set and be at least spec.minPublicIPs",fieldPath=".maxPublicIPs"
type NATGatewayAutoscalerSpec struct {
	// NATGatewayRef is the NATGateway (same namespace) to scale.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.natGatewayRef is immutable"
	NATGatewayRef corev1.LocalObjectReference `json:"natGatewayRef"`
	// MinPublicIPs is the least number of NAT IPs.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinPublicIPs *int32 `json:"minPublicIPs,omitempty"`
	// MaxPublicIPs is the most NAT IPs.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxPublicIPs *int32 `json:"maxPublicIPs,omitempty"`
}

// NATGatewayAutoscalerStatus is the observed state of a NATGatewayAutoscaler.
type NATGatewayAutoscalerStatus struct{}

// NATGatewayAutoscaler grows and shrinks a NATGateway's IPs with demand.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=apinet
// +kubebuilder:printcolumn:name="NATGateway",type=string,JSONPath=`.spec.natGatewayRef.name`
// +kubebuilder:printcolumn:name="MinPublicIPs",type=integer,JSONPath=`.spec.minPublicIPs`
// +kubebuilder:printcolumn:name="MaxPublicIPs",type=integer,JSONPath=`.spec.maxPublicIPs`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
type NATGatewayAutoscaler struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NATGatewayAutoscalerSpec `json:"spec"`
	// +optional
	Status NATGatewayAutoscalerStatus `json:"status,omitempty"`
}

// NATGatewayAutoscalerList is a list of NATGatewayAutoscalers.
// +kubebuilder:object:root=true
type NATGatewayAutoscalerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NATGatewayAutoscaler `json:"items"`
}

func init() { SchemeBuilder.Register(&NATGatewayAutoscaler{}, &NATGatewayAutoscalerList{}) }
