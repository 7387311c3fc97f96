package v1alpha1

// Labels and annotations shared by the controller and the node agent.
const (
	// LabelGateway marks Nodes whose chassis may host gateway ports.
	LabelGateway = "apinet.ironcore.dev/gateway"
	// AnnotationChassis on a Node names its OVN chassis (the Open_vSwitch
	// system-id); the node agent sets it. Without it the Node's name is the
	// chassis name.
	AnnotationChassis = "apinet.ironcore.dev/ovn-chassis"
)
