package ovntranslate

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func single(s string) netip.Prefix {
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen())
}

// TestHolderOfOneWinner: of two objects using one address exactly one
// loses, whichever order they are looked at in; objects of the same second
// are ordered by UID.
func TestHolderOfOneWinner(t *testing.T) {
	a := addressUser{Kind: "NetworkInterface", Name: "a", Created: 100, UID: "zzz", Addresses: []netip.Prefix{single("10.0.0.5")}}
	b := addressUser{Kind: "NetworkInterface", Name: "b", Created: 100, UID: "aaa", Addresses: []netip.Prefix{single("10.0.0.5")}}
	if _, _, lost := holderOf(b, []addressUser{a, b}); lost {
		t.Error("b (same second, smaller UID) lost")
	}
	if h, addr, lost := holderOf(a, []addressUser{b, a}); !lost || h.Name != "b" || addr != single("10.0.0.5") {
		t.Errorf("a: holder %v %v %v, want b holds 10.0.0.5", h, addr, lost)
	}
	older := addressUser{Kind: "LoadBalancer", Name: "lb", Created: 50, UID: "zzzz", Addresses: []netip.Prefix{single("10.0.0.9")}}
	prefixNIC := addressUser{Kind: "NetworkInterface", Name: "p", Created: 60, UID: "p", Addresses: []netip.Prefix{single("10.0.1.1"), netip.MustParsePrefix("10.0.0.0/28")}}
	if h, _, lost := holderOf(prefixNIC, []addressUser{older}); !lost || h.Name != "lb" {
		t.Errorf("a prefix over an older VIP: holder %v, lost %v", h, lost)
	}
	unrelated := addressUser{Kind: "NetworkInterface", Name: "u", Created: 1, UID: "u", Addresses: []netip.Prefix{single("10.9.9.9")}}
	if _, _, lost := holderOf(prefixNIC, []addressUser{unrelated}); lost {
		t.Error("no overlap, but a conflict")
	}
}

// TestHolderOfRacingControllers: two controllers that see the same
// objects, listed in different orders, agree on who may use each address:
// every address ends up with exactly one user that is not told to wait.
func TestHolderOfRacingControllers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	for round := 0; round < 200; round++ {
		var users []addressUser
		for i := 0; i < 12; i++ {
			users = append(users, addressUser{Kind: "NetworkInterface", Name: string(rune('a' + i)),
				Created: int64(r.IntN(3)), UID: string(rune('A'+r.IntN(26))) + string(rune('a'+i)),
				Addresses: []netip.Prefix{single("10.0.0." + string(rune('1'+r.IntN(4))))}})
		}
		shuffled := append([]addressUser(nil), users...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		winners := map[netip.Prefix]string{}
		for _, u := range users {
			_, _, lost1 := holderOf(u, users)
			_, _, lost2 := holderOf(u, shuffled)
			if lost1 != lost2 {
				t.Fatalf("round %d: the controllers disagree about %s", round, u.Name)
			}
			if !lost1 {
				if w, ok := winners[u.Addresses[0]]; ok {
					t.Fatalf("round %d: %s and %s both use %s", round, w, u.Name, u.Addresses[0])
				}
				winners[u.Addresses[0]] = u.Name
			}
		}
		for _, u := range users {
			if _, ok := winners[u.Addresses[0]]; !ok {
				t.Fatalf("round %d: nobody uses %s", round, u.Addresses[0])
			}
		}
	}
}
