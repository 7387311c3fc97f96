// Package names makes the random name parts ovnet's controllers use.
package names

import "crypto/rand"

// alphabet has no vowels (no words) and no look-alikes (0/o, 1/l).
const alphabet = "bcdfghjklmnpqrstvwxz2456789"

// Random returns n random characters of the alphabet, as ironcore uses for
// generated NAT IP entry names and Instance name suffixes.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
