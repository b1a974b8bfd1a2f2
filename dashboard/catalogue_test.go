package dashboard

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// FuzzDollars holds the price field of the tier and product forms to
// amounts in dollars: what it accepts is digits, with a point and at most
// two digits of cents, read as exactly those cents, and what it writes of
// any price reads back as that price.
func FuzzDollars(f *testing.F) {
	for _, seed := range []string{"19", "19.99", "$5", "0.5", "", "1.", ".5", "1.999", "999999.99", "1000000", "-1", "1e3", " 1", "$$1"} {
		f.Add(seed, int64(1999))
	}
	f.Fuzz(func(t *testing.T, s string, cents int64) {
		got, ok := dollars(s)
		if ok && s != "" {
			whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "$"), ".")
			if whole == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" || len(frac) > 2 {
				t.Fatalf("the price %q was accepted as %d cents, want only digits, a point and at most two digits of cents", s, got)
			}
			w, _ := strconv.ParseInt(whole, 10, 64)
			c, _ := strconv.ParseInt(frac+strings.Repeat("0", 2-len(frac)), 10, 64)
			if got != w*100+c {
				t.Fatalf("the price %q was read as %d cents, want %d", s, got, w*100+c)
			}
		}
		if cents < 0 || cents > 999_999_99 {
			return
		}
		written := fmt.Sprintf("%d.%02d", cents/100, cents%100)
		if back, ok := dollars(written); !ok || back != cents {
			t.Fatalf("the price of %d cents, written %q, reads back as %d (accepted %v), want %d", cents, written, back, ok, cents)
		}
	})
}
