package edge

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScanJSON(t *testing.T) {
	for _, tt := range []struct {
		body             string
		valid, duplicate bool
	}{
		{`{"plan":"free"}`, true, false},
		{` {"items":[{"priceId":"a"},{"priceId":"b"}]} `, true, false},
		{`{"plan":"free","plan":"enterprise"}`, false, true},
		{`{"plan":"free","PLAN":"enterprise"}`, false, true},
		{`{"items":[{"priceId":"a","priceId":"b"}]}`, false, true},
		{`{"a":{"b":1},"c":{"b":2}}`, true, false},
		{`{"plan":`, false, false},
		{`{} {}`, false, false},
		{`{"a":1}x`, false, false},
		{``, false, false},
		{strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40), false, false},
	} {
		valid, duplicate := scanJSON([]byte(tt.body))
		if valid != tt.valid || (duplicate != nil) != tt.duplicate {
			t.Errorf("scanning %.60s: valid %v, duplicate %v; want valid %v, a duplicate %v", tt.body, valid, duplicate, tt.valid, tt.duplicate)
		}
	}
}

// FuzzScanJSON holds scanJSON to encoding/json: what it accepts, json.Valid
// accepts too, and what json.Valid refuses, it refuses.
func FuzzScanJSON(f *testing.F) {
	for _, seed := range []string{`{"plan":"free"}`, `{"a":1,"a":2}`, `[{"x":[1,{"y":null}]}]`, `"s"`, `{"a":"\u00e9","A":1}`, `{`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		valid, duplicate := scanJSON(data)
		if valid && !json.Valid(data) {
			t.Fatalf("scanJSON accepts %q, which encoding/json refuses", data)
		}
		if !json.Valid(data) && (valid || duplicate != nil) {
			t.Fatalf("scanJSON reads %q, which is not JSON, as valid %v with duplicate %v; want it refused as malformed", data, valid, duplicate)
		}
		if valid && duplicate != nil {
			t.Fatalf("scanJSON calls %q both valid and holding a duplicate key", data)
		}
	})
}
