package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

var ovnetNamespace = "ovnet-system" // manifests/default

// TestClusterTakeover runs against a cluster only (-target=cluster; make
// kind-e2e), where ovnet runs as its manifests deploy it: two controller
// replicas with leader election and an agent pod per node. Deleting the
// leading controller's pod hands over to another replica without a
// change in NB and without a lost packet between VMs on two nodes, and the
// new leader serves a new NIC; deleting an agent pod brings a new one whose
// NIC stays Ready on the same OVS port throughout. Full-size frames cross
// the geneve underlay.
func TestClusterTakeover(t *testing.T) {
	if *target != "cluster" {
		t.Skip("needs ovnet's pods on a cluster: -target=cluster (make kind-e2e)")
	}
	s := newSite(t)
	ctx := context.Background()
	s.network("net")
	nodeA, nodeB := s.nodes[0], s.nodes[1]
	nicA, a := s.nic("a", "net", nodeA, "10.1.0.1")
	_, b := s.nic("b", "net", nodeB, "10.1.0.2")
	mustReach(t, a, "10.1.0.2")
	mustReach(t, b, "10.1.0.1")
	// A 1500-byte IP packet, not fragmented, between the nodes.
	if out, err := a.Exec("ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1472", "10.1.0.2"); err != nil {
		t.Errorf("1500-byte frame a → b: %v\n%s", err, out)
	}

	t.Run("controller leader deleted", func(t *testing.T) {
		before := s.nbSnapshot()
		pinger := startPing(a, "10.1.0.2", 150) // 30 s
		leader := s.leaderPod()
		standby := map[string]bool{}
		for _, p := range s.pods("ovnet-controller") {
			if p.Name != leader && podReady(p) {
				standby[p.Name] = true
			}
		}
		if len(standby) == 0 {
			t.Fatalf("no ready controller replica besides the leader %s", leader)
		}
		deleted := time.Now()
		if err := s.c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ovnetNamespace, Name: leader}}); err != nil {
			t.Fatal(err)
		}
		// The leader releases its lease as it stops; the standby and the
		// replica the Deployment starts in its place race for it (either
		// may win: the new one tries at once, the standby every 2 s).
		var successor string
		testenv.Eventually(t, time.Minute, "another replica leads", func() error {
			successor = s.leaderPod()
			if successor == "" || successor == leader {
				return fmt.Errorf("leader %q", successor)
			}
			return nil
		})
		role := "the replica started in its place"
		if standby[successor] {
			role = "the standby replica"
		}
		t.Logf("%s (%s) took over from %s %.1f s after the delete", successor, role, leader, time.Since(deleted).Seconds())
		// The new leader reconciles everything it finds, and writes nothing.
		time.Sleep(10 * time.Second)
		if after := s.nbSnapshot(); after != before {
			t.Errorf("NB changed across the takeover:\n%s", diffLines(before, after))
		}
		// And it serves what comes next.
		_, c := s.nic("c", "net", nodeA, "10.1.0.3")
		mustReach(t, c, "10.1.0.2")
		if sent, got := pinger.wait(t); got < sent {
			t.Errorf("a → b during the takeover: %d of %d answered", got, sent)
		}
	})

	t.Run("agent pod deleted", func(t *testing.T) {
		port := apinetv1alpha1.NetworkInterfacePortName(nicA)
		iface := func() string {
			out, err := s.onNode(nodeA, "ovs-vsctl", "--bare", "--columns=_uuid", "find", "Interface", "external_ids:iface-id="+port)
			if err != nil {
				t.Fatalf("ovs-vsctl on %s: %v %s", nodeA, err, out)
			}
			return strings.TrimSpace(out)
		}
		ifaceBefore := iface()
		if ifaceBefore == "" {
			t.Fatalf("no OVS interface for %s on %s", port, nodeA)
		}
		old := s.agentPod(nodeA)
		if old.Name == "" {
			t.Fatalf("no agent pod on %s", nodeA)
		}
		pinger := startPing(a, "10.1.0.2", 100) // 20 s
		if err := s.c.Delete(ctx, old.DeepCopy()); err != nil {
			t.Fatal(err)
		}
		notReady := ""
		testenv.Eventually(t, 2*time.Minute, "a new agent pod on "+nodeA+" is ready", func() error {
			if err := s.c.Get(ctx, client.ObjectKeyFromObject(nicA), nicA); err == nil && nicA.Status.State != apinetv1alpha1.NetworkInterfaceStateReady && notReady == "" {
				notReady = string(nicA.Status.State)
			}
			p := s.agentPod(nodeA)
			if p.Name == "" || p.UID == old.UID || !podReady(p) {
				return fmt.Errorf("agent pod %s ready %v", p.Name, podReady(p))
			}
			return nil
		})
		// The new agent has looked at its NICs: give it a moment to act.
		time.Sleep(5 * time.Second)
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(nicA), nicA); err != nil || nicA.Status.State != apinetv1alpha1.NetworkInterfaceStateReady {
			t.Errorf("NIC a after the agent's restart: %v state %q", err, nicA.Status.State)
		}
		if notReady != "" {
			t.Errorf("NIC a was %q while the agent restarted", notReady)
		}
		if got := iface(); got != ifaceBefore {
			t.Errorf("NIC a's OVS interface changed: %s → %s", ifaceBefore, got)
		}
		if sent, got := pinger.wait(t); got < sent {
			t.Errorf("a → b while the agent restarted: %d of %d answered", got, sent)
		}
	})
}

// leaderPod is the pod holding the controllers' leader-election Lease.
func (s *site) leaderPod() string {
	s.t.Helper()
	lease := &coordinationv1.Lease{}
	if err := s.c.Get(context.Background(), client.ObjectKey{Namespace: ovnetNamespace, Name: "ovnet-controller.apinet.ironcore.dev"}, lease); err != nil {
		s.t.Fatalf("leader lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	// client-go's leader election: "<pod name>_<random>".
	name, _, _ := strings.Cut(*lease.Spec.HolderIdentity, "_")
	return name
}

// pods are the pods of ovnet's app (app.kubernetes.io/name).
func (s *site) pods(app string) []corev1.Pod {
	s.t.Helper()
	var pods corev1.PodList
	if err := s.c.List(context.Background(), &pods, client.InNamespace(ovnetNamespace),
		client.MatchingLabels{"app.kubernetes.io/name": app}); err != nil {
		s.t.Fatal(err)
	}
	return pods.Items
}

// agentPod is the agent pod on node not being deleted (zero while there
// is none).
func (s *site) agentPod(node string) corev1.Pod {
	s.t.Helper()
	var newest corev1.Pod
	for _, p := range s.pods("ovnet-agent") {
		if p.Spec.NodeName == node && p.DeletionTimestamp == nil && p.CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = p
		}
	}
	return newest
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// onNode runs a command on node (-node-exec).
func (s *site) onNode(node string, args ...string) (string, error) {
	cmd := append(strings.Fields(strings.ReplaceAll(*nodeExec, "{node}", node)), args...)
	out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
	return string(out), err
}

// nbSnapshot lists every NB table ovnet writes, all columns (NB_Global,
// which northd and ovn-controller update, is left out).
func (s *site) nbSnapshot() string {
	s.t.Helper()
	var b strings.Builder
	for _, table := range []string{"Logical_Router", "Logical_Router_Port", "Logical_Router_Static_Route", "NAT",
		"Logical_Switch", "Logical_Switch_Port", "Load_Balancer", "Load_Balancer_Health_Check", "ACL", "Port_Group",
		"Address_Set", "DHCP_Options", "Gateway_Chassis", "Logical_Router_Policy"} {
		out, err := s.nbctl("list", table)
		if err != nil {
			s.t.Fatalf("ovn-nbctl list %s: %v %s", table, err, out)
		}
		fmt.Fprintf(&b, "== %s\n%s", table, out)
	}
	return b.String()
}

func diffLines(before, after string) string {
	was := map[string]bool{}
	for _, l := range strings.Split(before, "\n") {
		was[l] = true
	}
	var b strings.Builder
	for _, l := range strings.Split(after, "\n") {
		if !was[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

// pinger is a ping running in the background, 5 per second.
type pinger struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startPing(vm *devstack.VM, dst string, count int) *pinger {
	p := &pinger{out: &syncBuffer{}}
	p.cmd = vm.Command("ping", "-i", "0.2", "-W", "1", "-c", strconv.Itoa(count), dst)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	_ = p.cmd.Start()
	return p
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// wait returns how many pings were sent and answered.
func (p *pinger) wait(t *testing.T) (sent, answered int) {
	t.Helper()
	_ = p.cmd.Wait()
	m := pingSummary.FindStringSubmatch(p.out.String())
	if m == nil {
		t.Fatalf("ping printed no summary:\n%s", p.out.String())
	}
	sent, _ = strconv.Atoi(m[1])
	answered, _ = strconv.Atoi(m[2])
	if sent == 0 {
		t.Fatalf("ping sent nothing:\n%s", p.out.String())
	}
	return sent, answered
}
