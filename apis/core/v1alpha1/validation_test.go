package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ovnet-dev/ovnet/test/testenv"
)

// validationCase creates obj (YAML) and, when update is set, applies it as a
// JSON merge patch. want is a substring of the API server's error, or ""
// when the request must be accepted.
type validationCase struct {
	name   string
	obj    string
	update string
	want   string
}

var validationCases = []validationCase{
	// A valid object of every kind.
	{name: "valid IP dynamic", obj: `{kind: IP, metadata: {name: v-ip-dyn}, spec: {type: Public, ipFamily: IPv4}}`},
	{name: "valid IP explicit, family defaulted later", obj: `{kind: IP, metadata: {name: v-ip-exp}, spec: {type: Public, ip: 10.0.0.9}}`},
	{name: "valid IPAddress", obj: `{kind: IPAddress, metadata: {name: 10.0.0.9}, spec: {ip: 10.0.0.9, claimRef: {resource: ips, name: x}}}`},
	{name: "valid IPAddress v6", obj: `{kind: IPAddress, metadata: {name: "2001-db8-0-0-0-0-0-1"}, spec: {ip: "2001:db8::1", claimRef: {name: x}}}`},
	{name: "valid IPAddress v6 first of a pool", obj: `{kind: IPAddress, metadata: {name: "fd00-0-0-0-0-0-0-0"}, spec: {ip: "fd00::", claimRef: {name: x}}}`},
	{name: "valid IPAddress v6 unspecified", obj: `{kind: IPAddress, metadata: {name: "0-0-0-0-0-0-0-0"}, spec: {ip: "::", claimRef: {name: x}}}`},
	{name: "valid IPAddress v6 loopback", obj: `{kind: IPAddress, metadata: {name: "0-0-0-0-0-0-0-1"}, spec: {ip: "::1", claimRef: {name: x}}}`},
	{name: "valid Network", obj: `{kind: Network, metadata: {name: v-net}, spec: {id: "301", peerings: [{name: p, id: "302", prefixes: [{name: a, prefix: 10.0.0.0/24}]}]}}`},
	{name: "valid NetworkID", obj: `{kind: NetworkID, metadata: {name: "301"}, spec: {claimRef: {name: x}}}`},
	{name: "valid NetworkInterface", obj: `{kind: NetworkInterface, metadata: {name: v-nic}, spec: {nodeRef: {name: n1}, networkRef: {name: v-net}, ips: [10.0.0.1, "fd00::1"], prefixes: [10.50.0.0/24], hostname: vm-1, publicIPs: [{name: a, ip: 10.0.0.2}], natGateways: [{ipFamily: IPv6, claimRef: {name: g, uid: u}}]}}`},
	{name: "valid NATGateway", obj: `{kind: NATGateway, metadata: {name: v-natgw}, spec: {ipFamily: IPv4, networkRef: {name: node1}, ips: [{name: a, ip: 10.0.0.3}, {name: b}], portsPerNetworkInterface: 64512}}`},
	{name: "valid NATTable", obj: `{kind: NATTable, metadata: {name: v-nt}, ips: [{ip: 10.0.0.3, sections: [{ip: 10.1.0.1, port: 1024, endPort: 2047, targetRef: {uid: u, name: nic, nodeRef: {name: node1}}}]}]}`},
	{name: "valid NATGatewayAutoscaler", obj: `{kind: NATGatewayAutoscaler, metadata: {name: v-as}, spec: {natGatewayRef: {name: g}, minPublicIPs: 1, maxPublicIPs: 3}}`},
	{name: "valid LoadBalancer", obj: `{kind: LoadBalancer, metadata: {name: v-lb}, spec: {type: Public, networkRef: {name: node1}, ips: [{name: a, ip: 10.0.0.2}, {name: b, ipFamily: IPv4}], ports: [{port: 80}, {protocol: UDP, port: 5000, endPort: 5010}], selector: {matchLabels: {app: x}, matchExpressions: [{key: tier, operator: In, values: [web]}, {key: gone, operator: DoesNotExist}]}, template: {metadata: {labels: {app: x, tier: web}}}}}`},
	{name: "valid Internal LoadBalancer", obj: `{kind: LoadBalancer, metadata: {name: v-lb-int}, spec: {type: Internal, ips: [{name: a, ip: 192.168.0.10}], template: {}}}`},
	{name: "valid LoadBalancerRouting", obj: `{kind: LoadBalancerRouting, metadata: {name: v-lbr}, destinations: [{ip: 10.1.0.1, targetRef: {uid: u, name: nic, nodeRef: {name: node1}}}]}`},
	{name: "valid DaemonSet", obj: `{kind: DaemonSet, metadata: {name: v-ds}, spec: {nodeSelector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: x}}, spec: {type: LoadBalancer, loadBalancerType: Public, ips: [10.0.0.2]}}}}`},
	{name: "valid Instance", obj: `{kind: Instance, metadata: {name: v-inst}, spec: {type: LoadBalancer, loadBalancerType: Internal, networkRef: {name: node1}, ips: [10.0.0.2], loadBalancerPorts: [{port: 80}], affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchFields: [{key: metadata.name, operator: In, values: [n1]}]}]}}, instanceAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: zone, labelSelector: {matchLabels: {app: x}}}]}}, topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]}}`},
	{name: "valid NetworkPolicy", obj: `{kind: NetworkPolicy, metadata: {name: v-np}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {matchLabels: {app: db}}, priority: 10, policyTypes: [Ingress, Egress], ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}, {objectSelector: {kind: LoadBalancer, matchLabels: {app: web}}}], ports: [{protocol: TCP, port: 5432}, {port: 8000, endPort: 8010}]}], egress: [{to: [{objectSelector: {kind: NetworkInterface}}]}]}}`},
	{name: "valid NetworkPolicyRule", obj: `{kind: NetworkPolicyRule, metadata: {name: v-npr}, networkRef: {name: net1, uid: u}, targets: [{ip: 10.0.0.1, targetRef: {name: nic, uid: u}}], priority: 1000, ingressRule: [{ipBlock: [{cidr: 10.0.0.0/8}], ips: [{ipFamily: IPv4, prefix: 10.0.0.2/32}], networkPolicyPorts: [{port: 80}]}]}`},
	{name: "valid Node", obj: `{kind: Node, metadata: {name: node1.zone-a, labels: {topology.core.apinet.ironcore.dev/zone: a}}}`},

	// Names.
	{name: "namespaced names are DNS labels", obj: `{kind: Network, metadata: {name: my.network}}`, want: "metadata.name must be a DNS-1123 label"},
	{name: "IPAddress name must be an IP", obj: `{kind: IPAddress, metadata: {name: not-an-ip}, spec: {ip: 10.0.0.1, claimRef: {name: x}}}`, want: "metadata.name must be an IPv4 address in canonical form"},
	{name: "IPAddress name must be canonical v4", obj: `{kind: IPAddress, metadata: {name: 10.0.0.05}, spec: {ip: 10.0.0.5, claimRef: {name: x}}}`, want: "metadata.name must be an IPv4 address in canonical form"},
	{name: "IPAddress v6 name must not be shortened", obj: `{kind: IPAddress, metadata: {name: "2001-db8--1"}, spec: {ip: "2001:db8::1", claimRef: {name: x}}}`, want: "metadata.name must be an IPv4 address in canonical form"},
	{name: "IPAddress v6 name without leading zeros", obj: `{kind: IPAddress, metadata: {name: "2001-0db8-0-0-0-0-0-1"}, spec: {ip: "2001:db8::1", claimRef: {name: x}}}`, want: "metadata.name must be an IPv4 address in canonical form"},
	{name: "IPAddress v6 ip must match name", obj: `{kind: IPAddress, metadata: {name: "2001-db8-0-0-0-0-0-2"}, spec: {ip: "2001:db8::1", claimRef: {name: x}}}`, want: "spec.ip must be the address of metadata.name"},
	{name: "IPAddress v6 ip must be canonical", obj: `{kind: IPAddress, metadata: {name: "2001-db8-0-0-0-0-0-1"}, spec: {ip: "2001:db8:0::1", claimRef: {name: x}}}`, want: "spec.ip must be the address of metadata.name"},
	{name: "IPAddress ip must match name", obj: `{kind: IPAddress, metadata: {name: 10.0.0.6}, spec: {ip: 10.0.0.7, claimRef: {name: x}}}`, want: "spec.ip must be the address of metadata.name"},
	{name: "NetworkID name canonical", obj: `{kind: NetworkID, metadata: {name: "0300"}, spec: {claimRef: {name: x}}}`, want: "metadata.name must be a VNI in canonical decimal format"},

	// IP.
	{name: "IP type required", obj: `{kind: IP, metadata: {name: i-notype}, spec: {ipFamily: IPv4}}`, want: "spec.type: Required value"},
	{name: "IP type only Public", obj: `{kind: IP, metadata: {name: i-private}, spec: {type: Private, ipFamily: IPv4}}`, want: `spec.type: Unsupported value: "Private"`},
	{name: "IP syntax", obj: `{kind: IP, metadata: {name: i-bad}, spec: {type: Public, ip: 10.0.0.300}}`, want: `spec.ip: Invalid value: "10.0.0.300": must be a valid IP address`},
	{name: "IP family must match", obj: `{kind: IP, metadata: {name: i-fam}, spec: {type: Public, ipFamily: IPv6, ip: 10.0.0.1}}`, want: "spec.ip does not match spec.ipFamily"},
	{name: "IP needs family or address", obj: `{kind: IP, metadata: {name: i-none}, spec: {type: Public}}`, want: "spec.ipFamily is required when spec.ip is not given"},
	{name: "IP ip set-once", obj: `{kind: IP, metadata: {name: i-setonce}, spec: {type: Public, ipFamily: IPv4}}`, update: `{spec: {ip: 10.0.0.5}}`},
	{name: "IP ip immutable", obj: `{kind: IP, metadata: {name: i-immut}, spec: {type: Public, ip: 10.0.0.5}}`, update: `{spec: {ip: 10.0.0.6}}`, want: "spec.ip is immutable once set"},
	{name: "IP ip cannot be cleared", obj: `{kind: IP, metadata: {name: i-clear}, spec: {type: Public, ipFamily: IPv4, ip: 10.0.0.5}}`, update: `{spec: {ip: null}}`, want: "spec.ip is immutable once set"},
	{name: "IP family immutable", obj: `{kind: IP, metadata: {name: i-famimmut}, spec: {type: Public, ipFamily: IPv4}}`, update: `{spec: {ipFamily: IPv6}}`, want: "spec.ipFamily is immutable once set"},
	{name: "IP claimRef mutable", obj: `{kind: IP, metadata: {name: i-claim}, spec: {type: Public, ipFamily: IPv4}}`, update: `{spec: {claimRef: {resource: networkinterfaces, name: nic}}}`},

	// IPAddress / NetworkID immutability.
	{name: "IPAddress claimRef immutable", obj: `{kind: IPAddress, metadata: {name: 10.0.0.8}, spec: {ip: 10.0.0.8, claimRef: {name: x}}}`, update: `{spec: {claimRef: {name: other}}}`, want: "spec.claimRef is immutable"},
	{name: "NetworkID claimRef immutable", obj: `{kind: NetworkID, metadata: {name: "4242"}, spec: {claimRef: {name: x}}}`, update: `{spec: {claimRef: {name: other}}}`, want: "spec.claimRef is immutable"},

	// Network.
	{name: "Network id canonical", obj: `{kind: Network, metadata: {name: n-lead}, spec: {id: "0301"}}`, want: "spec.id must be a VNI in canonical decimal form"},
	{name: "Network id numeric", obj: `{kind: Network, metadata: {name: n-alpha}, spec: {id: "abc"}}`, want: "spec.id must be a VNI in canonical decimal form"},
	{name: "Network id set-once", obj: `{kind: Network, metadata: {name: n-setonce}}`, update: `{spec: {id: "777"}}`},
	{name: "Network id immutable", obj: `{kind: Network, metadata: {name: n-immut}, spec: {id: "778"}}`, update: `{spec: {id: "779"}}`, want: "spec.id is immutable once set"},

	// NetworkInterface.
	{name: "NIC nodeRef required", obj: `{kind: NetworkInterface, metadata: {name: nic-nonode}, spec: {ips: [10.0.0.1]}}`, want: "spec.nodeRef: Required value"},
	{name: "NIC nodeRef name required", obj: `{kind: NetworkInterface, metadata: {name: nic-nonodename}, spec: {nodeRef: {}, ips: [10.0.0.1]}}`, want: "must specify target node"},
	{name: "NIC ip syntax", obj: `{kind: NetworkInterface, metadata: {name: nic-badip}, spec: {nodeRef: {name: node1}, ips: [10.0.0]}}`, want: `spec.ips[0]: Invalid value: "10.0.0": must be a valid IP address`},
	{name: "NIC one IP per family", obj: `{kind: NetworkInterface, metadata: {name: nic-2v4}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1, 10.0.0.2]}}`, want: "spec.ips may hold at most one IPv4 address"},
	{name: "NIC prefix syntax", obj: `{kind: NetworkInterface, metadata: {name: nic-badpfx}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1], prefixes: [10.0.0.0/33]}}`, want: "must be a valid IP prefix in CIDR notation"},
	{name: "NIC one public IP per family", obj: `{kind: NetworkInterface, metadata: {name: nic-2pub}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1], publicIPs: [{name: a, ip: 10.0.0.2}, {name: b, ipFamily: IPv4}]}}`, want: "cannot have multiple external IPs of family IPv4"},
	{name: "NIC public IP family match", obj: `{kind: NetworkInterface, metadata: {name: nic-pubfam}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1], publicIPs: [{name: a, ipFamily: IPv6, ip: 10.0.0.2}]}}`, want: "ip does not match ipFamily"},
	{name: "NIC public IP needs family or ip", obj: `{kind: NetworkInterface, metadata: {name: nic-pubnone}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1], publicIPs: [{name: a}]}}`, want: "ipFamily is required when ip is not given"},
	{name: "NIC no NAT for a family with a public IP", obj: `{kind: NetworkInterface, metadata: {name: nic-natpub}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1], publicIPs: [{name: a, ip: 10.0.0.2}], natGateways: [{ipFamily: IPv4, claimRef: {name: g, uid: u}}]}}`, want: "cannot have NAT for an IP family that already has a public IP"},
	{name: "NIC one NAT per family", obj: `{kind: NetworkInterface, metadata: {name: nic-2nat}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1], natGateways: [{ipFamily: IPv4, claimRef: {name: g, uid: u}}, {ipFamily: IPv4, claimRef: {name: h, uid: v}}]}}`, want: "Duplicate value"},
	{name: "NIC hostname DNS label", obj: `{kind: NetworkInterface, metadata: {name: nic-host}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1], hostname: Bad_Host}}`, want: "spec.hostname in body should match"},
	{name: "NIC ips immutable", obj: `{kind: NetworkInterface, metadata: {name: nic-ipsimm}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1]}}`, update: `{spec: {ips: [10.0.0.2]}}`, want: "spec.ips is immutable"},
	{name: "NIC nodeRef immutable", obj: `{kind: NetworkInterface, metadata: {name: nic-nodeimm}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1]}}`, update: `{spec: {nodeRef: {name: m}}}`, want: "spec.nodeRef is immutable"},
	{name: "NIC networkRef immutable", obj: `{kind: NetworkInterface, metadata: {name: nic-netimm}, spec: {nodeRef: {name: node1}, networkRef: {name: a}, ips: [10.0.0.1]}}`, update: `{spec: {networkRef: {name: b}}}`, want: "spec.networkRef is immutable"},
	{name: "NIC hostname immutable", obj: `{kind: NetworkInterface, metadata: {name: nic-hostimm}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1], hostname: a}}`, update: `{spec: {hostname: b}}`, want: "spec.hostname is immutable"},
	{name: "NIC prefixes and public IPs mutable", obj: `{kind: NetworkInterface, metadata: {name: nic-mut}, spec: {nodeRef: {name: node1}, ips: [10.0.0.1]}}`, update: `{spec: {prefixes: [10.9.0.0/16], publicIPs: [{name: a, ipFamily: IPv4}]}}`},

	// NATGateway.
	{name: "NATGateway family required", obj: `{kind: NATGateway, metadata: {name: g-nofam}, spec: {networkRef: {name: node1}}}`, want: "spec.ipFamily: Required value"},
	{name: "NATGateway ppni zero", obj: `{kind: NATGateway, metadata: {name: g-ppni0}, spec: {ipFamily: IPv4, portsPerNetworkInterface: 0}}`, want: "spec.portsPerNetworkInterface in body should be greater than or equal to 1"},
	{name: "NATGateway ppni negative", obj: `{kind: NATGateway, metadata: {name: g-ppnineg}, spec: {ipFamily: IPv4, portsPerNetworkInterface: -64}}`, want: "spec.portsPerNetworkInterface in body should be greater than or equal to 1"},
	{name: "NATGateway ppni too large", obj: `{kind: NATGateway, metadata: {name: g-ppnibig}, spec: {ipFamily: IPv4, portsPerNetworkInterface: 64513}}`, want: "spec.portsPerNetworkInterface in body should be less than or equal to 64512"},
	{name: "NATGateway ip family", obj: `{kind: NATGateway, metadata: {name: g-ipfam}, spec: {ipFamily: IPv4, ips: [{name: a, ip: "2001:db8::1"}]}}`, want: "spec.ips: every ip must be of spec.ipFamily"},
	{name: "NATGateway ip entry name required", obj: `{kind: NATGateway, metadata: {name: g-ipname}, spec: {ipFamily: IPv4, ips: [{ip: 10.0.0.1}]}}`, want: "spec.ips[0].name: Required value"},
	{name: "NATGateway family immutable", obj: `{kind: NATGateway, metadata: {name: g-famimm}, spec: {ipFamily: IPv4}}`, update: `{spec: {ipFamily: IPv6}}`, want: "spec.ipFamily is immutable"},
	{name: "NATGateway networkRef immutable", obj: `{kind: NATGateway, metadata: {name: g-netimm}, spec: {ipFamily: IPv4, networkRef: {name: a}}}`, update: `{spec: {networkRef: {name: b}}}`, want: "spec.networkRef is immutable"},

	// NATGatewayAutoscaler.
	{name: "autoscaler max below min", obj: `{kind: NATGatewayAutoscaler, metadata: {name: as-maxmin}, spec: {natGatewayRef: {name: g}, minPublicIPs: 3, maxPublicIPs: 2}}`, want: "spec.maxPublicIPs must be set and be at least spec.minPublicIPs"},
	{name: "autoscaler min without max", obj: `{kind: NATGatewayAutoscaler, metadata: {name: as-nomax}, spec: {natGatewayRef: {name: g}, minPublicIPs: 1}}`, want: "spec.maxPublicIPs must be set and be at least spec.minPublicIPs"},
	{name: "autoscaler min negative", obj: `{kind: NATGatewayAutoscaler, metadata: {name: as-neg}, spec: {natGatewayRef: {name: g}, minPublicIPs: -1, maxPublicIPs: 1}}`, want: "spec.minPublicIPs in body should be greater than or equal to 0"},
	{name: "autoscaler natGatewayRef immutable", obj: `{kind: NATGatewayAutoscaler, metadata: {name: as-refimm}, spec: {natGatewayRef: {name: g}}}`, update: `{spec: {natGatewayRef: {name: h}}}`, want: "spec.natGatewayRef is immutable"},

	// LoadBalancer.
	{name: "LB type required", obj: `{kind: LoadBalancer, metadata: {name: lb-notype}, spec: {template: {}}}`, want: "spec.type: Required value"},
	{name: "LB type enum", obj: `{kind: LoadBalancer, metadata: {name: lb-badtype}, spec: {type: External, template: {}}}`, want: `spec.type: Unsupported value: "External"`},
	{name: "LB internal needs ips", obj: `{kind: LoadBalancer, metadata: {name: lb-intnoip}, spec: {type: Internal, ips: [{name: a, ipFamily: IPv4}], template: {}}}`, want: "every entry of an Internal load balancer needs an ip"},
	{name: "LB ip family match", obj: `{kind: LoadBalancer, metadata: {name: lb-fam}, spec: {type: Public, ips: [{name: a, ipFamily: IPv6, ip: 10.0.0.1}], template: {}}}`, want: "ip does not match ipFamily"},
	{name: "LB selector must match template labels", obj: `{kind: LoadBalancer, metadata: {name: lb-sel}, spec: {type: Public, selector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: other}}}}}`, want: "spec.selector does not match spec.template.metadata.labels"},
	{name: "LB selector expression must match template labels", obj: `{kind: LoadBalancer, metadata: {name: lb-selexp}, spec: {type: Public, selector: {matchExpressions: [{key: app, operator: NotIn, values: [x]}]}, template: {metadata: {labels: {app: x}}}}}`, want: "spec.selector does not match spec.template.metadata.labels"},
	{name: "LB without selector accepted (docs/design.md item 13)", obj: `{kind: LoadBalancer, metadata: {name: lb-nosel}, spec: {type: Public, template: {metadata: {labels: {app: x}}}}}`},
	{name: "LB port range order", obj: `{kind: LoadBalancer, metadata: {name: lb-port}, spec: {type: Public, ports: [{port: 90, endPort: 80}], template: {}}}`, want: "endPort must be greater than or equal to port"},
	{name: "LB type immutable", obj: `{kind: LoadBalancer, metadata: {name: lb-typeimm}, spec: {type: Public, template: {}}}`, update: `{spec: {type: Internal}}`, want: "spec.type is immutable"},
	{name: "LB selector immutable", obj: `{kind: LoadBalancer, metadata: {name: lb-selimm}, spec: {type: Public, selector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: x, b: c}}}}}`, update: `{spec: {selector: {matchLabels: {b: c}}}}`, want: "spec.selector is immutable once set"},
	{name: "LB networkRef immutable", obj: `{kind: LoadBalancer, metadata: {name: lb-netimm}, spec: {type: Public, networkRef: {name: a}, template: {}}}`, update: `{spec: {networkRef: {name: b}}}`, want: "spec.networkRef is immutable"},

	// DaemonSet.
	{name: "DaemonSet selector required", obj: `{kind: DaemonSet, metadata: {name: ds-nosel}, spec: {template: {spec: {type: LoadBalancer, loadBalancerType: Public}}}}`, want: "spec.nodeSelector: Required value"},
	{name: "DaemonSet selector must match template", obj: `{kind: DaemonSet, metadata: {name: ds-sel}, spec: {nodeSelector: {matchLabels: {app: x}}, template: {spec: {type: LoadBalancer, loadBalancerType: Public}}}}`, want: "spec.nodeSelector does not match spec.template.metadata.labels"},

	// Instance.
	{name: "Instance type required", obj: `{kind: Instance, metadata: {name: in-notype}, spec: {loadBalancerType: Public}}`, want: "spec.type: Required value"},
	{name: "Instance LB type required", obj: `{kind: Instance, metadata: {name: in-nolbt}, spec: {type: LoadBalancer}}`, want: "spec.loadBalancerType is required when spec.type is LoadBalancer"},
	{name: "Instance nodeRef set-once", obj: `{kind: Instance, metadata: {name: in-bind}, spec: {type: LoadBalancer, loadBalancerType: Public}}`, update: `{spec: {nodeRef: {name: n1}}}`},
	{name: "Instance nodeRef immutable", obj: `{kind: Instance, metadata: {name: in-rebind}, spec: {type: LoadBalancer, loadBalancerType: Public, nodeRef: {name: n1}}}`, update: `{spec: {nodeRef: {name: n2}}}`, want: "spec.nodeRef is immutable once set"},
	{name: "Instance LB type immutable", obj: `{kind: Instance, metadata: {name: in-lbtimm}, spec: {type: LoadBalancer, loadBalancerType: Public}}`, update: `{spec: {loadBalancerType: Internal}}`, want: "spec.loadBalancerType is immutable"},
	{name: "Instance ips mutable", obj: `{kind: Instance, metadata: {name: in-ips}, spec: {type: LoadBalancer, loadBalancerType: Public, ips: [10.0.0.1]}}`, update: `{spec: {ips: [10.0.0.2]}}`},

	// NetworkPolicy.
	{name: "NetworkPolicy network required", obj: `{kind: NetworkPolicy, metadata: {name: np-nonet}, spec: {networkRef: {}, networkInterfaceSelector: {}, policyTypes: [Ingress]}}`, want: "must specify a network ref"},
	{name: "NetworkPolicy network name DNS label", obj: `{kind: NetworkPolicy, metadata: {name: np-netname}, spec: {networkRef: {name: My.Net}, networkInterfaceSelector: {}, policyTypes: [Ingress]}}`, want: "spec.networkRef.name must be a DNS-1123 label"},
	{name: "NetworkPolicy policyTypes required", obj: `{kind: NetworkPolicy, metadata: {name: np-notypes}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: []}}`, want: "spec.policyTypes: Invalid value: 0: spec.policyTypes in body should have at least 1 items"},
	{name: "NetworkPolicy policyTypes unique", obj: `{kind: NetworkPolicy, metadata: {name: np-duptypes}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: [Ingress, Ingress]}}`, want: "spec.policyTypes[1]: Duplicate value"},
	{name: "NetworkPolicy policyTypes enum", obj: `{kind: NetworkPolicy, metadata: {name: np-badtype}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: [Sideways]}}`, want: `Unsupported value: "Sideways"`},
	{name: "NetworkPolicy priority not negative", obj: `{kind: NetworkPolicy, metadata: {name: np-prio}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, priority: -1, policyTypes: [Ingress]}}`, want: "spec.priority in body should be greater than or equal to 0"},
	{name: "NetworkPolicy one peer kind", obj: `{kind: NetworkPolicy, metadata: {name: np-2peer}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: [Ingress], ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, objectSelector: {kind: NetworkInterface}}]}]}}`, want: "cannot specify multiple peers"},
	{name: "NetworkPolicy selector kind", obj: `{kind: NetworkPolicy, metadata: {name: np-kind}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: [Ingress], ingress: [{from: [{objectSelector: {kind: Pod}}]}]}}`, want: `Unsupported value: "Pod"`},
	{name: "NetworkPolicy cidr syntax", obj: `{kind: NetworkPolicy, metadata: {name: np-cidr}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 10.0.0.0/40}}]}]}}`, want: "must be a valid IP prefix in CIDR notation"},
	{name: "NetworkPolicy except inside cidr", obj: `{kind: NetworkPolicy, metadata: {name: np-except}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: [Ingress], ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]}}`, want: "every except entry must lie inside cidr"},
	{name: "NetworkPolicy port range", obj: `{kind: NetworkPolicy, metadata: {name: np-port}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{port: 70000}]}]}}`, want: "should be less than or equal to 65535"},
	{name: "NetworkPolicy endPort needs port", obj: `{kind: NetworkPolicy, metadata: {name: np-endport}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{endPort: 90}]}]}}`, want: "must not specify endPort without port"},
	{name: "NetworkPolicy endPort not below port", obj: `{kind: NetworkPolicy, metadata: {name: np-endlow}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{port: 90, endPort: 80}]}]}}`, want: "endPort must be greater than or equal to port"},
	{name: "NetworkPolicy protocol enum", obj: `{kind: NetworkPolicy, metadata: {name: np-proto}, spec: {networkRef: {name: node1}, networkInterfaceSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{protocol: ICMP}]}]}}`, want: `Unsupported value: "ICMP"`},
	{name: "NetworkPolicy networkRef immutable", obj: `{kind: NetworkPolicy, metadata: {name: np-netimm}, spec: {networkRef: {name: a}, networkInterfaceSelector: {}, policyTypes: [Ingress]}}`, update: `{spec: {networkRef: {name: b}}}`, want: "spec.networkRef is immutable"},
}

func TestValidation(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	for _, tc := range validationCases {
		t.Run(tc.name, func(t *testing.T) {
			obj := parse(t, tc.obj)
			err := env.Client.Create(ctx, obj)
			if tc.update != "" {
				if err != nil {
					t.Fatalf("create before update: %v", err)
				}
				err = env.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, toJSON(t, tc.update)))
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want accepted, got: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("want rejected with %q, but it was accepted", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("want error containing %q, got: %v", tc.want, err)
			}
		})
	}
}

// TestDefaults checks the defaults users rely on.
func TestDefaults(t *testing.T) {
	env := testenv.Start(t)
	obj := parse(t, `{kind: NATGateway, metadata: {name: g-default}, spec: {ipFamily: IPv4}}`)
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	ppni, _, _ := unstructured.NestedInt64(obj.Object, "spec", "portsPerNetworkInterface")
	if ppni != 2048 {
		t.Fatalf("portsPerNetworkInterface defaulted to %d, want 2048", ppni)
	}
}

func parse(t *testing.T, in string) *unstructured.Unstructured {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(in), &m); err != nil {
		t.Fatalf("parse %s: %v", in, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(testenv.GVK("").GroupVersion().String())
	meta, _ := m["metadata"].(map[string]any)
	if _, ok := meta["namespace"]; !ok && !clusterScoped[u.GetKind()] {
		u.SetNamespace(metav1.NamespaceDefault)
	}
	return u
}

var clusterScoped = map[string]bool{"IPAddress": true, "NetworkID": true, "Node": true}

func toJSON(t *testing.T, in string) []byte {
	t.Helper()
	out, err := yaml.YAMLToJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
