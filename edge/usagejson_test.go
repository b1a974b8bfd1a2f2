package edge

import (
	"encoding/json"
	"testing"

	"github.com/dream-api/dream"
)

func checkUsageAnswers(t *testing.T, user, plan, start string, count int64, limit dream.Limit, data map[string]string) {
	t.Helper()
	check := usageCheckJSON{UserID: user, Plan: plan, UsageCount: count, Limit: limit,
		Remaining: limit.Remaining(count), PeriodStart: start, PeriodEnd: start}
	track := trackJSON{Success: count%2 == 0, Data: data, Usage: usageJSON{Count: count, UsageCount: count,
		Limit: limit, Remaining: limit.Remaining(count), Plan: plan, PeriodStart: start, PeriodEnd: start}}
	for _, c := range []struct {
		name string
		v    any
		got  []byte
	}{
		{"usage check", check, check.appendJSON(nil)},
		{"track", track, track.appendJSON(nil)},
	} {
		want, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(c.got) != string(want) {
			t.Fatalf("the %s answer encodes as\n got %s\nwant %s (as encoding/json has it)", c.name, c.got, want)
		}
	}
}

func TestUsageAnswersEncodeAsJSON(t *testing.T) {
	for _, c := range []struct {
		user, plan, start string
		count             int64
		limit             dream.Limit
		data              map[string]string
	}{
		{"user_2abc", "pro", "2026-11-01", 41, 1000, trackedMessage},
		{"user_x", "free", "2026-11-28", 0, dream.Unlimited, nil},
		{"", "", "", -3, 0, map[string]string{}},
		{`quo"te\back<tag>&amp;`, "plän", "\x00\x1f\u2028", 1 << 60, 5, map[string]string{"b": "2", "a": "1"}},
		{"\xff\xfeinvalid utf-8", "\u00e9", "2026-01-01", 7, 7, map[string]string{"k<": "v&"}},
	} {
		checkUsageAnswers(t, c.user, c.plan, c.start, c.count, c.limit, c.data)
	}
}

func FuzzUsageAnswersEncodeAsJSON(f *testing.F) {
	f.Add("user_2abc", "pro", "2026-11-01", int64(41), int64(1000), "message", "ok")
	f.Add(`q"\<>&`, "\u2028", "\x7f\x80", int64(-1), int64(-1), "", "")
	f.Fuzz(func(t *testing.T, user, plan, start string, count, limit int64, key, value string) {
		checkUsageAnswers(t, user, plan, start, count, dream.Limit(limit), map[string]string{key: value})
	})
}
